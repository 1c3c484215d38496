use super::*;
use crate::response::{ParsedResponse, ResponseRecord};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ferrolake_shared::streams::PutError;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Mutex;

/// Records what was re-ingested; fails entries whose data contains `fail_marker`.
#[derive(Default)]
struct FakeReingest {
    put: Mutex<Vec<(Target, Vec<u8>, String)>>,
    fail_marker: Option<Vec<u8>>,
    panic: bool,
}

impl StreamPut for FakeReingest {
    async fn put(
        &self,
        target: &Target,
        entries: &[Entry<'_>],
    ) -> Result<Vec<Option<String>>, PutError> {
        assert!(!self.panic, "adapter bug");
        let mut put = self.put.lock().unwrap();
        Ok(entries
            .iter()
            .map(|e| {
                if self
                    .fail_marker
                    .as_ref()
                    .is_some_and(|m| e.data.windows(m.len()).any(|w| w == m.as_slice()))
                {
                    Some("ServiceUnavailableException: try later".into())
                } else {
                    put.push((target.clone(), e.data.to_vec(), e.partition_key.to_string()));
                    None
                }
            })
            .collect())
    }
}

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_lookup(ferrolake_shared::env::lookup_from(pairs)).unwrap()
}

fn function(pairs: &[(&str, &str)]) -> FirehoseFlatten<FakeReingest> {
    FirehoseFlatten::new(config(pairs), FakeReingest::default()).with_backoff(Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        max_attempts: 2,
    })
}

fn record(id: &str, data: Value) -> Value {
    json!({"recordId": id, "approximateArrivalTimestamp": 1795309323456u64, "data": data})
}

fn b64(text: &[u8]) -> Value {
    Value::String(STANDARD.encode(text))
}

fn direct_put(records: Vec<Value>) -> FirehoseEvent {
    serde_json::from_value(json!({
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/lake",
        "region": "us-east-1",
        "records": records
    }))
    .unwrap()
}

/// Process `event` and read the response back from the JSON Lambda would return.
async fn run(
    f: &FirehoseFlatten<FakeReingest>,
    event: &FirehoseEvent,
) -> (ParsedResponse, Metrics) {
    let metrics = Metrics::new("firehose-flatten", false);
    let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
    let json = serde_json::to_vec(&f.process(event, &deadline, &metrics).await).unwrap();
    let parsed: ParsedResponse = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        serde_json::to_vec(&parsed).unwrap(),
        json,
        "the response is exactly what serde_json writes for its records"
    );
    assert_eq!(
        metrics.to_emf()[metric::RESPONSE_BYTES].as_f64(),
        Some(json.len() as f64),
        "the size metric is exact"
    );
    (parsed, metrics)
}

fn decoded(r: &ResponseRecord) -> String {
    String::from_utf8(
        STANDARD
            .decode(r.data.as_ref().expect("data").to_text())
            .unwrap(),
    )
    .unwrap()
}

fn results(response: &ParsedResponse) -> Vec<(&str, RecordResult)> {
    response
        .records
        .iter()
        .map(|r| (r.record_id.as_str(), r.result))
        .collect()
}

#[tokio::test]
async fn records_are_flattened_and_bad_ones_fail_alone_with_original_bytes() {
    let f = function(&[]);
    let event = direct_put(vec![
        record("ok", b64(br#"{"User":{"Id":1,"Name":"Ann"},"tags":["a"]}"#)),
        record("bad-json", b64(b"{\"a\":")),
        record("bad-b64", json!("@@not base64@@")),
        record("not-utf8", b64(b"{\"a\":\"\xff\"}")),
        record("number-data", json!(42)),
        record("empty", json!("")),
        record("ok2", b64(b"{\"a\":{\"b\":2}}\n")),
    ]);
    let (response, metrics) = run(&f, &event).await;
    use RecordResult::*;
    assert_eq!(
        results(&response),
        vec![
            ("ok", Ok),
            ("bad-json", ProcessingFailed),
            ("bad-b64", ProcessingFailed),
            ("not-utf8", ProcessingFailed),
            ("number-data", ProcessingFailed),
            ("empty", Dropped),
            ("ok2", Ok)
        ]
    );
    assert_eq!(
        decoded(&response.records[0]),
        "{\"user_id\":1,\"user_name\":\"Ann\",\"tags\":[\"a\"]}\n"
    );
    assert_eq!(decoded(&response.records[6]), "{\"a_b\":2}\n");
    // ProcessingFailed carries the original data unchanged.
    assert_eq!(
        response.records[1].data,
        Some(crate::response::Data::text(&STANDARD.encode(b"{\"a\":")))
    );
    assert_eq!(
        response.records[2]
            .data
            .as_ref()
            .map(crate::response::Data::to_text)
            .as_deref(),
        Some("@@not base64@@")
    );
    assert_eq!(response.records[4].data, None, "no string to carry");
    assert_eq!(metrics.counter(metric::FAILED), 4);
    assert_eq!(metrics.counter(metric::OK), 2);
}

#[tokio::test]
async fn kinesis_source_records_with_odd_fields_only_affect_themselves() {
    let f = function(&[("PARTITION_KEYS", "dt=@arrival_date,hour=@arrival_hour")]);
    let event: FirehoseEvent = serde_json::from_value(json!({
        "invocationId": "inv", "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:deliverystream/lake",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:1:stream/catalog", "region": "us-east-1",
        "records": [
            {"recordId": "frac", "approximateArrivalTimestamp": 1795309323456.75, "data": STANDARD.encode(b"{\"a\":1}"),
             "kinesisRecordMetadata": {"shardId": "shardId-000000000000", "partitionKey": "pk", "sequenceNumber": "1", "subsequenceNumber": "not-a-number", "approximateArrivalTimestamp": 1795309323456.5}},
            {"recordId": "string-ts", "approximateArrivalTimestamp": "1795309323456", "data": STANDARD.encode(b"{\"a\":2}")},
            {"recordId": "bad", "data": "%%%"}
        ]
    }))
    .unwrap();
    let (response, _) = run(&f, &event).await;
    use RecordResult::*;
    assert_eq!(
        results(&response),
        vec![("frac", Ok), ("string-ts", Ok), ("bad", ProcessingFailed)]
    );
    let keys = &response.records[0]
        .metadata
        .as_ref()
        .unwrap()
        .partition_keys;
    assert_eq!(keys.get("dt").map(String::as_str), Some("2026-11-22"));
    assert_eq!(keys.get("hour").map(String::as_str), Some("01"));
}

#[tokio::test]
async fn gzip_ndjson_drop_rules_and_partition_keys() {
    let f = function(&[
        ("DROP_WHERE", "event_type=heartbeat"),
        ("PARTITION_KEYS", "event=event_type,country=geo_country"),
    ]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"event\":{\"type\":\"click\"},\"geo\":{\"country\":\"N O/x\"}}\n{\"event\":{\"type\":\"view\"}}\n").unwrap();
    let event = direct_put(vec![
        record("gz", b64(&gz.finish().unwrap())),
        record("heartbeat", b64(b"{\"event\":{\"type\":\"heartbeat\"}}")),
        record("no-field", b64(b"{\"x\":1}")),
    ]);
    let (response, _) = run(&f, &event).await;
    use RecordResult::*;
    assert_eq!(
        results(&response),
        vec![("gz", Ok), ("heartbeat", Dropped), ("no-field", Ok)]
    );
    assert_eq!(
        decoded(&response.records[0]),
        "{\"event_type\":\"click\",\"geo_country\":\"N O/x\"}\n{\"event_type\":\"view\"}\n"
    );
    let keys = |i: usize| {
        response.records[i]
            .metadata
            .as_ref()
            .unwrap()
            .partition_keys
            .clone()
    };
    assert_eq!(keys(0).get("event").unwrap(), "click");
    assert_eq!(
        keys(0).get("country").unwrap(),
        "N_O_x",
        "sanitised for an S3 prefix"
    );
    assert_eq!(
        keys(2).get("event").unwrap(),
        "unknown",
        "missing → PARTITION_DEFAULT"
    );
}

#[tokio::test]
async fn record_level_bad_inputs() {
    let f = function(&[("NON_OBJECT", "fail"), ("COLLISION", "fail")]);
    let deep = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let mut bad_gzip = vec![0x1f, 0x8b];
    bad_gzip.extend_from_slice(b"garbage");
    let event = direct_put(vec![
        record("deep", b64(deep.as_bytes())),
        record("array", b64(b"[1,2,3]")),
        record("case-collision", b64(b"{\"Name\":1,\"name\":2}")),
        record("bad-gzip", b64(&bad_gzip)),
        record("fine", b64(b"{\"x\":1}")),
    ]);
    let (response, _) = run(&f, &event).await;
    use RecordResult::*;
    assert_eq!(
        results(&response),
        vec![
            ("deep", ProcessingFailed),
            ("array", ProcessingFailed),
            ("case-collision", ProcessingFailed),
            ("bad-gzip", ProcessingFailed),
            ("fine", Ok)
        ]
    );
    // With the default COLLISION=suffix, case-only duplicates get a suffix instead.
    let (response, metrics) = run(
        &function(&[]),
        &direct_put(vec![record(
            "c",
            b64(b"{\"Name\":1,\"name\":2,\"NAME\":3}"),
        )]),
    )
    .await;
    assert_eq!(
        decoded(&response.records[0]),
        "{\"name\":1,\"name_2\":2,\"name_3\":3}\n"
    );
    assert_eq!(metrics.counter(metric::COLLISIONS), 2);
}

#[tokio::test]
async fn a_five_megabyte_record_fails_alone_when_its_output_cannot_fit() {
    let f = function(&[]);
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(5 * 1024 * 1024));
    let event = direct_put(vec![
        record("small", b64(b"{\"a\":1}")),
        record("big", b64(big.as_bytes())),
        record("small2", b64(b"{\"a\":2}")),
    ]);
    let (response, _) = run(&f, &event).await;
    use RecordResult::*;
    assert_eq!(
        results(&response),
        vec![("small", Ok), ("big", ProcessingFailed), ("small2", Ok)]
    );
    assert!(serde_json::to_vec(&response).unwrap().len() <= 6_000_000);
    assert!(
        f.reingest().put.lock().unwrap().is_empty(),
        "an oversized record is not re-ingested in a loop"
    );
}

fn many_records(n: usize) -> (FirehoseEvent, Vec<Vec<u8>>) {
    let originals: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(100)).into_bytes())
        .collect();
    let records = originals
        .iter()
        .enumerate()
        .map(|(i, o)| record(&format!("r{i:03}"), b64(o)))
        .collect();
    (direct_put(records), originals)
}

#[tokio::test]
async fn size_guard_keeps_the_response_under_budget_and_reingests_originals() {
    let f = function(&[("RESPONSE_BUDGET_BYTES", "4000")]);
    let (event, originals) = many_records(40);
    let (response, metrics) = run(&f, &event).await;
    let size = serde_json::to_vec(&response).unwrap().len();
    assert!(size <= 4000, "response is {size} bytes");
    let ids: Vec<String> = response
        .records
        .iter()
        .map(|r| r.record_id.clone())
        .collect();
    assert_eq!(
        ids,
        (0..40).map(|i| format!("r{i:03}")).collect::<Vec<_>>(),
        "every id once, in order"
    );
    let ok = response
        .records
        .iter()
        .filter(|r| r.result == RecordResult::Ok)
        .count();
    let dropped: Vec<usize> = response
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.result == RecordResult::Dropped)
        .map(|(i, _)| i)
        .collect();
    assert!(ok > 0 && !dropped.is_empty());
    assert_eq!(ok + dropped.len(), 40);
    let put = f.reingest().put.lock().unwrap();
    assert_eq!(put.len(), dropped.len());
    for ((target, data, _), i) in put.iter().zip(&dropped) {
        assert_eq!(*target, Target::DeliveryStream("lake".into()));
        assert_eq!(data, &originals[*i], "the ORIGINAL bytes are re-ingested");
    }
    assert_eq!(metrics.counter(metric::REINGESTED), dropped.len() as u64);
}

#[tokio::test]
async fn reingest_failures_become_processing_failed_and_overflow_fail_needs_no_sdk() {
    let mut f = function(&[("RESPONSE_BUDGET_BYTES", "4000")]);
    f.reingest.fail_marker = Some(b"\"n\":39".to_vec());
    let (event, _) = many_records(40);
    let (response, metrics) = run(&f, &event).await;
    assert_eq!(response.records[39].result, RecordResult::ProcessingFailed);
    assert_eq!(metrics.counter(metric::REINGEST_FAILED), 1);
    assert!(response.records[..39]
        .iter()
        .all(|r| r.result != RecordResult::ProcessingFailed));

    let f = function(&[("RESPONSE_BUDGET_BYTES", "4000"), ("OVERFLOW", "fail")]);
    let (response, _) = run(&f, &event).await;
    assert!(response
        .records
        .iter()
        .any(|r| r.result == RecordResult::ProcessingFailed));
    assert!(f.reingest().put.lock().unwrap().is_empty());

    let mut f = function(&[("RESPONSE_BUDGET_BYTES", "4000")]);
    f.reingest.panic = true;
    let (response, _) = run(&f, &event).await;
    assert_eq!(
        response.records.len(),
        40,
        "a panicking adapter fails records, not the batch"
    );
    assert!(response
        .records
        .iter()
        .any(|r| r.result == RecordResult::ProcessingFailed));
}

#[tokio::test]
async fn kinesis_source_overflow_goes_back_with_the_partition_key() {
    let f = function(&[("RESPONSE_BUDGET_BYTES", "30000")]);
    let event: FirehoseEvent =
        serde_json::from_str(&crate::sample::firehose_event(3, 60_000, true)).unwrap();
    let (response, _) = run(&f, &event).await;
    let put = f.reingest().put.lock().unwrap();
    assert!(!put.is_empty());
    for (target, _, key) in put.iter() {
        assert_eq!(*target, Target::KinesisStream("ferrolake-catalog".into()));
        assert!(key.starts_with("user-"), "{key}");
    }
    assert!(serde_json::to_vec(&response).unwrap().len() <= 30000);
}

#[tokio::test]
async fn committed_sample_events_work() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/firehose-flatten");
    let f = function(&[(
        "PARTITION_KEYS",
        "event=event_type,dt=@arrival_date,hour=@arrival_hour",
    )]);
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let event: FirehoseEvent =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (response, _) = run(&f, &event).await;
        assert_eq!(
            response.records.len(),
            event.records.len(),
            "{}",
            path.display()
        );
        assert!(
            response
                .records
                .iter()
                .any(|r| r.result == RecordResult::Ok),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 3);
}
