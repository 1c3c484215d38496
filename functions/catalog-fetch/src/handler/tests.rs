//! Handler logic with fake ports; the moto + HTTP stub tests are in tests/.

use super::*;
use crate::config::Config;
use aws_lambda_events::sqs::SqsMessage;
use ferrolake_shared::batch::{PoisonPolicy, Verdict};
use ferrolake_shared::streams::PutError;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Scripted answers per item id (the last one repeats); counts calls and concurrency.
#[derive(Default)]
struct FakeCatalog {
    script: HashMap<String, Vec<u16>>,
    calls: Mutex<HashMap<String, usize>>,
    in_flight: AtomicU32,
    peak: AtomicU32,
    delay: Duration,
}

impl FakeCatalog {
    fn with(script: &[(&str, &[u16])]) -> Self {
        Self {
            script: script
                .iter()
                .map(|(id, s)| (id.to_string(), s.to_vec()))
                .collect(),
            ..Default::default()
        }
    }
    fn calls(&self, id: &str) -> usize {
        self.calls.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

impl CatalogApi for FakeCatalog {
    async fn fetch(&self, item_id: &str) -> Result<Fetched, FetchError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let c = calls.entry(item_id.to_string()).or_default();
            *c += 1;
            *c
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let script = self
            .script
            .get(item_id)
            .cloned()
            .unwrap_or_else(|| vec![200]);
        let status = script[(n - 1).min(script.len() - 1)];
        match status {
            200 => Ok(Fetched::Found(
                json!({"title": format!("Show {item_id}"), "venue": {"city": "Oslo", "secret": "x"}, "big": "b".repeat(if item_id == "huge" { 1_100_000 } else { 1 })}),
            )),
            404 => Ok(Fetched::Gone),
            s => Err(FetchError::Status {
                id: item_id.to_string(),
                status: s,
            }),
        }
    }
}

/// Fails entries whose partition key is in `failing` (the first `times` attempts).
#[derive(Default)]
struct FakeStreams {
    failing: HashSet<String>,
    times: usize,
    attempts: Mutex<HashMap<String, usize>>,
    written: Mutex<Vec<(String, Value)>>,
}

impl StreamPut for FakeStreams {
    async fn put(
        &self,
        target: &Target,
        entries: &[Entry<'_>],
    ) -> Result<Vec<Option<String>>, PutError> {
        assert_eq!(*target, Target::KinesisStream("catalog".into()));
        let mut attempts = self.attempts.lock().unwrap();
        Ok(entries
            .iter()
            .map(|e| {
                let n = attempts.entry(e.partition_key.to_string()).or_default();
                *n += 1;
                if self.failing.contains(e.partition_key) && *n <= self.times {
                    Some("ProvisionedThroughputExceededException: Rate exceeded for shard".into())
                } else {
                    self.written.lock().unwrap().push((
                        e.partition_key.to_string(),
                        serde_json::from_slice(e.data).unwrap(),
                    ));
                    None
                }
            })
            .collect())
    }
}

fn config(extra: &[(&str, &str)]) -> Config {
    // Overrides first: the lookup takes the first match.
    let mut pairs: Vec<(String, String)> = extra
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    pairs.extend([
        (
            "CATALOG_API_URL".to_string(),
            "http://127.0.0.1:1/items/{id}".to_string(),
        ),
        ("STREAM_NAME".to_string(), "catalog".to_string()),
        ("CATALOG_FIELDS".to_string(), "title,venue.city".to_string()),
    ]);
    Config::from_lookup(move |k| pairs.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone()))
        .unwrap()
}

fn function(
    catalog: FakeCatalog,
    streams: FakeStreams,
    extra: &[(&str, &str)],
) -> CatalogFetch<FakeCatalog, FakeStreams> {
    CatalogFetch::new(catalog, streams, config(extra)).with_backoff(Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        max_attempts: 3,
    })
}

fn event(bodies: &[(&str, &str)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (id, body) in bodies {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_string());
        m.body = Some(body.to_string());
        m.attributes
            .insert("SentTimestamp".into(), "1795309323456".into());
        event.records.push(m);
    }
    event
}

fn change(id: &str, kind: &str) -> String {
    json!({"showId": id, "changeType": kind}).to_string()
}

async fn run(f: &CatalogFetch<FakeCatalog, FakeStreams>, ev: &SqsEvent) -> (BatchReport, Metrics) {
    let metrics = Metrics::new("catalog-fetch", false);
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_secs(1));
    (f.process(ev, &deadline, &metrics).await, metrics)
}

fn failed(report: BatchReport) -> Vec<String> {
    let mut ids: Vec<String> = report
        .into_response(PoisonPolicy::DeadLetter)
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    ids.sort();
    ids
}

fn written(f: &CatalogFetch<FakeCatalog, FakeStreams>) -> HashMap<String, Value> {
    f.streams()
        .written
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect()
}

#[tokio::test]
async fn fetched_items_are_filtered_and_written_with_envelope_fields() {
    let f = function(FakeCatalog::default(), FakeStreams::default(), &[]);
    let (report, metrics) = run(
        &f,
        &event(&[
            ("m1", &change("s1", "updated")),
            ("m2", &change("s2", "added")),
        ]),
    )
    .await;
    assert!(failed(report).is_empty());
    let w = written(&f);
    assert_eq!(w["s1"]["title"], "Show s1");
    assert_eq!(
        w["s1"]["venue"],
        json!({"city": "Oslo"}),
        "fields outside the allow-list are dropped"
    );
    assert_eq!(w["s2"]["change_type"], "added");
    assert_eq!(w["s1"]["notified_at"], "2026-11-22T01:02:03.456Z");
    assert!(w["s1"]["fetched_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(metrics.counter(metric::RECORDS_PUT), 2);
}

#[tokio::test]
async fn not_found_and_removed_items_become_tombstones() {
    let f = function(
        FakeCatalog::with(&[("gone", &[404])]),
        FakeStreams::default(),
        &[],
    );
    let (report, metrics) = run(
        &f,
        &event(&[
            ("m1", &change("gone", "updated")),
            ("m2", &change("del", "removed")),
        ]),
    )
    .await;
    assert!(failed(report).is_empty());
    let w = written(&f);
    assert_eq!(
        (
            w["gone"]["change_type"].as_str(),
            w["gone"]["deleted"].as_bool()
        ),
        (Some("removed"), Some(true))
    );
    assert_eq!(w["del"]["deleted"], true);
    assert_eq!(f.catalog().calls("del"), 0, "a removal is not fetched");
    assert_eq!(metrics.counter(metric::TOMBSTONES), 2);
}

#[tokio::test]
async fn transient_errors_are_retried_then_reported_and_4xx_is_poison() {
    let catalog = FakeCatalog::with(&[
        ("flaky", &[500, 429, 200]),
        ("down", &[503]),
        ("bad", &[400]),
    ]);
    let f = function(catalog, FakeStreams::default(), &[]);
    let ev = event(&[
        ("m-flaky", &change("flaky", "updated")),
        ("m-down", &change("down", "updated")),
        ("m-bad", &change("bad", "updated")),
    ]);
    let (report, metrics) = run(&f, &ev).await;
    assert_eq!(f.catalog().calls("flaky"), 3);
    assert_eq!(f.catalog().calls("down"), 3, "max attempts");
    assert_eq!(f.catalog().calls("bad"), 1, "400 is not retried");
    let resolutions: HashMap<String, Verdict> = report
        .entries()
        .iter()
        .map(|(id, r)| (id.clone().unwrap(), r.clone()))
        .collect();
    assert_eq!(resolutions["m-flaky"], Verdict::Ok);
    assert!(
        matches!(&resolutions["m-down"], Verdict::Retry(r) if r.contains("503")),
        "{:?}",
        resolutions["m-down"]
    );
    assert!(
        matches!(&resolutions["m-bad"], Verdict::Poison(r) if r.contains("400")),
        "{:?}",
        resolutions["m-bad"]
    );
    assert_eq!(metrics.counter(metric::RETRIES), 4);
    assert_eq!(failed(report), vec!["m-bad", "m-down"]);
    assert!(written(&f).contains_key("flaky") && !written(&f).contains_key("down"));
}

#[tokio::test]
async fn malformed_notifications_are_poison_and_do_not_stop_the_batch() {
    let f = function(FakeCatalog::default(), FakeStreams::default(), &[]);
    let ev = event(&[
        ("bad", "{not json"),
        ("no-id", r#"{"changeType":"updated"}"#),
        ("ok", &change("s1", "updated")),
    ]);
    let (report, _) = run(&f, &ev).await;
    let entries = report.entries().to_vec();
    assert!(matches!(&entries[0].1, Verdict::Poison(r) if r.contains("malformed notification")));
    assert!(matches!(&entries[1].1, Verdict::Poison(r) if r.contains("no item id")));
    assert_eq!(failed(report), vec!["bad", "no-id"]);
    assert!(written(&f).contains_key("s1"));
}

#[tokio::test]
async fn duplicate_notifications_fetch_once_and_all_are_acknowledged() {
    let f = function(FakeCatalog::default(), FakeStreams::default(), &[]);
    let ev = event(&[
        ("m1", &change("s1", "added")),
        ("m2", &change("s1", "updated")),
        ("m3", &change("s1", "rescheduled")),
    ]);
    let (report, metrics) = run(&f, &ev).await;
    assert!(failed(report).is_empty());
    assert_eq!(f.catalog().calls("s1"), 1);
    assert_eq!(f.streams().written.lock().unwrap().len(), 1);
    assert_eq!(
        written(&f)["s1"]["change_type"],
        "rescheduled",
        "the latest notification wins"
    );
    assert_eq!(metrics.counter(metric::DUPLICATES), 2);
}

#[tokio::test]
async fn kinesis_entry_failures_map_back_to_exactly_their_messages() {
    let streams = FakeStreams {
        failing: ["s2".to_string(), "s3".to_string()].into(),
        times: 1,
        ..Default::default()
    };
    let f = function(FakeCatalog::default(), streams, &[]);
    let ev = event(&[
        ("m1", &change("s1", "updated")),
        ("m2", &change("s2", "updated")),
        ("m3", &change("s3", "updated")),
    ]);
    let (report, _) = run(&f, &ev).await;
    assert!(
        failed(report).is_empty(),
        "failed once, retried alone, written"
    );
    assert_eq!(f.streams().attempts.lock().unwrap()["s1"], 1);
    assert_eq!(f.streams().attempts.lock().unwrap()["s2"], 2);

    let streams = FakeStreams {
        failing: ["s2".to_string()].into(),
        times: usize::MAX,
        ..Default::default()
    };
    let f = function(FakeCatalog::default(), streams, &[]);
    let ev = event(&[
        ("m1", &change("s1", "updated")),
        ("m2", &change("s2", "updated")),
        ("m2b", &change("s2", "added")),
        ("m3", &change("s3", "updated")),
    ]);
    let (report, metrics) = run(&f, &ev).await;
    assert_eq!(
        failed(report),
        vec!["m2", "m2b"],
        "only the messages of the failing record"
    );
    assert_eq!(f.streams().attempts.lock().unwrap()["s2"], 3);
    assert_eq!(metrics.counter(metric::RECORDS_PUT), 2);
}

#[tokio::test]
async fn a_record_over_one_mebibyte_is_poison() {
    let f = function(
        FakeCatalog::default(),
        FakeStreams::default(),
        &[("CATALOG_FIELDS", "")],
    );
    let (report, _) = run(
        &f,
        &event(&[
            ("m-huge", &change("huge", "updated")),
            ("m-ok", &change("ok", "updated")),
        ]),
    )
    .await;
    assert!(
        matches!(&report.entries()[0].1, Verdict::Poison(r) if r.contains("over Kinesis' 1 MiB limit"))
    );
    assert_eq!(failed(report), vec!["m-huge"]);
}

#[tokio::test]
async fn fetches_run_concurrently_up_to_the_bound() {
    let catalog = FakeCatalog {
        delay: Duration::from_millis(20),
        ..Default::default()
    };
    let f = function(
        catalog,
        FakeStreams::default(),
        &[("BATCH_CONCURRENCY", "4")],
    );
    let bodies: Vec<(String, String)> = (0..10)
        .map(|i| (format!("m{i}"), change(&format!("s{i}"), "updated")))
        .collect();
    let refs: Vec<(&str, &str)> = bodies
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (report, _) = run(&f, &event(&refs)).await;
    assert!(failed(report).is_empty());
    assert_eq!(f.catalog().peak.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn committed_sample_events_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/catalog-fetch");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let ev: SqsEvent = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let f = function(FakeCatalog::default(), FakeStreams::default(), &[]);
        let (report, _) = run(&f, &ev).await;
        let poison = report.count(|r| matches!(r, Verdict::Poison(_)));
        let expected = if path.ends_with("mixed-batch.json") {
            1
        } else {
            0
        };
        assert_eq!(poison, expected, "{}", path.display());
        assert!(!written(&f).is_empty(), "{}", path.display());
        seen += 1;
    }
    assert_eq!(seen, 3);
}
