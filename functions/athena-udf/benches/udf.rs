//! athena-udf throughput over 100k-row batches, the whole invocation minus the network:
//! request JSON → parse → base64 + Arrow decode → UDF over the columns → Arrow encode +
//! base64 → response JSON. `compress` (zlib per row) and `hash_pii` (HMAC-SHA256 per row),
//! and the floor: `echo(varchar)`, i.e. decode + encode with a trivial function.
//!
//! 100k rows of hash_pii output are 6.4 MB of hex, more than one Lambda response carries
//! (Athena sends smaller batches then); the benchmark lifts the response guard to measure
//! throughput at the size the issue asks for.

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};
use athena_udf::fixtures::{register_echo, udf_request, Framing};
use athena_udf::handler::AthenaUdf;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ferrolake_shared::secrets::{SecretError, SecretSource};
use ferrolake_shared::telemetry::Metrics;
use serde_json::value::RawValue;
use std::sync::Arc;

const ROWS: usize = 100_000;

/// One secret, from memory (no network in the benchmark).
struct Pepper;

impl SecretSource for Pepper {
    async fn secret_string(&self, _id: &str) -> Result<String, SecretError> {
        Ok("bench-pepper-0123456789".into())
    }
}

fn emails() -> Vec<String> {
    (0..ROWS)
        .map(|i| format!("user.{:06}@example-{}.com", i * 7919 % 1_000_000, i % 97))
        .collect()
}

fn skus() -> Vec<String> {
    (0..ROWS)
        .map(|i| format!("SKU-{:08X}", i * 2_654_435_761 % 0xFFFF_FFFF))
        .collect()
}

fn request(method: &str, values: &[String], secret: Option<&str>) -> String {
    let mut columns: Vec<(&str, ArrayRef, bool)> = vec![(
        "0",
        Arc::new(StringArray::from_iter_values(values)) as ArrayRef,
        true,
    )];
    if let Some(secret) = secret {
        columns.push((
            "1",
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                secret,
                values.len(),
            ))),
            true,
        ));
    }
    let batch = RecordBatch::try_from_iter_with_nullable(columns).expect("batch");
    udf_request(
        method,
        &batch,
        Field::new("out", DataType::Utf8, true),
        Framing::Continuation,
    )
    .expect("request")
}

fn invoke(f: &AthenaUdf<Pepper>, rt: &tokio::runtime::Runtime, json: &str) -> usize {
    let raw = RawValue::from_string(json.to_string()).expect("json");
    let metrics = Metrics::new("bench", false);
    rt.block_on(f.handle(&raw, &metrics))
        .expect("response")
        .get()
        .len()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut registry = athena_udf::library::registry();
    register_echo(&mut registry);
    let f = AthenaUdf::new(registry, Pepper).with_response_limit(usize::MAX);
    let (emails, skus) = (emails(), skus());
    let cases = [
        ("compress", request("compress", &skus, None)),
        ("echo-floor(sku)", request("echo", &skus, None)),
        ("hash_pii", request("hash_pii", &emails, Some("pepper"))),
        ("echo-floor(email+secret)", request("echo", &emails, None)),
    ];
    let before = ferrolake_shared::testing::peak_rss_mib();
    for (name, json) in &cases {
        println!(
            "{name}: request {} bytes, response {} bytes for {ROWS} rows",
            json.len(),
            invoke(&f, &rt, json)
        );
    }
    println!(
        "peak RSS {:.1} MiB after the four batches ({:.1} MiB before, the four requests built)",
        ferrolake_shared::testing::peak_rss_mib(),
        before
    );
    let mut group = c.benchmark_group("athena-udf");
    group
        .sample_size(10)
        .measurement_time(ferrolake_shared::testing::bench_seconds(10));
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, json) in &cases {
        group.bench_with_input(BenchmarkId::new(*name, "100k rows"), json, |b, json| {
            b.iter(|| invoke(&f, &rt, json))
        });
    }
    group.finish();
}

criterion_group!(group, benches);

fn main() {
    group();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
