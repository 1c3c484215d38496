//! The desired state, as DynamoDB items (one per object, partition key `target`, sort key
//! `id`), validated completely before any SQL: every error is reported at once, naming its
//! item.
//!
//! | `id` | attributes |
//! |---|---|
//! | `TARGET` | `dialect` (`redshift`\|`postgres`), `databases`, `host`, `port`, `admin_user`, `cluster_identifier` \| `workgroup_name` \| `admin_secret_arn`, `sslmode`, `reassign_owner`, `executor` (`direct`\|`data-api`) |
//! | `GROUP#<name>` | — |
//! | `ROLE#<name>` | — |
//! | `USER#<name>` | `groups`, `roles`, `superuser`, `createdb`, `connection_limit`, `valid_until`, `password` {`managed`, `secret_name`}, `ensure` (`present`\|`absent`), `on_remove` (`disable`\|`drop`\|`ignore`) |
//! | `SCHEMA#<name>` | `database`, `owner`, `grants`, `table_grants`, `default_privileges` |
//! | `DATABASE#<name>` | `grants` |
//!
//! A grant is `{"to": "group:<g>" | "role:<r>" | "user:<u>" | "public", "privileges": [...]}`;
//! a default privilege adds `owner` (a user) and `object_type` (`tables`|`functions`|`procedures`).

use crate::ident::{literal, Ident, NameError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[default]
    Redshift,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// TLS with certificate and host name verification (the default).
    #[default]
    VerifyFull,
    /// No TLS: local PostgreSQL tests only.
    Disable,
}

/// How statements reach the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Executor {
    /// tokio-postgres over TLS (the Lambda needs VPC access).
    #[default]
    Direct,
    /// The Redshift Data API (no VPC access needed; no password logins, so no rotation).
    DataApi,
}

/// How the function logs in as the admin user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `redshift:GetClusterCredentials` (DbUser = admin, no auto-create).
    Cluster { cluster_identifier: String },
    /// `redshift-serverless:GetCredentials`.
    Serverless { workgroup_name: String },
    /// A secret with `username`/`password` (AWS's Redshift secret format).
    Secret { secret_arn: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub dialect: Dialect,
    pub databases: Vec<String>,
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub credentials: Credentials,
    pub sslmode: SslMode,
    pub reassign_owner: Option<Ident>,
    pub executor: Executor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRemove {
    Disable,
    Drop,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: Ident,
    pub present: bool,
    pub on_remove: OnRemove,
    pub groups: BTreeSet<Ident>,
    pub roles: BTreeSet<Ident>,
    pub superuser: bool,
    pub createdb: bool,
    /// `None` = unlimited.
    pub connection_limit: Option<u32>,
    pub valid_until: Option<String>,
    /// Secrets Manager secret holding the password (`None`: no password, login disabled).
    pub password_secret: Option<String>,
}

/// Who receives a privilege.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grantee {
    User(Ident),
    Group(Ident),
    Role(Ident),
    Public,
}

/// Privileges, from fixed lists per object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    References,
    Drop,
    Usage,
    Create,
    Temp,
    Execute,
}

impl Privilege {
    pub fn sql(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::References => "REFERENCES",
            Privilege::Drop => "DROP",
            Privilege::Usage => "USAGE",
            Privilege::Create => "CREATE",
            Privilege::Temp => "TEMP",
            Privilege::Execute => "EXECUTE",
        }
    }

    /// A privilege by its SQL name (config items, Redshift's `svv_*_privileges` views).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "SELECT" => Privilege::Select,
            "INSERT" => Privilege::Insert,
            "UPDATE" => Privilege::Update,
            "DELETE" => Privilege::Delete,
            "REFERENCES" => Privilege::References,
            "DROP" => Privilege::Drop,
            "USAGE" => Privilege::Usage,
            "CREATE" => Privilege::Create,
            "TEMP" | "TEMPORARY" => Privilege::Temp,
            "EXECUTE" => Privilege::Execute,
            _ => return None,
        })
    }
}

/// What a grant applies to; also fixes which privileges are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Database,
    Schema,
    /// All tables (and views) in a schema.
    Tables,
    Functions,
    Procedures,
}

impl ObjectKind {
    pub fn allowed(self) -> &'static [Privilege] {
        use Privilege::*;
        match self {
            ObjectKind::Database => &[Create, Temp],
            ObjectKind::Schema => &[Usage, Create],
            ObjectKind::Tables => &[Select, Insert, Update, Delete, References, Drop],
            ObjectKind::Functions | ObjectKind::Procedures => &[Execute],
        }
    }
}

pub type Privileges = BTreeSet<Privilege>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub name: Ident,
    pub database: String,
    pub owner: Option<Ident>,
    pub grants: BTreeMap<Grantee, Privileges>,
    pub table_grants: BTreeMap<Grantee, Privileges>,
    /// (owner, object kind, grantee) → privileges on objects the owner creates later.
    pub default_privileges: BTreeMap<(Ident, ObjectKind, Grantee), Privileges>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub name: String,
    pub grants: BTreeMap<Grantee, Privileges>,
}

/// A whole validated target configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    pub target: Target,
    pub groups: BTreeSet<Ident>,
    pub roles: BTreeSet<Ident>,
    pub users: BTreeMap<Ident, User>,
    pub schemas: Vec<Schema>,
    pub databases: Vec<Database>,
}

impl DesiredState {
    /// Is `grantee` managed by this config (its grants on managed objects are authoritative)?
    pub fn manages(&self, grantee: &Grantee) -> bool {
        match grantee {
            Grantee::User(u) => self.users.get(u).is_some_and(|u| u.present),
            Grantee::Group(g) => self.groups.contains(g),
            Grantee::Role(r) => self.roles.contains(r),
            Grantee::Public => false,
        }
    }
}

/// Every problem in a configuration, each naming its item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the configuration of target {target:?} has {} error(s):\n- {}", errors.len(), errors.join("\n- "))]
pub struct DesiredErrors {
    pub target: String,
    pub errors: Vec<String>,
}

// ---- raw item shapes ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    target: String,
    id: String,
    #[serde(default)]
    dialect: Dialect,
    databases: Vec<String>,
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    admin_user: String,
    cluster_identifier: Option<String>,
    workgroup_name: Option<String>,
    admin_secret_arn: Option<String>,
    #[serde(default)]
    sslmode: SslMode,
    reassign_owner: Option<String>,
    #[serde(default)]
    executor: Executor,
}

fn default_port() -> u16 {
    5439
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    #[allow(dead_code)]
    target: String,
    #[allow(dead_code)]
    id: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPassword {
    #[serde(default)]
    managed: bool,
    secret_name: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum Ensure {
    #[default]
    Present,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    #[allow(dead_code)]
    target: String,
    #[allow(dead_code)]
    id: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    superuser: bool,
    #[serde(default)]
    createdb: bool,
    connection_limit: Option<u32>,
    valid_until: Option<String>,
    #[serde(default)]
    password: RawPassword,
    #[serde(default)]
    ensure: Ensure,
    on_remove: Option<OnRemove>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    to: String,
    privileges: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaultPrivilege {
    owner: String,
    object_type: String,
    to: String,
    privileges: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    #[allow(dead_code)]
    target: String,
    #[allow(dead_code)]
    id: String,
    database: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    grants: Vec<RawGrant>,
    #[serde(default)]
    table_grants: Vec<RawGrant>,
    #[serde(default)]
    default_privileges: Vec<RawDefaultPrivilege>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    #[allow(dead_code)]
    target: String,
    #[allow(dead_code)]
    id: String,
    #[serde(default)]
    grants: Vec<RawGrant>,
}

/// Collects errors; `item` prefixes each.
struct Errors(Vec<String>);

impl Errors {
    fn push(&mut self, item: &str, message: impl std::fmt::Display) {
        self.0.push(format!("{item}: {message}"));
    }
    fn name<T>(&mut self, item: &str, result: Result<T, NameError>) -> Option<T> {
        result.map_err(|e| self.push(item, e)).ok()
    }
}

fn parse_grantee(text: &str) -> Result<Grantee, String> {
    if text == "public" {
        return Ok(Grantee::Public);
    }
    let (kind, name) = text.split_once(':').ok_or_else(|| {
        format!("grantee {text:?} must be group:<name>, role:<name>, user:<name> or public")
    })?;
    match kind {
        "group" => Ident::object("group", name).map(Grantee::Group),
        "role" => Ident::object("role", name).map(Grantee::Role),
        "user" => Ident::user(name).map(Grantee::User),
        _ => return Err(format!("grantee kind {kind:?} must be group, role or user")),
    }
    .map_err(|e| e.to_string())
}

fn parse_kind(text: &str) -> Option<ObjectKind> {
    match text {
        "tables" => Some(ObjectKind::Tables),
        "functions" => Some(ObjectKind::Functions),
        "procedures" => Some(ObjectKind::Procedures),
        _ => None,
    }
}

impl Errors {
    fn privileges(&mut self, item: &str, kind: ObjectKind, list: &[String]) -> Privileges {
        let mut out = Privileges::new();
        for p in list {
            match Privilege::parse(p) {
                Some(p) if kind.allowed().contains(&p) => {
                    out.insert(p);
                }
                _ => self.push(
                    item,
                    format!(
                        "privilege {p:?} is not one of {} for {kind:?}",
                        kind.allowed()
                            .iter()
                            .map(|p| p.sql())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        if list.is_empty() {
            self.push(item, "a grant needs at least one privilege");
        }
        out
    }

    fn grants(
        &mut self,
        item: &str,
        kind: ObjectKind,
        raw: &[RawGrant],
    ) -> BTreeMap<Grantee, Privileges> {
        let mut out: BTreeMap<Grantee, Privileges> = BTreeMap::new();
        for g in raw {
            let privileges = self.privileges(item, kind, &g.privileges);
            match parse_grantee(&g.to) {
                Ok(grantee) => out.entry(grantee).or_default().extend(privileges),
                Err(e) => self.push(item, e),
            }
        }
        out
    }
}

/// Validate the items of one target (as JSON objects, DynamoDB types already unwrapped).
pub fn from_items(target_name: &str, items: &[Value]) -> Result<DesiredState, DesiredErrors> {
    let mut errors = Errors(Vec::new());
    let mut target = None;
    let (mut groups, mut roles) = (BTreeSet::new(), BTreeSet::new());
    let mut raw_users = Vec::new();
    let mut raw_schemas = Vec::new();
    let mut raw_databases = Vec::new();
    for item in items {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("<no id>")
            .to_string();
        let parse = |errors: &mut Errors| -> Option<(&str, &str)> {
            match id.split_once('#') {
                Some((kind, name)) => Some((kind, name)),
                None if id == "TARGET" => Some(("TARGET", "")),
                None => {
                    errors.push(&id, "id must be TARGET or KIND#name");
                    None
                }
            }
        };
        let Some((kind, name)) = parse(&mut errors) else {
            continue;
        };
        macro_rules! raw {
            ($t:ty) => {
                match serde_json::from_value::<$t>(item.clone()) {
                    Ok(v) => v,
                    Err(e) => {
                        errors.push(&id, e);
                        continue;
                    }
                }
            };
        }
        match kind {
            "TARGET" => target = Some(raw!(RawTarget)),
            "GROUP" => {
                let _: RawPrincipal = raw!(RawPrincipal);
                if let Some(n) = errors.name(&id, Ident::object("group", name)) {
                    groups.insert(n);
                }
            }
            "ROLE" => {
                let _: RawPrincipal = raw!(RawPrincipal);
                if let Some(n) = errors.name(&id, Ident::object("role", name)) {
                    roles.insert(n);
                }
            }
            "USER" => raw_users.push((id.clone(), name.to_string(), raw!(RawUser))),
            "SCHEMA" => raw_schemas.push((id.clone(), name.to_string(), raw!(RawSchema))),
            "DATABASE" => raw_databases.push((id.clone(), name.to_string(), raw!(RawDatabase))),
            other => errors.push(
                &id,
                format!(
                    "unknown item kind {other:?} (TARGET, GROUP, ROLE, USER, SCHEMA, DATABASE)"
                ),
            ),
        }
    }

    let target = match target {
        None => {
            errors.push("TARGET", "missing: every target needs a TARGET item");
            None
        }
        Some(t) => validate_target(target_name, t, &mut errors),
    };

    let mut users = BTreeMap::new();
    for (id, name, raw) in raw_users {
        let Some(name) = errors.name(&id, Ident::user(&name)) else {
            continue;
        };
        let member =
            |kind: &'static str, list: &[String], known: &BTreeSet<Ident>, errors: &mut Errors| {
                let mut out = BTreeSet::new();
                for n in list {
                    if let Some(n) = errors.name(&id, Ident::object(kind, n)) {
                        if !known.contains(&n) {
                            errors.push(
                                &id,
                                format!(
                                    "{kind} {:?} is not configured (add a {}#{} item)",
                                    n.as_str(),
                                    kind.to_uppercase(),
                                    n.as_str()
                                ),
                            );
                        }
                        out.insert(n);
                    }
                }
                out
            };
        let user_groups = member("group", &raw.groups, &groups, &mut errors);
        let user_roles = member("role", &raw.roles, &roles, &mut errors);
        if let Some(v) = &raw.valid_until {
            errors.name(&id, literal(|| format!("valid_until of {id}"), v));
        }
        let password_secret = match (raw.password.managed, raw.password.secret_name) {
            (false, None) => None,
            (false, Some(_)) => {
                errors.push(&id, "password.secret_name needs password.managed = true");
                None
            }
            (true, Some(s)) => Some(s),
            (true, None) => Some(format!("redshift/{target_name}/{}", name.as_str())),
        };
        if raw.superuser && password_secret.is_none() && raw.ensure == Ensure::Present {
            // Redshift refuses PASSWORD DISABLE for a superuser.
            errors.push(&id, "a superuser needs a managed password (Redshift cannot disable a superuser's password)");
        }
        users.insert(
            name.clone(),
            User {
                name,
                present: raw.ensure == Ensure::Present,
                on_remove: raw.on_remove.unwrap_or(OnRemove::Disable),
                groups: user_groups,
                roles: user_roles,
                superuser: raw.superuser,
                createdb: raw.createdb,
                connection_limit: raw.connection_limit,
                valid_until: raw.valid_until,
                password_secret,
            },
        );
    }

    // One namespace in PostgreSQL, and clarity everywhere: no name is two kinds of principal.
    for g in &groups {
        if roles.contains(g) {
            errors.push(
                &format!("GROUP#{}", g.as_str()),
                "the same name is also a ROLE",
            );
        }
        if users.contains_key(g) {
            errors.push(
                &format!("GROUP#{}", g.as_str()),
                "the same name is also a USER",
            );
        }
    }
    for r in &roles {
        if users.contains_key(r) {
            errors.push(
                &format!("ROLE#{}", r.as_str()),
                "the same name is also a USER",
            );
        }
    }

    let default_database = target
        .as_ref()
        .and_then(|t: &Target| t.databases.first().cloned())
        .unwrap_or_default();
    let check_grantees = |id: &str, grants: &BTreeMap<Grantee, Privileges>, errors: &mut Errors| {
        for g in grants.keys() {
            let known = match g {
                Grantee::User(u) => users.contains_key(u),
                Grantee::Group(n) => groups.contains(n),
                Grantee::Role(r) => roles.contains(r),
                Grantee::Public => true,
            };
            if !known {
                errors.push(id, format!("grantee {g:?} is not configured"));
            }
        }
    };
    let mut schemas = Vec::new();
    for (id, name, raw) in raw_schemas {
        let Some(name) = errors.name(&id, Ident::object("schema", &name)) else {
            continue;
        };
        let owner = raw
            .owner
            .as_deref()
            .and_then(|o| errors.name(&id, Ident::user(o)));
        let grants = errors.grants(&id, ObjectKind::Schema, &raw.grants);
        let table_grants = errors.grants(&id, ObjectKind::Tables, &raw.table_grants);
        check_grantees(&id, &grants, &mut errors);
        check_grantees(&id, &table_grants, &mut errors);
        let mut default_privileges = BTreeMap::new();
        for d in &raw.default_privileges {
            let Some(kind) = parse_kind(&d.object_type) else {
                errors.push(&id, format!("default privilege object_type {:?} must be tables, functions or procedures", d.object_type));
                continue;
            };
            let Some(owner) = errors.name(&id, Ident::user(&d.owner)) else {
                continue;
            };
            if !users.contains_key(&owner) {
                errors.push(
                    &id,
                    format!(
                        "default privilege owner {:?} must be a configured user (never a group)",
                        owner.as_str()
                    ),
                );
            }
            let privileges = errors.privileges(&id, kind, &d.privileges);
            match parse_grantee(&d.to) {
                Ok(grantee) => {
                    check_grantees(
                        &id,
                        &BTreeMap::from([(grantee.clone(), Privileges::new())]),
                        &mut errors,
                    );
                    default_privileges
                        .entry((owner, kind, grantee))
                        .or_insert_with(Privileges::new)
                        .extend(privileges);
                }
                Err(e) => errors.push(&id, e),
            }
        }
        let database = raw.database.unwrap_or_else(|| default_database.clone());
        if let Some(t) = &target {
            if !t.databases.contains(&database) {
                errors.push(
                    &id,
                    format!("database {database:?} is not in the target's databases"),
                );
            }
        }
        schemas.push(Schema {
            name,
            database,
            owner,
            grants,
            table_grants,
            default_privileges,
        });
    }
    let mut databases = Vec::new();
    for (id, name, raw) in raw_databases {
        let grants = errors.grants(&id, ObjectKind::Database, &raw.grants);
        check_grantees(&id, &grants, &mut errors);
        if let Some(t) = &target {
            if !t.databases.contains(&name) {
                errors.push(
                    &id,
                    format!("database {name:?} is not in the target's databases"),
                );
            }
        }
        databases.push(Database { name, grants });
    }
    match target {
        Some(target) if errors.0.is_empty() => Ok(DesiredState {
            target,
            groups,
            roles,
            users,
            schemas,
            databases,
        }),
        _ => Err(DesiredErrors {
            target: target_name.to_string(),
            errors: errors.0,
        }),
    }
}

fn validate_target(name: &str, raw: RawTarget, errors: &mut Errors) -> Option<Target> {
    let id = "TARGET";
    if raw.target != name {
        errors.push(
            id,
            format!("target attribute {:?} does not match {name:?}", raw.target),
        );
    }
    let _ = &raw.id;
    if raw.databases.is_empty() {
        errors.push(id, "databases must list at least one database");
    }
    for db in &raw.databases {
        errors.name(id, Ident::object("database", db));
    }
    errors.name(id, Ident::user(&raw.admin_user));
    let reassign_owner = raw
        .reassign_owner
        .as_deref()
        .and_then(|o| errors.name(id, Ident::user(o)));
    let credentials = match (
        raw.cluster_identifier,
        raw.workgroup_name,
        raw.admin_secret_arn,
    ) {
        (Some(c), None, None) => Credentials::Cluster {
            cluster_identifier: c,
        },
        (None, Some(w), None) => Credentials::Serverless { workgroup_name: w },
        (None, None, Some(s)) => Credentials::Secret { secret_arn: s },
        _ => {
            errors.push(
                id,
                "exactly one of cluster_identifier, workgroup_name, admin_secret_arn is required",
            );
            return None;
        }
    };
    Some(Target {
        name: name.to_string(),
        dialect: raw.dialect,
        databases: raw.databases,
        host: raw.host,
        port: raw.port,
        admin_user: raw.admin_user,
        credentials,
        sslmode: raw.sslmode,
        reassign_owner,
        executor: raw.executor,
    })
}

#[cfg(test)]
pub(crate) mod tests;
