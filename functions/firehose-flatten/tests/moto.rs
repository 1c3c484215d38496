//! The 6 MB size guard against moto: re-ingested ORIGINAL records reach a real delivery
//! stream (and its S3 destination) or a real Kinesis source stream. moto's Firehose does
//! not invoke the transformation Lambda, so the handler is called directly with the event
//! Firehose would send.

use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};
use ferrolake_local_aws::{read_stream, TestEnv};
use ferrolake_shared::retry::Deadline;
use ferrolake_shared::streams::SdkStreams;
use ferrolake_shared::telemetry::Metrics;
use firehose_flatten::config::Config;
use firehose_flatten::handler::{metric, FirehoseFlatten};
use firehose_flatten::request::FirehoseEvent;
use firehose_flatten::response::RecordResult;
use firehose_flatten::sample::firehose_event;
use std::collections::BTreeSet;
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn function(env: &TestEnv, budget: Option<&str>) -> FirehoseFlatten<SdkStreams> {
    let reingest = SdkStreams::new(env.sdk_config());
    let budget = budget.map(str::to_string);
    let config = Config::from_lookup(move |k| {
        (k == "RESPONSE_BUDGET_BYTES")
            .then(|| budget.clone())
            .flatten()
    })
    .expect("valid config");
    FirehoseFlatten::new(config, reingest)
}

fn originals(event: &FirehoseEvent, ids: &BTreeSet<String>) -> BTreeSet<Vec<u8>> {
    event
        .records
        .iter()
        .filter(|r| ids.contains(&r.record_id))
        .map(|r| r.data.bytes().expect("base64 data").to_vec())
        .collect()
}

/// A Direct PUT delivery stream writing to a fresh bucket under `reingested/`:
/// (S3 client, bucket, stream name).
async fn direct_put_stream(
    env: &TestEnv,
) -> Result<(aws_sdk_s3::Client, String, String), Box<dyn std::error::Error>> {
    let s3 = env.s3();
    let firehose = aws_sdk_firehose::Client::new(env.sdk_config());
    let bucket = env.name("raw");
    s3.create_bucket().bucket(&bucket).send().await?;
    let stream = env.name("lake");
    firehose
        .create_delivery_stream()
        .delivery_stream_name(&stream)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn("arn:aws:iam::123456789012:role/firehose")
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .prefix("reingested/")
                .build()?,
        )
        .send()
        .await?;
    Ok((s3, bucket, stream))
}

/// A JSON document in one canonical byte form, for comparing records.
fn normalized(json: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(json).unwrap()).unwrap()
}

/// Every record the delivery stream wrote under `reingested/`, normalized. moto writes each
/// PutRecordBatch call as one object of concatenated records; the originals are single-line
/// JSON objects without a trailing newline, so the objects are read as a JSON stream.
async fn reingested(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<BTreeSet<Vec<u8>>, Box<dyn std::error::Error>> {
    let mut landed = Vec::new();
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("reingested/")
        .send()
        .await?;
    for object in listed.contents() {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(object.key().unwrap_or_default())
            .send()
            .await?
            .body
            .collect()
            .await?
            .into_bytes();
        landed.extend_from_slice(&body);
    }
    let text = String::from_utf8(landed)?;
    Ok(serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .map(|v| serde_json::to_vec(&v.unwrap()).unwrap())
        .collect())
}

#[tokio::test]
async fn direct_put_overflow_is_reingested_into_the_delivery_stream() -> TestResult {
    let env = TestEnv::new("fh-direct").await;
    let (s3, bucket, stream) = direct_put_stream(&env).await?;

    // ~5.5 MB of events: flattened and base64-encoded they exceed Lambda's 6 MB response.
    let text = firehose_event(11, 5_500_000, false).replace(
        "deliverystream/ferrolake-lake",
        &format!("deliverystream/{stream}"),
    );
    let event: FirehoseEvent = serde_json::from_str(&text)?;
    let f = function(&env, None);
    let metrics = Metrics::new("firehose-flatten", false);
    let response = f
        .process(
            &event,
            &Deadline::after(Duration::from_secs(120), Duration::from_secs(2)),
            &metrics,
        )
        .await
        .parse()?;

    let size = serde_json::to_vec(&response)?.len();
    assert!(size <= 6_000_000, "response {size} bytes");
    assert_eq!(response.records.len(), event.records.len());
    let dropped: BTreeSet<String> = response
        .records
        .iter()
        .filter(|r| r.result == RecordResult::Dropped)
        .map(|r| r.record_id.clone())
        .collect();
    assert!(!dropped.is_empty(), "the batch must overflow");
    assert_eq!(metrics.counter(metric::REINGESTED), dropped.len() as u64);
    assert!(response
        .records
        .iter()
        .all(|r| r.result != RecordResult::ProcessingFailed));

    let objects = reingested(&s3, &bucket).await?;
    let expected: BTreeSet<Vec<u8>> = originals(&event, &dropped)
        .iter()
        .map(|o| normalized(o))
        .collect();
    assert_eq!(
        objects.len(),
        dropped.len(),
        "every re-ingested record arrived once"
    );
    assert_eq!(objects, expected, "the ORIGINAL records arrived");
    Ok(())
}

#[tokio::test]
async fn kinesis_source_overflow_is_reingested_with_original_partition_keys() -> TestResult {
    let env = TestEnv::new("fh-kinesis").await;
    let kinesis = aws_sdk_kinesis::Client::new(env.sdk_config());
    let stream = env.name("catalog");
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await?;

    // The full-size 6 MB path is the Direct PUT test; here a 1 MB budget over a 2 MB batch.
    let text = firehose_event(12, 2_000_000, true)
        .replace("stream/ferrolake-catalog", &format!("stream/{stream}"));
    let event: FirehoseEvent = serde_json::from_str(&text)?;
    let f = function(&env, Some("1000000"));
    let metrics = Metrics::new("firehose-flatten", false);
    let response = f
        .process(
            &event,
            &Deadline::after(Duration::from_secs(120), Duration::from_secs(2)),
            &metrics,
        )
        .await
        .parse()?;
    assert!(serde_json::to_vec(&response)?.len() <= 1_000_000);
    let dropped: BTreeSet<String> = response
        .records
        .iter()
        .filter(|r| r.result == RecordResult::Dropped)
        .map(|r| r.record_id.clone())
        .collect();
    assert!(!dropped.is_empty());

    let mut read = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for r in read_stream(&kinesis, &stream).await? {
        read.insert(r.data().as_ref().to_vec());
        keys.insert(r.partition_key().unwrap_or_default().to_string());
    }
    assert_eq!(
        read,
        originals(&event, &dropped),
        "exactly the overflow records, original bytes"
    );
    let expected_keys: BTreeSet<String> = event
        .records
        .iter()
        .filter(|r| dropped.contains(&r.record_id))
        .map(|r| r.partition_key().unwrap().to_string())
        .collect();
    assert_eq!(keys, expected_keys, "original partition keys");
    Ok(())
}

/// Re-ingestion through a proxy that fails 20 % of PutRecordBatch calls (5xx, throttling,
/// slow, dropped connections) and 20 % of the entries of the others: every overflow record
/// still ends re-ingested (Dropped, and its original in S3) or ProcessingFailed — never lost.
#[tokio::test]
async fn direct_put_reingestion_survives_injected_faults() -> TestResult {
    use ferrolake_local_aws::{chaos_proxy, moto, FaultPlan};
    let env = TestEnv::new("fh-chaos").await;
    let (s3, bucket, stream) = direct_put_stream(&env).await?;
    let mut plan = FaultPlan::uniform(0.2, 31);
    plan.entry_fraction = 0.2;
    plan.operations = vec!["Firehose_20150804.PutRecordBatch".into()];
    let (proxy, faults) = chaos_proxy(moto().endpoint(), plan).await?;
    let reingest = SdkStreams {
        firehose: Some(aws_sdk_firehose::Client::from_conf(
            aws_sdk_firehose::config::Builder::from(env.sdk_config())
                .endpoint_url(proxy.url())
                .build(),
        )),
        kinesis: Some(aws_sdk_kinesis::Client::new(env.sdk_config())),
    };
    let f = FirehoseFlatten::new(Config::default(), reingest);
    let text = firehose_event(12, 5_500_000, false).replace(
        "deliverystream/ferrolake-lake",
        &format!("deliverystream/{stream}"),
    );
    let event: FirehoseEvent = serde_json::from_str(&text)?;
    let response = f
        .process(
            &event,
            &Deadline::after(Duration::from_secs(120), Duration::from_secs(2)),
            &Metrics::new("firehose-flatten", false),
        )
        .await
        .parse()?;
    assert_eq!(response.records.len(), event.records.len());
    let ids = |result: RecordResult| -> BTreeSet<String> {
        response
            .records
            .iter()
            .filter(|r| r.result == result)
            .map(|r| r.record_id.clone())
            .collect()
    };
    let dropped = ids(RecordResult::Dropped);
    assert!(!dropped.is_empty(), "the batch must overflow");
    assert!(
        faults.injected() > 0,
        "faults were injected: {}",
        faults.describe()
    );
    let arrived = reingested(&s3, &bucket).await?;
    for original in originals(&event, &dropped) {
        assert!(
            arrived.contains(&normalized(&original)),
            "a Dropped record was not re-ingested ({})",
            faults.describe()
        );
    }
    for r in &response.records {
        if r.result == RecordResult::ProcessingFailed {
            assert!(
                r.data.is_some(),
                "ProcessingFailed carries the original bytes"
            );
        }
    }
    println!(
        "faults: {}; {} re-ingested",
        faults.describe(),
        dropped.len()
    );
    Ok(())
}
