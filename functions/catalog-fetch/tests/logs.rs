//! The API key from Secrets Manager never appears in any log line, error paths included.
//! Its own test binary: thread-local log capture is unreliable while other tests log on
//! other threads (tracing's per-callsite interest cache).

mod common;

use common::*;

#[tokio::test]
async fn the_api_key_never_appears_in_the_logs() -> TestResult {
    let (sink, _guard) = ferrolake_local_aws::LogCapture::start("catalog-fetch", "trace");

    let p = Pipeline::new("cf-secret-logs", false).await?;
    let sm = aws_sdk_secretsmanager::Client::new(p.env.sdk_config());
    let secret = p.env.name("catalog-key");
    let key = "sk_live_9f8e7d6c5b4a39281706";
    sm.create_secret()
        .name(&secret)
        .secret_string(key)
        .send()
        .await?;
    // The stub expects another key: every fetch is rejected (403), so error paths log too.
    let stub = catalog_stub(Arc::default(), Some("a-different-key")).await;
    let config = p.config(
        &stub.url(),
        &[("CATALOG_AUTH", "api-key"), ("CATALOG_SECRET_ID", &secret)],
    );
    let f = p.function(config, aws_sdk_kinesis::Client::new(p.env.sdk_config()));
    p.publish(&[
        notification("ok-1", "updated"),
        notification("ok-2", "updated"),
    ])
    .await?;
    let round = p.invoke(&f, 2).await?;
    assert_eq!(round.failed.len(), 2, "403 is poison");

    let logs = sink.text();
    assert!(
        logs.contains("catalog API answered 403"),
        "the failure is logged"
    );
    assert!(!logs.contains(key), "the secret value leaked into the logs");
    Ok(())
}
