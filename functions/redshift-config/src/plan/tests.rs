use super::*;
use crate::desired::tests::sample;
use crate::desired::{from_items, Dialect};
use crate::state::{SchemaState, UserState};

fn analytics(dialect: Dialect) -> DesiredState {
    let mut config = from_items("analytics", &sample()).unwrap();
    config.target.dialect = dialect;
    config
}

fn passwords() -> Passwords {
    ["etl", "jane"]
        .into_iter()
        .map(|u| (Ident::user(u).unwrap(), format!("Pw-{u}-123456789")))
        .collect()
}

#[test]
fn from_empty_on_redshift() {
    let config = analytics(Dialect::Redshift);
    let cluster = ClusterState::default();
    let plan = plan(&config, &cluster, &BTreeMap::new(), &passwords());
    let sql: Vec<String> = plan.redacted().into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        sql,
        [
            "CREATE ROLE \"pii_reader\"",
            "CREATE GROUP \"analysts\"",
            "CREATE GROUP \"loaders\"",
            "CREATE USER \"bi_tool\" PASSWORD DISABLE NOCREATEDB NOCREATEUSER CONNECTION LIMIT UNLIMITED VALID UNTIL '2027-12-31'",
            "CREATE USER \"etl\" PASSWORD '***' NOCREATEDB NOCREATEUSER CONNECTION LIMIT UNLIMITED",
            "CREATE USER \"jane\" PASSWORD '***' NOCREATEDB NOCREATEUSER CONNECTION LIMIT 10",
            "ALTER GROUP \"analysts\" ADD USER \"bi_tool\", \"jane\"",
            "ALTER GROUP \"loaders\" ADD USER \"etl\"",
            "GRANT ROLE \"pii_reader\" TO \"jane\"",
            "CREATE SCHEMA IF NOT EXISTS \"marts\" AUTHORIZATION \"etl\"",
            "GRANT USAGE ON SCHEMA \"marts\" TO GROUP \"analysts\"",
            "GRANT USAGE, CREATE ON SCHEMA \"marts\" TO GROUP \"loaders\"",
            "ALTER DEFAULT PRIVILEGES FOR USER \"etl\" IN SCHEMA \"marts\" GRANT SELECT ON TABLES TO GROUP \"analysts\"",
            "GRANT TEMP ON DATABASE \"dev\" TO GROUP \"loaders\"",
        ]
    );
    // The real SQL carries the md5 hash, never the plain password.
    let etl = &plan.phases[0].statements[4].sql;
    assert!(
        etl.contains(&md5_password(
            "Pw-etl-123456789",
            &Ident::user("etl").unwrap()
        )),
        "{etl}"
    );
    assert!(!plan
        .phases
        .iter()
        .flat_map(|p| &p.statements)
        .any(|s| s.sql.contains("Pw-")));
}

#[test]
fn postgres_renders_its_own_forms() {
    let config = analytics(Dialect::Postgres);
    let plan = plan(
        &config,
        &ClusterState::default(),
        &BTreeMap::new(),
        &passwords(),
    );
    let sql: Vec<String> = plan.redacted().into_iter().map(|(_, s)| s).collect();
    assert!(sql.contains(&"CREATE USER \"bi_tool\" PASSWORD NULL NOCREATEDB NOSUPERUSER CONNECTION LIMIT -1 VALID UNTIL '2027-12-31'".to_string()), "{sql:#?}");
    assert!(
        sql.contains(&"GRANT \"pii_reader\" TO \"jane\"".to_string()),
        "{sql:#?}"
    );
}

#[test]
fn drift_on_managed_objects_is_repaired_and_unmanaged_grantees_are_left_alone() {
    let config = analytics(Dialect::Redshift);
    let user = |_: &str| UserState::default();
    let cluster = ClusterState {
        users: ["etl", "jane", "bi_tool", "old_contractor", "someone_else"]
            .into_iter()
            .map(|u| (u.to_string(), user(u)))
            .collect(),
        groups: [
            (
                "analysts".to_string(),
                ["jane", "bi_tool", "someone_else"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ),
            (
                "loaders".to_string(),
                ["etl"].into_iter().map(String::from).collect(),
            ),
        ]
        .into(),
        roles: [(
            "pii_reader".to_string(),
            ["jane"].into_iter().map(String::from).collect(),
        )]
        .into(),
    };
    let mut cluster = cluster;
    for u in ["etl", "jane", "bi_tool"] {
        cluster.users.get_mut(u).unwrap().valid_until =
            (u == "bi_tool").then(|| "2027-12-31 00:00:00".into());
    }
    cluster.users.get_mut("jane").unwrap().connection_limit = Some(10);
    let acl = |text: &str| crate::acl::parse(text, Dialect::Redshift);
    let db = DatabaseState {
        acl: acl("admin=CT/admin|\"group loaders=T/admin\""),
        schemas: [(
            "marts".to_string(),
            SchemaState {
                owner: "etl".into(),
                // Drift: analysts got CREATE by hand; someone_else (unmanaged) has USAGE.
                acl: acl("etl=UC/etl|\"group analysts=UC/etl\"|\"group loaders=UC/etl\"|someone_else=U/etl"),
                tables: [
                    ("orders".to_string(), ("etl".to_string(), acl("etl=rwadxD/etl|\"group analysts=r/etl\""))),
                    // A table created after the grant: analysts miss SELECT.
                    ("refunds".to_string(), ("etl".to_string(), acl("etl=rwadxD/etl|\"group analysts=rw/etl\""))),
                ]
                .into(),
            },
        )]
        .into(),
        default_acls: [(
            ("etl".to_string(), "marts".to_string(), ObjectKind::Tables),
            acl("\"group analysts=r/etl\""),
        )]
        .into(),
    };
    let plan = plan(
        &config,
        &cluster,
        &BTreeMap::from([("dev".to_string(), db)]),
        &Passwords::new(),
    );
    let sql: Vec<String> = plan.redacted().into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        sql,
        [
            "ALTER GROUP \"analysts\" DROP USER \"someone_else\"",
            "REVOKE CREATE ON SCHEMA \"marts\" FROM GROUP \"analysts\"",
            "REVOKE UPDATE ON ALL TABLES IN SCHEMA \"marts\" FROM GROUP \"analysts\"",
            "ALTER USER \"old_contractor\" PASSWORD DISABLE VALID UNTIL '1970-01-01'",
        ],
    );
}
