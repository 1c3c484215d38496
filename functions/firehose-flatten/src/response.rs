//! The Firehose transformation response: every record's result, written as JSON record by
//! record ([`ResponseWriter`]) with exact size accounting against Lambda's response limit.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The exact strings Firehose accepts in `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

impl RecordResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordResult::Ok => "Ok",
            RecordResult::Dropped => "Dropped",
            RecordResult::ProcessingFailed => "ProcessingFailed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMetadata {
    #[serde(rename = "partitionKeys")]
    pub partition_keys: BTreeMap<String, String>,
}

/// A response record's `data` as the JSON string it was written as (in [`ParsedResponse`]).
#[derive(Debug, Clone)]
pub struct Data(Box<serde_json::value::RawValue>);

impl Data {
    /// Any text, escaped as JSON needs.
    pub fn text(text: &str) -> Self {
        Self(serde_json::value::to_raw_value(text).expect("serializing a str cannot fail"))
    }

    /// The string value (unescaped).
    pub fn to_text(&self) -> String {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for Data {}

impl Serialize for Data {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(Self)
    }
}

/// One record of a response, as read back from its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRecord {
    pub record_id: String,
    pub result: RecordResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ResponseMetadata>,
}

/// A response read back from its JSON (tests, tools).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedResponse {
    pub records: Vec<ResponseRecord>,
}

/// The transformation response, held as the JSON Lambda returns: written record by record
/// ([`ResponseWriter`]), so the records' data is never held twice and the size is exact.
#[derive(Debug, Clone)]
pub struct FirehoseResponse(String);

impl FirehoseResponse {
    pub fn json(&self) -> &str {
        &self.0
    }

    /// The response's records, parsed back.
    pub fn parse(&self) -> Result<ParsedResponse, serde_json::Error> {
        serde_json::from_str(self.json())
    }
}

/// The struct name and field through which `serde_json`'s serializer writes a string as
/// raw JSON: what `RawValue`'s own `Serialize` does (`serde_json::raw::TOKEN`, crate-private;
/// the version is pinned by Cargo.lock and `serializes_as_raw_json` fails if it changes).
/// Used so that the response, valid by construction, is not checked again (a scan of
/// several MB, ~6% of the handler's time on a 3 MB batch: `docs/benchmarks.md`) only to be
/// copied out: `RawValue` has no public unchecked constructor.
const RAW_JSON_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for FirehoseResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut raw = serializer.serialize_struct(RAW_JSON_TOKEN, 1)?;
        raw.serialize_field(RAW_JSON_TOKEN, &self.0)?;
        raw.end()
    }
}

/// A record's `data` to write into a response.
#[derive(Debug, Clone, Copy)]
pub enum ResponseData<'a> {
    /// These bytes, base64-encoded.
    Base64Of(&'a [u8]),
    /// This text, escaped as JSON needs.
    Text(&'a str),
}

impl ResponseData<'_> {
    /// Serialized length without the two quotes.
    pub fn content_len(&self) -> usize {
        match self {
            Self::Base64Of(bytes) => base64_len(bytes.len()),
            Self::Text(text) => json_string_len(text) - 2,
        }
    }
}

/// Writes a response's JSON record by record, exactly as `serde_json` would serialize the
/// same [`ParsedResponse`] (so [`record_size`] predicts every record's bytes). Base64 is
/// encoded straight into the response: no string per record.
#[derive(Debug)]
pub struct ResponseWriter {
    json: String,
}

impl ResponseWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut json = String::with_capacity(bytes.max(ENVELOPE_BYTES));
        json.push_str("{\"records\":[");
        Self { json }
    }

    /// Append one record.
    pub fn push(
        &mut self,
        record_id: &str,
        result: RecordResult,
        data: Option<ResponseData>,
        keys: Option<&BTreeMap<String, String>>,
    ) {
        let json = &mut self.json;
        // After the first record, the last byte is its `}`.
        if !json.ends_with('[') {
            json.push(',');
        }
        json.push_str("{\"recordId\":");
        push_json_string(json, record_id);
        json.push_str(",\"result\":\"");
        json.push_str(result.as_str());
        json.push('"');
        match data {
            None => {}
            Some(ResponseData::Base64Of(bytes)) => {
                json.push_str(",\"data\":\"");
                base64_simd::STANDARD.encode_append(bytes, json);
                json.push('"');
            }
            Some(ResponseData::Text(text)) => {
                json.push_str(",\"data\":");
                push_json_string(json, text);
            }
        }
        if let Some(keys) = keys {
            json.push_str(",\"metadata\":{\"partitionKeys\":{");
            for (i, (key, value)) in keys.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                push_json_string(json, key);
                json.push(':');
                push_json_string(json, value);
            }
            json.push_str("}}");
        }
        json.push('}');
    }

    /// The response's size in bytes so far, closed.
    pub fn size(&self) -> usize {
        self.json.len() + 2
    }

    /// Close the JSON. Every piece is a fixed literal, base64, or text escaped as
    /// serde_json escapes it, so it is valid by construction: `response_writer_matches_serde`
    /// proves it byte-identical to serde_json's output over arbitrary ids, keys and text.
    pub fn finish(mut self) -> FirehoseResponse {
        self.json.push_str("]}");
        FirehoseResponse(self.json)
    }
}

/// `text` as a JSON string, escaped as `serde_json` does (ids and keys are mostly plain).
fn push_json_string(json: &mut String, text: &str) {
    if is_plain(text) {
        json.push('"');
        json.push_str(text);
        json.push('"');
    } else {
        json.push_str(&serde_json::to_string(text).expect("serializing a str cannot fail"));
    }
}

/// Nothing in `text` needs escaping in JSON.
fn is_plain(text: &str) -> bool {
    // Branch-free within each chunk, so that it compiles to vector compares: every record
    // id is checked, twice (size budget and writing).
    text.as_bytes().chunks(32).all(|chunk| {
        !chunk.iter().fold(false, |special, &b| {
            special | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    })
}

/// Lambda's hard limit for a synchronous response (6 MiB + 100 bytes).
pub const LAMBDA_RESPONSE_LIMIT: usize = 6_291_556;

/// `{"records":[` + `]}`
pub const ENVELOPE_BYTES: usize = 14;

/// Serialized length of `s` as a JSON string (as `serde_json` escapes it).
pub fn json_string_len(s: &str) -> usize {
    // Ids and base64 are plain: one scan, no per-byte sum.
    if is_plain(s) {
        return s.len() + 2;
    }
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Exact serialized size of one response record (as `serde_json` writes it).
pub fn record_size(
    record_id: &str,
    result: RecordResult,
    data_len: Option<usize>,
    keys: Option<&BTreeMap<String, String>>,
) -> usize {
    record_size_for(json_string_len(record_id), result, data_len, keys)
}

/// [`record_size`] with the record id's JSON length already known.
pub fn record_size_for(
    id_json_len: usize,
    result: RecordResult,
    data_len: Option<usize>,
    keys: Option<&BTreeMap<String, String>>,
) -> usize {
    // `{"recordId":` (12) <id> `,"result":"` (11) <r> `"}` (2)
    let mut size = 12 + id_json_len + 11 + result.as_str().len() + 1 + 1;
    if let Some(len) = data_len {
        // ,"data":"<b64>"
        size += 9 + len + 1;
    }
    if let Some(keys) = keys {
        // ,"metadata":{"partitionKeys":{...}}
        let mut map = 2;
        for (i, (k, v)) in keys.iter().enumerate() {
            map += usize::from(i > 0) + json_string_len(k) + 1 + json_string_len(v);
        }
        size += 12 + 17 + map + 1;
    }
    size
}

/// Base64 length of `n` bytes (standard, padded).
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_keys() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
        prop::option::of(prop::collection::btree_map(
            "\\PC{0,6}",
            "[\\PC\"\\\\\n\u{1}]{0,8}",
            0..4,
        ))
    }

    /// A record's data in the tests: bytes to base64-encode, or text to escape.
    fn arb_data() -> impl Strategy<Value = Option<Result<Vec<u8>, String>>> {
        prop::option::of(prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Ok),
            "[\\PC\"\\\\\n\u{1}]{0,24}".prop_map(Err),
        ])
    }

    proptest! {
        /// The writer's JSON is what serde_json writes for the same records, and
        /// `record_size` predicts its length exactly.
        #[test]
        fn response_writer_matches_serde(
            records in prop::collection::vec(("[\\PC\"\\\\\u{7}]{0,20}", 0..3u8, arb_data(), arb_keys()), 0..6)
        ) {
            let mut writer = ResponseWriter::with_capacity(0);
            let mut view = ParsedResponse::default();
            let mut expected = ENVELOPE_BYTES;
            for (i, (id, r, data, keys)) in records.iter().enumerate() {
                expected += usize::from(i > 0);
                let result = [RecordResult::Ok, RecordResult::Dropped, RecordResult::ProcessingFailed][*r as usize];
                let data = data.as_ref().map(|d| match d {
                    Ok(bytes) => ResponseData::Base64Of(bytes),
                    Err(text) => ResponseData::Text(text),
                });
                expected += record_size(id, result, data.as_ref().map(ResponseData::content_len), keys.as_ref());
                writer.push(id, result, data, keys.as_ref());
                prop_assert_eq!(writer.size(), expected);
                view.records.push(ResponseRecord {
                    record_id: id.clone(),
                    result,
                    data: data.map(|d| match d {
                        ResponseData::Base64Of(bytes) => Data::text(&base64_simd::STANDARD.encode_to_string(bytes)),
                        ResponseData::Text(text) => Data::text(text),
                    }),
                    metadata: keys.clone().map(|partition_keys| ResponseMetadata { partition_keys }),
                });
            }
            let response = writer.finish();
            prop_assert_eq!(response.json().len(), expected);
            prop_assert_eq!(response.json(), serde_json::to_string(&view).unwrap());
            prop_assert_eq!(response.parse().unwrap(), view);
            // What the runtime sends: the same bytes.
            prop_assert_eq!(serde_json::to_string(&response).unwrap(), response.json());
        }
    }

    #[test]
    fn serializes_as_raw_json() {
        let mut writer = ResponseWriter::with_capacity(0);
        writer.push(
            "49\"a",
            RecordResult::Ok,
            Some(ResponseData::Base64Of(b"{}\n")),
            None,
        );
        writer.push(
            "b",
            RecordResult::ProcessingFailed,
            Some(ResponseData::Text("not base64")),
            None,
        );
        let response = writer.finish();
        let expected = r#"{"records":[{"recordId":"49\"a","result":"Ok","data":"e30K"},{"recordId":"b","result":"ProcessingFailed","data":"not base64"}]}"#;
        assert_eq!(response.json(), expected);
        // serde_json writes it verbatim (as it writes a RawValue), not as a struct or string.
        assert_eq!(serde_json::to_vec(&response).unwrap(), expected.as_bytes());
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::from_str::<serde_json::Value>(expected).unwrap()
        );
    }

    #[test]
    fn base64_lengths() {
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(3), 4);
        assert_eq!(base64_len(4), 8);
    }
}
