//! The Redshift dialect's catalog reads executed, on PostgreSQL prepared as a Redshift
//! profile (common/redshift_profile.sql): Redshift's SVV views and pg_default_acl shape, no
//! boolean → character casts, and grants to roles visible only in svv_*_privileges.
//! The statements the dialect writes (GRANT … TO ROLE, …) are outside what PostgreSQL parses;
//! their rules are checked on the emitted SQL in plan's unit tests.

mod common;

use common::{Fixture, TestResult};
use redshift_config::acl::AclGrantee;
use redshift_config::desired::{Dialect, Privilege, SslMode};
use redshift_config::executor::direct::{ConnectParams, PgSession};
use redshift_config::executor::Session;
use redshift_config::reconcile::Mode;
use redshift_config::state::{read_cluster, read_database};
use serde_json::json;
use std::time::Duration;

/// Plan or apply through the handler; the number of statements.
async fn run<S, C, P>(
    function: &redshift_config::handler::RedshiftConfig<S, C, P>,
    target: &str,
    mode: &str,
) -> Result<u64, Box<dyn std::error::Error>>
where
    S: redshift_config::store::ConfigSource,
    C: redshift_config::executor::Connector,
    P: ferrolake_shared::secrets::SecretStore,
{
    let report = function
        .handle(json!({"target": target, "mode": mode}))
        .await?;
    Ok(report["statement_count"].as_u64().unwrap_or(0))
}

/// Secrets Manager's four rotation steps, in order, through the handler.
async fn rotate<S, C, P>(
    function: &redshift_config::handler::RedshiftConfig<S, C, P>,
    secret: &str,
    token: &str,
) -> TestResult
where
    S: redshift_config::store::ConfigSource,
    C: redshift_config::executor::Connector,
    P: ferrolake_shared::secrets::SecretStore,
{
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        function
            .handle(json!({"Step": step, "SecretId": secret, "ClientRequestToken": token}))
            .await?;
    }
    Ok(())
}

async fn session(f: &Fixture) -> Result<PgSession, Box<dyn std::error::Error>> {
    let params = ConnectParams {
        host: "127.0.0.1".into(),
        port: common::pg_port(),
        user: "postgres".into(),
        password: String::new(),
        sslmode: SslMode::Disable,
        connect_timeout: Duration::from_secs(5),
    };
    Ok(PgSession::connect(&params, &f.database).await?)
}

#[tokio::test]
async fn the_redshift_state_reads_run_on_the_redshift_profile() -> TestResult {
    let f = Fixture::new("rc_rs_profile").await?;
    let n = |b: &str| f.n(b);
    // Apply the README's example with the PostgreSQL dialect, then grant to the role.
    f.put(&f.items()).await?;
    f.run(Mode::Apply).await?;
    f.query(&format!(
        "GRANT USAGE ON SCHEMA \"{marts}\" TO \"{pii}\"; CREATE TABLE \"{marts}\".orders (id int); GRANT SELECT ON \"{marts}\".orders TO \"{pii}\"; GRANT TEMP ON DATABASE \"{db}\" TO \"{pii}\"",
        marts = n("marts"),
        pii = n("pii"),
        db = f.database
    ))
    .await?;
    f.redshift_profile(&[n("pii")]).await?;
    let mut rs = session(&f).await?;

    // The profile refuses what Redshift refuses: the cast the dialect used to emit.
    let refused = rs
        .rows("SELECT u.usesuper::varchar FROM pg_user u")
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("cannot cast type boolean to character varying"),
        "{refused:?}"
    );
    // And hides role grants from the ACL columns, as Redshift does.
    let acl = rs
        .rows(&format!(
            "SELECT COALESCE(array_to_string(nspacl, '|'), '')::varchar FROM pg_namespace WHERE nspname = '{}'",
            n("marts")
        ))
        .await?;
    assert!(!format!("{acl:?}").contains(&n("pii")), "{acl:?}");

    // Users with their flags, groups without roles, roles with their members.
    let cluster = read_cluster(&mut rs, Dialect::Redshift).await?;
    let jane = &cluster.users[&n("jane")];
    assert_eq!(jane.connection_limit, Some(10));
    assert!(!jane.superuser && !jane.createdb && !jane.disabled);
    assert!(cluster.users[&n("bi")]
        .valid_until
        .as_deref()
        .is_some_and(|v| v.starts_with("2031-12-31")));
    assert!(cluster.users[&format!("IAM:{}", n("admin"))].superuser);
    assert!(cluster.groups.contains_key(&n("analysts")));
    assert!(
        !cluster.groups.contains_key(&n("pii")),
        "a role is not a group"
    );
    assert_eq!(
        cluster.roles[&n("pii")].iter().cloned().collect::<Vec<_>>(),
        vec![n("jane")]
    );

    // Grants to the role come from svv_schema_privileges / svv_relation_privileges.
    let database = read_database(&mut rs, Dialect::Redshift).await?;
    let marts = &database.schemas[&n("marts")];
    let role = AclGrantee::Role(n("pii"));
    assert!(
        database.acl[&role].contains(&Privilege::Temp),
        "{:?}",
        database.acl
    );
    assert!(
        marts.acl[&role].contains(&Privilege::Usage),
        "{:?}",
        marts.acl
    );
    assert!(marts.tables["orders"].1[&role].contains(&Privilege::Select));
    assert_eq!(marts.owner, n("etl"));
    assert!(
        database
            .default_acls
            .keys()
            .any(|(owner, schema, _)| owner == &n("etl") && schema == &n("marts")),
        "{:?}",
        database.default_acls
    );
    Ok(())
}

/// Every statement the Redshift dialect writes for an apply, a re-apply, drift repair and a
/// disable runs on the profile, through the direct executor and through the Data API, and
/// the state it then reads back (Redshift's views) plans nothing more: the dialect converges.
/// Admin-strategy rotation runs on the same profile.
#[tokio::test]
async fn the_redshift_dialect_applies_converges_and_repairs_drift_on_the_profile() -> TestResult {
    let f = Fixture::new("rc_rs_dialect").await?;
    let n = |b: &str| f.n(b);
    f.redshift_profile(&[n("pii")]).await?;
    let t = f.target();
    let mut items = f.items();
    items[0]["dialect"] = json!("redshift");
    // A role grantee on a schema, its tables and the database: Redshift keeps these out of
    // the ACL columns, so only the svv_*_privileges reads make the re-apply converge.
    let schema = items
        .iter_mut()
        .find(|i| i["id"] == json!(format!("SCHEMA#{}", n("marts"))))
        .ok_or("schema item")?;
    schema["grants"]
        .as_array_mut()
        .ok_or("grants")?
        .push(json!({"to": format!("role:{}", n("pii")), "privileges": ["USAGE"]}));
    schema["table_grants"]
        .as_array_mut()
        .ok_or("table_grants")?
        .push(json!({"to": format!("role:{}", n("pii")), "privileges": ["SELECT"]}));
    f.put(&items).await?;
    let fake = common::data_api_fake::DataApiFake::start().await?;
    let (function, applied) = f.profile_function(&fake.stub.url());
    let statements = || applied.lock().map(|a| a.clone()).unwrap_or_default();

    let first = run(&function, &t, "apply").await?;
    assert!(first >= 14, "{first} statements");
    // What Redshift receives: its own forms, which the profile translated to run them.
    let sent = statements();
    for form in [
        "CREATE ROLE",
        "GRANT ROLE ",
        " TO ROLE ",
        "CONNECTION LIMIT UNLIMITED",
        "PASSWORD DISABLE",
        "PASSWORD '***'",
    ] {
        assert!(
            sent.iter().any(|s| s.contains(form)),
            "no {form:?} in {sent:#?}"
        );
    }
    f.query(&format!("CREATE TABLE \"{}\".orders (id int)", n("marts")))
        .await?;
    // A new table lacks the ALL TABLES grants: planned again, then converged.
    let again = run(&function, &t, "apply").await?;
    assert!(again >= 1, "{again} statements");
    assert_eq!(run(&function, &t, "plan").await?, 0, "converged");

    // Drift: a role grant revoked by hand is repaired, and only that.
    f.query(&format!(
        "REVOKE USAGE ON SCHEMA \"{}\" FROM \"{}\"",
        n("marts"),
        n("pii")
    ))
    .await?;
    assert_eq!(run(&function, &t, "plan").await?, 1, "drift");
    run(&function, &t, "apply").await?;
    assert_eq!(run(&function, &t, "plan").await?, 0, "repaired");

    // Removing a user disables it the Redshift way, and that converges too.
    f.put(&[json!({"target": t, "id": format!("USER#{}", n("bi")), "ensure": "absent"})])
        .await?;
    applied.lock().map(|mut a| a.clear()).ok();
    run(&function, &t, "apply").await?;
    assert!(
        statements()
            .iter()
            .any(|s| s.contains(&n("bi")) && s.contains("PASSWORD DISABLE")),
        "{:#?}",
        statements()
    );
    assert_eq!(run(&function, &t, "plan").await?, 0, "disabled");

    // Dropping it: its privileges revoked and its objects reassigned first, in every database.
    f.query(&format!(
        "CREATE TABLE \"{}\".bi_scratch (id int); ALTER TABLE \"{}\".bi_scratch OWNER TO \"{}\"; GRANT SELECT ON \"{}\".orders TO \"{}\"",
        n("marts"), n("marts"), n("bi"), n("marts"), n("bi")
    ))
    .await?;
    f.put(&[json!({"target": t, "id": format!("USER#{}", n("bi")), "ensure": "absent", "on_remove": "drop"})])
        .await?;
    run(&function, &t, "apply").await?;
    assert!(
        statements().iter().any(|s| s.starts_with("DROP USER")),
        "{:#?}",
        statements()
    );
    assert_eq!(
        f.one(&format!(
            "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = '{}'",
            n("bi")
        ))
        .await?,
        "0"
    );
    assert_eq!(run(&function, &t, "plan").await?, 0, "dropped");

    // The same state read through the Data API executor (the fake runs on the profile too).
    let mut items = items;
    items[0]["executor"] = json!("data-api");
    f.put(&items[..1]).await?;
    assert_eq!(run(&function, &t, "plan").await?, 0, "via_data_api");
    f.query(&format!(
        "REVOKE SELECT ON \"{}\".orders FROM \"{}\"",
        n("marts"),
        n("pii")
    ))
    .await?;
    run(&function, &t, "apply").await?;
    assert_eq!(
        run(&function, &t, "plan").await?,
        0,
        "converged via the Data API"
    );
    assert!(fake
        .sql_seen()
        .iter()
        .any(|s| s.contains(" TO ") && s.contains(&n("pii"))));

    // Admin-strategy rotation of a managed password, on the profile (direct logins).
    items[0]["executor"] = json!("direct");
    f.put(&items[..1]).await?;
    let secret = format!("redshift/{t}/{}", n("jane"));
    let old = f.value(&secret, "AWSCURRENT").await?;
    let token = f.start_rotation(&secret).await?;
    rotate(&function, &secret, &token).await?;
    let new = f.value(&secret, "AWSCURRENT").await?;
    assert_ne!(new.password, old.password);
    assert_eq!(f.login(&n("jane"), &new.password).await?, n("jane"));
    assert!(f.login(&n("jane"), &old.password).await.is_err());
    Ok(())
}

/// Single-user rotation (the secret names no ferrolake target: the user changes its own
/// password) on the Redshift profile.
#[tokio::test]
async fn single_user_rotation_runs_on_the_redshift_profile() -> TestResult {
    let f = Fixture::new("rc_rs_single").await?;
    f.redshift_profile(&[]).await?;
    let user = f.n("app");
    let secret = f.single_user_secret(&user, "Old-Passw0rd-1").await?;
    let fake = common::data_api_fake::DataApiFake::start().await?;
    let (function, applied) = f.profile_function(&fake.stub.url());
    let token = f.start_rotation(&secret).await?;
    rotate(&function, &secret, &token).await?;
    let new = f.value(&secret, "AWSCURRENT").await?;
    assert_ne!(new.password, "Old-Passw0rd-1");
    assert_eq!(f.login(&user, &new.password).await?, user);
    assert!(f.login(&user, "Old-Passw0rd-1").await.is_err());
    let sent = applied.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(
        sent.iter()
            .any(|s| s.starts_with("ALTER USER") && s.contains("PASSWORD '***'")),
        "{sent:#?}"
    );
    Ok(())
}
