//! SQS batch of catalog change notifications → one fetch per distinct item (concurrent,
//! bounded) → one Kinesis record per item → partial batch response. A message is
//! acknowledged only once its item's record is in the stream.

use crate::catalog_api::{CatalogApi, FetchError, Fetched};
use crate::config::Config;
use crate::filter::{filter, record, Envelope};
use crate::notification::{now_rfc3339, parse, Notification, Parsed};
use aws_lambda_events::sqs::SqsEvent;
use ferrolake_shared::batch::{
    catch_panic, parse_each, BatchReport, Body, SqsBatchFunction, Verdict,
};
use ferrolake_shared::retry::{retry, Backoff, Deadline};
use ferrolake_shared::streams::{put_all, Entry, StreamPut, Target};
use ferrolake_shared::telemetry::{Metrics, Unit};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Metric names (EMF, namespace `ferrolake`).
pub mod metric {
    pub const MESSAGES: &str = "Messages";
    pub const FETCHED: &str = "ItemsFetched";
    pub const TOMBSTONES: &str = "Tombstones";
    pub const RECORDS_PUT: &str = "RecordsPut";
    pub const RETRIES: &str = "FetchRetries";
    pub const FAILURES: &str = ferrolake_shared::batch::metric::RETRIED;
    pub const POISON: &str = ferrolake_shared::batch::metric::POISON;
    pub const FETCH_LATENCY: &str = "FetchLatency";
    pub const DUPLICATES: &str = "DuplicateNotifications";
}

/// Kinesis' per-record limit (data + partition key).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The messages naming one item, and the latest notification for it.
struct ItemWork {
    messages: Vec<usize>,
    latest: Notification,
}

pub struct CatalogFetch<C, P> {
    catalog: C,
    streams: P,
    config: Config,
    backoff: Backoff,
}

impl<C: CatalogApi, P: StreamPut> CatalogFetch<C, P> {
    pub fn new(catalog: C, streams: P, config: Config) -> Self {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_attempts: 5,
        };
        Self {
            catalog,
            streams,
            config,
            backoff,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn catalog(&self) -> &C {
        &self.catalog
    }

    pub fn streams(&self) -> &P {
        &self.streams
    }
}

impl<C: CatalogApi, P: StreamPut> SqsBatchFunction for CatalogFetch<C, P> {
    fn deadline_reserve(&self) -> std::time::Duration {
        self.config.deadline_reserve
    }

    fn poison_policy(&self) -> ferrolake_shared::batch::PoisonPolicy {
        self.config.batch.poison
    }

    async fn process(
        &self,
        event: &SqsEvent,
        deadline: &Deadline,
        metrics: &Metrics,
    ) -> BatchReport {
        metrics.count(metric::MESSAGES, event.records.len() as u64);

        // 1. Parse; group messages by item (duplicates are fetched once).
        let fields = &self.config.notification;
        let parsed = parse_each(&event.records, "malformed notification", |message| {
            let sent = message.attributes.get("SentTimestamp").map(String::as_str);
            parse(message.body.as_deref(), sent, fields).map(|parsed| match parsed {
                Parsed::Change(n) => Body::Work(n),
                Parsed::Control(kind) => Body::SnsControl(kind),
            })
        });
        let mut verdicts = parsed.verdicts;
        let mut items: BTreeMap<String, ItemWork> = BTreeMap::new();
        for (index, n) in parsed.work {
            match items.get_mut(&n.item_id) {
                Some(work) => {
                    metrics.count(metric::DUPLICATES, 1);
                    work.messages.push(index);
                    work.latest = n;
                }
                None => {
                    items.insert(
                        n.item_id.clone(),
                        ItemWork {
                            messages: vec![index],
                            latest: n,
                        },
                    );
                }
            }
        }

        // 2. Fetch every item once, concurrently (bounded), retrying transient failures.
        let retries = AtomicU32::new(0);
        let fetched: Vec<(String, Result<Fetched, String>, bool)> =
            futures::stream::iter(items.iter())
                .map(|(item_id, work)| {
                    let retries = &retries;
                    async move {
                        if self.config.removed_types.contains(&work.latest.change_type) {
                            return (item_id.clone(), Ok(Fetched::Gone), false);
                        }
                        let started = Instant::now();
                        let result = catch_panic(retry(
                            &self.backoff,
                            deadline,
                            FetchError::is_transient,
                            |attempt| {
                                if attempt > 0 {
                                    retries.fetch_add(1, Ordering::Relaxed);
                                }
                                self.catalog.fetch(item_id)
                            },
                        ))
                        .await;
                        metrics.record(
                            metric::FETCH_LATENCY,
                            Unit::Milliseconds,
                            started.elapsed().as_secs_f64() * 1000.0,
                        );
                        match result {
                            Err(panic) => (
                                item_id.clone(),
                                Err(format!("fetching panicked: {panic}")),
                                true,
                            ),
                            Ok(Ok(fetched)) => (item_id.clone(), Ok(fetched), false),
                            Ok(Err(failure)) => {
                                let transient = failure.error.is_transient();
                                (
                                    item_id.clone(),
                                    Err(ferrolake_shared::telemetry::error_chain(&failure)),
                                    transient,
                                )
                            }
                        }
                    }
                })
                .buffer_unordered(self.config.batch.concurrency.max(1))
                .collect()
                .await;
        metrics.count(metric::RETRIES, u64::from(retries.load(Ordering::Relaxed)));

        // 3. One record per item; 4. PutRecords, failed entries retried alone.
        let fetched_at = now_rfc3339();
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for (item_id, result, transient) in fetched {
            let work = &items[&item_id];
            let n = &work.latest;
            let line = match result {
                Ok(Fetched::Found(metadata)) => {
                    metrics.count(metric::FETCHED, 1);
                    let env = Envelope {
                        item_id: &item_id,
                        change_type: &n.change_type,
                        sns_message_id: n.sns_message_id.as_deref(),
                        notified_at: n.notified_at.as_deref(),
                        fetched_at: &fetched_at,
                    };
                    record(&env, Some(filter(&metadata, &self.config.fields)))
                }
                Ok(Fetched::Gone) => {
                    metrics.count(metric::TOMBSTONES, 1);
                    let env = Envelope {
                        item_id: &item_id,
                        change_type: "removed",
                        sns_message_id: n.sns_message_id.as_deref(),
                        notified_at: n.notified_at.as_deref(),
                        fetched_at: &fetched_at,
                    };
                    record(&env, None)
                }
                Err(reason) => {
                    let verdict = if transient {
                        Verdict::Retry(reason)
                    } else {
                        Verdict::Poison(reason)
                    };
                    for &m in &work.messages {
                        verdicts[m].merge(verdict.clone());
                    }
                    continue;
                }
            };
            if line.len() + item_id.len() > MAX_RECORD_BYTES {
                for &m in &work.messages {
                    verdicts[m].merge(Verdict::Poison(format!(
                        "record for item {item_id} is {} bytes, over Kinesis' 1 MiB limit",
                        line.len() + item_id.len()
                    )));
                }
                continue;
            }
            records.push((item_id, line));
        }
        if !records.is_empty() {
            let entries: Vec<Entry> = records
                .iter()
                .map(|(id, data)| Entry {
                    data,
                    partition_key: id,
                })
                .collect();
            let target = Target::KinesisStream(self.config.stream_name.clone());
            let outcome = put_all(&self.streams, &target, &entries, &self.backoff, deadline).await;
            for ((item_id, _), result) in records.iter().zip(outcome) {
                match result {
                    None => metrics.count(metric::RECORDS_PUT, 1),
                    Some(error) => {
                        for &m in &items[item_id].messages {
                            verdicts[m].merge(Verdict::Retry(format!(
                                "record for item {item_id} not written to Kinesis: {error}"
                            )));
                        }
                    }
                }
            }
        }

        // 5. The batch report.
        let report = BatchReport::from_verdicts(&event.records, verdicts, metrics);
        tracing::info!(
            messages = event.records.len() as u64,
            items = items.len() as u64,
            fetched = metrics.counter(metric::FETCHED),
            tombstones = metrics.counter(metric::TOMBSTONES),
            records_put = metrics.counter(metric::RECORDS_PUT),
            fetch_retries = metrics.counter(metric::RETRIES),
            retried = metrics.counter(metric::FAILURES),
            poison = metrics.counter(metric::POISON),
            "batch processed"
        );
        report
    }
}

#[cfg(test)]
mod tests;
