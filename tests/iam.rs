//! IAM is enforced in the demo: template.yaml broken on purpose must fail the run, naming
//! the function, the action and the resource (tests/local-aws/src/demo/iam.rs, tests/moto_strict.py).
//! Twice: catalog-fetch's kinesis:PutRecords removed, and its Resource narrowed to another
//! stream (the second only fails because the strict moto resolves Kinesis requests to the
//! stream's ARN; moto alone authorises them against `*`).

use ferrolake_local_aws::demo::{self, Options, Stage};
use std::time::Duration;

const WRITE_STREAM: &str = "              - Sid: WriteStream
                Effect: Allow
                Action: kinesis:PutRecords
                Resource: !GetAtt CatalogStream.Arn
";

/// Run the demo (5 events) on template.yaml with `WRITE_STREAM` replaced by `replacement`;
/// returns the failed stage and its message.
async fn run_broken(stack: &str, replacement: &str) -> (Stage, String, String) {
    let root = ferrolake_local_aws::workspace_root();
    let original = std::fs::read_to_string(root.join("template.yaml")).expect("template.yaml");
    assert!(
        original.contains(WRITE_STREAM),
        "CatalogFetchRole's WriteStream statement changed; update tests/iam.rs"
    );
    let path =
        std::env::temp_dir().join(format!("ferrolake-iam-{stack}-{}.yaml", std::process::id()));
    std::fs::write(&path, original.replacen(WRITE_STREAM, replacement, 1)).expect("write the copy");
    let mut options = Options::new(5);
    options.progress = false;
    options.stack_name = stack.into();
    options.parameters = vec![("GlueDatabaseName".into(), stack.replace('-', "_"))];
    options.template_path = Some(path.clone());
    // The run stops at the first denial; this only bounds a run that never sees one.
    options.timeout = Duration::from_secs(60);
    let d = demo::run(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&path);
    let (stage, message) = d
        .failed_stage()
        .expect("the broken template must fail the demo");
    let summary = d.summary.to_string();
    d.finish(false);
    (stage, message, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_permission_fails_the_demo_naming_it() {
    let (stage, message, summary) = run_broken("ferrolake-iam-gone", "").await;
    println!("{message}");
    assert_eq!(stage, Stage::CatalogFetch, "{summary}");
    for part in [
        "catalog-fetch",
        "kinesis:PutRecords",
        "arn:aws:kinesis:us-east-1:123456789012:stream/ferrolake-iam-gone-CatalogStream",
        "ferrolake-iam-gone-CatalogFetchRole",
    ] {
        assert!(message.contains(part), "{part} not in: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resource_narrowed_to_another_stream_fails_the_demo_naming_it() {
    let narrowed = WRITE_STREAM.replace(
        "!GetAtt CatalogStream.Arn",
        "!Sub \"arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/some-other-stream\"",
    );
    let (stage, message, summary) = run_broken("ferrolake-iam-narrow", &narrowed).await;
    println!("{message}");
    assert_eq!(stage, Stage::CatalogFetch, "{summary}");
    for part in [
        "catalog-fetch",
        "kinesis:PutRecords",
        "arn:aws:kinesis:us-east-1:123456789012:stream/ferrolake-iam-narrow-CatalogStream",
    ] {
        assert!(message.contains(part), "{part} not in: {message}");
    }
}
