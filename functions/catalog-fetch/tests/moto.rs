//! catalog-fetch against moto (SNS → SQS → handler → Kinesis) with a catalog HTTP stub
//! that injects latency, 5xx, 429, timeouts, dropped connections and 404, and a fault proxy
//! in front of moto's Kinesis for per-entry PutRecords failures (moto never reports any).

mod common;

use common::*;

#[tokio::test]
async fn sns_to_sqs_to_kinesis_with_catalog_faults() -> TestResult {
    let p = Pipeline::new("cf-e2e", false).await?;
    let calls: Calls = Arc::default();
    let stub = catalog_stub(calls.clone(), None).await;
    let f = p.function(
        p.config(&stub.url(), &[]),
        aws_sdk_kinesis::Client::new(p.env.sdk_config()),
    );
    p.publish(&[
        notification("ok-1", "updated"),
        notification("ok-2", "added"),
        notification("gone-1", "updated"),
        notification("flaky-1", "rescheduled"),
        notification("throttled-1", "updated"),
        notification("bad-1", "updated"),
        notification("slow-1", "updated"),
        notification("hang-1", "updated"),
        notification("drop-1", "updated"),
        json!({"changeType": "updated", "note": "no id"}),
    ])
    .await?;
    let round = p.invoke(&f, 10).await?;

    let records = p.stream_records().await?;
    let keys: Vec<&str> = records.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec!["drop-1", "flaky-1", "gone-1", "ok-1", "ok-2", "slow-1"]
    );
    let ok1 = &records["ok-1"][0];
    assert_eq!(ok1["title"], "Show ok-1");
    assert_eq!(ok1["venue"], json!({"city": "Oslo"}));
    assert_eq!(ok1["starts_at"], "2026-12-01T20:00:00Z");
    assert_eq!(ok1["change_type"], "updated");
    assert!(
        ok1["sns_message_id"].is_string(),
        "SNS envelope metadata is kept"
    );
    assert!(ok1["notified_at"].is_string());
    assert_eq!(records["gone-1"][0]["deleted"], true);
    assert_eq!(records["gone-1"][0]["change_type"], "removed");
    assert_eq!(records["flaky-1"][0]["change_type"], "rescheduled");
    assert!(
        records.values().all(|v| v.len() == 1),
        "one record per item"
    );

    // Timeouts and 429s were retried and then reported; 400 and the malformed one are poison.
    assert_eq!(
        ids(&round.failed),
        vec!["<no id>", "bad-1", "hang-1", "throttled-1"]
    );
    let calls = calls.lock().unwrap();
    assert_eq!(calls["flaky-1"], 3, "500, 429, then 200");
    assert_eq!(
        calls["throttled-1"], 3,
        "429 retried up to the attempt limit"
    );
    assert_eq!(calls["bad-1"], 1, "400 is not retried");
    assert_eq!(calls["drop-1"], 2, "a dropped connection is retried");
    assert_eq!(calls["hang-1"], 3, "a timeout is retried");
    let m = &round.metrics;
    assert_eq!(m.counter(metric::RECORDS_PUT), 6);
    assert_eq!(m.counter(metric::TOMBSTONES), 1);
    assert_eq!(m.counter(metric::POISON), 2);
    assert_eq!(m.counter(metric::FAILURES), 2);
    Ok(())
}

#[tokio::test]
async fn raw_delivery_and_api_key_from_secrets_manager() -> TestResult {
    let p = Pipeline::new("cf-apikey", true).await?;
    let sm = aws_sdk_secretsmanager::Client::new(p.env.sdk_config());
    let secret = p.env.name("catalog-key");
    sm.create_secret()
        .name(&secret)
        .secret_string("k3y-from-secrets-manager")
        .send()
        .await?;
    let stub = catalog_stub(Arc::default(), Some("k3y-from-secrets-manager")).await;
    let config = p.config(
        &stub.url(),
        &[("CATALOG_AUTH", "api-key"), ("CATALOG_SECRET_ID", &secret)],
    );
    let f = p.function(config, aws_sdk_kinesis::Client::new(p.env.sdk_config()));
    p.publish(&[
        json!({"itemId": "ok-7", "type": "added"}),
        json!({"id": "ok-8"}),
    ])
    .await?;
    let round = p.invoke(&f, 2).await?;
    assert!(round.failed.is_empty(), "{:?}", round.failed);
    let records = p.stream_records().await?;
    assert_eq!(records["ok-7"][0]["change_type"], "added");
    assert_eq!(
        records["ok-8"][0]["sns_message_id"],
        Value::Null,
        "raw delivery carries no SNS envelope"
    );
    Ok(())
}

/// Fails the PutRecords entries whose partition key is in `failing`, `times` times per key:
/// the entries are taken out of the request (moto never writes them) and answered as
/// ProvisionedThroughputExceededException at their original positions.
async fn kinesis_fault_proxy(
    upstream: &str,
    failing: HashSet<String>,
    times: usize,
) -> (FaultProxy, Calls) {
    let attempts: Calls = Arc::default();
    let seen = attempts.clone();
    let on_request = Arc::new(move |request: &mut StubRequest| {
        if request.headers.get("x-amz-target").map(String::as_str)
            != Some("Kinesis_20131202.PutRecords")
        {
            return Ok(None);
        }
        let mut body: Value = serde_json::from_slice(&request.body).expect("PutRecords is JSON");
        let records = body["Records"].as_array().cloned().unwrap_or_default();
        let mut kept = Vec::new();
        let mut failed_at = Vec::new();
        let mut attempts = seen.lock().unwrap();
        for (i, r) in records.into_iter().enumerate() {
            let key = r["PartitionKey"].as_str().unwrap_or_default().to_string();
            let n = attempts.entry(key.clone()).or_default();
            *n += 1;
            if failing.contains(&key) && *n <= times {
                failed_at.push(i);
            } else {
                kept.push(r);
            }
        }
        body["Records"] = Value::Array(kept);
        request.body = serde_json::to_vec(&body).unwrap();
        Ok(Some(json!(failed_at)))
    });
    let on_response = Arc::new(
        |_: &StubRequest, state: Option<Value>, response: &mut StubResponse| {
            let Some(failed_at) = state else { return };
            let failed_at: Vec<usize> = serde_json::from_value(failed_at).unwrap();
            if failed_at.is_empty() {
                return;
            }
            let mut body: Value = serde_json::from_slice(&response.body).unwrap();
            let mut results = body["Records"].as_array().cloned().unwrap_or_default();
            for i in failed_at.iter().copied() {
                results.insert(i, json!({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard shardId-000000000000"}));
            }
            body["Records"] = Value::Array(results);
            body["FailedRecordCount"] = json!(failed_at.len());
            response.body = serde_json::to_vec(&body).unwrap();
        },
    );
    (
        FaultProxy::start(upstream, on_request, on_response)
            .await
            .expect("proxy"),
        attempts,
    )
}

fn kinesis_via(proxy: &FaultProxy, env: &TestEnv) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(env.sdk_config())
            .endpoint_url(proxy.url())
            .build(),
    )
}

#[tokio::test]
async fn kinesis_partial_failures_are_retried_and_only_their_messages_fail() -> TestResult {
    let p = Pipeline::new("cf-partial", false).await?;
    let stub = catalog_stub(Arc::default(), None).await;

    // Failing once: retried alone, then written; nothing reported.
    let (proxy, attempts) = kinesis_fault_proxy(
        p.env.endpoint(),
        ["ok-2".to_string(), "ok-3".to_string()].into(),
        1,
    )
    .await;
    let f = p.function(p.config(&stub.url(), &[]), kinesis_via(&proxy, &p.env));
    p.publish(&[
        notification("ok-1", "updated"),
        notification("ok-2", "updated"),
        notification("ok-3", "updated"),
    ])
    .await?;
    let round = p.invoke(&f, 3).await?;
    assert!(round.failed.is_empty(), "{:?}", round.failed);
    assert_eq!(attempts.lock().unwrap()["ok-2"], 2);
    assert_eq!(
        attempts.lock().unwrap()["ok-1"],
        1,
        "only failed entries are resent"
    );
    let keys: Vec<String> = p.stream_records().await?.keys().cloned().collect();
    assert_eq!(keys, vec!["ok-1", "ok-2", "ok-3"]);

    // Failing always: exactly the messages of that item are in batchItemFailures.
    let (proxy, _) =
        kinesis_fault_proxy(p.env.endpoint(), ["ok-5".to_string()].into(), usize::MAX).await;
    let f = p.function(p.config(&stub.url(), &[]), kinesis_via(&proxy, &p.env));
    p.publish(&[
        notification("ok-4", "updated"),
        notification("ok-5", "updated"),
        notification("ok-5", "rescheduled"),
        notification("ok-6", "updated"),
    ])
    .await?;
    let round = p.invoke(&f, 4).await?;
    assert_eq!(ids(&round.failed), vec!["ok-5", "ok-5"]);
    let records = p.stream_records().await?;
    assert!(
        records.contains_key("ok-4")
            && records.contains_key("ok-6")
            && !records.contains_key("ok-5")
    );
    Ok(())
}

/// A stub that records the Authorization header of each request and answers 200.
async fn auth_recording_stub(seen: Arc<Mutex<Vec<String>>>) -> HttpStub {
    HttpStub::start(move |request: StubRequest| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(
                request
                    .headers
                    .get("authorization")
                    .cloned()
                    .unwrap_or_default(),
            );
            StubResponse::json(200, &json!({"title": "t"}))
        }
    })
    .await
    .expect("stub")
}

#[tokio::test]
async fn bearer_token_from_secrets_manager_and_sigv4_signing() -> TestResult {
    let p = Pipeline::new("cf-auth", true).await?;
    let sm = aws_sdk_secretsmanager::Client::new(p.env.sdk_config());
    let secret = p.env.name("catalog-token");
    sm.create_secret()
        .name(&secret)
        .secret_string("t0ken-value")
        .send()
        .await?;

    // Bearer: the token read from Secrets Manager.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let stub = auth_recording_stub(seen.clone()).await;
    let config = p.config(
        &stub.url(),
        &[("CATALOG_AUTH", "bearer"), ("CATALOG_SECRET_ID", &secret)],
    );
    let auth = Authenticator::new(&config.auth, config.secret_ttl, p.env.sdk_config())?;
    let catalog = HttpCatalog::new(config.url_template.clone(), config.timeout, auth)?;
    let streams = SdkStreams::kinesis_only(p.env.sdk_config());
    let f = CatalogFetch::new(catalog, streams, config);
    p.publish(&[json!({"itemId": "ok-b"})]).await?;
    assert!(p.invoke(&f, 1).await?.failed.is_empty());
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["Bearer t0ken-value".to_string()]
    );

    // SigV4 (API Gateway IAM auth) with the SDK's credentials.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let stub = auth_recording_stub(seen.clone()).await;
    let config = p.config(
        &stub.url(),
        &[
            ("CATALOG_AUTH", "sigv4"),
            ("CATALOG_SIGV4_REGION", "eu-north-1"),
        ],
    );
    let auth = Authenticator::new(&config.auth, config.secret_ttl, p.env.sdk_config())?;
    let catalog = HttpCatalog::new(config.url_template.clone(), config.timeout, auth)?;
    let streams = SdkStreams::kinesis_only(p.env.sdk_config());
    let f = CatalogFetch::new(catalog, streams, config);
    p.publish(&[json!({"itemId": "ok-s"})]).await?;
    assert!(p.invoke(&f, 1).await?.failed.is_empty());
    let header = seen.lock().unwrap()[0].clone();
    assert!(
        header.starts_with("AWS4-HMAC-SHA256 Credential=testing/"),
        "{header}"
    );
    assert!(
        header.contains("/eu-north-1/execute-api/aws4_request"),
        "{header}"
    );
    assert!(header.contains("Signature="), "{header}");
    let records = p.stream_records().await?;
    assert!(records.contains_key("ok-b") && records.contains_key("ok-s"));
    Ok(())
}
