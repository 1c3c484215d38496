//! `ferrolake-local-aws`: the local AWS stand-ins, dev-only (tests, benchmarks, the demo;
//! never a normal dependency of a function crate, so no function binary links it).
//!
//! - The local stack: moto in server mode for AWS APIs ([`moto`]) and a throwaway
//!   PostgreSQL 15 as the stand-in for Redshift ([`postgres`]), with [`TestEnv`], the SQS
//!   event source ([`SqsEventSource`]) and log capture ([`LogCapture`]).
//! - Proxies and stubs: [`HttpStub`] / [`FaultProxy`], the seeded fault proxy
//!   ([`chaos_proxy`]) and AWS's request limits enforced in front of moto ([`contract_proxy`]).
//! - [`demo`]: template.yaml read as CloudFormation would, the Lambda Runtime API
//!   ([`demo::runtime::LocalLambda`]), event-source, Firehose, Glue crawler, IAM, Redshift,
//!   catalog and UDF stand-ins, deploy-time rules, and the demo run itself.
//! - Binaries: `ferrolake-demo`, `ferrolake-local-lambda` (Lambda's Invoke API for
//!   tests/java), `ferrolake-udf-echo`, `ferrolake-runtime-probe` (bench/run.py's Runtime API).
//!
//! Servers start on demand (first use in a test binary), are shared by every test of that
//! binary, and are stopped when the process exits — normally (an `atexit` hook), on Ctrl-C
//! (same process group), or when killed (parent-death signal). No fixed ports: each server
//! gets a free loopback port. Tests stay independent through unique resource names
//! ([`TestEnv::name`]) rather than global resets; [`MotoServer::reset`] exists for tests
//! that must start from an empty moto.

mod contracts;
mod faults;
mod http;
mod http_stub;
mod moto;
mod postgres;
mod process;
mod streams;

pub mod demo;

pub use contracts::{
    check as check_request_limits, contract_proxy, ContractCounts, Limit as RequestLimit,
    Rejection, LIMITS as REQUEST_LIMITS,
};
pub use faults::{chaos_proxy, Fault, FaultCounts, FaultPlan};
pub use http::{http_request, HttpResponse};
pub use http_stub::{FaultProxy, HttpStub, StubRequest, StubResponse};
pub use moto::MotoServer;
pub use postgres::{PgServer, IAM_LOGIN_ROLE};
pub use process::{remove_stale_scratch, spawn_supervised};
pub use streams::AcceptAll;

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// Why the local stack could not start. The message says what to run to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("moto_server not found at {path}: run `make setup` (creates .venv with the pinned moto[server])")]
    MotoMissing { path: String },
    #[error("PostgreSQL binaries not found (looked in {looked_in}): run `make setup` or set FERROLAKE_PG_BIN")]
    PostgresMissing { looked_in: String },
    #[error("{server} did not become ready within {seconds} s; its log: {log}")]
    NotReady {
        server: &'static str,
        seconds: u64,
        log: String,
    },
    #[error("{action} failed: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{action} failed with {status}: {output}")]
    Command {
        action: String,
        status: std::process::ExitStatus,
        output: String,
    },
}

pub const TEST_REGION: &str = "us-east-1";
pub const TEST_ACCOUNT: &str = "123456789012";

/// The workspace root (where `.venv` lives).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The project virtualenv (moto, boto3, pyarrow): `$FERROLAKE_VENV` or `<workspace>/.venv`.
pub fn venv() -> std::path::PathBuf {
    std::env::var_os("FERROLAKE_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"))
}

/// Criterion measurement time per benchmark: `$BENCH_SECONDS` (`make bench-smoke` sets 1),
/// else `default`.
pub fn bench_seconds(default: u64) -> std::time::Duration {
    std::time::Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

/// Peak resident set of this process (VmHWM). Not getrusage's ru_maxrss: that survives
/// exec and would report cargo's own peak.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Every log line written while the guard lives (this thread), as JSON-format text: for
/// tests that assert what is, and is not, logged.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Capture what `filter` (e.g. `"debug"`) lets through on this thread until the guard drops.
    pub fn start(function: &str, filter: &str) -> (Self, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        let capture = Self::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(filter))
            .with(ferrolake_shared::telemetry::JsonLogLayer::new(
                function,
                move || writer.clone(),
            ));
        (capture, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static MOTO: OnceLock<Result<MotoServer, String>> = OnceLock::new();
static POSTGRES: OnceLock<Result<PgServer, String>> = OnceLock::new();

/// The moto server of this process, started on first use. Panics (failing the test) with
/// the reason when it cannot start.
pub fn moto() -> &'static MotoServer {
    match MOTO.get_or_init(|| MotoServer::start().map_err(|e| e.to_string())) {
        Ok(server) => server,
        Err(reason) => panic!("local stack: {reason}"),
    }
}

/// The PostgreSQL server of this process, started on first use.
pub fn postgres() -> &'static PgServer {
    match POSTGRES.get_or_init(|| PgServer::start().map_err(|e| e.to_string())) {
        Ok(server) => server,
        Err(reason) => panic!("local stack: {reason}"),
    }
}

static NEXT_ENV: AtomicU32 = AtomicU32::new(0);

/// The Lambda SQS event an event source mapping would build from received messages.
pub fn sqs_event_from(
    messages: &[aws_sdk_sqs::types::Message],
    queue_arn: &str,
) -> aws_lambda_events::sqs::SqsEvent {
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    for m in messages {
        let mut record = aws_lambda_events::sqs::SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record.md5_of_body = m.md5_of_body.clone();
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = Some(queue_arn.to_string());
        record.aws_region = Some(TEST_REGION.into());
        if let Some(attributes) = &m.attributes {
            for (name, value) in attributes {
                record
                    .attributes
                    .insert(name.as_str().to_string(), value.clone());
            }
        }
        event.records.push(record);
    }
    event
}

/// Receive until `want` messages arrived or `timeout` passed (long polls of 1 s).
pub async fn receive_messages(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    want: usize,
    timeout: std::time::Duration,
) -> Result<Vec<aws_sdk_sqs::types::Message>, aws_sdk_sqs::Error> {
    let started = std::time::Instant::now();
    let mut messages = Vec::new();
    while messages.len() < want && started.elapsed() < timeout {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await?;
        messages.extend(out.messages.unwrap_or_default());
    }
    Ok(messages)
}

/// Create a queue and return its (url, arn).
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(String, String), aws_sdk_sqs::Error> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    Ok((url, arn))
}

/// Why completing an event source batch failed.
#[derive(Debug, thiserror::Error)]
pub enum EventSourceError {
    #[error(transparent)]
    Sqs(#[from] aws_sdk_sqs::Error),
    #[error("building DeleteMessageBatch: {0}")]
    Build(#[from] aws_sdk_sqs::error::BuildError),
}

/// Plays Lambda's SQS event source mapping against a real (moto) queue: receive a batch,
/// hand it to the function as an `SqsEvent`, then delete exactly the messages that are not
/// in `batchItemFailures`. Failed messages stay invisible until the queue's visibility
/// timeout, then come back (and go to the DLQ after `maxReceiveCount`, if one is set).
#[derive(Debug, Clone)]
pub struct SqsEventSource {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
}

impl SqsEventSource {
    /// Receive up to `want` messages (waiting at most `timeout`) as one Lambda event.
    pub async fn poll(
        &self,
        want: usize,
        timeout: std::time::Duration,
    ) -> Result<aws_lambda_events::sqs::SqsEvent, aws_sdk_sqs::Error> {
        let messages = receive_messages(&self.sqs, &self.queue_url, want, timeout).await?;
        Ok(sqs_event_from(&messages, &self.queue_arn))
    }

    /// Delete the messages of `event` that `response` does not report as failed; returns
    /// the message ids SQS confirmed deleted.
    pub async fn complete(
        &self,
        event: &aws_lambda_events::sqs::SqsEvent,
        response: &aws_lambda_events::sqs::SqsBatchResponse,
    ) -> Result<Vec<String>, EventSourceError> {
        let failed: std::collections::HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        // DeleteMessageBatch, ten at a time, as the event source mapping does.
        let done: Vec<(&str, &str)> = event
            .records
            .iter()
            .filter_map(|r| Some((r.message_id.as_deref()?, r.receipt_handle.as_deref()?)))
            .filter(|(id, _)| !failed.contains(id))
            .collect();
        let mut deleted = Vec::new();
        for chunk in done.chunks(10) {
            let mut request = self.sqs.delete_message_batch().queue_url(&self.queue_url);
            for (i, (_, handle)) in chunk.iter().enumerate() {
                request = request.entries(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*handle)
                        .build()?,
                );
            }
            let out = request.send().await.map_err(aws_sdk_sqs::Error::from)?;
            for ok in out.successful() {
                if let Some((id, _)) = ok.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    deleted.push(id.to_string());
                }
            }
        }
        Ok(deleted)
    }
}

/// One test's view of the stack: SDK config pointed at moto and a unique name prefix.
#[derive(Debug, Clone)]
pub struct TestEnv {
    prefix: String,
    endpoint: String,
    config: SdkConfig,
}

impl TestEnv {
    /// Start moto if needed and give `test` its endpoint and a unique prefix.
    pub async fn new(test: &str) -> Self {
        let endpoint = moto().endpoint().to_string();
        let slug: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(24)
            .collect();
        let n = NEXT_ENV.fetch_add(1, Ordering::SeqCst);
        let prefix = format!(
            "{}-{:x}{:x}",
            slug.trim_matches('-'),
            std::process::id() % 0xffff,
            n
        );
        let config = ferrolake_shared::aws::config_loader()
            .expect("the shared TLS configuration")
            .endpoint_url(&endpoint)
            .region(Region::new(TEST_REGION))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "ferrolake-test",
            ))
            .load()
            .await;
        Self {
            prefix,
            endpoint,
            config,
        }
    }

    /// A resource name unique to this test (valid for buckets, queues, streams, tables).
    pub fn name(&self, base: &str) -> String {
        let mut name = format!("{}-{}", self.prefix, base);
        name.truncate(63);
        name.trim_end_matches('-').to_string()
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// An S3 client for moto (path style).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        ferrolake_shared::aws::s3_client(&self.config)
    }

    /// Environment for a function process pointed at this stack.
    pub fn function_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), TEST_REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("S3_FORCE_PATH_STYLE".into(), "true".into()),
        ]
    }
}

/// Every record of a (moto) Kinesis stream: each shard from TRIM_HORIZON, page by page until a
/// page comes back empty (moto serves everything stored by then; real Kinesis may return empty
/// pages before the tip, so this is for tests against moto only).
pub async fn read_stream(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<Vec<aws_sdk_kinesis::types::Record>, aws_sdk_kinesis::Error> {
    let mut records = Vec::new();
    let shards = kinesis.list_shards().stream_name(stream).send().await?;
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator;
        while let Some(it) = iterator {
            let page = kinesis
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await?;
            if page.records().is_empty() {
                break;
            }
            iterator = page.next_shard_iterator;
            records.extend(page.records);
        }
    }
    Ok(records)
}
