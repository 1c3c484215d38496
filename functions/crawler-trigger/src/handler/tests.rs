//! Handler logic against an in-memory catalog (the moto-backed tests are in tests/).

use super::*;
use crate::glue::{CrawlerStatus, TableLayout};
use aws_lambda_events::sqs::SqsMessage;
use ferrolake_shared::batch::{PoisonPolicy, Verdict};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct FakeGlue {
    crawlers: Mutex<HashMap<String, CrawlerStatus>>,
    starts: Mutex<Vec<String>>,
    transient_start_failures: Mutex<u32>,
    panic_on_start: Option<String>,
    tables: HashMap<TableRef, Vec<String>>,
    partitions: Mutex<BTreeSet<(TableRef, Vec<String>, String)>>,
    /// Partitions per BatchCreatePartition call.
    batch_sizes: Mutex<Vec<usize>>,
}

fn transient(what: &str) -> GlueError {
    GlueError::Transient {
        operation: "StartCrawler",
        what: what.into(),
        code: "ThrottlingException".into(),
        source: Box::new(std::io::Error::other("rate exceeded")),
    }
}

fn not_found(what: &str) -> GlueError {
    GlueError::NotFound {
        what: what.into(),
        source: Box::new(std::io::Error::other("EntityNotFoundException")),
    }
}

impl FakeGlue {
    fn with_crawlers(names: &[&str]) -> Self {
        let fake = Self::default();
        for name in names {
            fake.crawlers.lock().unwrap().insert(
                name.to_string(),
                CrawlerStatus {
                    state: CrawlerState::Ready,
                    last_crawl_started: None,
                },
            );
        }
        fake
    }
    fn set_state(&self, name: &str, state: CrawlerState, last: Option<SystemTime>) {
        self.crawlers.lock().unwrap().insert(
            name.into(),
            CrawlerStatus {
                state,
                last_crawl_started: last,
            },
        );
    }
    fn starts(&self) -> Vec<String> {
        self.starts.lock().unwrap().clone()
    }
}

impl Glue for FakeGlue {
    async fn start_crawler(&self, crawler: &str) -> Result<(), GlueError> {
        if self.panic_on_start.as_deref() == Some(crawler) {
            panic!("bug while starting {crawler}");
        }
        {
            let mut failures = self.transient_start_failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(transient(crawler));
            }
        }
        let mut crawlers = self.crawlers.lock().unwrap();
        let status = crawlers
            .get_mut(crawler)
            .ok_or_else(|| not_found(crawler))?;
        if status.state != CrawlerState::Ready {
            return Err(GlueError::CrawlerRunning {
                crawler: crawler.into(),
            });
        }
        status.state = CrawlerState::Running;
        status.last_crawl_started = Some(SystemTime::now());
        self.starts.lock().unwrap().push(crawler.into());
        Ok(())
    }

    async fn crawler_status(&self, crawler: &str) -> Result<CrawlerStatus, GlueError> {
        self.crawlers
            .lock()
            .unwrap()
            .get(crawler)
            .cloned()
            .ok_or_else(|| not_found(crawler))
    }

    async fn table_layout(&self, table: &TableRef) -> Result<TableLayout, GlueError> {
        let keys = self
            .tables
            .get(table)
            .ok_or_else(|| not_found(&table.to_string()))?;
        Ok(TableLayout {
            partition_keys: keys.clone(),
            storage_template: None,
        })
    }

    async fn create_partitions(
        &self,
        table: &TableRef,
        _layout: &TableLayout,
        partitions: &[Partition],
    ) -> Result<Vec<PartitionOutcome>, GlueError> {
        self.batch_sizes.lock().unwrap().push(partitions.len());
        let mut stored = self.partitions.lock().unwrap();
        Ok(partitions
            .iter()
            .map(|p| {
                if stored.insert((table.clone(), p.values.clone(), p.location.clone())) {
                    PartitionOutcome::Created
                } else {
                    PartitionOutcome::AlreadyExisted
                }
            })
            .collect())
    }
}

const ROUTES: &str = r#"[
  {"bucket": "lake", "prefix": "shows/", "crawler": "shows"},
  {"bucket": "lake", "prefix": "events/", "crawler": "events"},
  {"bucket": "lake", "prefix": "clicks/", "table": {"database": "analytics", "table": "clicks"}},
  {"bucket": "lake", "prefix": "views/", "table": {"database": "analytics", "table": "views"}, "crawler": "views"},
  {"bucket": "lake", "prefix": "ghost/", "crawler": "no-such-crawler"}
]"#;

fn config(extra: &[(&str, &str)]) -> Config {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(move |name| {
        if name == "CRAWLER_ROUTES" {
            return Some(ROUTES.to_string());
        }
        extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

fn fast_backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        max_attempts: 4,
    }
}

fn trigger(catalog: FakeGlue, extra: &[(&str, &str)]) -> CrawlerTrigger<FakeGlue> {
    CrawlerTrigger::new(catalog, config(extra)).with_backoff(fast_backoff())
}

fn s3_body(keys: &[&str]) -> String {
    let records: Vec<_> = keys
        .iter()
        .map(|k| {
            json!({"eventName": "ObjectCreated:Put", "eventTime": "2026-11-22T01:00:00Z",
                   "s3": {"bucket": {"name": "lake"}, "object": {"key": k, "size": 1}}})
        })
        .collect();
    json!({ "Records": records }).to_string()
}

fn event(bodies: &[(&str, String)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (id, body) in bodies {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_string());
        m.body = Some(body.clone());
        event.records.push(m);
    }
    event
}

async fn run(t: &CrawlerTrigger<FakeGlue>, ev: &SqsEvent) -> (BatchReport, Metrics) {
    let metrics = Metrics::new("crawler-trigger", false);
    let deadline = Deadline::after(Duration::from_secs(30), Duration::from_secs(1));
    (t.process(ev, &deadline, &metrics).await, metrics)
}

/// The reason of entry `index`, which must have resolved as `kind` ("retry" | "poison").
fn reason_of(report: &BatchReport, index: usize, kind: &str) -> String {
    match (&report.entries()[index].1, kind) {
        (Verdict::Retry(reason), "retry") | (Verdict::Poison(reason), "poison") => reason.clone(),
        (other, _) => panic!("entry {index}: expected {kind}, got {other:?}"),
    }
}

fn failed(report: BatchReport, policy: PoisonPolicy) -> Vec<String> {
    report
        .into_response(policy)
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

#[tokio::test]
async fn one_start_per_crawler_however_many_objects() {
    let t = trigger(FakeGlue::with_crawlers(&["shows", "events"]), &[]);
    let ev = event(&[
        ("m1", s3_body(&["shows/a.json", "shows/b.json"])),
        ("m2", s3_body(&["shows/c.json"])),
        ("m3", s3_body(&["events/x.json"])),
        ("m4", s3_body(&["shows/d.json", "events/y.json"])),
    ]);
    let (report, metrics) = run(&t, &ev).await;
    assert_eq!(t.glue().starts(), vec!["events", "shows"]);
    assert_eq!(metrics.counter(metric::CRAWLS_STARTED), 2);
    assert_eq!(metrics.counter(metric::OBJECTS), 6);
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
}

#[tokio::test]
async fn running_crawler_sends_its_messages_back_by_default() {
    let catalog = FakeGlue::with_crawlers(&["shows", "events"]);
    catalog.set_state("shows", CrawlerState::Running, None);
    let t = trigger(catalog, &[]);
    let ev = event(&[
        ("m1", s3_body(&["shows/a.json"])),
        ("m2", s3_body(&["events/b.json"])),
        ("m3", s3_body(&["shows/c.json"])),
    ]);
    let (report, metrics) = run(&t, &ev).await;
    assert_eq!(metrics.counter(metric::DEFERRED_RUNNING), 1);
    assert_eq!(t.glue().starts(), vec!["events"]);
    assert_eq!(failed(report, PoisonPolicy::DeadLetter), vec!["m1", "m3"]);
}

#[tokio::test]
async fn accept_policy_acknowledges_objects_of_a_running_crawler() {
    let catalog = FakeGlue::with_crawlers(&["shows"]);
    catalog.set_state("shows", CrawlerState::Running, None);
    let t = trigger(catalog, &[("CRAWLER_RUNNING_POLICY", "accept")]);
    let (report, metrics) = run(&t, &event(&[("m1", s3_body(&["shows/a.json"]))])).await;
    assert_eq!(metrics.counter(metric::DEFERRED_RUNNING), 1);
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
}

#[tokio::test]
async fn unknown_crawler_is_poison_naming_the_crawler() {
    let t = trigger(FakeGlue::with_crawlers(&["shows"]), &[]);
    let (report, metrics) = run(
        &t,
        &event(&[
            ("m1", s3_body(&["ghost/a.json"])),
            ("m2", s3_body(&["shows/a.json"])),
        ]),
    )
    .await;
    let reason = reason_of(&report, 0, "poison");
    assert!(
        reason.contains("crawler no-such-crawler does not exist"),
        "{reason}"
    );
    assert_eq!(metrics.counter(metric::POISON), 1);
    assert_eq!(failed(report, PoisonPolicy::DeadLetter), vec!["m1"]);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_reported() {
    let catalog = FakeGlue::with_crawlers(&["shows"]);
    *catalog.transient_start_failures.lock().unwrap() = 2;
    let t = trigger(catalog, &[]);
    let (report, _) = run(&t, &event(&[("m1", s3_body(&["shows/a.json"]))])).await;
    assert_eq!(
        t.glue().starts(),
        vec!["shows"],
        "succeeded on the third attempt"
    );
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());

    let catalog = FakeGlue::with_crawlers(&["shows"]);
    *catalog.transient_start_failures.lock().unwrap() = 100;
    let t = trigger(catalog, &[]);
    let (report, _) = run(&t, &event(&[("m1", s3_body(&["shows/a.json"]))])).await;
    let reason = reason_of(&report, 0, "retry");
    assert!(
        reason.contains("after 4 attempt(s)") && reason.contains("ThrottlingException"),
        "{reason}"
    );
    assert_eq!(
        failed(report, PoisonPolicy::Drop),
        vec!["m1"],
        "transient failures are retried even when poison is dropped"
    );
}

#[tokio::test]
async fn minimum_interval_defers_instead_of_starting() {
    let catalog = FakeGlue::with_crawlers(&["shows", "events"]);
    catalog.set_state(
        "shows",
        CrawlerState::Ready,
        Some(SystemTime::now() - Duration::from_secs(10)),
    );
    catalog.set_state(
        "events",
        CrawlerState::Ready,
        Some(SystemTime::now() - Duration::from_secs(600)),
    );
    let t = trigger(catalog, &[("MIN_CRAWL_INTERVAL_SECONDS", "300")]);
    let (report, metrics) = run(
        &t,
        &event(&[
            ("m1", s3_body(&["shows/a.json"])),
            ("m2", s3_body(&["events/a.json"])),
        ]),
    )
    .await;
    assert_eq!(t.glue().starts(), vec!["events"]);
    assert_eq!(metrics.counter(metric::DEFERRED_INTERVAL), 1);
    match &report.entries()[0].1 {
        Verdict::Retry(reason) => {
            assert!(reason.contains("MIN_CRAWL_INTERVAL_SECONDS"), "{reason}")
        }
        other => panic!("expected retry, got {other:?}"),
    }
    assert_eq!(failed(report, PoisonPolicy::DeadLetter), vec!["m1"]);
}

#[tokio::test]
async fn test_events_and_unmatched_objects_are_acknowledged_and_counted() {
    let t = trigger(FakeGlue::with_crawlers(&["shows"]), &[]);
    let test_event =
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "lake"}).to_string();
    let (report, metrics) = run(
        &t,
        &event(&[("t", test_event), ("u", s3_body(&["elsewhere/a.json"]))]),
    )
    .await;
    assert_eq!(metrics.counter(metric::TEST_EVENTS), 1);
    assert_eq!(metrics.counter(metric::UNMATCHED), 1);
    assert!(t.glue().starts().is_empty());
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
}

#[tokio::test]
async fn unparsable_body_is_poison_and_the_rest_of_the_batch_proceeds() {
    let t = trigger(FakeGlue::with_crawlers(&["shows"]), &[]);
    let ev = event(&[
        ("bad", "not json".into()),
        ("good", s3_body(&["shows/a.json"])),
    ]);
    let (report, _) = run(&t, &ev).await;
    assert_eq!(t.glue().starts(), vec!["shows"]);
    let reason = reason_of(&report, 0, "poison");
    assert!(reason.contains("not valid JSON"), "{reason}");
    assert_eq!(failed(report, PoisonPolicy::DeadLetter), vec!["bad"]);
    let (report, _) = run(&t, &event(&[("bad", "not json".into())])).await;
    assert!(
        failed(report, PoisonPolicy::Drop).is_empty(),
        "POISON_POLICY=drop acknowledges it"
    );
}

#[tokio::test]
async fn a_panic_fails_only_the_messages_of_that_crawler() {
    let mut catalog = FakeGlue::with_crawlers(&["shows", "events"]);
    catalog.panic_on_start = Some("shows".into());
    let t = trigger(catalog, &[]);
    let (report, _) = run(
        &t,
        &event(&[
            ("m1", s3_body(&["shows/a.json"])),
            ("m2", s3_body(&["events/a.json"])),
        ]),
    )
    .await;
    assert_eq!(t.glue().starts(), vec!["events"]);
    assert_eq!(failed(report, PoisonPolicy::Drop), vec!["m1"]);
}

fn with_tables() -> FakeGlue {
    let mut catalog = FakeGlue::with_crawlers(&["views"]);
    let table = |t: &str| TableRef {
        database: "analytics".into(),
        table: t.into(),
    };
    catalog
        .tables
        .insert(table("clicks"), vec!["dt".into(), "hour".into()]);
    catalog.tables.insert(table("views"), vec!["dt".into()]);
    catalog
}

#[tokio::test]
async fn fast_path_registers_each_partition_once_and_starts_no_crawler() {
    let t = trigger(with_tables(), &[]);
    let ev = event(&[
        (
            "m1",
            s3_body(&[
                "clicks/dt=2026-11-22/hour=01/a.json",
                "clicks/dt=2026-11-22/hour=01/b.json",
            ]),
        ),
        ("m2", s3_body(&["clicks/dt=2026-11-22/hour=02/c.json"])),
    ]);
    let (report, metrics) = run(&t, &ev).await;
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
    assert!(t.glue().starts().is_empty());
    assert_eq!(metrics.counter(metric::PARTITIONS_REGISTERED), 2);
    let stored: Vec<_> = t
        .glue()
        .partitions
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v, l)| (v.join("/"), l.clone()))
        .collect();
    assert_eq!(
        stored,
        vec![
            (
                "2026-11-22/01".to_string(),
                "s3://lake/clicks/dt=2026-11-22/hour=01/".to_string()
            ),
            (
                "2026-11-22/02".to_string(),
                "s3://lake/clicks/dt=2026-11-22/hour=02/".to_string()
            ),
        ]
    );
    // Idempotent: the same objects again register nothing new and still succeed.
    let (report, metrics) = run(&t, &ev).await;
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
    assert_eq!(metrics.counter(metric::PARTITIONS_REGISTERED), 0);
    assert_eq!(metrics.counter(metric::PARTITIONS_EXISTING), 2);
}

#[tokio::test]
async fn non_partition_keys_fall_back_to_the_crawler_or_are_poison() {
    let t = trigger(with_tables(), &[]);
    let ev = event(&[
        ("no-fallback", s3_body(&["clicks/2026/11/22/a.json"])),
        ("fallback", s3_body(&["views/manifest.json"])),
        ("partition", s3_body(&["views/dt=2026-11-22/a.json"])),
    ]);
    let (report, metrics) = run(&t, &ev).await;
    assert_eq!(t.glue().starts(), vec!["views"]);
    assert_eq!(metrics.counter(metric::PARTITIONS_REGISTERED), 1);
    let reason = reason_of(&report, 0, "poison");
    assert!(
        reason.contains("analytics.clicks") && reason.contains("dt=…/hour=…/"),
        "{reason}"
    );
    assert_eq!(
        failed(report, PoisonPolicy::DeadLetter),
        vec!["no-fallback"]
    );
}

#[tokio::test]
async fn missing_table_without_fallback_is_poison() {
    let t = trigger(FakeGlue::default(), &[]);
    let (report, _) = run(
        &t,
        &event(&[("m1", s3_body(&["clicks/dt=1/hour=2/a.json"]))]),
    )
    .await;
    let reason = reason_of(&report, 0, "poison");
    assert!(
        reason.contains("analytics.clicks does not exist"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_message_with_retryable_and_poison_objects_is_retried() {
    let catalog = FakeGlue::with_crawlers(&["shows"]);
    catalog.set_state("shows", CrawlerState::Running, None);
    let t = trigger(catalog, &[]);
    let (report, _) = run(
        &t,
        &event(&[("m1", s3_body(&["ghost/a.json", "shows/b.json"]))]),
    )
    .await;
    assert_eq!(failed(report, PoisonPolicy::Drop), vec!["m1"]);
}

#[tokio::test]
async fn committed_sample_events_parse_and_resolve() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/crawler-trigger");
    let routes = r#"[
      {"bucket": "ferrolake-transformed", "prefix": "shows/", "crawler": "shows"},
      {"bucket": "ferrolake-transformed", "prefix": "events/", "table": {"database": "analytics", "table": "events"}}
    ]"#;
    let mut seen = 0;
    let mut registered = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // A fresh catalog per sample: each is a separate invocation on an idle crawler.
        let mut catalog = FakeGlue::with_crawlers(&["shows"]);
        catalog.tables.insert(
            TableRef {
                database: "analytics".into(),
                table: "events".into(),
            },
            vec!["dt".into(), "hour".into()],
        );
        let config =
            Config::from_lookup(|k| (k == "CRAWLER_ROUTES").then(|| routes.to_string())).unwrap();
        let t = CrawlerTrigger::new(catalog, config).with_backoff(fast_backoff());
        let ev: SqsEvent = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (report, metrics) = run(&t, &ev).await;
        registered += metrics.counter(metric::PARTITIONS_REGISTERED);
        let failures = failed(report, PoisonPolicy::DeadLetter);
        let expected: Vec<String> = if path.ends_with("mixed-batch.json") {
            vec!["11111111-0000-4000-8000-000000000008".into()]
        } else {
            vec![]
        };
        assert_eq!(failures, expected, "{}", path.display());
        seen += 1;
    }
    assert_eq!(seen, 4);
    assert_eq!(
        registered, 2,
        "events/ partitions of s3-via-sns and mixed-batch"
    );
}

#[tokio::test]
async fn a_new_partition_also_starts_the_fallback_crawler_for_schema_changes() {
    let t = trigger(with_tables(), &[]);
    let ev = event(&[
        ("m1", s3_body(&["views/dt=2026-11-22/a.json"])),
        ("m2", s3_body(&["views/dt=2026-11-22/b.json"])),
    ]);
    let (report, metrics) = run(&t, &ev).await;
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
    assert_eq!(metrics.counter(metric::PARTITIONS_REGISTERED), 1);
    assert_eq!(metrics.counter(metric::SCHEMA_CRAWLS), 1);
    assert_eq!(t.glue().starts(), vec!["views"], "one schema crawl");

    // The partition exists now: no crawl. A new partition while the crawler still runs:
    // the crawl is not started, and the message is not retried (its object is queryable).
    let (report, metrics) = run(&t, &ev).await;
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
    assert_eq!(metrics.counter(metric::SCHEMA_CRAWLS), 0);
    let (report, metrics) = run(
        &t,
        &event(&[("m3", s3_body(&["views/dt=2026-11-23/c.json"]))]),
    )
    .await;
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
    assert_eq!(metrics.counter(metric::SCHEMA_CRAWLS), 1);
    assert_eq!(metrics.counter(metric::CRAWLS_STARTED), 0);
    assert_eq!(metrics.counter(metric::DEFERRED_RUNNING), 1);
    assert_eq!(t.glue().starts(), vec!["views"]);
}

/// BatchCreatePartition takes at most 100 partitions per call
/// (https://docs.aws.amazon.com/glue/latest/webapi/API_BatchCreatePartition.html).
#[tokio::test]
async fn partitions_are_registered_at_most_100_per_call() {
    let t = trigger(with_tables(), &[]);
    let keys: Vec<String> = (0..150)
        .map(|i| {
            format!(
                "clicks/dt=2026-11-{:02}/hour={:02}/f.json",
                i / 24 + 1,
                i % 24
            )
        })
        .collect();
    let bodies: Vec<(String, String)> = keys
        .chunks(10)
        .enumerate()
        .map(|(i, chunk)| {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            (format!("m{i}"), s3_body(&refs))
        })
        .collect();
    let bodies: Vec<(&str, String)> = bodies
        .iter()
        .map(|(id, b)| (id.as_str(), b.clone()))
        .collect();
    let (report, metrics) = run(&t, &event(&bodies)).await;
    assert!(failed(report, PoisonPolicy::DeadLetter).is_empty());
    assert_eq!(metrics.counter(metric::PARTITIONS_REGISTERED), 150);
    assert_eq!(*t.glue().batch_sizes.lock().unwrap(), vec![100, 50]);
}
