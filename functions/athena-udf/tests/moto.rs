//! athena-udf against real parts: secrets from moto's Secrets Manager (encrypt, decrypt,
//! hash_pii, and the 60 s cache), and responses read back by pyarrow from the project
//! virtualenv to prove a non-Rust Arrow reader accepts them.

use arrow_array::{Array, ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};
use athena_udf::fixtures::{decode_response, type_matrix, udf_request, Framing};
use athena_udf::handler::AthenaUdf;
use athena_udf::udf::{Integer, Registry};
use athena_udf::{ipc, library};
use ferrolake_local_aws::{venv, TestEnv};
use ferrolake_shared::secrets::SecretsManager;
use ferrolake_shared::telemetry::Metrics;
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const AES_KEY: &str = "i5YnyBO4gJKWuIQ+gjuJjcJ/5kUph9pmYFUbW7zf3PE=";

async fn call(function: &AthenaUdf<SecretsManager>, request: &str) -> Result<String, String> {
    let raw = RawValue::from_string(request.to_string()).map_err(|e| e.to_string())?;
    function
        .handle(&raw, &Metrics::new("athena-udf", false))
        .await
        .map(|r| r.get().to_string())
        .map_err(|e| format!("{}: {e}", e.error_type()))
}

fn strings(batch: &RecordBatch) -> Vec<Option<String>> {
    let column = batch.column(0).as_any().downcast_ref::<StringArray>();
    column
        .map(|c| c.iter().map(|v| v.map(String::from)).collect())
        .unwrap_or_default()
}

fn varchar_batch(columns: Vec<(&str, Vec<Option<&str>>)>) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable(
        columns
            .into_iter()
            .map(|(name, values)| (name, Arc::new(StringArray::from(values)) as ArrayRef, true)),
    )
    .expect("batch")
}

#[tokio::test]
async fn encrypt_decrypt_and_hash_pii_read_their_keys_from_secrets_manager() -> TestResult {
    let env = TestEnv::new("athena-udf-secrets").await;
    let sm = aws_sdk_secretsmanager::Client::new(env.sdk_config());
    let aes = env.name("aes-key");
    let pepper = env.name("pii-pepper");
    sm.create_secret()
        .name(&aes)
        .secret_string(AES_KEY)
        .send()
        .await?;
    sm.create_secret()
        .name(&pepper)
        .secret_string("s3cr3t-pepper")
        .send()
        .await?;
    let function = AthenaUdf::new(library::registry(), SecretsManager::new(sm.clone()));
    let out = Field::new("out", DataType::Utf8, true);

    // The athena-udfs README vector, keyed from moto.
    let request = udf_request(
        "decrypt",
        &varchar_batch(vec![
            (
                "c",
                vec![
                    Some("G/VP2sbMb7d4zE2HVl2XkiB5xUHpszlEjccEBsTVji209IaCjg=="),
                    None,
                ],
            ),
            ("k", vec![Some(aes.as_str()), Some(aes.as_str())]),
        ]),
        out.clone(),
        Framing::Continuation,
    )?;
    let decrypted = decode_response(&call(&function, &request).await?)?;
    assert_eq!(strings(&decrypted), vec![Some("plaintext".into()), None]);

    // encrypt → decrypt round trip, both through the protocol.
    let plain = vec![Some("jane@example.com"), Some("ünïcødé"), None];
    let keys = vec![Some(aes.as_str()); 3];
    let request = udf_request(
        "encrypt",
        &varchar_batch(vec![("p", plain.clone()), ("k", keys.clone())]),
        out.clone(),
        Framing::Continuation,
    )?;
    let sealed = strings(&decode_response(&call(&function, &request).await?)?);
    assert!(sealed[0].as_deref() != Some("jane@example.com") && sealed[2].is_none());
    let sealed_refs: Vec<Option<&str>> = sealed.iter().map(|s| s.as_deref()).collect();
    let request = udf_request(
        "decrypt",
        &varchar_batch(vec![("c", sealed_refs), ("k", keys)]),
        out.clone(),
        Framing::Continuation,
    )?;
    let opened = strings(&decode_response(&call(&function, &request).await?)?);
    let expected: Vec<Option<String>> = plain.iter().map(|p| p.map(String::from)).collect();
    assert_eq!(opened, expected);

    // hash_pii: HMAC-SHA256 keyed with the secret string.
    let request = udf_request(
        "hash_pii",
        &varchar_batch(vec![
            ("v", vec![Some("jane@example.com"), None]),
            ("k", vec![Some(pepper.as_str()), Some(pepper.as_str())]),
        ]),
        out.clone(),
        Framing::Continuation,
    )?;
    let hashed = strings(&decode_response(&call(&function, &request).await?)?);
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"s3cr3t-pepper").map_err(|e| e.to_string())?;
    mac.update(b"jane@example.com");
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hashed, vec![Some(hex), None]);

    // Cached for 60 s: a rotated secret is not seen until then (athena-udfs behaves alike).
    sm.put_secret_value()
        .secret_id(&pepper)
        .secret_string("rotated")
        .send()
        .await?;
    let again = strings(&decode_response(&call(&function, &request).await?)?);
    assert_eq!(again, hashed);

    // A secret that does not exist: the query fails naming it.
    let request = udf_request(
        "hash_pii",
        &varchar_batch(vec![
            ("v", vec![Some("x")]),
            ("k", vec![Some("no-such-secret")]),
        ]),
        out,
        Framing::Continuation,
    )?;
    let err = call(&function, &request).await.unwrap_err();
    assert!(
        err.starts_with("SecretUnavailable: secret no-such-secret could not be read (ResourceNotFoundException)"),
        "{err}"
    );
    assert!(!err.contains(AES_KEY) && !err.contains("s3cr3t-pepper"));
    Ok(())
}

/// Run the pyarrow reader over response files; one JSON object per file.
fn read_with_pyarrow(
    files: &[std::path::PathBuf],
) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let python = venv().join("bin/python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_response.py");
    let output = std::process::Command::new(&python)
        .arg(&script)
        .args(files)
        .output()
        .map_err(|e| format!("run {}: {e} (run `make setup`)", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "pyarrow could not read the responses: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn pyarrow_reads_every_response_type_losslessly() -> TestResult {
    let _env = TestEnv::new("athena-udf-pyarrow").await;
    let sm = aws_sdk_secretsmanager::Client::new(_env.sdk_config());
    let mut registry: Registry = library::registry();
    registry
        .scalar2::<Integer, Integer, Integer, _, _>("product", |a: Option<i32>, b: Option<i32>| {
            Some(a? * b?)
        });
    athena_udf::fixtures::register_echo(&mut registry);
    let function = AthenaUdf::new(registry, SecretsManager::new(sm));
    let dir = std::env::temp_dir().join(format!("ferrolake-athena-pyarrow-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let mut cases: Vec<(String, ArrayRef)> = Vec::new();
    let mut files = Vec::new();
    for (name, column) in type_matrix() {
        let input = RecordBatch::try_from_iter_with_nullable([(name, column.clone(), true)])?;
        let output = Field::new("out", column.data_type().clone(), true);
        let response = call(
            &function,
            &udf_request("echo", &input, output, Framing::Continuation)?,
        )
        .await?;
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, response)?;
        files.push(path);
        cases.push((name.to_string(), column));
    }
    // A library UDF with a ROW result, and the Java product sample's shape.
    let ua = varchar_batch(vec![(
        "ua",
        vec![Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"), None],
    )]);
    let row_type = library::text::user_agent_type();
    let response = call(
        &function,
        &udf_request(
            "parse_user_agent",
            &ua,
            Field::new("out", row_type, true),
            Framing::Continuation,
        )?,
    )
    .await?;
    let ua_path = dir.join("parse_user_agent.json");
    std::fs::write(&ua_path, &response)?;
    files.push(ua_path);
    let factors = RecordBatch::try_from_iter_with_nullable([
        (
            "factor1",
            Arc::new(Int32Array::from(vec![Some(2), None, Some(4)])) as ArrayRef,
            true,
        ),
        (
            "factor2",
            Arc::new(Int32Array::from(vec![3, 5, 6])) as ArrayRef,
            true,
        ),
    ])?;
    let response = call(
        &function,
        &udf_request(
            "product",
            &factors,
            Field::new("product", DataType::Int32, true),
            Framing::Legacy,
        )?,
    )
    .await?;
    let product_path = dir.join("product.json");
    std::fs::write(&product_path, &response)?;
    files.push(product_path);

    let read = read_with_pyarrow(&files)?;
    assert_eq!(read.len(), files.len());
    // Every type: pyarrow read 3 rows and its own re-serialization decodes to what we sent.
    for ((name, column), seen) in cases.iter().zip(&read) {
        assert_eq!(seen["rows"], 3, "{name}: {seen}");
        assert_eq!(seen["values"][1], Value::Null, "{name}: the NULL row");
        let expected_validation = if name == "timestamp" {
            "date64 with sub-day milliseconds"
        } else {
            "ok"
        };
        assert_eq!(seen["full_validation"], expected_validation, "{name}");
        let schema = Arc::new(arrow_schema::Schema::new(vec![Field::new(
            "out",
            column.data_type().clone(),
            true,
        )]));
        let back = ipc::decode_batch("pyarrow", seen["ipc"].as_str().unwrap_or_default(), schema)?;
        assert_eq!(back.column(0).as_ref(), column.as_ref(), "{name}");
    }
    let ua = &read[cases.len()];
    assert_eq!(ua["values"][0]["name"], "Chrome", "{ua}");
    assert_eq!(ua["values"][0]["category"], "pc", "{ua}");
    assert_eq!(ua["values"][1], Value::Null);
    let product = &read[cases.len() + 1];
    assert_eq!(product["values"], serde_json::json!([6, null, 24]));
    assert_eq!(product["type"], "int32");
    // Spot-check values as Python sees them.
    assert_eq!(read[8]["values"][0], "héllo");
    assert_eq!(read[7]["values"][0], "123.45");
    assert_eq!(read[10]["values"][0], "2026-11-22");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn the_sample_events_are_current() -> TestResult {
    // events/athena-udf/*.json are generated by athena_udf::fixtures::sample_events; this
    // test fails when they drift (UPDATE_EVENTS=1 rewrites them).
    let dir = ferrolake_local_aws::workspace_root().join("events/athena-udf");
    for (name, json) in athena_udf::fixtures::sample_events()? {
        let path = dir.join(format!("{name}.json"));
        if std::env::var_os("UPDATE_EVENTS").is_some() {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, format!("{json}\n"))?;
        }
        let committed = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (UPDATE_EVENTS=1 writes it)", path.display()))?;
        let committed: Value = serde_json::from_str(&committed)?;
        let generated: Value = serde_json::from_str(&json)?;
        // aId and random IVs aside, the requests are deterministic.
        assert_eq!(committed, generated, "{} is stale", path.display());
    }
    Ok(())
}
