//! redshift-config against real parts: the config in moto's DynamoDB, admin logins from
//! moto's GetClusterCredentials (the `IAM:` user trusted by the throwaway PostgreSQL 15 that
//! stands in for Redshift), managed passwords in moto's Secrets Manager, and every
//! statement run by PostgreSQL (dialect `postgres`).

mod common;

use common::{sql, Fixture, TestResult};
use redshift_config::reconcile::Mode;
use serde_json::json;

#[tokio::test]
async fn apply_from_empty_then_reapply_runs_nothing() -> TestResult {
    let f = Fixture::new("rc_apply").await?;
    f.put(&f.items()).await?;
    let report = f.run(Mode::Apply).await?;
    assert!(report.applied);
    assert_eq!(report.secrets_created.len(), 2, "{report:#?}");
    assert!(report.statement_count >= 14, "{:#?}", sql(&report));
    assert!(sql(&report).iter().any(|s| s.contains("PASSWORD '***'")));

    // Principals, memberships, attributes.
    let n = |b: &str| f.n(b);
    assert_eq!(f.one(&format!("SELECT string_agg(m.rolname, ',' ORDER BY m.rolname) FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = '{}'", n("analysts"))).await?,
        format!("{},{}", n("bi"), n("jane")));
    assert_eq!(
        f.one(&format!(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = '{}'",
            n("jane")
        ))
        .await?,
        "10"
    );
    assert!(f
        .one(&format!(
            "SELECT rolvaliduntil FROM pg_roles WHERE rolname = '{}'",
            n("bi")
        ))
        .await?
        .starts_with("2031-12-31"));
    assert_eq!(
        f.one(&format!(
            "SELECT pg_has_role('{}', '{}', 'MEMBER')",
            n("jane"),
            n("pii")
        ))
        .await?,
        "t"
    );
    // Grants: schema, database, and default privileges on a table etl creates later.
    let marts = n("marts");
    assert_eq!(f.one(&format!("SELECT has_schema_privilege('{}', '{marts}', 'USAGE')::text || has_schema_privilege('{}', '{marts}', 'CREATE')::text", n("jane"), n("jane"))).await?, "truefalse");
    assert_eq!(
        f.one(&format!(
            "SELECT has_schema_privilege('{}', '{marts}', 'CREATE')",
            n("etl")
        ))
        .await?,
        "t"
    );
    assert_eq!(
        f.one(&format!(
            "SELECT has_database_privilege('{}', '{}', 'TEMP')",
            n("etl"),
            f.database
        ))
        .await?,
        "t"
    );
    f.query(&format!(
        "SET ROLE \"{}\"; CREATE TABLE \"{marts}\".orders (id int); RESET ROLE",
        n("etl")
    ))
    .await?;
    assert_eq!(
        f.one(&format!(
            "SELECT has_table_privilege('{}', '{marts}.orders', 'SELECT')",
            n("jane")
        ))
        .await?,
        "t"
    );
    assert_eq!(
        f.one(&format!(
            "SELECT has_table_privilege('{}', '{marts}.orders', 'INSERT')",
            n("jane")
        ))
        .await?,
        "f"
    );

    // Managed passwords: in Secrets Manager in AWS's format, and they log in.
    let secret = f.secret("jane").await?;
    assert_eq!(
        (secret.engine.as_str(), secret.username.as_str()),
        ("redshift", n("jane").as_str())
    );
    assert_eq!(secret.password.len(), 32);
    assert_eq!(f.login(&n("jane"), &secret.password).await?, n("jane"));
    assert!(f.login(&n("jane"), "wrong-Password-1").await.is_err());

    // Nothing changed: nothing to run, in either mode.
    assert_eq!(sql(&f.run(Mode::Apply).await?), Vec::<String>::new());
    assert_eq!(f.run(Mode::Plan).await?.statement_count, 0);

    Ok(())
}

#[tokio::test]
async fn plan_mode_changes_nothing() -> TestResult {
    let f = Fixture::new("rc_plan").await?;
    f.put(&f.items()).await?;
    let report = f.run(Mode::Plan).await?;
    assert!(!report.applied);
    assert!(report.statement_count >= 14);
    assert!(
        sql(&report)
            .iter()
            .any(|s| s.contains("PASSWORD '<generated at apply>'")),
        "{:#?}",
        sql(&report)
    );
    assert!(report.secrets_created.is_empty());
    assert_eq!(
        f.one(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE '{}%' AND rolname NOT LIKE '%admin'",
            f.p
        ))
        .await?,
        "0"
    );
    assert!(
        f.secret("jane").await.is_err(),
        "plan mode created a secret"
    );
    // The same plan, applied, then nothing left.
    f.run(Mode::Apply).await?;
    assert_eq!(f.run(Mode::Plan).await?.statement_count, 0);
    Ok(())
}

#[tokio::test]
async fn change_sets_and_drift_repair() -> TestResult {
    let f = Fixture::new("rc_change").await?;
    let n = |b: &str| f.n(b);
    f.put(&f.items()).await?;
    f.run(Mode::Apply).await?;
    let marts = n("marts");

    // Config changes: bi joins loaders, loaders lose CREATE on the schema, analysts get
    // EXECUTE on etl's future functions.
    let t = f.target();
    f.put(&[
        json!({"target": t, "id": format!("USER#{}", n("bi")), "groups": [n("analysts"), n("loaders")], "valid_until": "2031-12-31"}),
        json!({"target": t, "id": format!("SCHEMA#{marts}"), "owner": n("etl"),
               "grants": [{"to": format!("group:{}", n("analysts")), "privileges": ["USAGE"]},
                          {"to": format!("group:{}", n("loaders")), "privileges": ["USAGE"]}],
               "table_grants": [{"to": format!("group:{}", n("analysts")), "privileges": ["SELECT"]}],
               "default_privileges": [{"owner": n("etl"), "object_type": "tables", "to": format!("group:{}", n("analysts")), "privileges": ["SELECT"]},
                                      {"owner": n("etl"), "object_type": "functions", "to": format!("group:{}", n("analysts")), "privileges": ["EXECUTE"]}]}),
    ])
    .await?;
    let planned = f.run(Mode::Plan).await?;
    assert_eq!(
        sql(&planned),
        [
            format!("ALTER GROUP \"{}\" ADD USER \"{}\"", n("loaders"), n("bi")),
            format!("REVOKE CREATE ON SCHEMA \"{marts}\" FROM GROUP \"{}\"", n("loaders")),
            format!("ALTER DEFAULT PRIVILEGES FOR USER \"{}\" IN SCHEMA \"{marts}\" GRANT EXECUTE ON FUNCTIONS TO GROUP \"{}\"", n("etl"), n("analysts")),
        ]
    );
    f.run(Mode::Apply).await?;
    assert_eq!(f.run(Mode::Plan).await?.statement_count, 0);

    // Drift: privileges granted by hand on managed objects to managed grantees are revoked;
    // a new table gets the configured SELECT; an unmanaged user's grant is left alone.
    f.query(&format!(
        "SET ROLE \"{etl}\"; CREATE TABLE \"{marts}\".refunds (id int); RESET ROLE; \
         GRANT CREATE ON SCHEMA \"{marts}\" TO \"{analysts}\"; \
         GRANT INSERT ON \"{marts}\".refunds TO \"{analysts}\"; \
         REVOKE SELECT ON \"{marts}\".refunds FROM \"{analysts}\"; \
         CREATE USER \"{outsider}\"; GRANT USAGE ON SCHEMA \"{marts}\" TO \"{outsider}\"",
        etl = n("etl"),
        analysts = n("analysts"),
        outsider = n("outsider"),
    ))
    .await?;
    let repair = f.run(Mode::Apply).await?;
    assert_eq!(
        sql(&repair),
        [
            format!(
                "REVOKE CREATE ON SCHEMA \"{marts}\" FROM GROUP \"{}\"",
                n("analysts")
            ),
            format!(
                "GRANT SELECT ON ALL TABLES IN SCHEMA \"{marts}\" TO GROUP \"{}\"",
                n("analysts")
            ),
            format!(
                "REVOKE INSERT ON ALL TABLES IN SCHEMA \"{marts}\" FROM GROUP \"{}\"",
                n("analysts")
            ),
        ]
    );
    assert_eq!(
        f.one(&format!(
            "SELECT has_schema_privilege('{}', '{marts}', 'USAGE')",
            n("outsider")
        ))
        .await?,
        "t"
    );
    assert_eq!(f.run(Mode::Plan).await?.statement_count, 0);
    Ok(())
}

#[tokio::test]
async fn removed_users_are_disabled_or_dropped_safely() -> TestResult {
    let f = Fixture::new("rc_remove").await?;
    let n = |b: &str| f.n(b);
    f.put(&f.items()).await?;
    f.run(Mode::Apply).await?;
    let marts = n("marts");
    let jane_password = f.secret("jane").await?.password;
    // bi owns a table and holds a direct grant: dropping must handle both first.
    f.query(&format!(
        "CREATE TABLE \"{marts}\".bi_notes (id int); ALTER TABLE \"{marts}\".bi_notes OWNER TO \"{bi}\"; \
         GRANT USAGE ON SCHEMA \"{marts}\" TO \"{bi}\"",
        bi = n("bi")
    ))
    .await?;
    let t = f.target();
    f.put(&[
        json!({"target": t, "id": format!("USER#{}", n("jane")), "ensure": "absent"}),
        json!({"target": t, "id": format!("USER#{}", n("bi")), "ensure": "absent", "on_remove": "drop"}),
    ])
    .await?;
    let report = f.run(Mode::Apply).await?;
    let statements = sql(&report);
    assert!(
        statements.contains(&format!(
            "ALTER TABLE \"{marts}\".\"bi_notes\" OWNER TO \"{}\"",
            n("etl")
        )),
        "{statements:#?}"
    );
    assert!(
        statements.contains(&format!(
            "REVOKE ALL ON SCHEMA \"{marts}\" FROM \"{}\"",
            n("bi")
        )),
        "{statements:#?}"
    );
    let position = |sql: String| statements.iter().position(|s| *s == sql);
    let drop = position(format!("DROP USER \"{}\"", n("bi"))).ok_or("no DROP USER")?;
    let reassign = position(format!(
        "ALTER TABLE \"{marts}\".\"bi_notes\" OWNER TO \"{}\"",
        n("etl")
    ))
    .ok_or("no reassign")?;
    assert!(reassign < drop, "{statements:#?}");
    assert_eq!(
        f.one(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
            n("bi")
        ))
        .await?,
        "0"
    );
    assert_eq!(
        f.one("SELECT tableowner FROM pg_tables WHERE tablename = 'bi_notes'")
            .await?,
        n("etl")
    );
    // Disabled: the user stays, its login fails, it left its groups.
    assert!(f.login(&n("jane"), &jane_password).await.is_err());
    assert_eq!(
        f.one(&format!(
            "SELECT pg_has_role('{}', '{}', 'MEMBER')",
            n("jane"),
            n("analysts")
        ))
        .await?,
        "f"
    );
    assert_eq!(f.run(Mode::Plan).await?.statement_count, 0);

    // Back in the config: re-enabled with its managed password.
    f.put(&f.items()[5..6]).await?;
    let back = f.run(Mode::Apply).await?;
    assert!(
        sql(&back)
            .iter()
            .any(|s| s.contains("PASSWORD '***'") && s.contains("VALID UNTIL 'infinity'")),
        "{:#?}",
        sql(&back)
    );
    assert_eq!(f.login(&n("jane"), &jane_password).await?, n("jane"));
    Ok(())
}

#[tokio::test]
async fn every_trigger_through_the_handler() -> TestResult {
    let f = Fixture::new("rc_handler").await?;
    let n = |b: &str| f.n(b);
    f.put(&f.items()).await?;
    let function = f.function();
    let t = f.target();

    // Direct: plan, then apply.
    let plan = function
        .handle(json!({"target": t, "mode": "plan"}))
        .await?;
    assert_eq!(plan["mode"], "plan");
    assert!(
        plan["statement_count"].as_u64().unwrap_or(0) >= 14,
        "{plan}"
    );
    let applied = function.handle(json!({"target": t})).await?;
    assert_eq!(applied["applied"], true);

    // Schedule: drift repair on every target of the table.
    f.query(&format!(
        "GRANT CREATE ON SCHEMA \"{}\" TO \"{}\"",
        n("marts"),
        n("analysts")
    ))
    .await?;
    let repaired = function
        .handle(serde_json::from_str(include_str!(
            "../../../events/redshift-config/schedule.json"
        ))?)
        .await?;
    assert_eq!(repaired["targets"], json!([{"target": t, "statements": 1}]));

    // Stream: a deleted USER# item disables the user (its old image's on_remove).
    let stream = json!({"Records": [{
        "eventName": "REMOVE", "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"target": {"S": t}, "id": {"S": format!("USER#{}", n("bi"))}},
                     "OldImage": {"target": {"S": t}, "id": {"S": format!("USER#{}", n("bi"))}},
                     "SequenceNumber": "100"}}]});
    aws_sdk_dynamodb::Client::new(f.env.sdk_config())
        .delete_item()
        .table_name(&f.table)
        .key(
            "target",
            aws_sdk_dynamodb::types::AttributeValue::S(t.clone()),
        )
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", n("bi"))),
        )
        .send()
        .await?;
    assert_eq!(
        function.handle(stream.clone()).await?,
        json!({"batchItemFailures": []})
    );
    assert_eq!(
        f.one(&format!(
            "SELECT rolvaliduntil < '2000-01-01' FROM pg_roles WHERE rolname = '{}'",
            n("bi")
        ))
        .await?,
        "t"
    );

    // A stream batch for a target whose config is invalid: reported for retry.
    f.put(&[json!({"target": t, "id": "USER#Bad"})]).await?;
    let failed = function.handle(stream).await?;
    assert_eq!(
        failed,
        json!({"batchItemFailures": [{"itemIdentifier": "100"}]})
    );
    let err = function
        .handle(json!({"target": t, "mode": "plan"}))
        .await
        .unwrap_err();
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "InvalidConfig");
    assert!(
        diagnostic
            .error_message
            .contains("USER#Bad: user name \"Bad\" is invalid"),
        "{}",
        diagnostic.error_message
    );

    let err = function
        .handle(json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "UnknownEvent"
    );
    Ok(())
}

#[tokio::test]
async fn admin_login_from_a_secret() -> TestResult {
    let f = Fixture::new("rc_secret_admin").await?;
    let admin_secret = f.n("admin-secret");
    // AWS's Redshift secret format; the IAM: user stands in for an admin (trusted locally).
    let value = json!({"engine": "redshift", "host": "127.0.0.1", "port": common::pg_port(),
                       "username": format!("IAM:{}", f.n("admin")), "password": "unused-locally", "dbname": f.database});
    f.secrets
        .create_secret()
        .name(&admin_secret)
        .secret_string(value.to_string())
        .send()
        .await?;
    let mut items = f.items();
    let target = items[0].as_object_mut().ok_or("target item")?;
    target.remove("cluster_identifier");
    target.insert("admin_secret_arn".into(), json!(admin_secret));
    f.put(&items).await?;
    let report = f.run(Mode::Apply).await?;
    assert!(report.statement_count >= 14);
    assert_eq!(f.run(Mode::Plan).await?.statement_count, 0);
    Ok(())
}

#[tokio::test]
async fn the_data_api_executor_applies_in_one_batch_per_database() -> TestResult {
    let f = Fixture::new("rc_data_api").await?;
    let n = |b: &str| f.n(b);
    let fake = common::data_api_fake::DataApiFake::start().await?;
    let mut items = f.items();
    items[0]["executor"] = json!("data-api");
    f.put(&items).await?;
    let function = f.function_with_data_api(&fake.stub.url());
    let t = f.target();

    let applied = function
        .handle(json!({"target": t, "mode": "apply"}))
        .await?;
    assert!(
        applied["statement_count"].as_u64().unwrap_or(0) >= 14,
        "{applied}"
    );
    let requests = fake.requests.lock().map(|r| r.clone()).unwrap_or_default();
    let batches: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|r| r.get("Sqls").is_some())
        .collect();
    assert_eq!(batches.len(), 1, "one BatchExecuteStatement (one database)");
    // Statements authenticate as the admin through GetClusterCredentials (cluster + DbUser).
    assert!(
        requests
            .iter()
            .filter(|r| r.get("Sql").is_some() || r.get("Sqls").is_some())
            .all(|r| r["ClusterIdentifier"] == json!(f.cluster) && r["DbUser"] == json!(n("admin"))),
        "{requests:#?}"
    );
    // Applied by PostgreSQL; the Data API saw md5 hashes only, never a clear password.
    let secret = f.secret("jane").await?;
    assert_eq!(f.login(&n("jane"), &secret.password).await?, n("jane"));
    assert!(fake
        .sql_seen()
        .iter()
        .all(|s| !s.contains(&secret.password)));
    assert!(fake.sql_seen().iter().any(|s| s.contains("PASSWORD 'md5")));
    // Re-reading state through the Data API: nothing to do.
    let again = function
        .handle(json!({"target": t, "mode": "plan"}))
        .await?;
    assert_eq!(again["statement_count"], 0, "{again}");

    // A failing batch rolls back entirely and names the failing statement: two new groups,
    // the second name already taken by a login role (one namespace in PostgreSQL).
    f.query(&format!("CREATE USER \"{}\"", n("zz_taken")))
        .await?;
    f.put(&[
        json!({"target": t, "id": format!("GROUP#{}", n("aa_new"))}),
        json!({"target": t, "id": format!("GROUP#{}", n("zz_taken"))}),
    ])
    .await?;
    let err = function.handle(json!({"target": t})).await.unwrap_err();
    let message = lambda_runtime::Diagnostic::from(err).error_message;
    assert!(message.contains("failed through the Data API"), "{message}");
    assert!(
        message.contains(&format!("CREATE GROUP \"{}\"", n("zz_taken"))),
        "{message}"
    );
    assert_eq!(
        f.one(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
            n("aa_new")
        ))
        .await?,
        "0",
        "the whole batch rolled back"
    );
    Ok(())
}

/// A first apply of a modest real config is over BatchExecuteStatement's 40-statement limit
/// (the fake refuses more, as the service does): it goes in consecutive batches of at most
/// 40, re-apply converges to 0, and a failing later batch leaves the earlier ones committed
/// and the next run finishes the job.
#[tokio::test]
async fn the_data_api_executor_splits_phases_into_batches_of_at_most_40() -> TestResult {
    let f = Fixture::new("rc_data_api_40").await?;
    let n = |b: &str| f.n(b);
    let fake = common::data_api_fake::DataApiFake::start().await?;
    let t = f.target();
    let mut items = f.items();
    items[0]["executor"] = json!("data-api");
    for i in 0..30 {
        items.push(json!({"target": t, "id": format!("GROUP#{}", n(&format!("team{i:02}")))}));
        items.push(
            json!({"target": t, "id": format!("USER#{}", n(&format!("member{i:02}"))),
                          "groups": [n(&format!("team{i:02}"))]}),
        );
    }
    f.put(&items).await?;
    let function = f.function_with_data_api(&fake.stub.url());

    let applied = function
        .handle(json!({"target": t, "mode": "apply"}))
        .await?;
    let count = applied["statement_count"].as_u64().unwrap_or(0);
    assert!(count > 80, "{applied}");
    let requests = fake.requests.lock().map(|r| r.clone()).unwrap_or_default();
    let sizes: Vec<usize> = requests
        .iter()
        .filter_map(|r| r["Sqls"].as_array().map(Vec::len))
        .collect();
    assert!(sizes.len() >= 3, "{sizes:?}");
    assert!(sizes.iter().all(|&s| (1..=40).contains(&s)), "{sizes:?}");
    assert_eq!(
        sizes.iter().sum::<usize>() as u64,
        count,
        "every statement sent once"
    );
    assert_eq!(
        f.one(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE '{}%'",
            n("member")
        ))
        .await?,
        "30"
    );
    let again = function
        .handle(json!({"target": t, "mode": "plan"}))
        .await?;
    assert_eq!(again["statement_count"], 0, "{again}");

    // 45 new groups, the 42nd name already taken: the first batch (40) commits, the second
    // fails naming the statement by its index in the whole phase; once the name is free,
    // the next run applies only what is missing.
    f.query(&format!("CREATE USER \"{}\"", n("g41_taken")))
        .await?;
    let new_groups: Vec<serde_json::Value> = (0..45)
        .map(|i| {
            let name = if i == 41 {
                n("g41_taken")
            } else {
                n(&format!("g{i:02}"))
            };
            json!({"target": t, "id": format!("GROUP#{name}")})
        })
        .collect();
    f.put(&new_groups).await?;
    let err = function.handle(json!({"target": t})).await.unwrap_err();
    let message = lambda_runtime::Diagnostic::from(err).error_message;
    assert!(
        message.contains("statement 41 failed through the Data API"),
        "{message}"
    );
    assert_eq!(
        f.one(&format!(
            "SELECT count(*) FROM pg_group WHERE groname LIKE '{}%'",
            n("g")
        ))
        .await?,
        "40",
        "the first batch committed; the failing one rolled back"
    );
    f.query(&format!("DROP USER \"{}\"", n("g41_taken")))
        .await?;
    let plan = function
        .handle(json!({"target": t, "mode": "plan"}))
        .await?;
    assert_eq!(plan["statement_count"], 5, "{plan}");
    function
        .handle(json!({"target": t, "mode": "apply"}))
        .await?;
    let done = function
        .handle(json!({"target": t, "mode": "plan"}))
        .await?;
    assert_eq!(done["statement_count"], 0, "{done}");
    Ok(())
}
