//! The Arrow half of the protocol: each base64 string is one encapsulated IPC message
//! (a schema, or a record batch with its body) — no stream EOS, no dictionaries, no
//! compression. Both framings are read (continuation marker `FF FF FF FF` and legacy);
//! we write what the Java SDK writes for serde v3+: continuation, metadata V5, 8-byte
//! alignment, uncompressed.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{CompressionContext, DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_ipc::MetadataVersion;
use arrow_schema::{ArrowError, Schema, SchemaRef};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ferrolake_shared::batch::catch_panic_sync;
use std::collections::HashMap;

/// Base64 of the Arrow messages as the SDK's Jackson writes them: standard alphabet, no
/// whitespace, padding optional. (The UDF library's values — compressed text, ciphertexts,
/// keys — decode with `library::JAVA_DECODER`, which also ignores non-zero bits after the
/// last byte, as `java.util.Base64.getDecoder()` does.)
pub(crate) const JAVA_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const CONTINUATION: [u8; 4] = [0xff; 4];

/// A malformed message; `what` names the request field (e.g. `inputRecords.records`).
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("{what} is not valid base64: {source}")]
    Base64 {
        what: &'static str,
        #[source]
        source: base64::DecodeError,
    },
    #[error("{what} is not an Arrow IPC {expected} message: {reason}")]
    Message {
        what: &'static str,
        expected: &'static str,
        reason: String,
    },
    #[error("{what} could not be decoded: {source}")]
    Arrow {
        what: &'static str,
        #[source]
        source: ArrowError,
    },
    #[error("the response batch could not be encoded: {0}")]
    Encode(#[source] ArrowError),
}

fn decode_base64(what: &'static str, text: &str) -> Result<Vec<u8>, IpcError> {
    JAVA_BASE64
        .decode(text)
        .map_err(|source| IpcError::Base64 { what, source })
}

/// Decode a schema message (either framing).
pub fn decode_schema(what: &'static str, base64: &str) -> Result<Schema, IpcError> {
    let bytes = decode_base64(what, base64)?;
    if bytes.len() < 8 {
        return Err(IpcError::Message {
            what,
            expected: "schema",
            reason: format!("{} bytes is too short for a message", bytes.len()),
        });
    }
    // arrow-ipc panics (unimplemented!/unwrap) on some malformed schemas, e.g. a field of
    // type NONE (found by fuzzing): a bad request must be an error naming the field.
    catch_panic_sync(|| arrow_ipc::convert::try_schema_from_ipc_buffer(&bytes))
        .map_err(|panic| IpcError::Message {
            what,
            expected: "schema",
            reason: format!("arrow-ipc cannot read it ({panic})"),
        })?
        .map_err(|source| IpcError::Arrow { what, source })
}

/// Decode a record-batch message (either framing) against `schema`; `""` is zero rows.
pub fn decode_batch(
    what: &'static str,
    base64: &str,
    schema: SchemaRef,
) -> Result<RecordBatch, IpcError> {
    if base64.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    let bytes = decode_base64(what, base64)?;
    let malformed = |reason: String| IpcError::Message {
        what,
        expected: "record batch",
        reason,
    };
    let (prefix, len_at): (usize, usize) = if bytes.starts_with(&CONTINUATION) {
        (8, 4)
    } else {
        (4, 0)
    };
    let meta_len = bytes
        .get(len_at..len_at + 4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| malformed(format!("{} bytes is too short", bytes.len())))?;
    let meta_end = usize::try_from(meta_len)
        .ok()
        .and_then(|l| prefix.checked_add(l))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            malformed(format!(
                "metadata length {meta_len} does not fit in {} bytes",
                bytes.len()
            ))
        })?;
    // One allocation: the flatbuffer header and the body are views into the same buffer.
    let bytes = Buffer::from(bytes);
    let message = arrow_ipc::root_as_message(&bytes[prefix..meta_end])
        .map_err(|e| malformed(format!("invalid flatbuffer: {e}")))?;
    let header = message.header_as_record_batch().ok_or_else(|| {
        malformed(format!(
            "header is {:?}, not RecordBatch",
            message.header_type()
        ))
    })?;
    if header.compression().is_some() {
        return Err(malformed(
            "the body is compressed; Athena UDF batches are never compressed".into(),
        ));
    }
    let body_len = usize::try_from(message.bodyLength()).unwrap_or(usize::MAX);
    if body_len > bytes.len() - meta_end {
        return Err(malformed(format!(
            "body is {} bytes, the message says {body_len}",
            bytes.len() - meta_end
        )));
    }
    let version = message.version();
    let body = bytes.slice_with_length(meta_end, body_len);
    catch_panic_sync(|| {
        arrow_ipc::reader::read_record_batch(&body, header, schema, &HashMap::new(), None, &version)
    })
    .map_err(|panic| malformed(format!("arrow-ipc cannot read it ({panic})")))?
    .map_err(|source| IpcError::Arrow { what, source })
}

fn write_options() -> IpcWriteOptions {
    // Infallible for these constants (alignment 8, modern framing with V5).
    IpcWriteOptions::try_new(8, false, MetadataVersion::V5).unwrap_or_default()
}

/// Encode a schema message (continuation framing, V5, 8-byte aligned) as base64.
pub fn encode_schema(schema: &Schema) -> String {
    let options = write_options();
    let mut tracker = DictionaryTracker::new(false);
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut tracker,
        &options,
    );
    let mut out = Vec::with_capacity(encoded.ipc_message.len() + 8);
    // Writing to a Vec cannot fail; the only error is a misaligned body, and schemas have none.
    let _ = arrow_ipc::writer::write_message(&mut out, encoded, &options);
    STANDARD.encode(out)
}

/// Encode a record-batch message (continuation framing, V5, 8-byte aligned, uncompressed).
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, IpcError> {
    let options = write_options();
    let mut tracker = DictionaryTracker::new(false);
    let (dictionaries, encoded) = IpcDataGenerator::default()
        .encode(
            batch,
            &mut tracker,
            &options,
            &mut CompressionContext::default(),
        )
        .map_err(IpcError::Encode)?;
    if !dictionaries.is_empty() {
        return Err(IpcError::Encode(ArrowError::IpcError(
            "dictionary-encoded output cannot be sent to Athena".into(),
        )));
    }
    let mut out = Vec::with_capacity(encoded.ipc_message.len() + encoded.arrow_data.len() + 16);
    arrow_ipc::writer::write_message(&mut out, encoded, &options).map_err(IpcError::Encode)?;
    Ok(out)
}

/// Base64 of an encoded batch (padded standard alphabet, as Jackson writes binary).
pub fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int32Array};
    use arrow_schema::{DataType, Field};
    use std::sync::Arc;

    #[test]
    fn batches_round_trip_in_both_framings() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]))],
        )
        .unwrap();
        let modern = encode_batch(&batch).unwrap();
        assert_eq!(&modern[..4], &CONTINUATION);
        assert_eq!(modern.len() % 8, 0);
        // Legacy framing: the same message without the continuation marker.
        let legacy = modern[4..].to_vec();
        for bytes in [modern, legacy] {
            let back = decode_batch("t", &to_base64(&bytes), schema.clone()).unwrap();
            assert_eq!(back, batch);
        }
        let schema_back = decode_schema("s", &encode_schema(&schema)).unwrap();
        assert_eq!(&schema_back, schema.as_ref());
    }

    #[test]
    fn empty_records_are_zero_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
        let batch = decode_batch("t", "", schema).unwrap();
        assert_eq!(batch.num_rows(), 0);
        assert_eq!(batch.column(0).len(), 0);
    }

    /// Found by `make fuzz-smoke` (athena_request): a schema field of type NONE made
    /// arrow-ipc panic (unimplemented!) instead of returning an error.
    #[test]
    fn fuzz_regression_schema_field_of_type_none_is_an_error() {
        let request: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/fuzz/schema-field-type-none.json"))
                .unwrap();
        let schemas = [
            (
                "inputRecords.schema",
                request["inputRecords"]["schema"].as_str().unwrap(),
            ),
            ("outputSchema", request["outputSchema"].as_str().unwrap()),
        ];
        let errors: Vec<String> = schemas
            .iter()
            .filter_map(|(what, b64)| decode_schema(what, b64).err().map(|e| e.to_string()))
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("arrow-ipc cannot read it")
                    && e.contains("Type NONE not supported")),
            "{errors:?}"
        );
    }

    #[test]
    fn malformed_messages_name_the_field_and_the_problem() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, true)]));
        let cases = [
            ("%%%", "inputRecords.records is not valid base64"),
            ("AAAA", "inputRecords.records is not an Arrow IPC record batch message"),
            (
                "/////wAQAAA=",
                "inputRecords.records is not an Arrow IPC record batch message: metadata length 4096 does not fit",
            ),
        ];
        for (text, expected) in cases {
            let err = decode_batch("inputRecords.records", text, schema.clone())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{text}: {err}");
        }
        // A schema message where a batch is expected.
        let schema_msg = encode_schema(&schema);
        let err = decode_batch("inputRecords.records", &schema_msg, schema.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not RecordBatch"), "{err}");
        // A truncated batch body.
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let bytes = encode_batch(&batch).unwrap();
        let err = decode_batch("r", &to_base64(&bytes[..bytes.len() - 8]), schema.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("body is"), "{err}");
        let err = decode_schema("outputSchema", "AAAA")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("outputSchema is not an Arrow IPC schema message"),
            "{err}"
        );
        let err = decode_schema("outputSchema", &to_base64(&bytes))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("outputSchema could not be decoded"),
            "{err}"
        );
    }
}
