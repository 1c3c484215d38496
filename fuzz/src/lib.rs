//! What each fuzz target runs: parse untrusted input the way the function does, process
//! it, and assert the function's own promises (one answer per record, in order; errors
//! rather than panics). A crash or a failed assertion is a finding; each one becomes a
//! regression test in the function's crate.

use base64::Engine;
use ferrolake_shared::retry::Deadline;
use ferrolake_shared::secrets::{SecretError, SecretSource};
use ferrolake_shared::streams::{Entry, PutError, StreamPut, Target};
use ferrolake_shared::telemetry::Metrics;
use std::time::Duration;

/// Re-ingestion that always fails (records that do not fit become ProcessingFailed).
struct NoReingest;

impl StreamPut for NoReingest {
    async fn put(&self, _: &Target, _: &[Entry<'_>]) -> Result<Vec<Option<String>>, PutError> {
        Err(PutError {
            operation: "PutRecords",
            code: "Fuzz".into(),
            transient: false,
            source: "no re-ingestion while fuzzing".into(),
        })
    }
}

/// A secret for every name, so UDFs that need one run to the end.
struct FixedSecrets;

impl SecretSource for FixedSecrets {
    async fn secret_string(&self, _: &str) -> Result<String, SecretError> {
        Ok(base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
    }
}

/// The bytes as a whole Firehose event, or (when they are not one) as one record's data.
pub fn firehose_event(data: &[u8]) {
    quiet_caught_panics();
    use firehose_flatten::request::FirehoseEvent;
    let event: FirehoseEvent = match serde_json::from_slice(data) {
        Ok(event) => event,
        Err(_) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(data);
            let wrapped = format!(
                r#"{{"invocationId":"fuzz","deliveryStreamArn":"arn:aws:firehose:us-east-1:123456789012:deliverystream/fuzz","region":"us-east-1","records":[{{"recordId":"r1","approximateArrivalTimestamp":1700000000000,"data":"{b64}"}}]}}"#
            );
            match serde_json::from_str(&wrapped) {
                Ok(event) => event,
                Err(e) => panic!("the wrapped record must parse: {e}"),
            }
        }
    };
    let function = firehose_flatten::handler::FirehoseFlatten::new(
        firehose_flatten::config::Config::default(),
        NoReingest,
    );
    let deadline = Deadline::after(Duration::from_secs(60), Duration::ZERO);
    let metrics = Metrics::new("fuzz", false);
    let response = futures::executor::block_on(function.process(&event, &deadline, &metrics));
    let json = serde_json::to_vec(&response).expect("the response serializes");
    let answers: firehose_flatten::response::ParsedResponse =
        serde_json::from_slice(&json).expect("the response is valid JSON");
    assert_eq!(answers.records.len(), event.records.len(), "one answer per record");
    for (answer, record) in answers.records.iter().zip(&event.records) {
        assert_eq!(answer.record_id, record.record_id, "answers in input order");
    }
    assert!(
        json.len() <= firehose_flatten::response::LAMBDA_RESPONSE_LIMIT,
        "response within Lambda's limit"
    );
}

/// The functions catch panics where a dependency may panic on malformed input (arrow-ipc)
/// and turn them into errors; libFuzzer's panic hook would abort before that catch. This
/// quiet hook keeps caught panics from being findings; an uncaught panic still unwinds
/// into libfuzzer-sys, which aborts and reports it.
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// The bytes as an Athena request document (ping or UDF call) against the UDF library.
pub fn athena_request(data: &[u8]) {
    quiet_caught_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = serde_json::value::RawValue::from_string(text.to_string()) else {
        return;
    };
    let function = athena_udf::handler::AthenaUdf::new(athena_udf::library::registry(), FixedSecrets);
    let metrics = Metrics::new("fuzz", false);
    // An error is a fine answer; a panic (caught inside UDFs, never in parsing) is not.
    let _ = futures::executor::block_on(function.handle(&raw, &metrics));
}

/// The bytes as SQS bodies and S3 notification documents, and as an S3 key.
pub fn envelopes(data: &[u8]) {
    use ferrolake_shared::envelope;
    let text = String::from_utf8_lossy(data);
    let _ = envelope::open_sqs_body(Some(&text));
    let _ = envelope::parse_s3_notification(&text);
    let _ = envelope::s3_notification_from_sqs_body(Some(&text));
    if let Ok(key) = envelope::decode_s3_key(&text) {
        assert!(key.len() <= text.len(), "decoding never grows a key");
    }
}

/// The bytes as a list of redshift-config items for one target.
pub fn redshift_config(data: &[u8]) {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(data) else {
        return;
    };
    if let Ok(config) = redshift_config::desired::from_items("fuzz", &items) {
        // Whatever validation lets through must be safe to quote into SQL.
        let _ = format!("{config:?}");
    }
}
