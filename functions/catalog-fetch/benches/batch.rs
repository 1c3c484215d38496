//! catalog-fetch: wall time of a 10-message batch against a catalog API answering every
//! request after 100 ms, next to one call (a 1-message batch) and to the same batch fetched
//! sequentially (`BATCH_CONCURRENCY=1`). The real handler and HTTP client against a local
//! HTTP server; the Kinesis write goes to a sink that accepts everything (no network), so
//! what is measured is how the fetches overlap.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use catalog_fetch::catalog_api::{Authenticator, HttpCatalog};
use catalog_fetch::config::Config;
use catalog_fetch::handler::CatalogFetch;
use criterion::{criterion_group, BenchmarkId, Criterion};
use ferrolake_local_aws::AcceptAll;
use ferrolake_local_aws::{HttpStub, StubResponse};
use ferrolake_shared::batch::SqsBatchFunction;
use ferrolake_shared::retry::Deadline;
use ferrolake_shared::telemetry::Metrics;
use std::time::Duration;

/// The catalog API's latency per request.
const LATENCY: Duration = Duration::from_millis(100);

fn batch(messages: usize) -> SqsEvent {
    let mut event = SqsEvent::default();
    for i in 0..messages {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m-{i}"));
        m.body = Some(format!(
            r#"{{"showId":"show-{i:03}","changeType":"updated"}}"#
        ));
        event.records.push(m);
    }
    event
}

fn function(url: &str, concurrency: &str) -> CatalogFetch<HttpCatalog, AcceptAll> {
    let template = format!("{url}/items/{{id}}");
    let config = Config::from_lookup(|k| match k {
        "CATALOG_API_URL" => Some(template.clone()),
        "STREAM_NAME" => Some("bench".into()),
        "BATCH_CONCURRENCY" => Some(concurrency.into()),
        _ => None,
    })
    .expect("config");
    let catalog = HttpCatalog::new(
        config.url_template.clone(),
        Duration::from_secs(5),
        Authenticator::None,
    )
    .expect("client");
    CatalogFetch::new(catalog, AcceptAll, config)
}

fn run(f: &CatalogFetch<HttpCatalog, AcceptAll>, rt: &tokio::runtime::Runtime, event: &SqsEvent) {
    let metrics = Metrics::new("bench", false);
    let deadline = Deadline::after(Duration::from_secs(60), Duration::ZERO);
    let report = rt.block_on(f.process(event, &deadline, &metrics));
    assert_eq!(
        report
            .into_response(ferrolake_shared::batch::PoisonPolicy::DeadLetter)
            .batch_item_failures
            .len(),
        0,
        "every message processed"
    );
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let api = rt
        .block_on(HttpStub::start(|request| async move {
            let id = request.path.rsplit('/').next().unwrap_or_default().to_string();
            StubResponse::json(
                200,
                &serde_json::json!({"id": id, "title": "A show", "genres": ["talk"], "price": "9.99"}),
            )
            .delayed(LATENCY)
        }))
        .expect("catalog stub");
    let concurrent = function(&api.url(), "10");
    let sequential = function(&api.url(), "1");
    let (one, ten) = (batch(1), batch(10));
    // Warm the connection pool: Lambda reuses connections across invocations too.
    run(&concurrent, &rt, &ten);
    let mut group = c.benchmark_group("catalog-fetch");
    group
        .sample_size(10)
        .measurement_time(ferrolake_local_aws::bench_seconds(5));
    group.bench_with_input(BenchmarkId::new("one call", "1 message"), &one, |b, e| {
        b.iter(|| run(&concurrent, &rt, e))
    });
    group.bench_with_input(BenchmarkId::new("batch", "10 messages"), &ten, |b, e| {
        b.iter(|| run(&concurrent, &rt, e))
    });
    group.bench_with_input(
        BenchmarkId::new("sequential", "10 messages"),
        &ten,
        |b, e| b.iter(|| run(&sequential, &rt, e)),
    );
    group.finish();
}

criterion_group!(group, benches);

fn main() {
    // The malloc settings every function's runtime loop applies (`telemetry::run_runtime`).
    ferrolake_shared::heap::keep_between_invocations();
    group();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
