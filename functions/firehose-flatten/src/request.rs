//! The Firehose transformation request. Its types are lenient on purpose
//! (`aws_lambda_events` is strict: one fractional timestamp or string subsequence number
//! fails the whole batch before the handler runs): everything but the record list is
//! optional and loosely typed, and `data` is base64-decoded as the event is parsed, an odd
//! value failing only its record.

use crate::response::ResponseData;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent {
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default)]
    pub delivery_stream_arn: Option<String>,
    /// Present only when the delivery stream reads a Kinesis Data Stream.
    #[serde(default)]
    pub source_kinesis_stream_arn: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub records: Vec<FirehoseRecord>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    #[serde(default)]
    pub record_id: String,
    /// Epoch milliseconds; accepted as integer, fraction or numeric string.
    #[serde(default)]
    pub approximate_arrival_timestamp: Option<Value>,
    /// The record's bytes, base64-decoded while the event is parsed; anything but base64
    /// fails only this record.
    #[serde(default)]
    pub data: RecordData,
    #[serde(default)]
    pub kinesis_record_metadata: Option<Value>,
}

impl FirehoseRecord {
    /// Arrival time in epoch milliseconds, if it can be read.
    pub fn arrival_millis(&self) -> Option<i64> {
        millis(self.approximate_arrival_timestamp.as_ref()?)
    }

    /// The Kinesis partition key of a record from a Kinesis Data Stream source.
    pub fn partition_key(&self) -> Option<&str> {
        self.kinesis_record_metadata
            .as_ref()?
            .get("partitionKey")?
            .as_str()
    }
}

/// A record's `data`. Decoded as the event is parsed, straight from the request body:
/// no copy of the base64 text is kept (a 6 MB batch is mostly this text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RecordData {
    /// Valid base64: the record's bytes.
    Bytes(Vec<u8>),
    /// A string that is not valid base64, kept as it came (answered with unchanged).
    NotBase64(String),
    /// Missing, null, or not a string.
    #[default]
    NotString,
}

impl RecordData {
    /// `Bytes` if `text` is base64.
    fn decode(text: &str) -> Option<Self> {
        // SIMD base64 (runtime CPU detection: AVX2 on x86_64, NEON on arm64).
        base64_simd::STANDARD
            .decode_to_vec(text)
            .ok()
            .map(Self::Bytes)
    }

    /// The decoded bytes, if `data` was base64.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// Length of the record's `data` as base64 text in a response (no escaping needed for
    /// base64; a `NotBase64` string is measured escaped).
    pub fn base64_text_len(&self) -> Option<usize> {
        self.as_response_data().map(|data| data.content_len())
    }

    /// The record's `data` as it came, for a `ProcessingFailed` answer: the same bytes
    /// (base64 re-encoded) or the same text.
    pub fn as_response_data(&self) -> Option<ResponseData<'_>> {
        match self {
            Self::Bytes(bytes) => Some(ResponseData::Base64Of(bytes)),
            Self::NotBase64(text) => Some(ResponseData::Text(text)),
            Self::NotString => None,
        }
    }
}

impl<'de> Deserialize<'de> for RecordData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RecordDataVisitor)
    }
}

/// Accepts any JSON value, so that a record with odd `data` fails alone, not the event.
struct RecordDataVisitor;

impl<'de> Visitor<'de> for RecordDataVisitor {
    type Value = RecordData;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("base64 text")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<RecordData, E> {
        Ok(RecordData::decode(text).unwrap_or_else(|| RecordData::NotBase64(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<RecordData, E> {
        Ok(RecordData::decode(&text).unwrap_or(RecordData::NotBase64(text)))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RecordData, D::Error> {
        RecordData::deserialize(deserializer)
    }

    fn visit_none<E: de::Error>(self) -> Result<RecordData, E> {
        Ok(RecordData::NotString)
    }

    fn visit_unit<E: de::Error>(self) -> Result<RecordData, E> {
        Ok(RecordData::NotString)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RecordData, E> {
        Ok(RecordData::NotString)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RecordData, E> {
        Ok(RecordData::NotString)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RecordData, E> {
        Ok(RecordData::NotString)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RecordData, E> {
        Ok(RecordData::NotString)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RecordData, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RecordData::NotString)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordData, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RecordData::NotString)
    }
}

fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_event_accepts_odd_fields() {
        let event: FirehoseEvent = serde_json::from_str(
            r#"{"invocationId":"i","records":[
                {"recordId":"a","approximateArrivalTimestamp":1795309323456.5,"data":"e30=",
                 "kinesisRecordMetadata":{"subsequenceNumber":"x","partitionKey":"pk-1","sequenceNumber":"49"}},
                {"recordId":"b","approximateArrivalTimestamp":"1795309323456","data":42},
                {"recordId":"c","unknownField":true},
                {"recordId":"d","data":{"nested":["not", "base64"]}},
                {"recordId":"e","data":["e30="]},
                {"recordId":"f","data":"e3\u0030="},
                {"recordId":"g","data":"not base64!"},
                {"recordId":"h","data":null}
            ]}"#,
        )
        .unwrap();
        assert_eq!(event.records.len(), 8);
        assert_eq!(event.records[3].data, RecordData::NotString);
        assert_eq!(event.records[4].data, RecordData::NotString);
        assert_eq!(
            event.records[5].data,
            RecordData::Bytes(b"{}".to_vec()),
            "JSON escapes are undone before decoding"
        );
        assert_eq!(
            event.records[6].data,
            RecordData::NotBase64("not base64!".into())
        );
        assert_eq!(event.records[6].data.base64_text_len(), Some(11));
        assert_eq!(event.records[7].data, RecordData::NotString);
        assert_eq!(event.records[0].arrival_millis(), Some(1_795_309_323_456));
        assert_eq!(event.records[0].partition_key(), Some("pk-1"));
        assert_eq!(event.records[1].arrival_millis(), Some(1_795_309_323_456));
        assert_eq!(event.records[1].data, RecordData::NotString);
        assert_eq!(event.records[2].data, RecordData::NotString);
        assert_eq!(event.records[0].data, RecordData::Bytes(b"{}".to_vec()));
    }
}
