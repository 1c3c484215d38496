use super::*;
use crate::fixtures::{decode_response, type_matrix, udf_request, Framing};
use crate::udf::*;
use arrow_array::*;
use arrow_schema::{DataType, Field, Schema};
use ferrolake_shared::secrets::SecretError;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

const SAMPLES: &str = include_str!("../../fixtures/athena-java-sdk-samples.json");

fn sample(id: &str) -> Value {
    let all: Value = serde_json::from_str(SAMPLES).unwrap();
    all["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no sample {id}"))
        .clone()
}

/// Secrets from memory; counts reads.
#[derive(Default)]
pub(crate) struct MemorySecrets {
    pub values: Vec<(&'static str, &'static str)>,
    pub reads: AtomicUsize,
}

impl SecretSource for MemorySecrets {
    async fn secret_string(&self, id: &str) -> Result<String, SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.values
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| SecretError::NotAString { id: id.into() })
    }
}

fn explode(v: Option<i32>) -> Option<i32> {
    if v == Some(13) {
        panic!("unlucky row");
    }
    v
}
fn huge(v: Option<i32>) -> Option<String> {
    v.map(|_| "x".repeat(1 << 20))
}

/// The library plus test UDFs: `echo` overloaded for every type, Java's `product`.
fn test_registry() -> Registry {
    let mut r = crate::library::registry();
    r.scalar2::<Integer, Integer, Integer, _, _>("product", |a: Option<i32>, b: Option<i32>| {
        Some(a? * b?)
    })
    .scalar1::<Integer, Integer, _, _>("explode", explode)
    .scalar1::<Integer, Varchar, _, _>("huge", huge);
    crate::fixtures::register_echo(&mut r);
    r
}

fn function() -> AthenaUdf<MemorySecrets> {
    AthenaUdf::new(
        test_registry(),
        MemorySecrets {
            values: vec![("aes", "i5YnyBO4gJKWuIQ+gjuJjcJ/5kUph9pmYFUbW7zf3PE=")],
            ..Default::default()
        },
    )
}

async fn invoke(f: &AthenaUdf<MemorySecrets>, json: &str) -> Result<String, AthenaError> {
    let raw = RawValue::from_string(json.to_string()).unwrap();
    let metrics = Metrics::new("athena-udf", false);
    f.handle(&raw, &metrics).await.map(|r| r.get().to_string())
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
        .unwrap()
}

#[tokio::test]
async fn ping_answers_like_the_java_sdk_for_both_golden_pings() {
    let f = function();
    for id in ["ping_request", "ping_request_forwards_compatible"] {
        let request = sample(id)["json"].to_string();
        let response = invoke(&f, &request).await.unwrap();
        assert_eq!(
            response,
            r#"{"@type":"PingResponse","catalogName":"test-catalog","queryId":"test-query-id","sourceType":"ferrolake","capabilities":24,"serDeVersion":6}"#
        );
    }
}

#[test]
fn every_golden_sample_decodes() {
    // The v2 request: legacy framing, factor1/factor2 int32, one row (2, 3).
    let request = sample("udf_request_v2")["json"].to_string();
    let crate::protocol::Request::Udf(udf) = crate::protocol::parse_request(&request).unwrap()
    else {
        panic!("not a UDF request")
    };
    let schema = ipc::decode_schema("s", &udf.input_records.schema).unwrap();
    assert_eq!(schema.field(0).name(), "factor1");
    assert_eq!(schema.field(1).data_type(), &DataType::Int32);
    let input = ipc::decode_batch("r", &udf.input_records.records, Arc::new(schema)).unwrap();
    assert_eq!(
        input
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap()
            .values(),
        &[2]
    );
    assert_eq!(
        input
            .column(1)
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap()
            .values(),
        &[3]
    );
    let output = ipc::decode_schema("o", udf.output_schema.base64()).unwrap();
    assert_eq!(output.field(0).name(), "product");

    // The v2 response: product = 0, 2, ..., 18.
    let response = decode_response(&sample("udf_response_v2")["json"].to_string()).unwrap();
    let product = response
        .column(0)
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert_eq!(
        product.values().to_vec(),
        (0..10).map(|i| i * 2).collect::<Vec<_>>()
    );

    // The v6 block: continuation framing, col1 = [1.1].
    let block = sample("block_v6_continuation_format")["json"].clone();
    let schema = ipc::decode_schema("s", block["schema"].as_str().unwrap()).unwrap();
    let values =
        ipc::decode_batch("r", block["records"].as_str().unwrap(), Arc::new(schema)).unwrap();
    let col1 = values
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(col1.values(), &[1.1]);

    // The 7-field v6 schema.
    let wide = ipc::decode_schema(
        "s",
        sample("schema_v6_continuation_format_7_fields")["base64"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let names: Vec<_> = wide.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["year", "month", "day", "col2", "col3", "col4", "col5"]
    );
    assert_eq!(wide.field(3).data_type(), &DataType::Utf8);

    // The Lambda error payload shape Athena parses: errorMessage + errorType.
    let error = sample("lambda_function_exception")["json"].clone();
    assert!(error["errorType"].is_string() && error["errorMessage"].is_string());
}

#[tokio::test]
async fn the_java_v2_request_answered_by_product_gives_the_java_value() {
    let f = function();
    let mut request = sample("udf_request_v2")["json"].clone();
    request["methodName"] = "product".into();
    let response = invoke(&f, &request.to_string()).await.unwrap();
    // Java key order, the request's outputSchema echoed, method echoed.
    assert!(response.starts_with(r#"{"@type":"UserDefinedFunctionResponse","records":{"aId":""#));
    let parsed: Value = serde_json::from_str(&response).unwrap();
    assert_eq!(parsed["records"]["schema"], request["outputSchema"]);
    assert_eq!(parsed["methodName"], "product");
    let keys: Vec<_> = parsed["records"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["aId", "schema", "records"]);
    let out = decode_response(&response).unwrap();
    assert_eq!(out.schema().field(0).name(), "product");
    let product = out.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
    assert_eq!(product.iter().collect::<Vec<_>>(), vec![Some(6)]);
    // Our records message: continuation framing, 8-byte aligned.
    let records = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        parsed["records"]["records"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(&records[..4], &[0xff; 4]);
    assert_eq!(records.len() % 8, 0);
}

#[tokio::test]
async fn every_type_round_trips_with_nulls_in_both_framings() {
    let f = function();
    for (name, column) in type_matrix() {
        for framing in [Framing::Continuation, Framing::Legacy] {
            let input = batch(vec![(name, column.clone())]);
            let output = Field::new("out", column.data_type().clone(), true);
            let request = udf_request("echo", &input, output, framing).unwrap();
            let response = invoke(&f, &request)
                .await
                .unwrap_or_else(|e| panic!("{name} {framing:?}: {e}"));
            let out = decode_response(&response).unwrap();
            assert_eq!(out.num_rows(), 3, "{name}");
            assert_eq!(out.column(0).data_type(), column.data_type(), "{name}");
            assert_eq!(
                out.column(0).as_ref(),
                column.as_ref(),
                "{name} {framing:?}"
            );
        }
    }
}

#[tokio::test]
async fn timestamp_units_and_decimal_rescaling_follow_the_declared_output() {
    let f = function();
    let micros = Arc::new(TimestampMicrosecondArray::from(vec![Some(1_500_000), None]));
    let input = batch(vec![("t", micros.clone() as ArrayRef)]);
    let output = Field::new("out", DataType::Date64, true);
    let response = invoke(
        &f,
        &udf_request("echo", &input, output, Framing::Continuation).unwrap(),
    )
    .await
    .unwrap();
    let out = decode_response(&response).unwrap();
    let millis = out
        .column(0)
        .as_any()
        .downcast_ref::<Date64Array>()
        .unwrap();
    assert_eq!(millis.iter().collect::<Vec<_>>(), vec![Some(1_500), None]);

    // DECIMAL(10,2) in, DECIMAL(5,1) declared out: HALF_UP, then a value that does not fit.
    let decimals = Decimal128Array::from(vec![Some(12345), Some(-12355)])
        .with_precision_and_scale(10, 2)
        .unwrap();
    let input = batch(vec![("d", Arc::new(decimals) as ArrayRef)]);
    let output = Field::new("out", DataType::Decimal128(5, 1), true);
    let out = decode_response(
        &invoke(
            &f,
            &udf_request("echo", &input, output.clone(), Framing::Continuation).unwrap(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let out = out
        .column(0)
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .unwrap();
    assert_eq!(out.values(), &[1235, -1236]);
    let too_big = Decimal128Array::from(vec![Some(99_999_999)])
        .with_precision_and_scale(10, 2)
        .unwrap();
    let input = batch(vec![("d", Arc::new(too_big) as ArrayRef)]);
    let err = invoke(
        &f,
        &udf_request("echo", &input, output, Framing::Continuation).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidResult");
    assert!(
        err.to_string()
            .contains("999999.99 does not fit decimal(5,1)"),
        "{err}"
    );
}

#[tokio::test]
async fn zero_rows_answer_zero_rows() {
    let f = function();
    let input = batch(vec![(
        "s",
        Arc::new(StringArray::from(Vec::<&str>::new())) as ArrayRef,
    )]);
    let request = udf_request(
        "compress",
        &input,
        Field::new("out", DataType::Utf8, true),
        Framing::Continuation,
    )
    .unwrap();
    assert!(request.contains(r#""records":"""#));
    let response = invoke(&f, &request).await.unwrap();
    let parsed: Value = serde_json::from_str(&response).unwrap();
    assert_eq!(parsed["records"]["records"], "");
    assert_eq!(decode_response(&response).unwrap().num_rows(), 0);
}

#[tokio::test]
async fn athena_udfs_vectors_through_the_protocol() {
    let f = function();
    let text = Arc::new(StringArray::from(vec![Some("StringToBeCompressed"), None])) as ArrayRef;
    let out_field = Field::new("out", DataType::Utf8, true);
    let request = udf_request(
        "compress",
        &batch(vec![("t", text)]),
        out_field.clone(),
        Framing::Legacy,
    )
    .unwrap();
    let out = decode_response(&invoke(&f, &request).await.unwrap()).unwrap();
    let out = out
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(
        out.iter().collect::<Vec<_>>(),
        vec![Some("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w=="), None]
    );

    let secret_names = Arc::new(StringArray::from(vec![
        Some("aes"),
        Some("aes"),
        Some("missing"),
    ]));
    let cipher = Arc::new(StringArray::from(vec![
        Some("G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg=="),
        None,
        None,
    ]));
    let input = batch(vec![
        ("c", cipher as ArrayRef),
        ("k", secret_names as ArrayRef),
    ]);
    let request = udf_request("decrypt", &input, out_field, Framing::Continuation).unwrap();
    let out = decode_response(&invoke(&f, &request).await.unwrap()).unwrap();
    let out = out
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    // NULL ciphertext → NULL without reading its secret (row 3's secret does not exist).
    assert_eq!(
        out.iter().collect::<Vec<_>>(),
        vec![Some("plaintext"), None, None]
    );
    // A second call within the TTL reads no secret again.
    let reads = f.secrets_reads();
    invoke(&f, &request).await.unwrap();
    assert_eq!(f.secrets_reads(), reads);
}

impl AthenaUdf<MemorySecrets> {
    fn secrets_reads(&self) -> usize {
        self.secrets.source().reads.load(Ordering::SeqCst)
    }
}

async fn error_of(f: &AthenaUdf<MemorySecrets>, request: &str) -> (String, String) {
    let err = invoke(f, request).await.unwrap_err();
    let d = lambda_runtime::Diagnostic::from(err);
    (d.error_type, d.error_message)
}

#[tokio::test]
async fn errors_tell_the_athena_user_what_to_fix() {
    let f = function();
    let ints = || Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef;
    let varchar = Field::new("out", DataType::Utf8, true);

    let (t, m) = error_of(
        &f,
        &udf_request(
            "nope",
            &batch(vec![("a", ints())]),
            varchar.clone(),
            Framing::Continuation,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(t, "UnknownMethod");
    assert!(m.starts_with("no UDF named \"nope\"; this Lambda has: anonymize_ip, compress, decompress, decrypt, detect_language, echo, encrypt,"), "{m}");

    let (t, m) = error_of(
        &f,
        &udf_request(
            "compress",
            &batch(vec![("a", ints())]),
            varchar.clone(),
            Framing::Continuation,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(t, "SignatureMismatch");
    assert_eq!(
        m,
        "compress(varchar) -> varchar expected, got compress(bigint) -> varchar"
    );

    let empty = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .unwrap();
    let (t, m) = error_of(
        &f,
        &udf_request("compress", &empty, varchar.clone(), Framing::Continuation).unwrap(),
    )
    .await;
    assert_eq!(t, "NoArguments");
    assert!(
        m.starts_with("compress() was called with no arguments"),
        "{m}"
    );

    let good = udf_request(
        "compress",
        &batch(vec![(
            "s",
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
        )]),
        varchar.clone(),
        Framing::Continuation,
    )
    .unwrap();
    let mut bad_b64: Value = serde_json::from_str(&good).unwrap();
    bad_b64["inputRecords"]["records"] = "not*base64".into();
    let (t, m) = error_of(&f, &bad_b64.to_string()).await;
    assert_eq!(t, "MalformedArrow");
    assert!(
        m.starts_with("inputRecords.records is not valid base64"),
        "{m}"
    );

    let mut bad_arrow: Value = serde_json::from_str(&good).unwrap();
    bad_arrow["inputRecords"]["schema"] = "AAAAAAAAAAAA".into();
    let (t, m) = error_of(&f, &bad_arrow.to_string()).await;
    assert_eq!(t, "MalformedArrow");
    assert!(m.starts_with("inputRecords.schema "), "{m}");

    let mut two_outputs: Value = serde_json::from_str(&good).unwrap();
    two_outputs["outputSchema"] = ipc::encode_schema(&Schema::new(vec![
        varchar.clone(),
        Field::new("b", DataType::Utf8, true),
    ]))
    .into();
    let (t, m) = error_of(&f, &two_outputs.to_string()).await;
    assert_eq!(
        (t.as_str(), m.as_str()),
        (
            "InvalidRequest",
            "outputSchema has 2 fields; a UDF returns exactly one column"
        )
    );

    let (t, m) = error_of(&f, r#"{"@type":"GetTableRequest"}"#).await;
    assert_eq!(t, "InvalidRequest");
    assert!(m.contains("GetTableRequest"), "{m}");

    let garbage = Arc::new(StringArray::from(vec![
        Some("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w=="),
        Some("%%%"),
    ])) as ArrayRef;
    let (t, m) = error_of(
        &f,
        &udf_request(
            "decompress",
            &batch(vec![("s", garbage)]),
            varchar.clone(),
            Framing::Continuation,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(t, "UdfFailed");
    assert!(
        m.starts_with("decompress failed on row 1: input is not base64"),
        "{m}"
    );

    let unlucky = Arc::new(Int32Array::from(vec![1, 13])) as ArrayRef;
    let (t, m) = error_of(
        &f,
        &udf_request(
            "explode",
            &batch(vec![("i", unlucky)]),
            Field::new("o", DataType::Int32, true),
            Framing::Continuation,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(
        (t.as_str(), m.as_str()),
        ("UdfPanicked", "explode panicked: unlucky row")
    );

    let seven = Arc::new(Int32Array::from(vec![1; 7])) as ArrayRef;
    let (t, m) = error_of(
        &f,
        &udf_request(
            "huge",
            &batch(vec![("i", seven)]),
            varchar.clone(),
            Framing::Continuation,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(t, "ResponseTooLarge");
    assert!(
        m.starts_with("the huge response for 7 rows would be "),
        "{m}"
    );
    assert!(
        m.contains("over Lambda's 6291556-byte response limit"),
        "{m}"
    );

    let not_null = Field::new("o", DataType::Int32, false);
    let with_null = Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef;
    let (t, m) = error_of(
        &f,
        &udf_request(
            "echo",
            &batch(vec![("i", with_null)]),
            not_null,
            Framing::Continuation,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(t, "InvalidResult");
    assert!(m.contains("non-nullable"), "{m}");

    let names = Arc::new(StringArray::from(vec!["nope"])) as ArrayRef;
    let values = Arc::new(StringArray::from(vec!["v"])) as ArrayRef;
    let (t, m) = error_of(
        &f,
        &udf_request(
            "hash_pii",
            &batch(vec![("v", values), ("k", names)]),
            varchar,
            Framing::Continuation,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(
        (t.as_str(), m.as_str()),
        ("SecretUnavailable", "secret nope has no SecretString")
    );
}

#[tokio::test]
async fn a_response_just_under_the_limit_is_sent() {
    let f = function();
    // 5 rows of 1 MiB strings: ~7 MB base64? No: 5 MiB of Arrow → ~7 MB base64, too big.
    // 4 rows → 4 MiB of Arrow → ~5.6 MB of base64: under the limit.
    let four = Arc::new(Int32Array::from(vec![1; 4])) as ArrayRef;
    let request = udf_request(
        "huge",
        &batch(vec![("i", four)]),
        Field::new("o", DataType::Utf8, true),
        Framing::Continuation,
    )
    .unwrap();
    let response = invoke(&f, &request).await.unwrap();
    assert!(
        response.len() > 5_000_000 && response.len() <= MAX_RESPONSE_BYTES,
        "{}",
        response.len()
    );
    assert_eq!(decode_response(&response).unwrap().num_rows(), 4);
}
