//! Requests built the way Athena builds them, and responses read back: for tests,
//! benchmarks and the sample events under `events/athena-udf/`.

use crate::ipc::{self, IpcError};
use crate::udf::{
    ArrayOf, Bigint, Boolean, Date, Decimal, DecimalValue, Double, Integer, Real, Registry, Row,
    RowRef, RowValue, Smallint, Timestamp, Tinyint, UdfError, Varbinary, Varchar,
};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, ListArray, RecordBatch,
    StringArray, StructArray,
};
use arrow_schema::{DataType, Fields};
use arrow_schema::{Field, Schema};
use serde_json::json;
use std::sync::Arc;

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
        std::sync::Arc::new(schema),
    )?)
}

/// One column per Athena type (BOOLEAN … ROW), three rows each with a NULL in the middle.
pub fn type_matrix() -> Vec<(&'static str, ArrayRef)> {
    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let mut strings = ListBuilder::new(StringBuilder::new());
    strings.append_value([Some("a"), None, Some("ü")]);
    strings.append_null();
    strings.append_value([] as [Option<&str>; 0]);
    let row_fields = Fields::from(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]);
    let row = StructArray::try_new(
        row_fields,
        vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
            Arc::new(StringArray::from(vec![Some("x"), Some("y"), None])),
        ],
        Some(vec![true, false, true].into()),
    )
    .unwrap();
    vec![
        (
            "boolean",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
        (
            "tinyint",
            Arc::new(Int8Array::from(vec![Some(-128), None, Some(127)])),
        ),
        (
            "smallint",
            Arc::new(Int16Array::from(vec![Some(i16::MIN), None, Some(7)])),
        ),
        (
            "integer",
            Arc::new(Int32Array::from(vec![Some(i32::MAX), None, Some(-1)])),
        ),
        (
            "bigint",
            Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(42)])),
        ),
        (
            "real",
            Arc::new(Float32Array::from(vec![Some(1.5), None, Some(-0.25)])),
        ),
        (
            "double",
            Arc::new(Float64Array::from(vec![Some(1.1), None, Some(f64::MAX)])),
        ),
        (
            "decimal",
            Arc::new(
                Decimal128Array::from(vec![Some(12345), None, Some(-99999999)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        (
            "varchar",
            Arc::new(StringArray::from(vec![Some("héllo"), None, Some("")])),
        ),
        (
            "varbinary",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\xff"[..]),
                None,
                Some(&b""[..]),
            ])),
        ),
        (
            "date",
            Arc::new(Date32Array::from(vec![
                Some(crate::udf::convert::days_from_date(date(2026, 11, 22))),
                None,
                Some(-1),
            ])),
        ),
        (
            "timestamp",
            Arc::new(Date64Array::from(vec![
                Some(1_763_800_000_123),
                None,
                Some(-1),
            ])),
        ),
        (
            "array_integer",
            Arc::new(ListArray::from_iter_primitive::<
                arrow_array::types::Int32Type,
                _,
                _,
            >(vec![
                Some(vec![Some(1), None, Some(3)]),
                None,
                Some(vec![]),
            ])),
        ),
        ("array_varchar", Arc::new(strings.finish())),
        ("row", Arc::new(row)),
    ]
}

fn echo<T>(v: Option<T>) -> Option<T> {
    v
}
fn echo_str(v: Option<&str>) -> Option<String> {
    v.map(String::from)
}
fn echo_bytes(v: Option<&[u8]>) -> Option<Vec<u8>> {
    v.map(<[u8]>::to_vec)
}
fn echo_strings(v: Option<Vec<Option<&str>>>) -> Option<Vec<Option<String>>> {
    v.map(|items| items.into_iter().map(|s| s.map(String::from)).collect())
}
fn echo_row(v: Option<RowRef<'_>>) -> Result<Option<RowValue>, UdfError> {
    v.map(|r| r.to_value()).transpose()
}

/// `echo(x) -> x`, overloaded for every type of [`type_matrix`] (type-matrix tests).
pub fn register_echo(r: &mut Registry) {
    r.scalar1::<Boolean, Boolean, _, _>("echo", echo::<bool>)
        .scalar1::<Tinyint, Tinyint, _, _>("echo", echo::<i8>)
        .scalar1::<Smallint, Smallint, _, _>("echo", echo::<i16>)
        .scalar1::<Integer, Integer, _, _>("echo", echo::<i32>)
        .scalar1::<Bigint, Bigint, _, _>("echo", echo::<i64>)
        .scalar1::<Real, Real, _, _>("echo", echo::<f32>)
        .scalar1::<Double, Double, _, _>("echo", echo::<f64>)
        .scalar1::<Decimal, Decimal, _, _>("echo", echo::<DecimalValue>)
        .scalar1::<Varchar, Varchar, _, _>("echo", echo_str)
        .scalar1::<Varbinary, Varbinary, _, _>("echo", echo_bytes)
        .scalar1::<Date, Date, _, _>("echo", echo::<chrono::NaiveDate>)
        .scalar1::<Timestamp, Timestamp, _, _>("echo", echo::<chrono::NaiveDateTime>)
        .scalar1::<ArrayOf<Integer>, ArrayOf<Integer>, _, _>("echo", echo::<Vec<Option<i32>>>)
        .scalar1::<ArrayOf<Varchar>, ArrayOf<Varchar>, _, _>("echo", echo_strings)
        .scalar1::<Row, Row, _, _>("echo", echo_row);
}

/// Secret names the sample events use (create them in moto or your account first), under
/// the template's UdfSecretPrefix so the deployed role may read them.
pub const SAMPLE_AES_SECRET: &str = "athena-udf/ferrolake-demo-aes-key";
pub const SAMPLE_PII_SECRET: &str = "athena-udf/ferrolake-demo-pii-key";

/// `events/athena-udf/`: a ping and one request per UDF, as (file stem, JSON).
pub fn sample_events() -> Result<Vec<(String, String)>, IpcError> {
    let varchar = || Field::new("out", DataType::Utf8, true);
    let text = |values: Vec<Option<&str>>| Arc::new(StringArray::from(values)) as ArrayRef;
    let one = |values: Vec<Option<&str>>| {
        RecordBatch::try_from_iter_with_nullable([("0", text(values), true)])
    };
    let two = |values: Vec<Option<&str>>, secret: &str| {
        let secrets = vec![Some(secret); values.len()];
        RecordBatch::try_from_iter_with_nullable([
            ("0", text(values), true),
            ("1", text(secrets), true),
        ])
    };
    let arrow = |e: arrow_schema::ArrowError| IpcError::Encode(e);
    let ua_row = crate::library::text::user_agent_type();
    let requests: Vec<(&str, RecordBatch, Field)> = vec![
        ("compress", one(vec![Some("StringToBeCompressed"), None]).map_err(arrow)?, varchar()),
        (
            "decompress",
            one(vec![Some("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==")]).map_err(arrow)?,
            varchar(),
        ),
        ("encrypt", two(vec![Some("jane@example.com"), None], SAMPLE_AES_SECRET).map_err(arrow)?, varchar()),
        (
            "decrypt",
            two(vec![Some("G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg==")], SAMPLE_AES_SECRET)
                .map_err(arrow)?,
            varchar(),
        ),
        ("hash_pii", two(vec![Some("jane@example.com"), None], SAMPLE_PII_SECRET).map_err(arrow)?, varchar()),
        (
            "parse_user_agent",
            one(vec![
                Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"),
                None,
            ])
            .map_err(arrow)?,
            Field::new("out", ua_row, true),
        ),
        ("mask_email", one(vec![Some("jane.doe@example.com"), Some("nope")]).map_err(arrow)?, varchar()),
        ("anonymize_ip", one(vec![Some("203.0.113.77"), Some("2001:db8:abcd:12::1")]).map_err(arrow)?, varchar()),
        (
            "flatten_json",
            one(vec![Some(r#"{"User":{"Id":7,"Tags":["a","b"]},"price":19.90}"#)]).map_err(arrow)?,
            varchar(),
        ),
        (
            "detect_language",
            one(vec![Some("Der schnelle braune Fuchs springt über den faulen Hund"), Some("The quick brown fox jumps over the lazy dog")])
                .map_err(arrow)?,
            varchar(),
        ),
    ];
    let mut events = vec![(
        "ping".to_string(),
        ping_request("lambda:ferrolake-athena-udf", "sample-query-id"),
    )];
    for (method, input, output) in requests {
        events.push((
            method.to_string(),
            udf_request(method, &input, output, Framing::Continuation)?,
        ));
    }
    Ok(events)
}
