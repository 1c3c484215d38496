//! SQS batch processing with partial batch responses (`ReportBatchItemFailures`).
//!
//! A function parses every message first ([`parse_each`]), then does the work of many
//! messages together (one fetch per item, one Glue call per crawler), merging what each
//! part came to into the message's one [`Verdict`]:
//! - `Ok`: processed; SQS deletes it.
//! - `Retry(reason)`: reported in `batchItemFailures`; SQS redelivers it after the
//!   visibility timeout.
//! - `Poison(reason)`: cannot succeed. By default it is reported too, so SQS retries it up
//!   to `maxReceiveCount` and then moves it to the DLQ; [`PoisonPolicy::Drop`]
//!   acknowledges it instead.
//!
//! [`BatchReport::from_verdicts`] logs every failed message with its id and reason and
//! counts them; [`BatchReport::into_response`] is the partial batch response. A message
//! whose parsing panics is reported for retry, never the batch; grouped work runs under
//! [`catch_panic`] so a panic fails only the messages it was for.

use crate::env::{Env, EnvError};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;

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
}

/// Metric names every SQS function counts when it builds its batch report.
pub mod metric {
    /// Messages reported in `batchItemFailures` to be retried.
    pub const RETRIED: &str = "MessagesRetried";
    /// Messages resolved as poison.
    pub const POISON: &str = "PoisonMessages";
}

/// The verdict on every message of a batch, in input order.
#[derive(Debug, Default)]
pub struct BatchReport {
    entries: Vec<(Option<String>, Verdict)>,
}

impl BatchReport {
    /// The report of a batch whose messages were resolved as `verdicts` (in input order),
    /// logging every failed message with its id and reason, and counting retried and
    /// poison messages in `metrics`.
    pub fn from_verdicts(
        messages: &[SqsMessage],
        verdicts: Vec<Verdict>,
        metrics: &crate::telemetry::Metrics,
    ) -> Self {
        let mut report = Self::default();
        for (message, verdict) in messages.iter().zip(verdicts) {
            let id = message_id(message);
            match &verdict {
                Verdict::Ok => {}
                Verdict::Retry(reason) => {
                    metrics.count(metric::RETRIED, 1);
                    tracing::warn!(messageId = id, reason = %reason, "message reported for retry")
                }
                Verdict::Poison(reason) => {
                    metrics.count(metric::POISON, 1);
                    tracing::error!(messageId = id, reason = %reason, "poison message")
                }
            }
            report.entries.push((message.message_id.clone(), verdict));
        }
        report
    }

    pub fn entries(&self) -> &[(Option<String>, Verdict)] {
        &self.entries
    }

    pub fn count(&self, matches: impl Fn(&Verdict) -> bool) -> usize {
        self.entries.iter().filter(|(_, v)| matches(v)).count()
    }

    /// The partial batch response. A failed record without a message id cannot be named,
    /// so it is reported with an empty identifier, which makes Lambda retry the whole
    /// batch: a duplicate is better than a lost message.
    pub fn into_response(self, policy: PoisonPolicy) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for (id, verdict) in self.entries {
            let failed = match verdict {
                Verdict::Ok => false,
                Verdict::Retry(_) => true,
                Verdict::Poison(_) => policy == PoisonPolicy::DeadLetter,
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

/// A message's id, as logged (`<missing messageId>` when it has none).
pub fn message_id(message: &SqsMessage) -> &str {
    message
        .message_id
        .as_deref()
        .unwrap_or("<missing messageId>")
}

/// What a message's body parsed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<T> {
    /// Work to do.
    Work(T),
    /// SNS subscription traffic (its `Type`): logged by [`parse_each`] and acknowledged.
    SnsControl(String),
    /// Nothing to do (the parser logged why): acknowledged.
    Nothing,
}

/// A batch after [`parse_each`].
#[derive(Debug)]
pub struct Parsed<T> {
    /// The messages with work to do: their index in the batch and their work, in input order.
    pub work: Vec<(usize, T)>,
    /// One verdict per message of the batch: `Poison` for a body that does not parse,
    /// `Retry` for one whose parsing panicked, `Ok` for the rest until their work merges in.
    pub verdicts: Vec<Verdict>,
}

/// Parse every message of a batch with `parse`. A body it refuses is poison (reason
/// `"{malformed}: {error}"`); a panic while parsing fails only that message, for retry
/// (the parser is ours, so a later version may read it).
pub fn parse_each<T, E: Display>(
    messages: &[SqsMessage],
    malformed: &str,
    mut parse: impl FnMut(&SqsMessage) -> Result<Body<T>, E>,
) -> Parsed<T> {
    let mut parsed = Parsed {
        work: Vec::new(),
        verdicts: vec![Verdict::Ok; messages.len()],
    };
    for (index, message) in messages.iter().enumerate() {
        match catch_panic_sync(|| parse(message)) {
            Err(panic) => {
                parsed.verdicts[index] = Verdict::Retry(format!("parsing panicked: {panic}"))
            }
            Ok(Err(err)) => parsed.verdicts[index] = Verdict::Poison(format!("{malformed}: {err}")),
            Ok(Ok(Body::Work(work))) => parsed.work.push((index, work)),
            Ok(Ok(Body::SnsControl(kind))) => {
                tracing::info!(messageId = message_id(message), kind = %kind, "SNS control message acknowledged")
            }
            Ok(Ok(Body::Nothing)) => {}
        }
    }
    parsed
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
    #[error("body is not a number: {0}")]
    struct NotANumber(String);

    /// Numbers are work, `busy` is work whose step fails transiently, `ping` is SNS
    /// control traffic, `panic` is a parser bug, anything else is malformed.
    fn number(m: &SqsMessage) -> Result<Body<Option<i64>>, NotANumber> {
        let body = m.body.as_deref().unwrap_or_default();
        match body {
            "busy" => Ok(Body::Work(None)),
            "ping" => Ok(Body::SnsControl("SubscriptionConfirmation".into())),
            "panic" => panic!("handler bug on {body}"),
            _ => body
                .parse()
                .map(|n| Body::Work(Some(n)))
                .map_err(|_| NotANumber(body.to_string())),
        }
    }

    /// Parse, then "do the work": a `busy` message's step fails for retry.
    fn resolve(ev: &SqsEvent) -> BatchReport {
        let mut parsed = parse_each(&ev.records, "malformed", number);
        for (index, work) in parsed.work {
            if work.is_none() {
                parsed.verdicts[index].merge(Verdict::Retry("downstream busy".into()));
            }
        }
        let metrics = crate::telemetry::Metrics::new("test", false);
        BatchReport::from_verdicts(&ev.records, parsed.verdicts, &metrics)
    }

    fn failed_ids(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[test]
    fn outcomes_map_to_batch_item_failures() {
        let ev = event(&[("a", "1"), ("b", "busy"), ("c", "{not json"), ("d", "4")]);
        let report = resolve(&ev);
        assert_eq!(report.count(|v| *v == Verdict::Ok), 2);
        let response = report.into_response(PoisonPolicy::DeadLetter);
        assert_eq!(failed_ids(&response), vec!["b", "c"]);
    }

    #[test]
    fn drop_policy_acknowledges_poison_but_still_retries_transient() {
        let ev = event(&[("a", "x"), ("b", "busy")]);
        let response = resolve(&ev).into_response(PoisonPolicy::Drop);
        assert_eq!(failed_ids(&response), vec!["b"]);
    }

    #[test]
    fn a_panicking_record_fails_only_itself() {
        let ev = event(&[("a", "1"), ("p", "panic"), ("c", "3")]);
        let report = resolve(&ev);
        match &report.entries()[1] {
            (Some(id), Verdict::Retry(msg)) => {
                assert_eq!(id, "p");
                assert!(msg.contains("handler bug on panic"), "{msg}");
            }
            other => panic!("expected a retried entry, got {other:?}"),
        }
        let response = report.into_response(PoisonPolicy::Drop);
        assert_eq!(failed_ids(&response), vec!["p"]);
    }

    #[test]
    fn parse_each_keeps_the_order_and_acknowledges_control_messages() {
        let ev = event(&[("a", "1"), ("s", "ping"), ("b", "x"), ("c", "3")]);
        let parsed = parse_each(&ev.records, "not a number", number);
        assert_eq!(parsed.work, vec![(0, Some(1)), (3, Some(3))]);
        assert_eq!(
            parsed.verdicts,
            vec![
                Verdict::Ok,
                Verdict::Ok,
                Verdict::Poison("not a number: body is not a number: x".into()),
                Verdict::Ok,
            ]
        );
    }

    #[test]
    fn failed_record_without_message_id_fails_the_whole_batch() {
        let mut ev = event(&[("a", "1")]);
        let mut anonymous = SqsMessage::default();
        anonymous.body = Some("busy".into());
        ev.records.push(anonymous);
        let response = resolve(&ev).into_response(PoisonPolicy::DeadLetter);
        // An empty identifier is Lambda's "whole batch failed": nothing is acknowledged silently.
        assert_eq!(failed_ids(&response), vec![""]);
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
            (Some("b".into()), Verdict::Retry("busy".into()))
        );
        assert_eq!(
            report.entries()[2],
            (Some("c".into()), Verdict::Poison("bad".into()))
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
