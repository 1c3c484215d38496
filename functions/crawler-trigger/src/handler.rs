//! SQS batch of S3 notifications → at most one StartCrawler per crawler, and direct
//! partition registration for fast-path tables. Every message ends processed, reported
//! for retry, or poison (dead-lettered by default), never silently dropped.

use crate::config::{Config, RunningPolicy};
use crate::glue::{CrawlerState, Glue, GlueError, PartitionOutcome, MAX_PARTITIONS_PER_CALL};
use crate::routing::{partition_of, Partition, TableRef};
use aws_lambda_events::sqs::SqsEvent;
use ferrolake_shared::batch::{
    catch_panic, message_id, parse_each, BatchReport, Body, SqsBatchFunction, Verdict,
};
use ferrolake_shared::envelope::{s3_notification_from_sqs_body, S3Notification};
use ferrolake_shared::retry::{retry, Backoff, Deadline};
use ferrolake_shared::telemetry::Metrics;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Metric names (EMF, namespace `ferrolake`).
pub mod metric {
    pub const MESSAGES: &str = "Messages";
    pub const OBJECTS: &str = "Objects";
    pub const UNMATCHED: &str = "UnmatchedObjects";
    pub const TEST_EVENTS: &str = "TestEvents";
    pub const CRAWLS_STARTED: &str = "CrawlsStarted";
    pub const DEFERRED_RUNNING: &str = "CrawlsDeferredRunning";
    pub const DEFERRED_INTERVAL: &str = "CrawlsDeferredInterval";
    pub const PARTITIONS_REGISTERED: &str = "PartitionsRegistered";
    pub const PARTITIONS_EXISTING: &str = "PartitionsAlreadyRegistered";
    pub const SCHEMA_CRAWLS: &str = "SchemaCrawlsRequested";
    pub const POISON: &str = ferrolake_shared::batch::metric::POISON;
    pub const RETRIED: &str = ferrolake_shared::batch::metric::RETRIED;
}

/// An object routed to a fast-path table.
struct TableObject {
    message: usize,
    bucket: String,
    prefix: String,
    key: String,
    fallback_crawler: Option<String>,
}

#[derive(Default)]
struct Plan {
    verdicts: Vec<Verdict>,
    crawlers: BTreeMap<String, Vec<usize>>,
    tables: BTreeMap<TableRef, Vec<TableObject>>,
    /// Fallback crawlers of tables that just gained a partition: started (coalesced, as
    /// any crawl) so the table picks up new columns. Best effort: the objects are already
    /// queryable, so a deferred or failed schema crawl retries no message; the next new
    /// partition asks again.
    schema_crawls: std::collections::BTreeSet<String>,
}

impl Plan {
    fn send_to_crawler(&mut self, crawler: &str, message: usize) {
        let messages = self.crawlers.entry(crawler.to_string()).or_default();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
}

pub struct CrawlerTrigger<C> {
    glue: C,
    config: Config,
    backoff: Backoff,
}

impl<C: Glue> CrawlerTrigger<C> {
    pub fn new(glue: C, config: Config) -> Self {
        Self {
            glue,
            config,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn glue(&self) -> &C {
        &self.glue
    }

    /// Parse and route every message (pure; a panic fails only its message).
    fn plan(&self, event: &SqsEvent, metrics: &Metrics) -> Plan {
        let parsed = parse_each(&event.records, "not a usable S3 event notification", |m| {
            s3_notification_from_sqs_body(m.body.as_deref()).map(
                |notification| match notification {
                    S3Notification::Objects(objects) => Body::Work(objects),
                    S3Notification::SnsControl { kind } => Body::SnsControl(kind),
                    S3Notification::TestEvent { bucket } => {
                        metrics.count(metric::TEST_EVENTS, 1);
                        tracing::info!(
                            messageId = message_id(m),
                            bucket = bucket.as_deref().unwrap_or(""),
                            "s3:TestEvent acknowledged"
                        );
                        Body::Nothing
                    }
                },
            )
        });
        let mut plan = Plan {
            verdicts: parsed.verdicts,
            ..Plan::default()
        };
        for (index, objects) in parsed.work {
            let id = message_id(&event.records[index]);
            for object in objects {
                metrics.count(metric::OBJECTS, 1);
                if !object.event_name.starts_with("ObjectCreated") {
                    tracing::debug!(messageId = id, event = %object.event_name, key = %object.key, "not an object creation; nothing to catalog");
                    continue;
                }
                let Some(route) = self.config.routes.route(&object.bucket, &object.key) else {
                    metrics.count(metric::UNMATCHED, 1);
                    tracing::info!(messageId = id, bucket = %object.bucket, key = %object.key, "object matches no route; acknowledged");
                    continue;
                };
                match (&route.table, &route.crawler) {
                    (Some(table), _) => {
                        plan.tables
                            .entry(table.clone())
                            .or_default()
                            .push(TableObject {
                                message: index,
                                bucket: object.bucket,
                                prefix: route.prefix.clone(),
                                key: object.key,
                                fallback_crawler: route.crawler.clone(),
                            })
                    }
                    (None, Some(crawler)) => plan.send_to_crawler(crawler, index),
                    (None, None) => unreachable!("Routes::new rejects routes without a target"),
                }
            }
        }
        plan
    }

    async fn register_partitions(&self, plan: &mut Plan, deadline: &Deadline, metrics: &Metrics) {
        let tables = std::mem::take(&mut plan.tables);
        for (table, objects) in tables {
            let messages: Vec<usize> = objects.iter().map(|o| o.message).collect();
            let result =
                catch_panic(self.register_table(plan, &table, objects, deadline, metrics)).await;
            if let Err(panic) = result {
                for m in messages {
                    plan.verdicts[m].merge(Verdict::Retry(format!(
                        "registering partitions of {table} panicked: {panic}"
                    )));
                }
            }
        }
    }

    async fn register_table(
        &self,
        plan: &mut Plan,
        table: &TableRef,
        objects: Vec<TableObject>,
        deadline: &Deadline,
        metrics: &Metrics,
    ) {
        let layout = retry(&self.backoff, deadline, GlueError::is_transient, |_| {
            self.glue.table_layout(table)
        })
        .await;
        let layout = match layout {
            Ok(layout) => layout,
            Err(failure) => {
                let not_found = matches!(failure.error, GlueError::NotFound { .. });
                let reason = format!("{failure}");
                for o in objects {
                    match (&o.fallback_crawler, not_found) {
                        (Some(crawler), true) => plan.send_to_crawler(crawler, o.message),
                        (None, true) => {
                            plan.verdicts[o.message].merge(Verdict::Poison(reason.clone()))
                        }
                        (_, false) => {
                            plan.verdicts[o.message].merge(Verdict::Retry(reason.clone()))
                        }
                    }
                }
                return;
            }
        };

        let schema_crawlers: Vec<String> = objects
            .iter()
            .filter_map(|o| o.fallback_crawler.clone())
            .collect();
        let mut partitions: BTreeMap<Partition, Vec<usize>> = BTreeMap::new();
        for o in objects {
            match partition_of(&o.bucket, &o.prefix, &o.key, &layout.partition_keys) {
                Ok(p) => partitions.entry(p).or_default().push(o.message),
                Err(err) => match &o.fallback_crawler {
                    Some(crawler) => plan.send_to_crawler(crawler, o.message),
                    None => plan.verdicts[o.message]
                        .merge(Verdict::Poison(format!("table {table}: {err}"))),
                },
            }
        }
        let partitions: Vec<(Partition, Vec<usize>)> = partitions.into_iter().collect();
        for chunk in partitions.chunks(MAX_PARTITIONS_PER_CALL) {
            let specs: Vec<Partition> = chunk.iter().map(|(p, _)| p.clone()).collect();
            let created = retry(&self.backoff, deadline, GlueError::is_transient, |_| {
                self.glue.create_partitions(table, &layout, &specs)
            })
            .await;
            match created {
                Ok(results) => {
                    for ((partition, messages), result) in chunk.iter().zip(results) {
                        let verdict = match result {
                            PartitionOutcome::Created => {
                                metrics.count(metric::PARTITIONS_REGISTERED, 1);
                                tracing::info!(table = %table, location = %partition.location, "partition registered");
                                plan.schema_crawls.extend(schema_crawlers.iter().cloned());
                                Verdict::Ok
                            }
                            PartitionOutcome::AlreadyExisted => {
                                metrics.count(metric::PARTITIONS_EXISTING, 1);
                                Verdict::Ok
                            }
                            PartitionOutcome::Failed(reason) => Verdict::Retry(format!(
                                "creating partition {} of {table} failed: {reason}",
                                partition.location
                            )),
                        };
                        for m in messages {
                            plan.verdicts[*m].merge(verdict.clone());
                        }
                    }
                }
                Err(failure) => {
                    let verdict = match failure.error {
                        GlueError::NotFound { .. } => Verdict::Poison(format!("{failure}")),
                        _ => Verdict::Retry(format!("{failure}")),
                    };
                    for (_, messages) in chunk {
                        for m in messages {
                            plan.verdicts[*m].merge(verdict.clone());
                        }
                    }
                }
            }
        }
    }

    async fn start_crawlers(&self, plan: &mut Plan, deadline: &Deadline, metrics: &Metrics) {
        let crawlers = std::mem::take(&mut plan.crawlers);
        let schema_crawls = std::mem::take(&mut plan.schema_crawls);
        for crawler in schema_crawls.iter().filter(|c| !crawlers.contains_key(*c)) {
            metrics.count(metric::SCHEMA_CRAWLS, 1);
            let verdict = catch_panic(self.crawl(crawler, 0, deadline, metrics))
                .await
                .unwrap_or_else(|panic| Verdict::Retry(format!("panicked: {panic}")));
            if let Verdict::Retry(reason) | Verdict::Poison(reason) = verdict {
                tracing::info!(crawler = %crawler, reason = %reason, "schema crawl not started now; the next new partition asks again");
            }
        }
        for (crawler, messages) in crawlers {
            let verdict = catch_panic(self.crawl(&crawler, messages.len(), deadline, metrics))
                .await
                .unwrap_or_else(|panic| {
                    Verdict::Retry(format!("starting crawler {crawler} panicked: {panic}"))
                });
            for m in messages {
                plan.verdicts[m].merge(verdict.clone());
            }
        }
    }

    /// Start `crawler` once for `messages` messages, honouring the minimum interval and
    /// the running policy.
    async fn crawl(
        &self,
        crawler: &str,
        messages: usize,
        deadline: &Deadline,
        metrics: &Metrics,
    ) -> Verdict {
        if !self.config.min_crawl_interval.is_zero() {
            let status = retry(&self.backoff, deadline, GlueError::is_transient, |_| {
                self.glue.crawler_status(crawler)
            })
            .await;
            match status {
                Ok(status)
                    if matches!(status.state, CrawlerState::Running | CrawlerState::Stopping) =>
                {
                    return self.already_running(crawler, metrics);
                }
                Ok(status) => {
                    let since = status
                        .last_crawl_started
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if let Some(since) = since.filter(|s| *s < self.config.min_crawl_interval) {
                        metrics.count(metric::DEFERRED_INTERVAL, 1);
                        let wait = self.config.min_crawl_interval - since;
                        tracing::info!(
                            crawler,
                            messages = messages as u64,
                            wait_s = wait.as_secs(),
                            "crawl deferred by MIN_CRAWL_INTERVAL_SECONDS"
                        );
                        return Verdict::Retry(format!(
                            "crawler {crawler} last started {}s ago; next crawl allowed in {}s (MIN_CRAWL_INTERVAL_SECONDS)",
                            since.as_secs(),
                            wait.as_secs().max(1)
                        ));
                    }
                }
                Err(failure) => {
                    return self.start_failed(crawler, failure.error, failure.attempts, metrics)
                }
            }
        }
        match retry(&self.backoff, deadline, GlueError::is_transient, |_| {
            self.glue.start_crawler(crawler)
        })
        .await
        {
            Ok(()) => {
                metrics.count(metric::CRAWLS_STARTED, 1);
                tracing::info!(crawler, messages = messages as u64, "crawler started");
                Verdict::Ok
            }
            Err(failure) => self.start_failed(crawler, failure.error, failure.attempts, metrics),
        }
    }

    fn already_running(&self, crawler: &str, metrics: &Metrics) -> Verdict {
        metrics.count(metric::DEFERRED_RUNNING, 1);
        match self.config.running_policy {
            RunningPolicy::Retry => {
                tracing::info!(
                    crawler,
                    "crawler already running; messages come back after the visibility timeout"
                );
                Verdict::Retry(format!(
                    "crawler {crawler} is already running; the new objects may not be in that crawl"
                ))
            }
            RunningPolicy::Accept => {
                tracing::info!(
                    crawler,
                    "crawler already running; objects accepted (CRAWLER_RUNNING_POLICY=accept)"
                );
                Verdict::Ok
            }
        }
    }

    fn start_failed(
        &self,
        crawler: &str,
        error: GlueError,
        attempts: u32,
        metrics: &Metrics,
    ) -> Verdict {
        match error {
            GlueError::CrawlerRunning { .. } => self.already_running(crawler, metrics),
            GlueError::NotFound { .. } => {
                tracing::error!(
                    crawler,
                    "crawler does not exist (EntityNotFoundException): check CRAWLER_ROUTES"
                );
                Verdict::Poison(format!(
                    "crawler {crawler} does not exist (EntityNotFoundException)"
                ))
            }
            other => {
                let reason = ferrolake_shared::telemetry::error_chain(&other);
                tracing::warn!(crawler, attempts, error = %reason, "starting crawler failed");
                Verdict::Retry(format!(
                    "starting crawler {crawler} failed after {attempts} attempt(s): {reason}"
                ))
            }
        }
    }
}

impl<C: Glue> SqsBatchFunction for CrawlerTrigger<C> {
    fn deadline_reserve(&self) -> std::time::Duration {
        self.config.deadline_reserve
    }

    fn poison_policy(&self) -> ferrolake_shared::batch::PoisonPolicy {
        self.config.batch.poison
    }

    /// The resolution of every message of `event`.
    async fn process(
        &self,
        event: &SqsEvent,
        deadline: &Deadline,
        metrics: &Metrics,
    ) -> BatchReport {
        metrics.count(metric::MESSAGES, event.records.len() as u64);
        let mut plan = self.plan(event, metrics);
        self.register_partitions(&mut plan, deadline, metrics).await;
        self.start_crawlers(&mut plan, deadline, metrics).await;

        let report = BatchReport::from_verdicts(&event.records, plan.verdicts, metrics);
        tracing::info!(
            messages = event.records.len() as u64,
            objects = metrics.counter(metric::OBJECTS),
            unmatched = metrics.counter(metric::UNMATCHED),
            test_events = metrics.counter(metric::TEST_EVENTS),
            crawls_started = metrics.counter(metric::CRAWLS_STARTED),
            deferred_running = metrics.counter(metric::DEFERRED_RUNNING),
            deferred_interval = metrics.counter(metric::DEFERRED_INTERVAL),
            partitions_registered = metrics.counter(metric::PARTITIONS_REGISTERED),
            retried = metrics.counter(metric::RETRIED),
            poison = metrics.counter(metric::POISON),
            "batch processed"
        );
        report
    }
}

#[cfg(test)]
mod tests;
