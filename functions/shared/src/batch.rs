//! SQS batch processing with partial batch responses (`ReportBatchItemFailures`).
//!
//! Every record resolves to exactly one [`Outcome`]:
//! - `Ok`: processed; SQS deletes it.
//! - `Retry(err)`: reported in `batchItemFailures`; SQS redelivers it after the visibility timeout.
//! - `Poison(err)`: cannot succeed. By default it is reported too, so SQS retries it up to
//!   `maxReceiveCount` and then moves it to the DLQ; [`PoisonPolicy::Drop`] acknowledges it instead.
//!
//! A record that panics counts as that record's failure (reported for retry), never the batch's.

use crate::env::{Env, EnvError};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// What processing one message came to.
#[derive(Debug)]
pub enum Outcome<E> {
    Ok,
    Retry(E),
    Poison(E),
}

/// What happens to a message whose processing can never succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoisonPolicy {
    /// Report it as failed: SQS retries, then dead-letters it (needs a redrive policy).
    #[default]
    DeadLetter,
    /// Acknowledge it (it is deleted) after logging it. Use only where losing it is acceptable.
    Drop,
}

crate::choices! {
    PoisonPolicy (ignore_ascii_case) {
        "dead-letter" | "deadletter" | "dlq" | "retry" => DeadLetter,
        "drop" => Drop,
    }
}

/// Batch settings, usually from the environment ([`BatchConfig::from_env`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// How many records are processed at once.
    pub concurrency: usize,
    pub poison: PoisonPolicy,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            // SQS's default batch size: a default batch's I/O runs all at once.
            concurrency: 10,
            poison: PoisonPolicy::DeadLetter,
        }
    }
}

impl BatchConfig {
    /// `BATCH_CONCURRENCY` (default 10, at least 1) and `POISON_POLICY` (`dead-letter` | `drop`).
    pub fn from_env() -> Result<Self, EnvError> {
        Self::read(&crate::env::from_process_env())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        Self::read(&Env::new(lookup))
    }

    /// The batch settings of a function's environment.
    pub fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, EnvError> {
        let default = Self::default();
        Ok(Self {
            concurrency: env
                .number("BATCH_CONCURRENCY", 1..)?
                .unwrap_or(default.concurrency),
            poison: env.choice("POISON_POLICY")?.unwrap_or(default.poison),
        })
    }
}

/// The verdict on one message when its work is grouped with others' (one Glue call or one
/// PutRecords for many messages). Merging keeps the worst — `Retry` over `Poison` over
/// `Ok` — so a message with any retryable part comes back even under `POISON_POLICY=drop`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verdict {
    #[default]
    Ok,
    Poison(String),
    Retry(String),
}

impl Verdict {
    fn rank(&self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Poison(_) => 1,
            Verdict::Retry(_) => 2,
        }
    }

    pub fn merge(&mut self, other: Verdict) {
        if other.rank() > self.rank() {
            *self = other;
        }
    }

    pub fn into_outcome(self) -> Outcome<String> {
        match self {
            Verdict::Ok => Outcome::Ok,
            Verdict::Poison(reason) => Outcome::Poison(reason),
            Verdict::Retry(reason) => Outcome::Retry(reason),
        }
    }
}

/// Metric names every SQS function counts when it builds its batch report.
pub mod metric {
    /// Messages reported in `batchItemFailures` to be retried.
    pub const RETRIED: &str = "MessagesRetried";
    /// Messages resolved as poison.
    pub const POISON: &str = "PoisonMessages";
}

/// How one record ended, as logged and counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Processed,
    Retry(String),
    Poison(String),
    Panicked(String),
}

/// The resolution of every record of a batch, in input order.
#[derive(Debug, Default)]
pub struct BatchReport {
    entries: Vec<(Option<String>, Resolution)>,
}

impl BatchReport {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the outcome of the message `message_id`, logging failures with the message id and reason.
    pub fn record<E: Display>(&mut self, message_id: Option<&str>, outcome: Outcome<E>) {
        let resolution = match outcome {
            Outcome::Ok => Resolution::Processed,
            Outcome::Retry(err) => Resolution::Retry(err.to_string()),
            Outcome::Poison(err) => Resolution::Poison(err.to_string()),
        };
        self.push(message_id.map(str::to_string), resolution);
    }

    fn push(&mut self, message_id: Option<String>, resolution: Resolution) {
        let id = message_id.as_deref().unwrap_or("<missing messageId>");
        match &resolution {
            Resolution::Processed => {}
            Resolution::Retry(reason) => {
                tracing::warn!(messageId = id, reason = %reason, "message reported for retry")
            }
            Resolution::Poison(reason) => {
                tracing::error!(messageId = id, reason = %reason, "poison message")
            }
            Resolution::Panicked(reason) => {
                tracing::error!(messageId = id, reason = %reason, "processing panicked; message reported for retry")
            }
        }
        self.entries.push((message_id, resolution));
    }

    /// The report of a batch whose messages were resolved as `verdicts` (in input order),
    /// counting retried and poison messages in `metrics`.
    pub fn from_verdicts(
        messages: &[SqsMessage],
        verdicts: Vec<Verdict>,
        metrics: &crate::telemetry::Metrics,
    ) -> Self {
        let mut report = Self::new();
        for (message, verdict) in messages.iter().zip(verdicts) {
            match &verdict {
                Verdict::Retry(_) => metrics.count(metric::RETRIED, 1),
                Verdict::Poison(_) => metrics.count(metric::POISON, 1),
                Verdict::Ok => {}
            }
            report.record(message.message_id.as_deref(), verdict.into_outcome());
        }
        report
    }

    pub fn entries(&self) -> &[(Option<String>, Resolution)] {
        &self.entries
    }

    pub fn count(&self, matches: impl Fn(&Resolution) -> bool) -> usize {
        self.entries.iter().filter(|(_, r)| matches(r)).count()
    }

    /// The partial batch response. A failed record without a message id cannot be named,
    /// so it is reported with an empty identifier, which makes Lambda retry the whole
    /// batch: a duplicate is better than a lost message.
    pub fn into_response(self, policy: PoisonPolicy) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for (id, resolution) in self.entries {
            let failed = match resolution {
                Resolution::Processed => false,
                Resolution::Retry(_) | Resolution::Panicked(_) => true,
                Resolution::Poison(_) => policy == PoisonPolicy::DeadLetter,
            };
            if failed {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}

/// A Lambda function triggered by SQS: it resolves a batch into a [`BatchReport`];
/// [`SqsBatchFunction::handle`] turns that into the partial batch response, with the
/// deadline taken from the invocation.
#[allow(async_fn_in_trait)]
pub trait SqsBatchFunction {
    /// Time kept before the Lambda deadline for answering.
    fn deadline_reserve(&self) -> std::time::Duration;
    fn poison_policy(&self) -> PoisonPolicy;
    /// Resolve every message of `event`.
    async fn process(
        &self,
        event: &SqsEvent,
        deadline: &crate::retry::Deadline,
        metrics: &crate::telemetry::Metrics,
    ) -> BatchReport;

    async fn handle(
        &self,
        event: &SqsEvent,
        ctx: &lambda_runtime::Context,
        metrics: &crate::telemetry::Metrics,
    ) -> SqsBatchResponse {
        let deadline = crate::retry::Deadline::from_context(ctx, self.deadline_reserve());
        self.process(event, &deadline, metrics)
            .await
            .into_response(self.poison_policy())
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Run `f`, turning a panic inside it into `Err(panic message)`: the synchronous twin of
/// [`catch_panic`], for per-message parsing.
pub fn catch_panic_sync<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

/// Run `future`, turning a panic inside it into `Err(panic message)`. For grouped work
/// (one Glue call for many messages) whose messages must fail, not the batch, on a bug.
pub async fn catch_panic<T>(future: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| panic_message(payload.as_ref()))
}

/// Process every record of `event` with `handler`, at most `config.concurrency` at once.
/// Panics are caught per record.
pub async fn process_each<'a, F, Fut, E>(
    event: &'a SqsEvent,
    config: &BatchConfig,
    handler: F,
) -> BatchReport
where
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Outcome<E>> + 'a,
    E: Display,
{
    let handler = &handler;
    let mut results: Vec<(usize, Result<Outcome<E>, String>)> =
        futures::stream::iter(event.records.iter().enumerate())
            .map(|(index, message)| async move {
                // The call itself sits inside the async block, so a panic while
                // building the future is caught as well as one while polling it.
                (
                    index,
                    catch_panic(async move { handler(message).await }).await,
                )
            })
            .buffer_unordered(config.concurrency.max(1))
            .collect()
            .await;
    results.sort_by_key(|(index, _)| *index);

    let mut report = BatchReport::new();
    for (index, result) in results {
        let id = event.records[index].message_id.clone();
        match result {
            Ok(outcome) => report.record(id.as_deref(), outcome),
            Err(panic) => report.push(id, Resolution::Panicked(panic)),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bodies: &[(&str, &str)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        for (id, body) in bodies {
            let mut m = SqsMessage::default();
            m.message_id = Some(id.to_string());
            m.body = Some(body.to_string());
            event.records.push(m);
        }
        event
    }

    #[derive(Debug, thiserror::Error)]
    enum TestError {
        #[error("body is not a number: {0}")]
        NotANumber(String),
        #[error("downstream busy")]
        Busy,
    }

    async fn numbers(m: &SqsMessage) -> Outcome<TestError> {
        let body = m.body.as_deref().unwrap_or_default();
        match body {
            "busy" => Outcome::Retry(TestError::Busy),
            "panic" => panic!("handler bug on {body}"),
            _ => match body.parse::<i64>() {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Poison(TestError::NotANumber(body.to_string())),
            },
        }
    }

    fn failed_ids(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn outcomes_map_to_batch_item_failures() {
        let ev = event(&[("a", "1"), ("b", "busy"), ("c", "{not json"), ("d", "4")]);
        let report = process_each(&ev, &BatchConfig::default(), numbers).await;
        assert_eq!(report.count(|r| *r == Resolution::Processed), 2);
        let response = report.into_response(PoisonPolicy::DeadLetter);
        assert_eq!(failed_ids(&response), vec!["b", "c"]);
    }

    #[tokio::test]
    async fn drop_policy_acknowledges_poison_but_still_retries_transient() {
        let ev = event(&[("a", "x"), ("b", "busy")]);
        let report = process_each(&ev, &BatchConfig::default(), numbers).await;
        let response = report.into_response(PoisonPolicy::Drop);
        assert_eq!(failed_ids(&response), vec!["b"]);
    }

    #[tokio::test]
    async fn a_panicking_record_fails_only_itself() {
        let ev = event(&[("a", "1"), ("p", "panic"), ("c", "3")]);
        let report = process_each(&ev, &BatchConfig::default(), numbers).await;
        match &report.entries()[1] {
            (Some(id), Resolution::Panicked(msg)) => {
                assert_eq!(id, "p");
                assert!(msg.contains("handler bug on panic"), "{msg}");
            }
            other => panic!("expected a panicked entry, got {other:?}"),
        }
        let response = report.into_response(PoisonPolicy::Drop);
        assert_eq!(failed_ids(&response), vec!["p"]);
    }

    #[tokio::test]
    async fn panic_while_building_the_future_is_caught() {
        let ev = event(&[("a", "1"), ("b", "2")]);
        let report = process_each(&ev, &BatchConfig::default(), |m: &SqsMessage| {
            if m.message_id.as_deref() == Some("b") {
                panic!("synchronous panic");
            }
            async { Outcome::<TestError>::Ok }
        })
        .await;
        let response = report.into_response(PoisonPolicy::DeadLetter);
        assert_eq!(failed_ids(&response), vec!["b"]);
    }

    #[tokio::test]
    async fn failed_record_without_message_id_fails_the_whole_batch() {
        let mut ev = event(&[("a", "1")]);
        let mut anonymous = SqsMessage::default();
        anonymous.body = Some("busy".into());
        ev.records.push(anonymous);
        let response = process_each(&ev, &BatchConfig::default(), numbers)
            .await
            .into_response(PoisonPolicy::DeadLetter);
        // An empty identifier is Lambda's "whole batch failed": nothing is acknowledged silently.
        assert_eq!(failed_ids(&response), vec![""]);
    }

    #[tokio::test]
    async fn concurrency_is_bounded_and_order_is_kept() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let bodies: Vec<(String, String)> =
            (0..20).map(|i| (format!("m{i}"), i.to_string())).collect();
        let refs: Vec<(&str, &str)> = bodies
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let ev = event(&refs);
        let config = BatchConfig {
            concurrency: 3,
            ..Default::default()
        };
        let report = process_each(&ev, &config, |_m| async {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Outcome::<TestError>::Ok
        })
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        let ids: Vec<_> = report
            .entries()
            .iter()
            .map(|(id, _)| id.clone().unwrap())
            .collect();
        assert_eq!(ids, (0..20).map(|i| format!("m{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn verdicts_merge_to_the_worst() {
        let mut v = Verdict::Ok;
        v.merge(Verdict::Poison("p".into()));
        assert_eq!(v, Verdict::Poison("p".into()));
        v.merge(Verdict::Ok);
        assert_eq!(v, Verdict::Poison("p".into()));
        v.merge(Verdict::Retry("r".into()));
        v.merge(Verdict::Poison("q".into()));
        assert_eq!(v, Verdict::Retry("r".into()));
        assert!(matches!(v.into_outcome(), Outcome::Retry(r) if r == "r"));
    }

    #[test]
    fn report_from_verdicts_counts_retried_and_poison() {
        let ev = event(&[("a", ""), ("b", ""), ("c", "")]);
        let metrics = crate::telemetry::Metrics::new("test", false);
        let verdicts = vec![
            Verdict::Ok,
            Verdict::Retry("busy".into()),
            Verdict::Poison("bad".into()),
        ];
        let report = BatchReport::from_verdicts(&ev.records, verdicts, &metrics);
        assert_eq!(
            report.entries()[1],
            (Some("b".into()), Resolution::Retry("busy".into()))
        );
        assert_eq!(
            report.entries()[2],
            (Some("c".into()), Resolution::Poison("bad".into()))
        );
        assert_eq!(
            (
                metrics.counter(metric::RETRIED),
                metrics.counter(metric::POISON)
            ),
            (1, 1)
        );
        let response = report.into_response(PoisonPolicy::Drop);
        assert_eq!(failed_ids(&response), vec!["b"]);
    }

    #[test]
    fn catch_panic_sync_returns_the_message() {
        assert_eq!(catch_panic_sync(|| 7), Ok(7));
        assert_eq!(
            catch_panic_sync(|| -> () { panic!("parser bug") }),
            Err("parser bug".to_string())
        );
    }

    #[tokio::test]
    async fn catch_panic_returns_the_message() {
        assert_eq!(catch_panic(async { 7 }).await, Ok(7));
        let caught = catch_panic(async { panic!("grouped work failed") }).await;
        assert_eq!(caught, Err::<(), _>("grouped work failed".to_string()));
    }

    #[test]
    fn config_from_lookup_validates() {
        let config = BatchConfig::from_lookup(|k| match k {
            "BATCH_CONCURRENCY" => Some("16".into()),
            "POISON_POLICY" => Some("drop".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.concurrency, 16);
        assert_eq!(config.poison, PoisonPolicy::Drop);
        let err = BatchConfig::from_lookup(|k| (k == "BATCH_CONCURRENCY").then(|| "0".into()))
            .unwrap_err();
        assert!(err.to_string().contains("BATCH_CONCURRENCY=\"0\""), "{err}");
        let err = BatchConfig::from_lookup(|k| (k == "POISON_POLICY").then(|| "ignore".into()))
            .unwrap_err();
        assert!(err.to_string().contains("dead-letter | drop"), "{err}");
    }
}
