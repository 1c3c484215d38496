//! The demo's pipeline with assertions (make test): template.yaml created in moto, the five
//! real function binaries behind the local Runtime API, catalog changes published to SNS.
//! Every change must arrive flattened in S3 exactly once, malformed notifications in the
//! DLQ, nothing else lost; the UDFs and redshift-config must check out.

use ferrolake_local_aws::demo::{self, Options, Stage};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipeline_end_to_end() {
    let mut options = Options::new(30);
    options.progress = false;
    let d = demo::run(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let s = &d.summary;
    let template = demo::template::Template::load(
        &ferrolake_local_aws::workspace_root().join("template.yaml"),
    )
    .unwrap();
    assert_eq!(
        d.stack.created.len() + d.stack.skipped.len(),
        template.resources.len(),
        "every resource of template.yaml is created or skipped with its reason"
    );
    assert_eq!(d.stack.functions.len(), 5);
    println!("{s}");
    assert!(
        s.settled,
        "the pipeline did not settle within {:?}",
        options.timeout
    );
    assert_eq!(d.failed_stage(), None, "{s}");
    // The checks themselves, spelled out where the numbers are known.
    let catalog = s.queue("catalog-fetch").expect("catalog-fetch mapping");
    assert_eq!(
        catalog.dead_letters.len(),
        3,
        "three malformed notifications dead-lettered"
    );
    assert_eq!(catalog.remaining, 0);
    let delivery = s.delivery.as_ref().expect("delivery report");
    assert_eq!(delivery.rows.len(), 30, "one flattened row per change");
    assert_eq!(
        delivery
            .rows
            .iter()
            .filter(|r| r["deleted"] == true)
            .count(),
        3,
        "every tenth change is a deletion"
    );
    let row = delivery
        .rows
        .iter()
        .find(|r| r["item_id"] == "show-00000")
        .expect("show-00000 in S3");
    assert_eq!(
        row["venue_address_geo_lat"],
        demo::catalog::show("show-00000")["venue"]["address"]["geo"]["lat"],
        "nested fields flattened with _"
    );
    assert!(s.crawls_started >= 1);
    let udf = s.udf.as_ref().expect("UDF report");
    assert!(udf.ping.contains("PingResponse"), "{}", udf.ping);
    let redshift = s.redshift.as_ref().expect("redshift report");
    assert!(redshift.new_password_logs_in && redshift.old_password_refused);
    assert!(redshift.groups.contains(&"analysts".to_string()));
    assert!(
        s.checks.iter().all(|c| c.passed)
            && s.checks.iter().any(|c| c.stage == Stage::RedshiftConfig)
    );
    d.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_function_binaries_fail_naming_the_stage() {
    let mut options = Options::new(1);
    options.progress = false;
    options.stack_name = "ferrolake-nobin".into();
    options.parameters = vec![("GlueDatabaseName".into(), "ferrolake_nobin".into())];
    options.bin_dir = std::env::temp_dir().join("ferrolake-no-such-dir");
    let Err(e) = demo::run(&options).await else {
        panic!("the demo ran without function binaries");
    };
    assert_eq!(e.stage, Stage::Functions);
    assert!(
        e.to_string()
            .contains("build the functions first (cargo build --bins)"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_aws_would_refuse_fails_before_anything_is_created() {
    // moto would create this stack; EventBridge refuses `rate(1 hours)` (a value of 1 takes
    // the singular unit), so the provisioner refuses it first, naming where and why.
    let mut options = Options::new(1);
    options.progress = false;
    options.stack_name = "ferrolake-rules".into();
    options.parameters = vec![
        ("GlueDatabaseName".into(), "ferrolake_rules".into()),
        ("RedshiftDriftSchedule".into(), "rate(1 hours)".into()),
    ];
    let Err(e) = demo::run(&options).await else {
        panic!("the demo deployed a schedule EventBridge refuses");
    };
    assert_eq!(e.stage, Stage::Template);
    let message = e.to_string();
    for part in [
        "RedshiftConfigFunction (AWS::Serverless::Function) Events.DriftRepair.Schedule",
        "rule schedule-expression",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html",
    ] {
        assert!(message.contains(part), "{message}");
    }
}
