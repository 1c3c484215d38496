//! The Redshift dialect's catalog reads executed, on PostgreSQL prepared as a Redshift
//! profile (common/redshift_profile.sql): Redshift's SVV views and pg_default_acl shape, no
//! boolean → character casts, and grants to roles visible only in svv_*_privileges.
//! The statements the dialect writes (GRANT … TO ROLE, …) are outside what PostgreSQL parses;
//! their rules are checked on the emitted SQL in plan's unit tests.

mod common;

use common::{Fixture, TestResult};
use redshift_config::acl::AclGrantee;
use redshift_config::config::{Dialect, Privilege, SslMode};
use redshift_config::exec::{ConnectParams, PgSession, Session};
use redshift_config::reconcile::Mode;
use redshift_config::state::{read_cluster, read_database};
use std::time::Duration;

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
