//! Soak (make soak; not part of make test): each SQS-driven function processes 10,000
//! messages through its real binary while a seeded fault proxy fails 10 % of the calls it
//! makes (AWS APIs through a proxy in front of moto, and the catalog API), driven like the
//! SQS event source mapping (retries, redrive to the DLQ after maxReceiveCount). Proves
//! every message ends processed or dead-lettered (none silently acknowledged), counts
//! duplicates, finds no panics and no restarts, and samples the process's memory.
//! SOAK_MESSAGES overrides the 10,000.

use ferrolake_local_aws::demo::drivers::{SqsMapping, SqsMappingStats, TimeScale};
use ferrolake_local_aws::demo::provision::{create_stack, Clients, Stack};
use ferrolake_local_aws::demo::runtime::LocalLambda;
use ferrolake_local_aws::demo::{
    catalog, default_bin_dir, log_lines, queue_depth, report, template,
};
use ferrolake_local_aws::{
    chaos_proxy, contract_proxy, moto, read_stream, ContractCounts, Fault, FaultPlan, FaultProxy,
    SqsEventSource, StubRequest, StubResponse, TestEnv,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn messages() -> usize {
    std::env::var("SOAK_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

struct Soak {
    env: TestEnv,
    clients: Clients,
    stack: Stack,
}

async fn stack(name: &str, overrides: &[(&str, &str)]) -> Soak {
    let env = TestEnv::new(name).await;
    let clients = Clients::new(env.sdk_config(), moto().endpoint());
    let template =
        template::Template::load(&ferrolake_local_aws::workspace_root().join("template.yaml"))
            .unwrap();
    let mut params: HashMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    params.insert("GlueDatabaseName".into(), name.replace('-', "_"));
    let context =
        template::Context::new(&template, name, "us-east-1", "123456789012", &params).unwrap();
    let stack = create_stack(&template, context, &clients).await.unwrap();
    Soak {
        env,
        clients,
        stack,
    }
}

async fn send_all(sqs: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) {
    for chunk in bodies.chunks(10) {
        let mut request = sqs.send_message_batch().queue_url(url);
        for (i, body) in chunk.iter().enumerate() {
            request = request.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .unwrap(),
            );
        }
        let out = request.send().await.unwrap();
        assert!(out.failed().is_empty(), "send failed: {:?}", out.failed());
    }
}

/// Visible plus in-flight messages.
async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let (visible, in_flight) = queue_depth(sqs, url).await.unwrap();
    visible + in_flight
}

/// Send `bodies` to `queue` while driving the function `instances` (one poller each, like
/// Lambda scaling out) until everything is sent and the queue is empty; returns RSS samples
/// of the first instance (KiB) and the mapping's stats. The queue is fed a few hundred
/// messages ahead of the consumers: moto's ReceiveMessage scans the whole queue, so 10,000
/// waiting messages would measure moto rather than the function.
async fn drive(
    instances: &[Arc<LocalLambda>],
    bodies: Vec<String>,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    batch_size: usize,
    limit: Duration,
) -> (Vec<u64>, Arc<SqsMappingStats>) {
    // moto 5.2.5's SQS loses a message sent while another client deletes: its
    // Queue.delete_message rebuilds the message list outside the lock SendMessage appends
    // under (moto/sqs/models.py; docs/robustness.md). Sends and deletes therefore reach
    // moto one at a time through a proxy; receives stay concurrent.
    let mut plan = FaultPlan::uniform(0.0, 0);
    plan.faults.clear();
    plan.serialize = vec![
        "AmazonSQS.SendMessage".into(),
        "AmazonSQS.DeleteMessage".into(),
    ];
    // AWS's SQS batch limits (≤ 10 entries, ≤ 1 MiB) sit behind it, in front of moto.
    let (limits, limit_counts) = limits().await;
    let (sqs_proxy, _) = chaos_proxy(&limits.url(), plan).await.unwrap();
    let sqs = &aws_sdk_sqs::Client::from_conf(
        sqs.config()
            .to_builder()
            .endpoint_url(sqs_proxy.url())
            .build(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(SqsMappingStats::default());
    let mut tasks = Vec::new();
    for lambda in instances {
        let mapping = SqsMapping {
            source: SqsEventSource {
                sqs: sqs.clone(),
                queue_url: queue_url.into(),
                queue_arn: queue_arn.into(),
            },
            batch_size,
            window: Duration::from_millis(200),
            report_failures: true,
            time: TimeScale {
                retry_delay: Duration::from_secs(1),
                max_buffer_interval: Duration::from_secs(1),
            },
            stats: stats.clone(),
        };
        tasks.push(tokio::spawn(mapping.run(lambda.clone(), stop.clone())));
    }
    let lambda = &instances[0];
    let feeder = {
        let sqs = sqs.clone();
        let queue_url = queue_url.to_string();
        tokio::spawn(async move {
            for chunk in bodies.chunks(100) {
                while depth(&sqs, &queue_url).await > 300 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                send_all(&sqs, &queue_url, chunk).await;
            }
        })
    };
    let started = Instant::now();
    let mut rss = Vec::new();
    loop {
        // Every 500 ms: even a short run (SOAK_MESSAGES=100) gets enough memory samples.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(kib) = lambda.rss_kib() {
            rss.push(kib);
        }
        if (feeder.is_finished() && depth(sqs, queue_url).await == 0) || started.elapsed() > limit {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
    }
    assert_within_limits(&limit_counts);
    (rss, stats)
}

/// The contract layer (AWS's request limits, ferrolake_local_aws::contract_proxy) in
/// front of moto: the fault proxies forward to it, so faults and limits compose.
async fn limits() -> (FaultProxy, Arc<ContractCounts>) {
    contract_proxy(moto().endpoint()).await.unwrap()
}

fn assert_within_limits(counts: &ContractCounts) {
    assert_eq!(
        counts.refused(),
        0,
        "requests over AWS's limits (of {} checked): {:?}",
        counts.checked(),
        counts.refusals()
    );
}

/// `count` processes of the function (Lambda execution environments).
async fn start_instances(
    spec: &ferrolake_local_aws::demo::provision::FunctionSpec,
    environment: Vec<(String, String)>,
    scratch: &std::path::Path,
    count: usize,
) -> Vec<Arc<LocalLambda>> {
    let mut out = Vec::new();
    for i in 0..count {
        let dir = scratch.join(format!("instance-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        out.push(Arc::new(
            LocalLambda::start(
                &spec.name,
                &spec.arn,
                &default_bin_dir().join(&spec.binary),
                environment.clone(),
                spec.memory_mb,
                Duration::from_secs(spec.timeout_seconds),
                &dir,
            )
            .await
            .unwrap(),
        ));
    }
    out
}

/// The object key of an S3 event notification body.
fn object_key(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .map(String::from)
}

fn memory_line(rss: &[u64]) -> String {
    let first = rss.iter().take(3).copied().max().unwrap_or(0);
    let last = rss.iter().rev().take(3).copied().max().unwrap_or(0);
    let peak = rss.iter().copied().max().unwrap_or(0);
    format!(
        "RSS first {:.1} MiB, last {:.1} MiB, peak {:.1} MiB ({} samples)",
        first as f64 / 1024.0,
        last as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss.len()
    )
}

fn assert_flat(rss: &[u64]) {
    assert!(rss.len() >= 3, "too few memory samples: {rss:?}");
    let first = rss.iter().take(3).copied().max().unwrap_or(0);
    let last = rss.iter().rev().take(3).copied().max().unwrap_or(0);
    assert!(
        last <= first + first / 2 + 8 * 1024,
        "memory grew: {}",
        memory_line(rss)
    );
}

fn panics(instances: &[Arc<LocalLambda>]) -> usize {
    instances
        .iter()
        .map(|l| {
            std::fs::read_to_string(&l.log)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("panicked"))
                .count()
        })
        .sum()
}

fn restarts(instances: &[Arc<LocalLambda>]) -> u64 {
    instances
        .iter()
        .map(|l| l.restarts.load(Ordering::SeqCst))
        .sum()
}

/// What moto answered for each Kinesis partition key (item id) written through the tap.
type KinesisLedger = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// A pass-through proxy in front of moto that records, per PutRecords entry, the partition
/// key and moto's answer for it — so a record missing from the stream can be placed: never
/// sent, refused, or accepted by moto and not stored.
async fn kinesis_tap(upstream: &str) -> (FaultProxy, KinesisLedger) {
    let ledger: KinesisLedger = Arc::default();
    let on_request = Arc::new(|request: &mut StubRequest| {
        let target = request
            .headers
            .get("x-amz-target")
            .cloned()
            .unwrap_or_default();
        if !target.ends_with(".PutRecords") {
            return Ok(None);
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let keys: Vec<Value> = body["Records"]
            .as_array()
            .map(|records| records.iter().map(|r| r["PartitionKey"].clone()).collect())
            .unwrap_or_default();
        Ok(Some(Value::Array(keys)))
    });
    let recorder = ledger.clone();
    let on_response = Arc::new(
        move |_: &StubRequest, keys: Option<Value>, response: &mut StubResponse| {
            let Some(Value::Array(keys)) = keys else {
                return;
            };
            let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
            let results = body["Records"].as_array().cloned().unwrap_or_default();
            let mut ledger = recorder.lock().unwrap_or_else(|p| p.into_inner());
            for (i, key) in keys.iter().enumerate() {
                let answer = match results.get(i) {
                    Some(r) if r["ErrorCode"].is_string() => format!("failed {}", r["ErrorCode"]),
                    Some(r) => format!("stored {}", r["SequenceNumber"]),
                    None => format!(
                        "no result (HTTP {}, {} results for {} entries)",
                        response.status,
                        results.len(),
                        keys.len()
                    ),
                };
                ledger
                    .entry(key.as_str().unwrap_or_default().to_string())
                    .or_default()
                    .push(answer);
            }
        },
    );
    let tap = FaultProxy::start(upstream, on_request, on_response)
        .await
        .unwrap();
    (tap, ledger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak: make soak"]
async fn catalog_fetch_soak() {
    let n = messages();
    // The catalog API behind a proxy failing 10 % of calls (500, 429, 503, slow, dropped).
    let api = catalog::CatalogApi::start("soak-key-0123456789")
        .await
        .unwrap();
    let api_url = api.url_template();
    let api_upstream = api_url.trim_end_matches("/items/{id}").to_string();
    let mut api_plan = FaultPlan::uniform(0.10, 11);
    api_plan.faults = vec![
        Fault::ServerError,
        Fault::Status(429),
        Fault::Status(503),
        Fault::Slow(Duration::from_secs(4)),
        Fault::Dropped,
    ];
    let (api_proxy, api_faults) = chaos_proxy(&api_upstream, api_plan).await.unwrap();
    // Kinesis and Secrets Manager behind a proxy: 10 % of requests fail whole, 10 % of
    // PutRecords entries fail alone.
    let mut aws_plan = FaultPlan::uniform(0.10, 12);
    aws_plan.entry_fraction = 0.10;
    // moto's Kinesis loses records under concurrent PutRecords (see FaultPlan::serialize).
    aws_plan.serialize = vec!["Kinesis_20131202.PutRecords".into()];
    let (limits, limit_counts) = limits().await;
    let (tap, ledger) = kinesis_tap(&limits.url()).await;
    let (aws_proxy, aws_faults) = chaos_proxy(&tap.url(), aws_plan).await.unwrap();

    let secrets =
        aws_sdk_secretsmanager::Client::new(TestEnv::new("soak-secret").await.sdk_config());
    let secret_arn = secrets
        .create_secret()
        .name("soak-catalog-key")
        .secret_string("soak-key-0123456789")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let s = stack(
        "soak-cf",
        &[
            (
                "CatalogApiUrl",
                &format!("{}/items/{{id}}", api_proxy.url()),
            ),
            ("CatalogAuth", "api-key"),
            ("CatalogSecretArn", &secret_arn),
        ],
    )
    .await;
    let spec = s.stack.function("catalog-fetch").unwrap().clone();
    let mut environment = spec.environment.clone();
    environment.extend(s.env.function_env());
    environment.push(("AWS_ENDPOINT_URL_KINESIS".into(), aws_proxy.url()));
    environment.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), aws_proxy.url()));
    // Short secret TTL: the key is re-read often, so Secrets Manager faults matter.
    environment.push(("CATALOG_SECRET_TTL_MS".into(), "2000".into()));
    let scratch =
        std::env::temp_dir().join(format!("ferrolake-demo-{}-soak-cf", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let instances = start_instances(&spec, environment, &scratch, 4).await;
    let queue = s.stack.physical("CatalogQueue").unwrap().clone();
    let dlq = s
        .stack
        .physical("CatalogDeadLetterQueue")
        .unwrap()
        .reference
        .clone();
    let bodies: Vec<String> = (0..n)
        .map(|i| json!({"showId": format!("show-{i:06}"), "changeType": "updated"}).to_string())
        .collect();
    let started = Instant::now();
    let (rss, stats) = drive(
        &instances,
        bodies,
        &s.clients.sqs,
        &queue.reference,
        &queue.attributes["Arn"],
        10,
        Duration::from_secs(1800),
    )
    .await;
    let elapsed = started.elapsed();

    // Every message: in Kinesis (processed) or in the DLQ.
    let kinesis = &s.clients.kinesis;
    let stream = s.stack.physical("CatalogStream").unwrap().reference.clone();
    let mut in_stream: HashMap<String, usize> = HashMap::new();
    for r in read_stream(kinesis, &stream).await.unwrap() {
        let v: Value = serde_json::from_slice(r.data().as_ref()).unwrap();
        *in_stream
            .entry(v["item_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let dead: HashSet<String> = report::drain_dead_letters(&s.clients.sqs, &dlq)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| {
            serde_json::from_str::<Value>(&m.payload).ok()?["showId"]
                .as_str()
                .map(String::from)
        })
        .collect();
    let ids: Vec<String> = (0..n).map(|i| format!("show-{i:06}")).collect();
    let lost: Vec<&String> = ids
        .iter()
        .filter(|id| !in_stream.contains_key(*id) && !dead.contains(*id))
        .collect();
    let duplicates: usize = in_stream.values().map(|c| c - 1).sum();
    let both = ids
        .iter()
        .filter(|id| in_stream.contains_key(*id) && dead.contains(*id))
        .count();
    println!(
        "SOAK catalog-fetch: {n} messages in {:.0} s — {} processed, {} dead-lettered, {} lost, {duplicates} duplicate records, {both} both processed and dead-lettered; {} batches, {} retries reported, {} function errors, {} restarts, {} panics; faults: catalog API {} | AWS {}; {}",
        elapsed.as_secs_f64(), in_stream.len(), dead.len(), lost.len(),
        stats.batches.load(Ordering::SeqCst), stats.reported_failed.load(Ordering::SeqCst), stats.function_errors.load(Ordering::SeqCst),
        restarts(&instances), panics(&instances), api_faults.describe(), aws_faults.describe(), memory_line(&rss)
    );
    for id in &lost {
        println!("LOST {id}:");
        for (message_id, trace) in stats.traces_of(&format!("\"{id}\"")) {
            println!("  SQS message {message_id}: {}", trace.events.join(" → "));
        }
        println!(
            "  Kinesis through the tap: {:?}",
            ledger.lock().unwrap().get(id.as_str())
        );
        for lambda in &instances {
            let log = std::fs::read_to_string(&lambda.log).unwrap_or_default();
            for line in log.lines().filter(|l| l.contains(id.as_str())) {
                println!("  log (pid {:?}): {line}", lambda.pid());
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} messages neither processed nor dead-lettered: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert_eq!(panics(&instances), 0);
    assert_eq!(restarts(&instances), 0);
    assert!(
        api_faults.injected() > 0 && aws_faults.injected() > 0,
        "faults were injected"
    );
    assert_within_limits(&limit_counts);
    assert_flat(&rss);
    let _ = std::fs::remove_dir_all(scratch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak: make soak"]
async fn crawler_trigger_soak() {
    let n = messages();
    let mut plan = FaultPlan::uniform(0.10, 21);
    plan.operations = vec!["AWSGlue.".into()];
    let (limits, limit_counts) = limits().await;
    let (proxy, faults) = chaos_proxy(&limits.url(), plan).await.unwrap();
    let s = stack("soak-ct", &[("MinCrawlIntervalSeconds", "0")]).await;
    let spec = s.stack.function("crawler-trigger").unwrap().clone();
    let mut environment = spec.environment.clone();
    environment.extend(s.env.function_env());
    environment.push(("AWS_ENDPOINT_URL_GLUE".into(), proxy.url()));
    // New objects while a crawl runs are acknowledged (the running crawl or the next picks
    // them up); with `retry` they would cycle while 10,000 notifications keep it busy.
    environment.push(("CRAWLER_RUNNING_POLICY".into(), "accept".into()));
    let scratch =
        std::env::temp_dir().join(format!("ferrolake-demo-{}-soak-ct", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let instances = start_instances(&spec, environment, &scratch, 2).await;
    let bucket = s
        .stack
        .physical("TransformedBucket")
        .unwrap()
        .reference
        .clone();
    let queue = s.stack.physical("CrawlerQueue").unwrap().clone();
    let dlq = s
        .stack
        .physical("CrawlerDeadLetterQueue")
        .unwrap()
        .reference
        .clone();
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-11-22T06:00:00.000Z", "eventName": "ObjectCreated:Put",
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                       "object": {"key": format!("events/event=updated/dt=2026-11-22/hour=06/obj-{i:06}.gz"), "size": 100}}}]})
            .to_string()
        })
        .collect();
    let started = Instant::now();
    let (rss, stats) = drive(
        &instances,
        bodies,
        &s.clients.sqs,
        &queue.reference,
        &queue.attributes["Arn"],
        100,
        Duration::from_secs(1800),
    )
    .await;
    let elapsed = started.elapsed();
    let dead = report::drain_dead_letters(&s.clients.sqs, &dlq)
        .await
        .unwrap();
    let acked = stats.deleted.load(Ordering::SeqCst) as usize;
    // Per object: acknowledged after processing (a `deleted` in its trace) or dead-lettered.
    let dead_keys: HashSet<String> = dead.iter().filter_map(|m| object_key(&m.payload)).collect();
    let acked_keys: HashSet<String> = stats
        .journal
        .lock()
        .unwrap()
        .values()
        .filter(|t| t.events.iter().any(|e| e.starts_with("deleted")))
        .filter_map(|t| object_key(&t.body))
        .collect();
    let missing: Vec<String> = (0..n)
        .map(|i| format!("events/event=updated/dt=2026-11-22/hour=06/obj-{i:06}.gz"))
        .filter(|k| !acked_keys.contains(k) && !dead_keys.contains(k))
        .collect();
    let crawls: usize = instances
        .iter()
        .map(|l| log_lines(l, "crawler started").len())
        .sum();
    println!(
        "SOAK crawler-trigger: {n} messages in {:.0} s — {acked} acknowledged ({} beyond one per message: at-least-once redeliveries), {} dead-lettered, {} left; {} batches, {} retries reported, {} function errors, {} restarts, {} panics, {crawls} crawls started; faults: Glue {}; {}",
        elapsed.as_secs_f64(), acked.saturating_sub(n), dead.len(), depth(&s.clients.sqs, &queue.reference).await,
        stats.batches.load(Ordering::SeqCst), stats.reported_failed.load(Ordering::SeqCst), stats.function_errors.load(Ordering::SeqCst),
        restarts(&instances), panics(&instances), faults.describe(), memory_line(&rss)
    );
    // Nothing silently acknowledged: the queue is empty, and every message was either
    // deleted after the function reported it done, or moved to the DLQ.
    for key in missing.iter().take(10) {
        println!("MISSING {key}:");
        for (message_id, trace) in stats.traces_of(key) {
            println!("  SQS message {message_id}: {}", trace.events.join(" → "));
        }
    }
    assert!(
        missing.is_empty(),
        "{} objects neither acknowledged nor dead-lettered: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(depth(&s.clients.sqs, &queue.reference).await, 0);
    assert!(
        acked + dead.len() >= n,
        "{acked} acknowledged + {} dead-lettered < {n}",
        dead.len()
    );
    assert!(crawls > 0);
    assert_eq!(panics(&instances), 0);
    assert_eq!(restarts(&instances), 0);
    assert!(faults.injected() > 0);
    assert_within_limits(&limit_counts);
    assert_flat(&rss);
    let _ = std::fs::remove_dir_all(scratch);
}
