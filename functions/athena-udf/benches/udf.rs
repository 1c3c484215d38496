//! athena-udf throughput over 1k-, 10k- and 100k-row batches (100k also split over two threads), the whole invocation minus the network:
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

/// Batch sizes measured (rows).
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// One secret, from memory (no network in the benchmark).
struct Pepper;

impl SecretSource for Pepper {
    async fn secret_string(&self, _id: &str) -> Result<String, SecretError> {
        Ok("bench-pepper-0123456789".into())
    }
}

fn emails(rows: usize) -> Vec<String> {
    (0..rows)
        .map(|i| format!("user.{:06}@example-{}.com", i * 7919 % 1_000_000, i % 97))
        .collect()
}

fn skus(rows: usize) -> Vec<String> {
    (0..rows)
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

/// The requests measured, by (case, rows): the same documents `make bench` hands the
/// Python peer (written out when BENCH_EXPORT names a directory).
fn cases() -> Vec<(&'static str, usize, String)> {
    let mut cases = Vec::new();
    for rows in SIZES {
        let (emails, skus) = (emails(rows), skus(rows));
        cases.push(("compress", rows, request("compress", &skus, None)));
        cases.push((
            "hash_pii",
            rows,
            request("hash_pii", &emails, Some("pepper")),
        ));
        cases.push(("echo-floor(sku)", rows, request("echo", &skus, None)));
        cases.push(("echo-floor(email)", rows, request("echo", &emails, None)));
    }
    cases
}

fn function(threads: usize) -> AthenaUdf<Pepper> {
    let mut registry = athena_udf::library::registry();
    register_echo(&mut registry);
    AthenaUdf::new(registry, Pepper)
        .with_response_limit(usize::MAX)
        .with_threads(threads)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cases = cases();
    let (one, two) = (function(1), function(2));
    let before = ferrolake_local_aws::peak_rss_mib();
    for (name, rows, json) in cases.iter().filter(|c| c.1 == 100_000) {
        println!(
            "{name}: request {} bytes, response {} bytes for {rows} rows",
            json.len(),
            invoke(&one, &rt, json)
        );
    }
    println!(
        "peak RSS {:.1} MiB after the 100k-row batches ({:.1} MiB before, all requests built)",
        ferrolake_local_aws::peak_rss_mib(),
        before
    );
    let mut group = c.benchmark_group("athena-udf");
    group
        .sample_size(10)
        .measurement_time(ferrolake_local_aws::bench_seconds(10));
    for (name, rows, json) in &cases {
        group.throughput(Throughput::Elements(*rows as u64));
        group.bench_with_input(BenchmarkId::new(*name, rows), json, |b, json| {
            b.iter(|| invoke(&one, &rt, json))
        });
        // Scaling: the same call split over two threads (the batch is large enough).
        if *rows == 100_000 {
            group.bench_with_input(
                BenchmarkId::new(format!("{name} 2 threads"), rows),
                json,
                |b, json| b.iter(|| invoke(&two, &rt, json)),
            );
        }
    }
    group.finish();
}

/// BENCH_EXPORT=dir: write every request as `athena-<case>-<rows>.json` and exit.
fn export(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("export dir");
    for (name, rows, json) in cases() {
        let file = dir.join(format!("athena-{name}-{rows}.json"));
        std::fs::write(&file, json).expect("write request");
        println!("{}", file.display());
    }
}

criterion_group!(group, benches);

fn main() {
    // The malloc settings every function's runtime loop applies (`telemetry::run_runtime`).
    ferrolake_shared::heap::keep_between_invocations();
    if let Some(dir) = std::env::var_os("BENCH_EXPORT") {
        return export(std::path::Path::new(&dir));
    }
    group();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
