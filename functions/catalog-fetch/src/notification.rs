//! Catalog change notifications: `{"showId": "...", "changeType": "updated", ...}` — the
//! id and type locations are configurable JSON pointers, tried in order.

use ferrolake_shared::envelope::{open_sqs_body, EnvelopeError, SqsPayload};
use ferrolake_shared::telemetry::rfc3339;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub item_id: String,
    pub change_type: String,
    /// SNS `Timestamp`, else the notification's own time field, else SQS `SentTimestamp`.
    pub notified_at: Option<String>,
    pub sns_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Change(Notification),
    /// SNS subscription traffic: acknowledge.
    Control(String),
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("notification is not a JSON object: {0}")]
    NotJson(String),
    #[error("notification has no item id at {pointers}")]
    NoId { pointers: String },
    #[error("item id at {pointer} is empty or not a string/number")]
    BadId { pointer: String },
    /// The id is the Kinesis partition key, which PutRecords limits to 256 characters
    /// (a longer one fails the whole request).
    #[error("item id at {pointer} is {chars} characters; it is the Kinesis partition key, which takes at most {MAX_ITEM_ID_CHARS}")]
    IdTooLong { pointer: String, chars: usize },
}

/// Kinesis PutRecords: a partition key is 1–256 Unicode characters
/// (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecordsRequestEntry.html).
pub const MAX_ITEM_ID_CHARS: usize = 256;

/// Where to find things in a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationFields {
    pub id_pointers: Vec<String>,
    pub type_pointers: Vec<String>,
    pub time_pointers: Vec<String>,
    pub default_change_type: String,
}

impl Default for NotificationFields {
    fn default() -> Self {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Self {
            id_pointers: p(&["/itemId", "/showId", "/id"]),
            type_pointers: p(&["/changeType", "/type", "/eventType"]),
            time_pointers: p(&["/occurredAt", "/timestamp", "/time"]),
            default_change_type: "updated".into(),
        }
    }
}

/// The first of `pointers` that names a non-null value, and that value.
fn first<'p, 'v>(value: &'v Value, pointers: &'p [String]) -> Option<(&'p String, &'v Value)> {
    pointers
        .iter()
        .find_map(|p| value.pointer(p).filter(|v| !v.is_null()).map(|v| (p, v)))
}

/// Parse an SQS message body (SNS-wrapped or raw) into a change notification.
pub fn parse(
    body: Option<&str>,
    sent_timestamp_ms: Option<&str>,
    fields: &NotificationFields,
) -> Result<Parsed, NotificationError> {
    let (message, sns) = match open_sqs_body(body)? {
        SqsPayload::SnsControl { kind, .. } => return Ok(Parsed::Control(kind)),
        SqsPayload::Message { message, sns } => (message, sns),
    };
    let value: Value =
        serde_json::from_str(&message).map_err(|e| NotificationError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(NotificationError::NotJson(
            "the top level is not an object".into(),
        ));
    }
    let Some((id_pointer, id)) = first(&value, &fields.id_pointers) else {
        return Err(NotificationError::NoId {
            pointers: fields.id_pointers.join(", "),
        });
    };
    let item_id = match id {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(NotificationError::BadId {
                pointer: id_pointer.clone(),
            })
        }
    };
    let chars = item_id.chars().count();
    if chars > MAX_ITEM_ID_CHARS {
        return Err(NotificationError::IdTooLong {
            pointer: id_pointer.clone(),
            chars,
        });
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let change_type = first(&value, &fields.type_pointers)
        .and_then(|(_, v)| text(v))
        .map(|t| t.to_ascii_lowercase())
        .unwrap_or_else(|| fields.default_change_type.clone());
    let sent = sent_timestamp_ms
        .and_then(|ms| ms.parse::<i64>().ok())
        .map(millis_to_rfc3339);
    let notified_at = sns
        .as_ref()
        .and_then(|s| s.timestamp.clone())
        .or_else(|| first(&value, &fields.time_pointers).and_then(|(_, v)| text(v)))
        .or(sent);
    Ok(Parsed::Change(Notification {
        item_id,
        change_type,
        notified_at,
        sns_message_id: sns.map(|s| s.message_id),
    }))
}

pub fn millis_to_rfc3339(ms: i64) -> String {
    rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
}

pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_body(name: &str) -> String {
        let path = format!(
            "{}/../../events/envelopes/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let event: aws_lambda_events::sqs::SqsEvent =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        event.records[0].body.clone().unwrap()
    }

    #[test]
    fn sns_wrapped_notification_with_show_id() {
        let parsed = parse(
            Some(&fixture_body("sqs-sns-notification.json")),
            None,
            &NotificationFields::default(),
        )
        .unwrap();
        assert_eq!(
            parsed,
            Parsed::Change(Notification {
                item_id: "show-123".into(),
                change_type: "updated".into(),
                notified_at: Some("2026-11-22T01:02:03.456Z".into()),
                sns_message_id: Some("95df01b4-ee98-5cb9-9903-4c221d41eb5e".into()),
            })
        );
    }

    #[test]
    fn an_id_longer_than_a_kinesis_partition_key_is_refused_by_name() {
        let fields = NotificationFields::default();
        let ok = "é".repeat(MAX_ITEM_ID_CHARS); // 256 characters, 512 bytes
        assert!(parse(Some(&format!(r#"{{"id": "{ok}"}}"#)), None, &fields).is_ok());
        let long = "x".repeat(MAX_ITEM_ID_CHARS + 1);
        let err = parse(Some(&format!(r#"{{"id": "{long}"}}"#)), None, &fields).unwrap_err();
        assert!(
            err.to_string()
                .contains("item id at /id is 257 characters; it is the Kinesis partition key, which takes at most 256"),
            "{err}"
        );
    }

    #[test]
    fn raw_delivery_with_item_id_numeric_and_custom_pointers() {
        let fields = NotificationFields::default();
        let p = parse(
            Some(r#"{"itemId": 42, "type": "Rescheduled"}"#),
            Some("1795309323456"),
            &fields,
        )
        .unwrap();
        assert_eq!(
            p,
            Parsed::Change(Notification {
                item_id: "42".into(),
                change_type: "rescheduled".into(),
                notified_at: Some("2026-11-22T01:02:03.456Z".into()),
                sns_message_id: None,
            })
        );
        let p = parse(
            Some(r#"{"id": "x", "occurredAt": "2026-11-22T00:00:00Z"}"#),
            None,
            &fields,
        )
        .unwrap();
        let Parsed::Change(n) = p else { panic!() };
        assert_eq!(
            (n.item_id.as_str(), n.change_type.as_str()),
            ("x", "updated")
        );
        assert_eq!(n.notified_at.as_deref(), Some("2026-11-22T00:00:00Z"));
        let custom = NotificationFields {
            id_pointers: vec!["/show/ref".into()],
            ..Default::default()
        };
        let Parsed::Change(n) = parse(Some(r#"{"show": {"ref": "s-9"}}"#), None, &custom).unwrap()
        else {
            panic!()
        };
        assert_eq!(n.item_id, "s-9");
    }

    #[test]
    fn malformed_notifications_are_errors_naming_the_problem() {
        let fields = NotificationFields::default();
        let cases = [
            (Some("not json"), "notification is not a JSON object"),
            (Some("[1,2]"), "the top level is not an object"),
            (
                Some(r#"{"name": "no id"}"#),
                "no item id at /itemId, /showId, /id",
            ),
            (Some(r#"{"itemId": ""}"#), "item id at /itemId is empty"),
            (
                Some(r#"{"itemId": {"nested": 1}}"#),
                "item id at /itemId is empty or not a string/number",
            ),
            (None, "message body is empty"),
        ];
        for (body, text) in cases {
            let err = parse(body, None, &fields).unwrap_err().to_string();
            assert!(err.contains(text), "{body:?}: {err}");
        }
    }

    #[test]
    fn subscription_confirmation_is_control() {
        let p = parse(
            Some(&fixture_body("sqs-sns-subscription-confirmation.json")),
            None,
            &NotificationFields::default(),
        )
        .unwrap();
        assert_eq!(p, Parsed::Control("SubscriptionConfirmation".into()));
    }
}
