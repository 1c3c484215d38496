//! Message envelopes, parsed leniently: SNS notifications inside SQS bodies (with or
//! without RawMessageDelivery) and S3 event notifications arriving through SQS directly
//! or through SNS. Unknown fields are ignored everywhere; fields moto omits (and real
//! S3 sends), such as `userIdentity` and `requestParameters`, are optional.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a message body could not be opened. Every variant names the part that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("message body is empty")]
    EmptyBody,
    #[error("{what} is not valid JSON: {source}")]
    NotJson {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("SNS notification envelope has no string field `{field}`")]
    SnsFieldMissing { field: &'static str },
    #[error("not an S3 event notification: no `Records` array and not an s3:TestEvent")]
    NotS3Notification,
    #[error("S3 event record {index} has no `{field}`")]
    S3FieldMissing { index: usize, field: &'static str },
    #[error("S3 event record {index} has an undecodable object key {key:?}: {source}")]
    S3Key {
        index: usize,
        key: String,
        #[source]
        source: KeyDecodeError,
    },
}

/// SNS metadata of a notification that arrived wrapped in the SNS envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnsMeta {
    pub message_id: String,
    pub topic_arn: Option<String>,
    pub subject: Option<String>,
    pub timestamp: Option<String>,
    /// String-typed message attributes (name -> value).
    pub attributes: BTreeMap<String, String>,
}

/// The payload of an SQS message, with the SNS envelope (if any) taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqsPayload {
    /// The published message. `sns` is `None` for RawMessageDelivery or a direct send.
    Message {
        message: String,
        sns: Option<SnsMeta>,
    },
    /// SNS subscription control traffic (`SubscriptionConfirmation`,
    /// `UnsubscribeConfirmation`): no data; acknowledge and log it.
    SnsControl {
        kind: String,
        topic_arn: Option<String>,
    },
}

#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Subject")]
    subject: Option<Value>,
    #[serde(rename = "Message")]
    message: Option<Value>,
    #[serde(rename = "Timestamp")]
    timestamp: Option<String>,
    #[serde(rename = "MessageAttributes", default)]
    attributes: BTreeMap<String, Value>,
}

const SNS_TYPES: [&str; 3] = [
    "Notification",
    "SubscriptionConfirmation",
    "UnsubscribeConfirmation",
];

/// Take the SNS envelope off an SQS body if there is one. A body that is not an SNS
/// envelope (not JSON, or JSON without SNS's `Type` + `TopicArn`) is the raw message.
pub fn open_sqs_body(body: Option<&str>) -> Result<SqsPayload, EnvelopeError> {
    let body = body.unwrap_or_default();
    if body.trim().is_empty() {
        return Err(EnvelopeError::EmptyBody);
    }
    let raw = || SqsPayload::Message {
        message: body.to_string(),
        sns: None,
    };
    // Cheap sniff first: raw notifications must not pay for a second parse.
    if !body.contains("\"TopicArn\"") || !body.trim_start().starts_with('{') {
        return Ok(raw());
    }
    let envelope: SnsEnvelope = match serde_json::from_str(body) {
        Ok(envelope) => envelope,
        Err(_) => return Ok(raw()),
    };
    if !SNS_TYPES.contains(&envelope.kind.as_str()) || envelope.topic_arn.is_none() {
        return Ok(raw());
    }
    if envelope.kind != "Notification" {
        return Ok(SqsPayload::SnsControl {
            kind: envelope.kind,
            topic_arn: envelope.topic_arn,
        });
    }
    let message = match envelope.message {
        Some(Value::String(s)) => s,
        _ => return Err(EnvelopeError::SnsFieldMissing { field: "Message" }),
    };
    let message_id = envelope
        .message_id
        .ok_or(EnvelopeError::SnsFieldMissing { field: "MessageId" })?;
    let attributes = envelope
        .attributes
        .into_iter()
        .filter_map(|(name, attr)| {
            attr.get("Value")
                .and_then(Value::as_str)
                .map(|v| (name, v.to_string()))
        })
        .collect();
    Ok(SqsPayload::Message {
        message,
        sns: Some(SnsMeta {
            message_id,
            topic_arn: envelope.topic_arn,
            subject: envelope
                .subject
                .and_then(|s| s.as_str().map(str::to_string)),
            timestamp: envelope.timestamp,
            attributes,
        }),
    })
}

/// Why an S3 object key could not be form-decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyDecodeError {
    #[error("truncated or non-hex percent escape at byte {position}")]
    BadEscape { position: usize },
    #[error("decoded key is not UTF-8")]
    NotUtf8,
}

/// Decode an S3 event key: form encoding, so `+` is a space and `%XX` a byte
/// (a literal `+` arrives as `%2B`; moto also encodes `/` as `%2F`).
pub fn decode_s3_key(raw: &str) -> Result<String, KeyDecodeError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(KeyDecodeError::BadEscape { position: i })?;
                out.push(hex);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| KeyDecodeError::NotUtf8)
}

/// One object event from an S3 notification, key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ObjectEvent {
    pub event_name: String,
    pub event_time: Option<String>,
    pub region: Option<String>,
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sequencer: Option<String>,
}

/// What an S3 notification carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Notification {
    /// `s3:TestEvent`, sent when notifications are configured: acknowledge and skip.
    TestEvent {
        bucket: Option<String>,
    },
    /// SNS subscription control traffic on an SNS-wrapped queue: acknowledge and skip.
    SnsControl {
        kind: String,
    },
    Objects(Vec<S3ObjectEvent>),
}

#[derive(Deserialize)]
struct RawNotification {
    #[serde(rename = "Records")]
    records: Option<Vec<RawS3Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "Bucket")]
    bucket: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawS3Record {
    event_name: Option<String>,
    event_time: Option<String>,
    aws_region: Option<String>,
    s3: Option<RawS3Entity>,
}

#[derive(Deserialize)]
struct RawS3Entity {
    bucket: Option<RawBucket>,
    object: Option<RawObject>,
}

#[derive(Deserialize)]
struct RawBucket {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObject {
    key: Option<String>,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    etag: Option<String>,
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// Parse an S3 event notification document (the SQS body, or the SNS `Message`).
pub fn parse_s3_notification(json: &str) -> Result<S3Notification, EnvelopeError> {
    if json.trim().is_empty() {
        return Err(EnvelopeError::EmptyBody);
    }
    let raw: RawNotification =
        serde_json::from_str(json).map_err(|source| EnvelopeError::NotJson {
            what: "S3 event notification",
            source,
        })?;
    if raw.event.as_deref() == Some("s3:TestEvent") {
        return Ok(S3Notification::TestEvent { bucket: raw.bucket });
    }
    let records = raw.records.ok_or(EnvelopeError::NotS3Notification)?;
    let mut objects = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        let missing = |field| EnvelopeError::S3FieldMissing { index, field };
        let s3 = record.s3.ok_or(missing("s3"))?;
        let bucket = s3
            .bucket
            .and_then(|b| b.name)
            .ok_or(missing("s3.bucket.name"))?;
        let object = s3.object.ok_or(missing("s3.object"))?;
        let raw_key = object.key.ok_or(missing("s3.object.key"))?;
        let key = decode_s3_key(&raw_key).map_err(|source| EnvelopeError::S3Key {
            index,
            key: raw_key.clone(),
            source,
        })?;
        objects.push(S3ObjectEvent {
            event_name: record.event_name.ok_or(missing("eventName"))?,
            event_time: record.event_time,
            region: record.aws_region,
            bucket,
            key,
            size: object.size,
            etag: object.etag,
            version_id: object.version_id,
            sequencer: object.sequencer,
        });
    }
    Ok(S3Notification::Objects(objects))
}

/// S3 notifications from an SQS body, delivered directly or wrapped by SNS.
pub fn s3_notification_from_sqs_body(body: Option<&str>) -> Result<S3Notification, EnvelopeError> {
    match open_sqs_body(body)? {
        SqsPayload::Message { message, .. } => parse_s3_notification(&message),
        SqsPayload::SnsControl { kind, .. } => Ok(S3Notification::SnsControl { kind }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsEvent;

    fn fixture(name: &str) -> SqsEvent {
        let path = format!(
            "{}/../../events/envelopes/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn body(event: &SqsEvent, i: usize) -> Option<&str> {
        event.records[i].body.as_deref()
    }

    #[test]
    fn sns_wrapped_notification_is_unwrapped_with_metadata() {
        let ev = fixture("sqs-sns-notification.json");
        match open_sqs_body(body(&ev, 0)).unwrap() {
            SqsPayload::Message { message, sns } => {
                let inner: Value = serde_json::from_str(&message).unwrap();
                assert_eq!(inner["showId"], "show-123");
                let sns = sns.expect("SNS metadata");
                assert_eq!(sns.message_id, "95df01b4-ee98-5cb9-9903-4c221d41eb5e");
                assert_eq!(
                    sns.topic_arn.as_deref(),
                    Some("arn:aws:sns:us-east-1:123456789012:catalog-changes")
                );
                assert_eq!(sns.timestamp.as_deref(), Some("2026-11-22T01:02:03.456Z"));
                assert_eq!(
                    sns.attributes.get("changeType").map(String::as_str),
                    Some("updated")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn raw_delivery_body_is_the_message() {
        let ev = fixture("sqs-raw-notification.json");
        match open_sqs_body(body(&ev, 0)).unwrap() {
            SqsPayload::Message { message, sns } => {
                assert!(sns.is_none());
                assert_eq!(message, body(&ev, 0).unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn subscription_confirmation_is_control_traffic() {
        let ev = fixture("sqs-sns-subscription-confirmation.json");
        assert!(matches!(
            open_sqs_body(body(&ev, 0)).unwrap(),
            SqsPayload::SnsControl { ref kind, .. } if kind == "SubscriptionConfirmation"
        ));
    }

    #[test]
    fn real_s3_event_with_identity_fields_parses_and_decodes_keys() {
        let ev = fixture("sqs-s3-event.json");
        let S3Notification::Objects(objects) = s3_notification_from_sqs_body(body(&ev, 0)).unwrap()
        else {
            panic!("expected objects")
        };
        assert_eq!(objects.len(), 1);
        let o = &objects[0];
        assert_eq!(o.bucket, "ferrolake-transformed");
        assert_eq!(o.key, "events/dt=2026-11-22/hour=01/red flower+1.json");
        assert_eq!(o.event_name, "ObjectCreated:Put");
        assert_eq!(o.size, Some(1024));
        assert_eq!(o.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
    }

    #[test]
    fn moto_s3_event_without_identity_fields_parses() {
        let ev = fixture("sqs-s3-event-moto.json");
        let S3Notification::Objects(objects) = s3_notification_from_sqs_body(body(&ev, 0)).unwrap()
        else {
            panic!("expected objects")
        };
        assert_eq!(objects[0].key, "in/my file+x.json");
        assert_eq!(objects[0].sequencer, None);
    }

    #[test]
    fn sns_wrapped_s3_event_parses() {
        let ev = fixture("sqs-sns-s3-event.json");
        let S3Notification::Objects(objects) = s3_notification_from_sqs_body(body(&ev, 0)).unwrap()
        else {
            panic!("expected objects")
        };
        assert_eq!(objects[0].key, "shows/dt=2026-11-22/café ünïcode.json");
    }

    #[test]
    fn s3_test_event_is_recognised_direct_and_via_sns() {
        let ev = fixture("sqs-s3-test-event.json");
        for i in 0..ev.records.len() {
            assert_eq!(
                s3_notification_from_sqs_body(body(&ev, i)).unwrap(),
                S3Notification::TestEvent {
                    bucket: Some("ferrolake-transformed".into())
                },
                "record {i}"
            );
        }
    }

    #[test]
    fn key_decoding_is_form_style() {
        assert_eq!(decode_s3_key("a+b%2Bc%2Fd").unwrap(), "a b+c/d");
        assert_eq!(decode_s3_key("caf%C3%A9").unwrap(), "café");
        assert_eq!(decode_s3_key("plain/key.json").unwrap(), "plain/key.json");
        assert_eq!(
            decode_s3_key("bad%2").unwrap_err(),
            KeyDecodeError::BadEscape { position: 3 }
        );
        assert_eq!(
            decode_s3_key("bad%zz").unwrap_err(),
            KeyDecodeError::BadEscape { position: 3 }
        );
        assert_eq!(decode_s3_key("%FF").unwrap_err(), KeyDecodeError::NotUtf8);
    }

    #[test]
    fn every_bad_body_gets_an_error_that_names_the_problem() {
        let ev = fixture("sqs-bad-bodies.json");
        let expected = [
            ("empty", "message body is empty"),
            ("not-json", "S3 event notification is not valid JSON"),
            ("no-records", "no `Records` array"),
            (
                "record-without-key",
                "S3 event record 0 has no `s3.object.key`",
            ),
            (
                "record-without-bucket",
                "S3 event record 0 has no `s3.bucket.name`",
            ),
            ("bad-key-escape", "undecodable object key \"bad%zzkey\""),
            (
                "sns-without-message",
                "SNS notification envelope has no string field `Message`",
            ),
            (
                "records-not-array",
                "S3 event notification is not valid JSON",
            ),
        ];
        assert_eq!(ev.records.len(), expected.len());
        for (record, (id, text)) in ev.records.iter().zip(expected) {
            assert_eq!(record.message_id.as_deref(), Some(id));
            let err = s3_notification_from_sqs_body(record.body.as_deref()).unwrap_err();
            assert!(err.to_string().contains(text), "{id}: {err}");
        }
    }

    #[test]
    fn sns_notification_without_message_id_is_an_error() {
        let body =
            r#"{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{}"}"#;
        let err = open_sqs_body(Some(body)).unwrap_err();
        assert!(err.to_string().contains("`MessageId`"), "{err}");
    }

    #[test]
    fn bad_envelope_becomes_poison_with_a_log_line_naming_message_and_reason() {
        use crate::batch::{parse_each, BatchReport, Body, PoisonPolicy};
        use crate::telemetry::JsonLogLayer;
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry()
            .with(JsonLogLayer::new("crawler-trigger", move || writer.clone()));
        let _guard = tracing::subscriber::set_default(subscriber);

        let ev = fixture("sqs-bad-bodies.json");
        let parsed = parse_each(&ev.records, "not a usable S3 event notification", |m| {
            s3_notification_from_sqs_body(m.body.as_deref()).map(Body::Work)
        });
        let metrics = crate::telemetry::Metrics::new("test", false);
        let report = BatchReport::from_verdicts(&ev.records, parsed.verdicts, &metrics);
        let response = report.into_response(PoisonPolicy::DeadLetter);
        assert_eq!(response.batch_item_failures.len(), ev.records.len());

        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let line = lines
            .iter()
            .find(|l| l["messageId"] == "record-without-key")
            .expect("a log line naming the message");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["message"], "poison message");
        assert!(line["reason"].as_str().unwrap().contains("s3.object.key"));
    }
}
