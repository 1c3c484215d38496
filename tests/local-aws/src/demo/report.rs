//! What the demo prints, and the checks the end-to-end test asserts: counts per stage, the
//! S3 layout, sample rows, UDF outputs, Redshift principals, where bad messages ended up,
//! latencies and cold starts.

use super::catalog::Notification;
use super::drivers::{gunzip_bytes, DeliveryConfig, DeliveryStats, SqsMappingStats, TimeScale};
use super::glue;
use super::provision::BoxError;
use super::redshift::RedshiftReport;
use super::udf::UdfReport;
use super::Stage;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A message found in a dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    /// The SNS `Message` when the body is an SNS envelope, else the body.
    pub payload: String,
    pub receive_count: String,
}

/// Read (without deleting) every message of a dead-letter queue.
pub async fn drain_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Vec<DeadLetter>, BoxError> {
    let mut seen: BTreeMap<String, DeadLetter> = BTreeMap::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(5)
            .wait_time_seconds(0)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body.clone().unwrap_or_default();
            let payload = serde_json::from_str::<Value>(&body)
                .ok()
                .filter(|v| v["Type"] == "Notification")
                .and_then(|v| v["Message"].as_str().map(String::from))
                .unwrap_or(body);
            let receive_count = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .cloned()
                .unwrap_or_default();
            let id = m.message_id.clone().unwrap_or_default();
            seen.insert(
                id.clone(),
                DeadLetter {
                    message_id: id,
                    payload,
                    receive_count,
                },
            );
        }
    }
    Ok(seen.into_values().collect())
}

#[derive(Debug, Clone)]
pub struct QueueReport {
    pub function: String,
    pub queue: String,
    pub batches: u64,
    pub received: u64,
    pub acked: u64,
    pub retries_reported: u64,
    pub function_errors: u64,
    pub remaining: u64,
    pub last_error: Option<String>,
    /// (count, p50, p95, max) ms from SentTimestamp to acknowledged.
    pub latency: (usize, u64, u64, u64),
    pub dead_letters: Vec<DeadLetter>,
}

impl QueueReport {
    pub fn new(
        function: &str,
        queue: &str,
        s: &SqsMappingStats,
        remaining: u64,
        dead_letters: Vec<DeadLetter>,
    ) -> Self {
        Self {
            function: function.to_string(),
            queue: queue.to_string(),
            batches: s.batches.load(Ordering::SeqCst),
            received: s.received.load(Ordering::SeqCst),
            acked: s.deleted.load(Ordering::SeqCst),
            retries_reported: s.reported_failed.load(Ordering::SeqCst),
            function_errors: s.function_errors.load(Ordering::SeqCst),
            remaining,
            last_error: s
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            latency: s.latency.summary(),
            dead_letters,
        }
    }
}

/// The delivery stream's output, read back from S3.
#[derive(Debug, Clone, Default)]
pub struct DeliveryReport {
    pub bucket: String,
    pub raw_bucket: Option<String>,
    pub records_in: u64,
    pub invocations: u64,
    pub ok: u64,
    pub dropped: u64,
    pub failed: u64,
    pub contract_errors: Vec<String>,
    pub last_error: Option<String>,
    /// Kinesis arrival → written to S3: (count, p50, p95, max) ms.
    pub latency: (usize, u64, u64, u64),
    /// Folder → (objects, lines).
    pub layout: BTreeMap<String, (usize, usize)>,
    /// Every flattened row under `events/`, with its object key.
    pub rows: Vec<Value>,
    pub row_keys: Vec<String>,
    pub error_lines: usize,
    pub raw_objects: usize,
}

async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, BoxError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
        token = out.next_continuation_token().map(String::from);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

impl DeliveryReport {
    pub async fn read(
        s3: &aws_sdk_s3::Client,
        config: &DeliveryConfig,
        stats: &DeliveryStats,
    ) -> Result<Self, BoxError> {
        let mut report = Self {
            bucket: config.bucket.clone(),
            raw_bucket: config.backup.as_ref().map(|b| b.0.clone()),
            records_in: stats.records_in.load(Ordering::SeqCst),
            invocations: stats.invocations.load(Ordering::SeqCst),
            ok: stats.ok.load(Ordering::SeqCst),
            dropped: stats.dropped.load(Ordering::SeqCst),
            failed: stats.failed.load(Ordering::SeqCst),
            contract_errors: stats
                .contract_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            last_error: stats
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            latency: stats.latency.summary(),
            ..Default::default()
        };
        for key in list_keys(s3, &config.bucket).await? {
            let object = s3
                .get_object()
                .bucket(&config.bucket)
                .key(&key)
                .send()
                .await?;
            let bytes = gunzip_bytes(&object.body.collect().await?.into_bytes())?;
            let text = String::from_utf8_lossy(&bytes).to_string();
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let folder = key
                .rsplit_once('/')
                .map(|(f, _)| format!("{f}/"))
                .unwrap_or_default();
            let entry = report.layout.entry(folder.clone()).or_default();
            entry.0 += 1;
            entry.1 += lines.len();
            if folder.starts_with("errors/") {
                report.error_lines += lines.len();
            } else {
                for line in lines {
                    report.rows.push(
                        serde_json::from_str(line)
                            .map_err(|e| format!("s3://{}/{key}: {e}", config.bucket))?,
                    );
                    report.row_keys.push(key.clone());
                }
            }
        }
        if let Some(raw) = &report.raw_bucket {
            report.raw_objects = list_keys(s3, raw).await?.len();
        }
        Ok(report)
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub stage: Stage,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// The Glue table crawler-trigger routes to, read back after the run.
#[derive(Debug, Default)]
pub struct GlueReport {
    pub database: String,
    pub table: String,
    pub columns: Vec<String>,
    pub partition_keys: Vec<String>,
    /// Partitions that objects landed in, and how many of them are in the catalog.
    pub partitions_in_s3: usize,
    pub partitions_registered: usize,
    /// Crawls the stand-in ran, tables it created or updated, partitions it added.
    pub crawls: u64,
    pub tables_created: u64,
    pub tables_updated: u64,
    pub crawler_partitions: u64,
    pub crawl_error: Option<String>,
    /// crawler-trigger's fast path: partitions it registered (its log lines).
    pub fast_path_partitions: usize,
    /// First publish → the table exists (the crawler's first crawl).
    pub table_after_publish: Option<Duration>,
    /// Partitions whose first object landed after the table existed: object written →
    /// partition registered, and the first SNS publish of its change type → registered.
    pub object_to_partition: Vec<Duration>,
    pub sns_to_partition: Vec<Duration>,
}

impl GlueReport {
    pub fn new(
        route: &Value,
        written: &[(String, std::time::Instant)],
        times: &glue::PartitionTimes,
        crawls: &[std::sync::Arc<glue::CrawlStats>],
        published: &[(Option<String>, std::time::Instant)],
        fast_path_partitions: usize,
    ) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let prefix = route["prefix"].as_str().unwrap_or_default();
        let mut first_write: BTreeMap<Vec<String>, std::time::Instant> = BTreeMap::new();
        for (key, at) in written {
            if let Some(values) = glue::hive_values(prefix, key) {
                let entry = first_write.entry(values).or_insert(*at);
                *entry = (*entry).min(*at);
            }
        }
        let seen = times.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let partition_keys = times
            .partition_keys
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default();
        let event_index = partition_keys
            .iter()
            .position(|k| k == "event")
            .unwrap_or(0);
        let table_at = times.first_table();
        let mut report = GlueReport {
            database: route["table"]["database"]
                .as_str()
                .unwrap_or_default()
                .into(),
            table: route["table"]["table"].as_str().unwrap_or_default().into(),
            columns: times.columns.lock().map(|c| c.clone()).unwrap_or_default(),
            partitions_in_s3: first_write.len(),
            partitions_registered: first_write.keys().filter(|v| seen.contains_key(*v)).count(),
            crawls: crawls.iter().map(|c| c.crawls.load(SeqCst)).sum(),
            tables_created: crawls.iter().map(|c| c.tables_created.load(SeqCst)).sum(),
            tables_updated: crawls.iter().map(|c| c.tables_updated.load(SeqCst)).sum(),
            crawler_partitions: crawls.iter().map(|c| c.partitions_added.load(SeqCst)).sum(),
            crawl_error: crawls
                .iter()
                .find_map(|c| c.last_error.lock().ok().and_then(|e| e.clone())),
            fast_path_partitions,
            table_after_publish: table_at
                .zip(published.first())
                .map(|(t, (_, p))| t.saturating_duration_since(*p)),
            partition_keys,
            ..Default::default()
        };
        for (values, written_at) in &first_write {
            let (Some(table_at), Some(registered)) = (table_at, seen.get(values)) else {
                continue;
            };
            if *written_at <= table_at {
                continue;
            }
            report
                .object_to_partition
                .push(registered.saturating_duration_since(*written_at));
            // catalog-fetch writes deletions as `removed` tombstones (its REMOVED_TYPES).
            let event = values.get(event_index).map(String::as_str);
            let lands_in = |change: &Option<String>| {
                let change = match change.as_deref() {
                    Some("deleted") => Some("removed"),
                    other => other,
                };
                change == event
            };
            if let Some((_, sent)) = published.iter().find(|(change, _)| lands_in(change)) {
                report
                    .sns_to_partition
                    .push(registered.saturating_duration_since(*sent));
            }
        }
        report
    }

    /// "p50 X s, p95 Y s (n partitions)" of `values`.
    pub fn spread(values: &[Duration]) -> String {
        let mut v = values.to_vec();
        match (
            glue::percentile(&mut v, 50.0),
            glue::percentile(&mut v, 95.0),
        ) {
            (Some(p50), Some(p95)) => format!(
                "p50 {:.1} s, p95 {:.1} s ({} partitions)",
                p50.as_secs_f64(),
                p95.as_secs_f64(),
                v.len()
            ),
            _ => "no partition appeared after the table".into(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub events: usize,
    pub time: TimeScale,
    pub overrides: Vec<(String, String)>,
    pub settled: bool,
    pub published: Vec<(String, Notification)>,
    pub queues: Vec<QueueReport>,
    pub poison_log: Vec<Value>,
    pub delivery: Option<DeliveryReport>,
    pub crawls_started: usize,
    pub crawls_deferred: usize,
    /// The fast-path table: how its partitions got registered, and how fast.
    pub glue: Option<GlueReport>,
    pub udf: Option<UdfReport>,
    pub redshift: Option<RedshiftReport>,
    pub not_driven: Vec<String>,
    pub cold_starts: Vec<(String, Duration)>,
    /// (function, invocations, errors, restarts)
    pub invocations: Vec<(String, u64, u64, u64)>,
    pub timings: Vec<(String, Duration)>,
    pub stage_errors: Vec<(Stage, String)>,
    pub checks: Vec<Check>,
    pub total: Duration,
    /// Secret values (and md5 hashes of passwords) looked for in the function logs.
    pub secrets_checked: usize,
    /// (function, secret) pairs where a secret value appeared in the log.
    pub leaks: Vec<(String, String)>,
    pub catalog_requests: u64,
    pub catalog_unauthorized: u64,
    /// Deploy-time rules and request limits (tests/local-aws/src/demo/rules.rs, tests/local-aws/src/contracts.rs).
    pub contracts: ContractReport,
    /// IAM as the strict moto enforced it (tests/local-aws/src/demo/iam.rs).
    pub iam: Option<super::iam::IamReport>,
}

/// What the contract checks applied: AWS's create-time rules to the template, AWS's request
/// limits to every request the functions sent.
#[derive(Debug, Clone, Default)]
pub struct ContractReport {
    /// Distinct deploy-time rules that had a resource to apply to, and (rule, resource) pairs.
    pub rules_applied: usize,
    pub rule_checks: usize,
    /// AWS recommendations the deployment does not follow (not failures).
    pub rule_warnings: Vec<String>,
    pub requests_checked: u64,
    /// Requests the contract layer does not read (S3's REST API).
    pub requests_unchecked: u64,
    pub requests_refused: u64,
    pub refusals: Vec<String>,
}

impl Summary {
    pub fn queue(&self, function: &str) -> Option<&QueueReport> {
        self.queues.iter().find(|q| q.function == function)
    }

    /// The earliest stage (in pipeline order) with a failed check or error: a later
    /// stage's failure is often only a consequence.
    pub fn failed_stage(&self) -> Option<(Stage, String)> {
        self.stage_errors
            .iter()
            .cloned()
            .chain(
                self.checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| (c.stage, format!("{}: {}", c.name, c.detail))),
            )
            .min_by_key(|(stage, _)| *stage)
    }
}

/// Every version's value of each secret (`name`, value), and for Redshift secrets also the
/// password alone and its md5 hash as PostgreSQL/Redshift store it.
pub async fn secret_values(
    client: &aws_sdk_secretsmanager::Client,
    names: &[String],
) -> Result<Vec<(String, String)>, BoxError> {
    use md5::Digest;
    let mut out = Vec::new();
    for name in names {
        let versions = client
            .list_secret_version_ids()
            .secret_id(name)
            .send()
            .await?;
        for version in versions.versions() {
            let Some(id) = version.version_id() else {
                continue;
            };
            let value = client
                .get_secret_value()
                .secret_id(name)
                .version_id(id)
                .send()
                .await?;
            let Some(text) = value.secret_string() else {
                continue;
            };
            out.push((name.clone(), text.to_string()));
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                if let (Some(password), Some(user)) =
                    (v["password"].as_str(), v["username"].as_str())
                {
                    out.push((name.clone(), password.to_string()));
                    let hash = md5::Md5::digest(format!("{password}{user}").as_bytes());
                    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                    out.push((name.clone(), format!("md5{hex}")));
                }
            }
        }
    }
    Ok(out)
}

/// The end-to-end expectations, each attributed to the stage that owns it.
pub fn checks(s: &Summary, good: usize) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |stage: Stage, name: &str, passed: bool, detail: String| {
        out.push(Check {
            stage,
            name: name.to_string(),
            passed,
            detail,
        });
    };
    let empty = DeliveryReport::default();
    let d = s.delivery.as_ref().unwrap_or(&empty);
    let catalog = s.queue("catalog-fetch");

    // A refused request is a defect AWS would show on the first deploy; moto took it.
    check(
        Stage::Functions,
        "every AWS request within AWS's request limits",
        s.contracts.requests_refused == 0 && s.contracts.requests_checked > 0,
        match s.contracts.refusals.first() {
            Some(first) => format!(
                "{} of {} requests refused; first: {first}",
                s.contracts.requests_refused, s.contracts.requests_checked
            ),
            None => format!(
                "{} requests checked against the limits",
                s.contracts.requests_checked
            ),
        },
    );
    check(
        Stage::CatalogFetch,
        "every catalog change put to Kinesis once",
        d.records_in == good as u64,
        format!(
            "{} records read from the stream for {good} changes",
            d.records_in
        ),
    );
    let malformed: Vec<&str> = s
        .published
        .iter()
        .filter(|(_, n)| n.flaw.is_some())
        .map(|(_, n)| n.body.as_str())
        .collect();
    let dead: Vec<&str> = catalog
        .map(|q| q.dead_letters.iter().map(|m| m.payload.as_str()).collect())
        .unwrap_or_default();
    let mut want = malformed.clone();
    let mut got = dead.clone();
    want.sort_unstable();
    got.sort_unstable();
    check(
        Stage::CatalogFetch,
        "malformed notifications (and only they) dead-lettered",
        want == got,
        format!(
            "{} malformed published, {} in the DLQ",
            want.len(),
            got.len()
        ),
    );
    check(
        Stage::CatalogFetch,
        "catalog queue drained",
        catalog.is_some_and(|q| q.remaining == 0),
        format!(
            "{} messages left",
            catalog.map(|q| q.remaining).unwrap_or(0)
        ),
    );

    // The item ids of the rows each SNS message produced.
    let mut per_message: HashMap<&str, Vec<Option<&str>>> = HashMap::new();
    for row in &d.rows {
        if let Some(id) = row["sns_message_id"].as_str() {
            per_message
                .entry(id)
                .or_default()
                .push(row["item_id"].as_str());
        }
    }
    let wrong: Vec<String> = s
        .published
        .iter()
        .filter(|(_, n)| n.flaw.is_none())
        .filter_map(|(id, n)| {
            let items = per_message
                .get(id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let count = items.len();
            let matches = items.contains(&n.show_id.as_deref());
            (count != 1 || !matches)
                .then(|| format!("{} ×{count}", n.show_id.as_deref().unwrap_or("?")))
        })
        .collect();
    check(
        Stage::FirehoseFlatten,
        "each change flattened in S3 exactly once",
        wrong.is_empty() && d.rows.len() == good,
        if wrong.is_empty() {
            format!("{} rows for {good} changes", d.rows.len())
        } else {
            format!(
                "{} rows; wrong counts: {}",
                d.rows.len(),
                wrong.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            )
        },
    );
    let misplaced = d
        .rows
        .iter()
        .zip(&d.row_keys)
        .filter(|(row, key)| {
            let change = row["change_type"].as_str().unwrap_or("unknown");
            !key.starts_with(&format!("events/event={change}/dt="))
        })
        .count();
    check(
        Stage::FirehoseFlatten,
        "rows partitioned by change type, date and hour",
        misplaced == 0 && !d.rows.is_empty(),
        format!("{misplaced} rows outside events/event=<change_type>/dt=…/hour=…/"),
    );
    check(
        Stage::FirehoseFlatten,
        "every Kinesis record answered once (Ok + Dropped + ProcessingFailed = in)",
        d.ok + d.dropped + d.failed == d.records_in,
        format!(
            "{} in: {} Ok, {} Dropped, {} ProcessingFailed",
            d.records_in, d.ok, d.dropped, d.failed
        ),
    );
    check(
        Stage::FirehoseFlatten,
        "no processing failures or contract violations",
        d.failed == 0 && d.error_lines == 0 && d.contract_errors.is_empty(),
        format!(
            "{} failed, {} lines under errors/, contract: {:?}",
            d.failed, d.error_lines, d.contract_errors
        ),
    );
    let crawler = s.queue("crawler-trigger");
    check(
        Stage::CrawlerTrigger,
        "S3 notifications processed, crawler started",
        s.crawls_started > 0
            && crawler
                .is_some_and(|q| q.remaining == 0 && q.dead_letters.is_empty() && q.acked > 0),
        format!(
            "{} crawls started; {} notifications acked, {} left, {} dead-lettered",
            s.crawls_started,
            crawler.map(|q| q.acked).unwrap_or(0),
            crawler.map(|q| q.remaining).unwrap_or(0),
            crawler.map(|q| q.dead_letters.len()).unwrap_or(0)
        ),
    );
    if let Some(g) = &s.glue {
        check(
            Stage::CrawlerTrigger,
            "the crawler made the table from the flattened rows",
            g.tables_created == 1
                && g.partition_keys == ["event", "dt", "hour"]
                && g.columns.len() > 10
                && g.crawl_error.is_none(),
            format!(
                "{}.{}: {} columns, partition keys {:?}, {} created by the crawler, error {:?}",
                g.database,
                g.table,
                g.columns.len(),
                g.partition_keys,
                g.tables_created,
                g.crawl_error
            ),
        );
        check(
            Stage::CrawlerTrigger,
            "every partition in S3 registered, new ones by the fast path",
            g.partitions_registered == g.partitions_in_s3
                && g.partitions_in_s3 > 0
                && g.fast_path_partitions > 0,
            format!(
                "{}/{} partitions registered; {} by crawler-trigger's fast path, {} by the crawler",
                g.partitions_registered,
                g.partitions_in_s3,
                g.fast_path_partitions,
                g.crawler_partitions
            ),
        );
    }
    let leaks = |function: &str| -> Vec<String> {
        s.leaks
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, secret)| secret.clone())
            .collect()
    };
    for stage in Stage::FUNCTIONS {
        let leaked = leaks(stage.short());
        check(
            stage,
            "no secret value in the function's log",
            s.secrets_checked > 0 && leaked.is_empty(),
            if leaked.is_empty() {
                format!(
                    "{} secret values and password hashes looked for",
                    s.secrets_checked
                )
            } else {
                format!("values of {} found in its log", leaked.join(", "))
            },
        );
    }
    check(
        Stage::CatalogFetch,
        "catalog API called with the key from Secrets Manager",
        s.catalog_requests > 0 && s.catalog_unauthorized == 0,
        format!(
            "{} requests, {} without the right x-api-key",
            s.catalog_requests, s.catalog_unauthorized
        ),
    );
    match &s.udf {
        Some(u) => check(
            Stage::AthenaUdf,
            "UDF answers check out",
            u.failures.is_empty() && u.calls.iter().all(|c| !c.inputs.is_empty()),
            if u.failures.is_empty() {
                format!("{} UDF calls", u.calls.len())
            } else {
                u.failures.join("; ")
            },
        ),
        None => check(
            Stage::AthenaUdf,
            "UDF answers check out",
            false,
            "no UDF calls made".into(),
        ),
    }
    match &s.redshift {
        Some(r) => check(
            Stage::RedshiftConfig,
            "sample config applied, password rotated",
            r.failures.is_empty(),
            if r.failures.is_empty() {
                format!(
                    "{} statements, then 0; {} rotated",
                    r.first_apply_statements, r.rotated_user
                )
            } else {
                r.failures.join("; ")
            },
        ),
        None => check(
            Stage::RedshiftConfig,
            "sample config applied, password rotated",
            false,
            "did not run".into(),
        ),
    }
    out
}

fn ms((count, p50, p95, max): (usize, u64, u64, u64)) -> String {
    if count == 0 {
        return "—".into();
    }
    format!("{p50} / {p95} / {max} ms  (n={count})")
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(width).collect::<String>())
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut o = String::new();
        let good = self
            .published
            .iter()
            .filter(|(_, n)| n.flaw.is_none())
            .count();
        let _ = writeln!(
            o,
            "\n══ ferrolake demo: {good} catalog changes + {} malformed, {:.1} s ══",
            self.published.len() - good,
            self.total.as_secs_f64()
        );

        if let Some(iam) = &self.iam {
            let _ = writeln!(o, "\n{}", iam.line());
        }
        let _ = writeln!(o, "\nCounts per stage");
        for q in &self.queues {
            let _ = writeln!(
                o,
                "  {:<17} {} messages received in {} batches: {} acked, {} retries reported, {} function errors; {} in the DLQ, {} left",
                q.function, q.received, q.batches, q.acked, q.retries_reported, q.function_errors, q.dead_letters.len(), q.remaining
            );
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                o,
                "  {:<17} {} Kinesis records in {} invocations: {} Ok, {} Dropped, {} ProcessingFailed",
                "firehose-flatten", d.records_in, d.invocations, d.ok, d.dropped, d.failed
            );
            let objects: usize = d.layout.values().map(|(n, _)| n).sum();
            let _ = writeln!(
                o,
                "  {:<17} {objects} objects in s3://{}, {} raw backups in s3://{}",
                "S3",
                d.bucket,
                d.raw_objects,
                d.raw_bucket.as_deref().unwrap_or("-")
            );
        }
        let _ = writeln!(
            o,
            "  {:<17} {} crawls started, {} deferred (MIN_CRAWL_INTERVAL_SECONDS)",
            "Glue crawler", self.crawls_started, self.crawls_deferred
        );
        if let Some(g) = &self.glue {
            let _ = writeln!(
                o,
                "  {:<17} table {}.{} ({} columns, partitioned by {}): {}/{} partitions registered, {} by the fast path, {} by the crawler ({} crawls, {} schema updates)",
                "Glue catalog", g.database, g.table, g.columns.len(), g.partition_keys.join(", "),
                g.partitions_registered, g.partitions_in_s3, g.fast_path_partitions, g.crawler_partitions, g.crawls, g.tables_updated
            );
            if let Some(t) = g.table_after_publish {
                let _ = writeln!(
                    o,
                    "  {:<17} first publish → table made by the crawler: {:.1} s",
                    "freshness",
                    t.as_secs_f64()
                );
            }
            let _ = writeln!(
                o,
                "  {:<17} object in S3 → partition registered: {}",
                "freshness",
                GlueReport::spread(&g.object_to_partition)
            );
            let _ = writeln!(
                o,
                "  {:<17} SNS publish → partition registered: {}",
                "freshness",
                GlueReport::spread(&g.sns_to_partition)
            );
        }
        for (function, invocations, errors, restarts) in &self.invocations {
            let _ = writeln!(
                o,
                "  {function:<17} {invocations} invocations, {errors} errors, {restarts} restarts"
            );
        }

        if let Some(d) = &self.delivery {
            let _ = writeln!(o, "\nS3 layout (s3://{}/)", d.bucket);
            for (folder, (objects, lines)) in &d.layout {
                let _ = writeln!(o, "  {folder:<52} {objects:>3} objects {lines:>5} rows");
            }
            let _ = writeln!(o, "\nSample flattened rows");
            for row in d.rows.iter().filter(|r| r.get("title").is_some()).take(2) {
                let _ = writeln!(o, "  {}", clip(&row.to_string(), 400));
            }
            if let Some(tombstone) = d.rows.iter().find(|r| r["deleted"] == true) {
                let _ = writeln!(o, "  {}", clip(&tombstone.to_string(), 400));
            }
        }

        if let Some(u) = &self.udf {
            let _ = writeln!(
                o,
                "\nathena-udf ({} ping: {})",
                u.calls.len(),
                clip(&u.ping, 120)
            );
            for call in &u.calls {
                let _ = writeln!(o, "  {}", call.expression);
                for (i, out) in call.inputs.iter().zip(&call.outputs).take(2) {
                    let _ = writeln!(
                        o,
                        "    {:<44} → {}",
                        clip(i.as_deref().unwrap_or("NULL"), 44),
                        clip(out.as_deref().unwrap_or("NULL"), 90)
                    );
                }
            }
        }

        if let Some(r) = &self.redshift {
            let _ = writeln!(
                o,
                "\nredshift-config (target {}, PostgreSQL 15 standing in for Redshift)",
                r.target
            );
            let _ = writeln!(
                o,
                "  first apply: {} statements; re-apply: {} statements",
                r.first_apply_statements, r.second_apply_statements
            );
            let _ = writeln!(o, "  groups: {}", r.groups.join(", "));
            for (user, groups, login) in &r.users {
                let _ = writeln!(
                    o,
                    "  user {user:<16} groups [{groups}]{}",
                    if *login { "" } else { "  (login disabled)" }
                );
            }
            let _ = writeln!(
                o,
                "  managed passwords in Secrets Manager: {}",
                r.secrets_created.join(", ")
            );
            let _ = writeln!(
                o,
                "  rotated {} ({}): new password logs in: {}, old password refused: {}",
                r.rotated_user, r.rotated_secret, r.new_password_logs_in, r.old_password_refused
            );
        }

        let _ = writeln!(o, "\nWhere the bad messages went");
        for q in &self.queues {
            if q.dead_letters.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "  {}'s dead-letter queue ({} messages):",
                q.queue,
                q.dead_letters.len()
            );
            for m in &q.dead_letters {
                let _ = writeln!(
                    o,
                    "    {:<60} received {}×",
                    clip(&m.payload, 60),
                    m.receive_count
                );
            }
        }
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for line in &self.poison_log {
            *reasons
                .entry(line["reason"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
        for (reason, n) in reasons {
            let _ = writeln!(
                o,
                "    logged by catalog-fetch ({n}×): {}",
                clip(&reason, 110)
            );
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                o,
                "  firehose-flatten: {} records under errors/, {} dropped",
                d.error_lines, d.dropped
            );
        }

        let _ = writeln!(o, "\nLatency per stage (p50 / p95 / max)");
        for q in &self.queues {
            let _ = writeln!(
                o,
                "  {:<46} {}",
                format!("{}: SQS sent → acknowledged", q.function),
                ms(q.latency)
            );
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                o,
                "  {:<46} {}",
                "firehose-flatten: Kinesis arrival → in S3",
                ms(d.latency)
            );
        }
        for (name, d) in &self.timings {
            let _ = writeln!(o, "  {name:<46} {:.2} s", d.as_secs_f64());
        }
        let _ = writeln!(
            o,
            "  cold starts of the debug builds (spawn → first Runtime API poll; release numbers: docs/benchmarks.md): {}",
            self.cold_starts
                .iter()
                .map(|(f, d)| format!("{f} {:.1} ms", d.as_secs_f64() * 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        );

        let _ = writeln!(o, "\nLocal stand-ins");
        let _ = writeln!(
            o,
            "  time-scaled: failed SQS messages return after {} s (template: queue visibility timeout); batching windows and the Firehose buffer ≤ {} s",
            self.time.retry_delay.as_secs(),
            self.time.max_buffer_interval.as_secs()
        );
        let c = &self.contracts;
        let _ = writeln!(
            o,
            "  deploy-time rules: {} applied ({} checks, {} warnings); request limits: {} requests checked, {} refused ({} S3 requests not read)",
            c.rules_applied,
            c.rule_checks,
            c.rule_warnings.len(),
            c.requests_checked,
            c.requests_refused,
            c.requests_unchecked
        );
        for w in &c.rule_warnings {
            let _ = writeln!(o, "    warning: {w}");
        }
        for r in &c.refusals {
            let _ = writeln!(o, "    refused: {r}");
        }
        for (k, v) in &self.overrides {
            let _ = writeln!(o, "  parameter {k}={v}");
        }
        for n in &self.not_driven {
            let _ = writeln!(o, "  {n}");
        }

        let _ = writeln!(o, "\nChecks");
        for c in &self.checks {
            let _ = writeln!(
                o,
                "  {} {:<52} {}",
                if c.passed { "✓" } else { "✗" },
                format!("{}: {}", c.stage.short(), c.name),
                c.detail
            );
        }
        for (stage, e) in &self.stage_errors {
            let _ = writeln!(o, "  ✗ {}: {e}", stage.short());
        }
        f.write_str(&o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stage: Stage, passed: bool) -> Check {
        Check {
            stage,
            name: format!("{stage:?}"),
            passed,
            detail: "detail".into(),
        }
    }

    #[test]
    fn the_earliest_failing_stage_is_named() {
        let mut s = Summary::default();
        assert_eq!(s.failed_stage(), None);
        s.checks = vec![
            check(Stage::CatalogFetch, true),
            check(Stage::AthenaUdf, false),
            check(Stage::FirehoseFlatten, false),
        ];
        assert_eq!(
            s.failed_stage().map(|(stage, _)| stage),
            Some(Stage::FirehoseFlatten)
        );
        s.stage_errors.push((Stage::CatalogFetch, "boom".into()));
        assert_eq!(s.failed_stage(), Some((Stage::CatalogFetch, "boom".into())));
    }

    #[test]
    fn nothing_published_fails_every_pipeline_check() {
        let mut s = Summary::default();
        s.published.push((
            "m-1".into(),
            Notification {
                show_id: Some("show-1".into()),
                body: "{}".into(),
                flaw: None,
            },
        ));
        let failed: Vec<Stage> = checks(&s, 1)
            .into_iter()
            .filter(|c| !c.passed)
            .map(|c| c.stage)
            .collect();
        for stage in [
            Stage::CatalogFetch,
            Stage::FirehoseFlatten,
            Stage::CrawlerTrigger,
            Stage::AthenaUdf,
            Stage::RedshiftConfig,
        ] {
            assert!(
                failed.contains(&stage),
                "{stage:?} must fail on an empty run: {failed:?}"
            );
        }
    }
}
