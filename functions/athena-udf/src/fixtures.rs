//! Requests built the way Athena builds them, and responses read back: for tests,
//! benchmarks and the sample events under `events/athena-udf/`.

use crate::ipc::{self, IpcError};
use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};
use serde_json::json;

/// Arrow IPC framing of the request's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// serde v3+: continuation marker, metadata V5 (what Athena sends after our ping).
    Continuation,
    /// serde v1/v2: no continuation marker.
    Legacy,
}

fn framed(base64_message: &str, framing: Framing) -> String {
    match framing {
        Framing::Continuation => base64_message.to_string(),
        Framing::Legacy => {
            use base64::Engine;
            let engine = base64::engine::general_purpose::STANDARD;
            let bytes = engine.decode(base64_message).unwrap_or_default();
            engine.encode(bytes.get(4..).unwrap_or_default())
        }
    }
}

/// A v2+ `UserDefinedFunctionRequest` (compact JSON) calling `method` on `input`.
pub fn udf_request(
    method: &str,
    input: &RecordBatch,
    output: Field,
    framing: Framing,
) -> Result<String, IpcError> {
    let records = if input.num_rows() == 0 {
        String::new()
    } else {
        framed(&ipc::to_base64(&ipc::encode_batch(input)?), framing)
    };
    Ok(json!({
        "@type": "UserDefinedFunctionRequest",
        "identity": {"id": "UNKNOWN", "principal": "UNKNOWN", "account": "123456789012",
                     "arn": "arn:aws:iam::123456789012:user/analyst", "tags": {}, "groups": [],
                     "configOptions": {}},
        "inputRecords": {"aId": "request", "schema": framed(&ipc::encode_schema(&input.schema()), framing),
                         "records": records},
        "outputSchema": framed(&ipc::encode_schema(&Schema::new(vec![output])), framing),
        "methodName": method,
        "functionType": "SCALAR",
    })
    .to_string())
}

/// A `PingRequest` as Athena sends it.
pub fn ping_request(catalog: &str, query_id: &str) -> String {
    json!({
        "@type": "PingRequest",
        "identity": {"id": "UNKNOWN", "principal": "UNKNOWN", "account": "123456789012",
                     "arn": "arn:aws:iam::123456789012:user/analyst", "tags": {}, "groups": [],
                     "configOptions": {}},
        "catalogName": catalog,
        "queryId": query_id,
    })
    .to_string()
}

/// The result batch of a `UserDefinedFunctionResponse`.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("response is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("response has no {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Ipc(#[from] IpcError),
}

pub fn decode_response(json: &str) -> Result<RecordBatch, ResponseError> {
    let value: serde_json::Value = serde_json::from_str(json)?;
    let block = &value["records"];
    let schema = block["schema"]
        .as_str()
        .ok_or(ResponseError::Missing("records.schema"))?;
    let records = block["records"]
        .as_str()
        .ok_or(ResponseError::Missing("records.records"))?;
    let schema = ipc::decode_schema("records.schema", schema)?;
    Ok(ipc::decode_batch(
        "records.records",
        records,
        ipc::schema_ref(schema),
    )?)
}
