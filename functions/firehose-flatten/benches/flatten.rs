//! firehose-flatten throughput: the whole handler path minus network (event JSON parsed as
//! `lambda_runtime` parses it, base64 decoded on the way → flatten → size guard → base64
//! into the response JSON → the bytes `lambda_runtime` sends),
//! over realistic clickstream batches of 1, 3 and 6 MB. The 6 MB batch overflows the
//! response (flattening grows the data), so it also exercises the size guard, with a
//! re-ingestion sink that accepts everything (no network).
//! Also: the `serde_json::Value` round-trip floor, and peak RSS after a 6 MB batch.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ferrolake_local_aws::AcceptAll;
use ferrolake_shared::retry::Deadline;
use ferrolake_shared::telemetry::Metrics;
use firehose_flatten::config::Config;
use firehose_flatten::handler::FirehoseFlatten;
use firehose_flatten::request::FirehoseEvent;
use firehose_flatten::sample::firehose_event;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// The event parsed as `lambda_runtime` parses an invocation's body: from bytes (strings
/// UTF-8-checked), through `serde_path_to_error`.
fn parse_like_the_runtime(event_json: &str) -> FirehoseEvent {
    let mut body = serde_json::Deserializer::from_slice(event_json.as_bytes());
    serde_path_to_error::deserialize(&mut body).expect("event")
}

fn handler_path(
    f: &FirehoseFlatten<AcceptAll>,
    rt: &tokio::runtime::Runtime,
    event_json: &str,
) -> usize {
    let event = parse_like_the_runtime(event_json);
    let metrics = Metrics::new("bench", false);
    let deadline = Deadline::after(Duration::from_secs(300), Duration::ZERO);
    let response = rt.block_on(f.process(&event, &deadline, &metrics));
    serde_json::to_vec(&response).expect("response").len()
}

/// base64 → serde_json::Value → serialize → base64 per record, no flattening: the floor a
/// Value-tree implementation cannot beat. Same event parsing (which base64-decodes `data`)
/// and the same SIMD base64, so the ratio compares streaming flattening with a Value round
/// trip, nothing else.
fn value_round_trip(event_json: &str) -> usize {
    let event = parse_like_the_runtime(event_json);
    let b64 = base64_simd::STANDARD;
    let mut total = 0;
    for r in &event.records {
        let bytes = r.data.bytes().unwrap_or_default();
        let value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        let out = serde_json::to_vec(&value).unwrap_or_default();
        total += b64.encode_to_string(out).len();
    }
    total
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let f = FirehoseFlatten::new(Config::from_lookup(|_| None).expect("defaults"), AcceptAll);
    // The options the Python peers run with (separator `_`, arrays indexed).
    let indexed = FirehoseFlatten::new(
        Config::from_lookup(|k| (k == "ARRAY_MODE").then(|| "index".to_string())).expect("index"),
        AcceptAll,
    );
    let mut group = c.benchmark_group("firehose-flatten");
    group
        .sample_size(10)
        .measurement_time(ferrolake_local_aws::bench_seconds(10));
    for mb in [1usize, 3, 6] {
        let event = firehose_event(42, mb * 1_000_000, false);
        group.throughput(Throughput::Bytes(event.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("handler", format!("{mb}MB")),
            &event,
            |b, e| b.iter(|| handler_path(&f, &rt, e)),
        );
        if mb < 6 {
            group.bench_with_input(
                BenchmarkId::new("handler, arrays indexed", format!("{mb}MB")),
                &event,
                |b, e| b.iter(|| handler_path(&indexed, &rt, e)),
            );
        }
        group.bench_with_input(
            BenchmarkId::new("value-round-trip", format!("{mb}MB")),
            &event,
            |b, e| b.iter(|| value_round_trip(e)),
        );
    }
    group.finish();
}

fn report_sizes_and_memory() {
    let rt = runtime();
    let f = FirehoseFlatten::new(Config::from_lookup(|_| None).expect("defaults"), AcceptAll);
    let before = ferrolake_local_aws::peak_rss_mib();
    let event = firehose_event(42, 6_000_000, false);
    let response = handler_path(&f, &rt, &event);
    let parsed: FirehoseEvent = serde_json::from_str(&event).expect("event");
    // Output/input ratio without the budget: flatten everything once.
    let mut flattener = ferrolake_flatten::Flattener::new(Default::default()).expect("defaults");
    let (mut input, mut output) = (0usize, 0usize);
    let mut out = Vec::new();
    for r in &parsed.records {
        let bytes = r.data.bytes().unwrap_or_default();
        out.clear();
        flattener.flatten(bytes, &mut out).expect("flatten");
        input += bytes.len();
        output += out.len();
    }
    println!(
        "6MB batch: event {} bytes, {} records, response {} bytes; flattened/raw size ratio {:.3}; peak RSS {:.1} MiB (before the batch {:.1} MiB)",
        event.len(),
        parsed.records.len(),
        response,
        output as f64 / input as f64,
        ferrolake_local_aws::peak_rss_mib(),
        before
    );
}

criterion_group!(group, benches);

/// BENCH_EXPORT=dir: write the 1, 3 and 6 MB events as `firehose-<n>MB.json` and exit —
/// the same documents `make bench` hands the Python peers.
fn export(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("export dir");
    for mb in [1usize, 3, 6] {
        let file = dir.join(format!("firehose-{mb}MB.json"));
        std::fs::write(&file, firehose_event(42, mb * 1_000_000, false)).expect("write event");
        println!("{}", file.display());
    }
}

fn main() {
    // The malloc settings every function's runtime loop applies (`telemetry::run_runtime`).
    ferrolake_shared::heap::keep_between_invocations();
    if let Some(dir) = std::env::var_os("BENCH_EXPORT") {
        return export(std::path::Path::new(&dir));
    }
    report_sizes_and_memory();
    group();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
