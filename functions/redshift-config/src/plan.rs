//! The planner: desired config + current state → ordered statements. Pure: no I/O.
//!
//! Order (spec §7): roles and groups; users (created or altered); memberships; per database:
//! schemas and owners, schema grants, ALL TABLES grants, default privileges, database
//! grants, removal clean-up; finally disables and drops. Only managed grantees' privileges
//! on managed objects are revoked; object owners are never touched as grantees.

use crate::acl::{Acl, AclGrantee};
use crate::desired::{
    DesiredState, Dialect, Grantee, ObjectKind, OnRemove, Privilege, Privileges, User,
};
use crate::executor::Statement;
use crate::ident::{md5_password, Ident};
use crate::state::{ClusterState, DatabaseState};
use std::collections::{BTreeMap, BTreeSet};

/// Statements for one transaction in one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub database: String,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub phases: Vec<Phase>,
}

impl Plan {
    pub fn statement_count(&self) -> usize {
        self.phases.iter().map(|p| p.statements.len()).sum()
    }

    /// `(database, redacted SQL)` in execution order.
    pub fn redacted(&self) -> Vec<(String, String)> {
        self.phases
            .iter()
            .flat_map(|p| {
                p.statements
                    .iter()
                    .map(|s| (p.database.clone(), s.redacted.clone()))
            })
            .collect()
    }
}

/// A password the planner may put in a statement (plain text from Secrets Manager; only
/// its md5 form reaches SQL).
pub type Passwords = BTreeMap<Ident, String>;

/// Users that will need their password in this run: created, or re-enabled.
pub fn users_needing_passwords<'a>(
    config: &'a DesiredState,
    cluster: &ClusterState,
) -> Vec<&'a User> {
    config
        .users
        .values()
        .filter(|u| u.present && u.password_secret.is_some())
        .filter(|u| {
            cluster
                .users
                .get(u.name.as_str())
                .is_none_or(|s| s.disabled)
        })
        .collect()
}

struct Render<'a> {
    config: &'a DesiredState,
    dialect: Dialect,
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Render<'_> {
    fn grantee(&self, g: &Grantee) -> String {
        match (g, self.dialect) {
            (Grantee::User(u), _) => u.to_string(),
            (Grantee::Group(n), _) => format!("GROUP {n}"),
            (Grantee::Role(r), Dialect::Redshift) => format!("ROLE {r}"),
            (Grantee::Role(r), Dialect::Postgres) => r.to_string(),
            (Grantee::Public, _) => "PUBLIC".into(),
        }
    }

    /// Privileges this dialect can express (PostgreSQL has no table DROP privilege).
    fn privileges(&self, set: &Privileges) -> Option<String> {
        let parts: Vec<&str> = set
            .iter()
            .filter(|p| !(self.dialect == Dialect::Postgres && **p == Privilege::Drop))
            .map(|p| p.sql())
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    fn kind(&self, kind: ObjectKind) -> ObjectKind {
        // PostgreSQL's FUNCTIONS defaults cover procedures.
        match (kind, self.dialect) {
            (ObjectKind::Procedures, Dialect::Postgres) => ObjectKind::Functions,
            (k, _) => k,
        }
    }

    fn kind_sql(kind: ObjectKind) -> &'static str {
        match kind {
            ObjectKind::Tables => "TABLES",
            ObjectKind::Functions => "FUNCTIONS",
            ObjectKind::Procedures => "PROCEDURES",
            ObjectKind::Database | ObjectKind::Schema => "",
        }
    }

    /// Map a catalog grantee onto the config's kinds (PostgreSQL cannot tell them apart).
    fn resolve(&self, g: &AclGrantee) -> Grantee {
        match g {
            AclGrantee::Public => Grantee::Public,
            AclGrantee::Group(n) => Grantee::Group(Ident::from_catalog(n)),
            AclGrantee::Role(n) => Grantee::Role(Ident::from_catalog(n)),
            AclGrantee::Name(n) => {
                let id = Ident::from_catalog(n);
                if self.config.groups.contains(&id) {
                    Grantee::Group(id)
                } else if self.config.roles.contains(&id) {
                    Grantee::Role(id)
                } else {
                    Grantee::User(id)
                }
            }
        }
    }

    fn current(&self, acl: &Acl, owner: &str) -> BTreeMap<Grantee, Privileges> {
        acl.iter()
            .filter(|(g, _)| !matches!(g, AclGrantee::Name(n) if n == owner))
            .map(|(g, p)| (self.resolve(g), p.clone()))
            .collect()
    }

    /// GRANT what is missing, REVOKE what a managed grantee has beyond the config.
    fn diff(
        &self,
        out: &mut Vec<Statement>,
        on: &str,
        desired: &BTreeMap<Grantee, Privileges>,
        current: &BTreeMap<Grantee, Privileges>,
    ) {
        let empty = Privileges::new();
        let grantees: BTreeSet<&Grantee> = desired
            .keys()
            .chain(current.keys().filter(|g| self.config.manages(g)))
            .collect();
        for g in grantees {
            let want = desired.get(g).unwrap_or(&empty);
            let have = current.get(g).unwrap_or(&empty);
            if let Some(p) = self.privileges(&want.difference(have).copied().collect()) {
                out.push(Statement::new(format!(
                    "GRANT {p} ON {on} TO {}",
                    self.grantee(g)
                )));
            }
            if self.config.manages(g) {
                if let Some(p) = self.privileges(&have.difference(want).copied().collect()) {
                    out.push(Statement::new(format!(
                        "REVOKE {p} ON {on} FROM {}",
                        self.grantee(g)
                    )));
                }
            }
        }
    }
}

/// Plan one target. `databases` holds the state of every configured database.
pub fn plan(
    config: &DesiredState,
    cluster: &ClusterState,
    databases: &BTreeMap<String, DatabaseState>,
    passwords: &Passwords,
) -> Plan {
    let r = Render {
        config,
        dialect: config.target.dialect,
    };
    let dialect = config.target.dialect;
    let mut cluster_sql = Vec::new();

    for role in config
        .roles
        .iter()
        .filter(|n| !cluster.roles.contains_key(n.as_str()))
    {
        cluster_sql.push(Statement::new(format!("CREATE ROLE {role}")));
    }
    for group in config
        .groups
        .iter()
        .filter(|n| !cluster.groups.contains_key(n.as_str()))
    {
        cluster_sql.push(Statement::new(format!("CREATE GROUP {group}")));
    }

    for user in config.users.values().filter(|u| u.present) {
        let current = cluster.users.get(user.name.as_str());
        let password = |sql: &mut String, redacted: &mut String| match (
            &user.password_secret,
            passwords.get(&user.name),
        ) {
            (Some(_), Some(plain)) => {
                sql.push_str(&format!(" PASSWORD '{}'", md5_password(plain, &user.name)));
                redacted.push_str(" PASSWORD '***'");
            }
            (Some(_), None) => {
                // Plan mode without the secret yet: the apply generates it.
                sql.push_str(" PASSWORD '<generated at apply>'");
                redacted.push_str(" PASSWORD '<generated at apply>'");
            }
            (None, _) => {
                let disabled = match dialect {
                    Dialect::Redshift => " PASSWORD DISABLE",
                    Dialect::Postgres => " PASSWORD NULL",
                };
                sql.push_str(disabled);
                redacted.push_str(disabled);
            }
        };
        let superuser = |on: bool| match (dialect, on) {
            (Dialect::Redshift, true) => " CREATEUSER",
            (Dialect::Redshift, false) => " NOCREATEUSER",
            (Dialect::Postgres, true) => " SUPERUSER",
            (Dialect::Postgres, false) => " NOSUPERUSER",
        };
        let limit = |l: Option<u32>| match (l, dialect) {
            (Some(n), _) => format!(" CONNECTION LIMIT {n}"),
            (None, Dialect::Redshift) => " CONNECTION LIMIT UNLIMITED".into(),
            (None, Dialect::Postgres) => " CONNECTION LIMIT -1".into(),
        };
        match current {
            None => {
                let head = format!("CREATE USER {}", user.name);
                let (mut sql, mut redacted) = (head.clone(), head);
                password(&mut sql, &mut redacted);
                let mut tail = String::new();
                tail.push_str(if user.createdb {
                    " CREATEDB"
                } else {
                    " NOCREATEDB"
                });
                tail.push_str(superuser(user.superuser));
                tail.push_str(&limit(user.connection_limit));
                if let Some(v) = &user.valid_until {
                    tail.push_str(&format!(" VALID UNTIL '{v}'"));
                }
                cluster_sql.push(Statement::secret(sql + &tail, redacted + &tail));
            }
            Some(state) => {
                let mut changes = String::new();
                if state.createdb != user.createdb {
                    changes.push_str(if user.createdb {
                        " CREATEDB"
                    } else {
                        " NOCREATEDB"
                    });
                }
                if state.superuser != user.superuser {
                    changes.push_str(superuser(user.superuser));
                }
                if state.connection_limit != user.connection_limit {
                    changes.push_str(&limit(user.connection_limit));
                }
                let valid_differs = match (&user.valid_until, &state.valid_until) {
                    (Some(want), Some(have)) => !have.starts_with(want.as_str()),
                    (None, Some(_)) => true,
                    (Some(_), None) => true,
                    (None, None) => false,
                };
                if state.disabled || valid_differs {
                    let until = user.valid_until.as_deref().unwrap_or("infinity");
                    changes.push_str(&format!(" VALID UNTIL '{until}'"));
                }
                if state.disabled {
                    // Re-enabled: give the password back.
                    let head = format!("ALTER USER {}", user.name);
                    let (mut sql, mut redacted) = (head.clone(), head);
                    password(&mut sql, &mut redacted);
                    cluster_sql.push(Statement::secret(sql + &changes, redacted + &changes));
                } else if !changes.is_empty() {
                    cluster_sql.push(Statement::new(format!("ALTER USER {}{changes}", user.name)));
                }
            }
        }
    }

    // Memberships: managed groups and roles are authoritative.
    for group in &config.groups {
        let (add, drop) = membership(config, &cluster.groups, group, |u| &u.groups);
        if !add.is_empty() {
            cluster_sql.push(Statement::new(format!(
                "ALTER GROUP {group} ADD USER {}",
                list(&add)
            )));
        }
        if !drop.is_empty() {
            cluster_sql.push(Statement::new(format!(
                "ALTER GROUP {group} DROP USER {}",
                list(&drop)
            )));
        }
    }
    let keyword = if dialect == Dialect::Redshift {
        "ROLE "
    } else {
        ""
    };
    for role in &config.roles {
        let (add, drop) = membership(config, &cluster.roles, role, |u| &u.roles);
        for user in add {
            cluster_sql.push(Statement::new(format!("GRANT {keyword}{role} TO {user}")));
        }
        for user in drop {
            cluster_sql.push(Statement::new(format!(
                "REVOKE {keyword}{role} FROM {user}"
            )));
        }
    }

    let removed: Vec<&User> = config
        .users
        .values()
        .filter(|u| !u.present && cluster.users.contains_key(u.name.as_str()))
        .collect();
    let reassign_to = config
        .target
        .reassign_owner
        .clone()
        .unwrap_or_else(|| Ident::from_catalog(&config.target.admin_user));

    let mut phases = Vec::new();
    for (index, database) in config.target.databases.iter().enumerate() {
        let empty = DatabaseState::default();
        let state = databases.get(database).unwrap_or(&empty);
        let mut sql = if index == 0 {
            std::mem::take(&mut cluster_sql)
        } else {
            Vec::new()
        };
        plan_database(&r, database, state, &mut sql);
        for user in removed.iter().filter(|u| u.on_remove == OnRemove::Drop) {
            clean_up_for_drop(&r, database, state, &user.name, &reassign_to, &mut sql);
        }
        phases.push(Phase {
            database: database.clone(),
            statements: sql,
        });
    }

    let mut removals = Vec::new();
    for user in removed {
        let state = &cluster.users[user.name.as_str()];
        match user.on_remove {
            OnRemove::Ignore => {}
            OnRemove::Disable if !state.disabled => {
                let password = match dialect {
                    Dialect::Redshift => "PASSWORD DISABLE",
                    Dialect::Postgres => "PASSWORD NULL",
                };
                removals.push(Statement::new(format!(
                    "ALTER USER {} {password} VALID UNTIL '1970-01-01'",
                    user.name
                )));
            }
            OnRemove::Disable => {}
            OnRemove::Drop => removals.push(Statement::new(format!("DROP USER {}", user.name))),
        }
    }
    if !removals.is_empty() {
        match phases.as_mut_slice() {
            [only] => only.statements.extend(removals),
            _ => phases.push(Phase {
                database: config.target.databases[0].clone(),
                statements: removals,
            }),
        }
    }
    phases.retain(|p| !p.statements.is_empty());
    Plan { phases }
}

/// Users to add to and drop from a managed group or role.
fn membership(
    config: &DesiredState,
    current: &BTreeMap<String, BTreeSet<String>>,
    principal: &Ident,
    of: impl Fn(&User) -> &BTreeSet<Ident>,
) -> (Vec<Ident>, Vec<Ident>) {
    let want: BTreeSet<&str> = config
        .users
        .values()
        .filter(|u| u.present && of(u).contains(principal))
        .map(|u| u.name.as_str())
        .collect();
    let have: BTreeSet<&str> = current
        .get(principal.as_str())
        .map(|m| m.iter().map(String::as_str).collect())
        .unwrap_or_default();
    (
        want.difference(&have)
            .map(|n| Ident::from_catalog(n))
            .collect(),
        have.difference(&want)
            .map(|n| Ident::from_catalog(n))
            .collect(),
    )
}

fn plan_database(r: &Render<'_>, database: &str, state: &DatabaseState, out: &mut Vec<Statement>) {
    let config = r.config;
    for schema in config.schemas.iter().filter(|s| s.database == database) {
        let current = state.schemas.get(schema.name.as_str());
        let owner = match (current, &schema.owner) {
            (None, owner) => {
                let authorization = owner
                    .as_ref()
                    .map(|o| format!(" AUTHORIZATION {o}"))
                    .unwrap_or_default();
                out.push(Statement::new(format!(
                    "CREATE SCHEMA IF NOT EXISTS {}{authorization}",
                    schema.name
                )));
                owner
                    .as_ref()
                    .map_or(config.target.admin_user.clone(), |o| o.as_str().to_string())
            }
            (Some(c), Some(owner)) if c.owner != owner.as_str() => {
                out.push(Statement::new(format!(
                    "ALTER SCHEMA {} OWNER TO {owner}",
                    schema.name
                )));
                owner.as_str().to_string()
            }
            (Some(c), _) => c.owner.clone(),
        };
        let empty_acl = Acl::new();
        let acl = current.map_or(&empty_acl, |c| &c.acl);
        r.diff(
            out,
            &format!("SCHEMA {}", schema.name),
            &schema.grants,
            &r.current(acl, &owner),
        );

        // ALL TABLES IN SCHEMA: one GRANT / REVOKE per grantee when any table differs.
        if let Some(current) = current {
            let empty = Privileges::new();
            let mut grantees: BTreeSet<Grantee> = schema.table_grants.keys().cloned().collect();
            for (table_owner, acl) in current.tables.values() {
                grantees.extend(
                    r.current(acl, table_owner)
                        .into_keys()
                        .filter(|g| config.manages(g)),
                );
            }
            for g in grantees {
                let want = schema.table_grants.get(&g).unwrap_or(&empty);
                let (mut missing, mut extra) = (Privileges::new(), Privileges::new());
                for (table_owner, acl) in current.tables.values() {
                    if matches!(&g, Grantee::User(u) if u.as_str() == table_owner) {
                        continue;
                    }
                    let have = r.current(acl, table_owner).remove(&g).unwrap_or_default();
                    missing.extend(want.difference(&have));
                    if config.manages(&g) {
                        extra.extend(have.difference(want));
                    }
                }
                let on = format!("ALL TABLES IN SCHEMA {}", schema.name);
                if let Some(p) = r.privileges(&missing) {
                    out.push(Statement::new(format!(
                        "GRANT {p} ON {on} TO {}",
                        r.grantee(&g)
                    )));
                }
                if let Some(p) = r.privileges(&extra) {
                    out.push(Statement::new(format!(
                        "REVOKE {p} ON {on} FROM {}",
                        r.grantee(&g)
                    )));
                }
            }
        }

        // Default privileges per (owner, kind): configured owners are authoritative.
        let mut desired: BTreeMap<(Ident, ObjectKind), BTreeMap<Grantee, Privileges>> =
            BTreeMap::new();
        for ((owner, kind, grantee), privileges) in &schema.default_privileges {
            desired
                .entry((owner.clone(), r.kind(*kind)))
                .or_default()
                .entry(grantee.clone())
                .or_default()
                .extend(privileges);
        }
        for ((owner, schema_name, kind), acl) in &state.default_acls {
            let owner = Ident::from_catalog(owner);
            if schema_name == schema.name.as_str()
                && config.users.get(&owner).is_some_and(|u| u.present)
            {
                desired.entry((owner, *kind)).or_default();
            }
            let _ = acl;
        }
        for ((owner, kind), want) in desired {
            let have = state
                .default_acls
                .get(&(
                    owner.as_str().to_string(),
                    schema.name.as_str().to_string(),
                    kind,
                ))
                .map(|acl| r.current(acl, owner.as_str()))
                .unwrap_or_default();
            let mut diff = Vec::new();
            r.diff(&mut diff, Render::kind_sql(kind), &want, &have);
            for s in diff {
                out.push(Statement::new(format!(
                    "ALTER DEFAULT PRIVILEGES FOR USER {owner} IN SCHEMA {} {}",
                    schema.name, s.sql
                )));
            }
        }
    }
    for db in config.databases.iter().filter(|d| d.name == database) {
        let name = Ident::from_catalog(&db.name);
        // The database owner is not a grantee we manage; the admin usually owns it.
        r.diff(
            out,
            &format!("DATABASE {name}"),
            &db.grants,
            &r.current(&state.acl, &config.target.admin_user),
        );
    }
}

/// Before DROP USER: give away what the user owns and revoke what it holds, in this database.
fn clean_up_for_drop(
    r: &Render<'_>,
    database: &str,
    state: &DatabaseState,
    user: &Ident,
    reassign_to: &Ident,
    out: &mut Vec<Statement>,
) {
    let name = user.as_str();
    let me = AclGrantee::Name(name.to_string());
    for (schema, s) in &state.schemas {
        let schema_id = Ident::from_catalog(schema);
        if s.owner == name {
            out.push(Statement::new(format!(
                "ALTER SCHEMA {schema_id} OWNER TO {reassign_to}"
            )));
        }
        for (table, (owner, _)) in &s.tables {
            if owner == name {
                out.push(Statement::new(format!(
                    "ALTER TABLE {schema_id}.{} OWNER TO {reassign_to}",
                    Ident::from_catalog(table)
                )));
            }
        }
        if s.acl.contains_key(&me) {
            out.push(Statement::new(format!(
                "REVOKE ALL ON SCHEMA {schema_id} FROM {user}"
            )));
        }
        if s.tables.values().any(|(_, acl)| acl.contains_key(&me)) {
            out.push(Statement::new(format!(
                "REVOKE ALL ON ALL TABLES IN SCHEMA {schema_id} FROM {user}"
            )));
        }
    }
    if state.acl.contains_key(&me) {
        out.push(Statement::new(format!(
            "REVOKE ALL ON DATABASE {} FROM {user}",
            Ident::from_catalog(database)
        )));
    }
    for ((owner, schema, kind), acl) in &state.default_acls {
        let in_schema = if schema.is_empty() {
            String::new()
        } else {
            format!(" IN SCHEMA {}", Ident::from_catalog(schema))
        };
        let kind = Render::kind_sql(*kind);
        if owner == name {
            for grantee in acl.keys() {
                out.push(Statement::new(format!(
                    "ALTER DEFAULT PRIVILEGES FOR USER {user}{in_schema} REVOKE ALL ON {kind} FROM {}",
                    r.grantee(&r.resolve(grantee))
                )));
            }
        } else if acl.contains_key(&me) {
            out.push(Statement::new(format!(
                "ALTER DEFAULT PRIVILEGES FOR USER {}{in_schema} REVOKE ALL ON {kind} FROM {user}",
                Ident::from_catalog(owner)
            )));
        }
    }
}

#[cfg(test)]
mod tests;
