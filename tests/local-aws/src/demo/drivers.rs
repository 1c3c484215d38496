//! The parts of AWS that moto does not play, driven against moto's real queues, streams
//! and buckets: Lambda's SQS event source mapping, and Firehose reading a Kinesis stream,
//! invoking its processor Lambda and delivering to S3 (dynamic partitioning, error prefix,
//! raw backup). Time is scaled down for a demo (documented in [`TimeScale`]).

use super::provision::BoxError;
use super::runtime::{LocalLambda, Outcome};
use crate::SqsEventSource;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the demo shortens so the pipeline settles in seconds, not minutes.
#[derive(Debug, Clone, Copy)]
pub struct TimeScale {
    /// A failed SQS message is visible again after this (AWS: the queue's visibility
    /// timeout, 180–360 s in the template). Redrive still takes `maxReceiveCount` receives.
    pub retry_delay: Duration,
    /// Upper bound for batching windows and Firehose's processor buffer interval.
    pub max_buffer_interval: Duration,
}

impl Default for TimeScale {
    fn default() -> Self {
        Self {
            retry_delay: Duration::from_secs(2),
            max_buffer_interval: Duration::from_secs(1),
        }
    }
}

/// Latencies of one stage, in milliseconds.
#[derive(Debug, Default)]
pub struct Latencies(Mutex<Vec<u64>>);

impl Latencies {
    pub fn record(&self, d: Duration) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d.as_millis() as u64);
    }

    /// (count, p50, p95, max) in ms.
    pub fn summary(&self) -> (usize, u64, u64, u64) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if v.is_empty() {
            return (0, 0, 0, 0);
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (v.len(), at(0.5), at(0.95), v[v.len() - 1])
    }
}

fn now_ms() -> u64 {
    Utc::now().timestamp_millis().max(0) as u64
}

/// Counters of one SQS event source mapping.
#[derive(Debug, Default)]
pub struct SqsMappingStats {
    pub batches: AtomicU64,
    pub received: AtomicU64,
    pub deleted: AtomicU64,
    pub reported_failed: AtomicU64,
    pub function_errors: AtomicU64,
    /// SentTimestamp → deleted after processing.
    pub latency: Latencies,
    pub last_error: Mutex<Option<String>>,
    /// Per message id: its body and what happened to it, in order (received, reported
    /// failed, function error, deleted) — to trace a message the checks cannot place.
    pub journal: Mutex<BTreeMap<String, MessageTrace>>,
}

/// One message's path through the mapping.
#[derive(Debug, Default, Clone)]
pub struct MessageTrace {
    pub body: String,
    pub events: Vec<String>,
}

impl SqsMappingStats {
    fn note(&self, id: &str, body: Option<&str>, event: impl Into<String>) {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let trace = journal.entry(id.to_string()).or_default();
        if let Some(body) = body {
            trace.body = body.to_string();
        }
        trace.events.push(event.into());
    }

    /// The traces of messages whose body contains `needle`.
    pub fn traces_of(&self, needle: &str) -> Vec<(String, MessageTrace)> {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, t)| t.body.contains(needle))
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect()
    }
}

/// Lambda's SQS event source mapping for one function and queue.
pub struct SqsMapping {
    pub source: SqsEventSource,
    pub batch_size: usize,
    pub window: Duration,
    pub report_failures: bool,
    pub time: TimeScale,
    pub stats: Arc<SqsMappingStats>,
}

impl SqsMapping {
    /// Poll, invoke, delete what succeeded, make what failed visible again after the
    /// retry delay; until `stop`.
    pub async fn run(self, function: Arc<LocalLambda>, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = self.once(&function).await {
                *self
                    .stats
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// The invocation failed: every message of the batch is retried.
    fn failed_whole(&self, event: &SqsEvent, error: &dyn std::fmt::Display) -> HashSet<String> {
        self.stats.function_errors.fetch_add(1, Ordering::SeqCst);
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
        event
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect()
    }

    async fn once(&self, function: &LocalLambda) -> Result<(), BoxError> {
        let event: SqsEvent = self.source.poll(self.batch_size, self.window).await?;
        if event.records.is_empty() {
            return Ok(());
        }
        let batch = self.stats.batches.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats
            .received
            .fetch_add(event.records.len() as u64, Ordering::SeqCst);
        for record in &event.records {
            let receives = record
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str)
                .unwrap_or("?");
            self.stats.note(
                record.message_id.as_deref().unwrap_or_default(),
                record.body.as_deref(),
                format!(
                    "received (batch {batch}, pid {:?}, receive #{receives})",
                    function.pid()
                ),
            );
        }
        let outcome = function.invoke(serde_json::to_vec(&event)?).await;
        let (failed, outcome_text): (HashSet<String>, String) = match outcome {
            Ok(Outcome::Response(body)) if self.report_failures => (
                reported_failures(&body, &event),
                "reported in batchItemFailures".into(),
            ),
            Ok(Outcome::Response(_)) => (HashSet::new(), String::new()),
            Ok(Outcome::FunctionError(error)) => {
                (self.failed_whole(&event, &error), error.to_string())
            }
            Err(e) => (self.failed_whole(&event, &e), e.to_string()),
        };
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .iter()
            .map(|id| {
                let mut f = aws_lambda_events::sqs::BatchItemFailure::default();
                f.item_identifier = id.clone();
                f
            })
            .collect();
        let deleted = self.source.complete(&event, &response).await?;
        self.stats
            .deleted
            .fetch_add(deleted.len() as u64, Ordering::SeqCst);
        for id in &deleted {
            self.stats
                .note(id, None, format!("deleted (batch {batch})"));
        }
        let done = now_ms();
        for record in &event.records {
            let id = record.message_id.as_deref().unwrap_or_default();
            if failed.contains(id) {
                self.stats.reported_failed.fetch_add(1, Ordering::SeqCst);
                self.stats.note(
                    id,
                    None,
                    format!("to retry (batch {batch}): {outcome_text}"),
                );
                if let Some(handle) = &record.receipt_handle {
                    self.source
                        .sqs
                        .change_message_visibility()
                        .queue_url(&self.source.queue_url)
                        .receipt_handle(handle)
                        .visibility_timeout(self.time.retry_delay.as_secs() as i32)
                        .send()
                        .await?;
                }
            } else if let Some(sent) = record
                .attributes
                .get("SentTimestamp")
                .and_then(|s| s.parse::<u64>().ok())
            {
                self.stats
                    .latency
                    .record(Duration::from_millis(done.saturating_sub(sent)));
            }
        }
        Ok(())
    }
}

/// The messages a function's response asks to retry, read as Lambda reads a partial batch
/// response: an empty or `null` response (or an empty list) is complete success; a response
/// that is not a batch response, or names an item that is empty or not in the batch, is a
/// complete failure — never a silent acknowledgement.
fn reported_failures(body: &[u8], event: &SqsEvent) -> HashSet<String> {
    let all = || -> HashSet<String> {
        event
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect()
    };
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() || text.trim() == "null" {
        return HashSet::new();
    }
    let Ok(response) = serde_json::from_slice::<SqsBatchResponse>(body) else {
        return all();
    };
    let ids = all();
    let failed: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    if failed.iter().any(|id| !ids.contains(id)) {
        return ids;
    }
    failed
}

/// Firehose's side of a `KinesisStreamAsSource` delivery stream with a Lambda processor
/// and an extended S3 destination, from the delivery stream's template properties.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub delivery_stream_name: String,
    pub delivery_stream_arn: String,
    pub source_stream_name: String,
    pub source_stream_arn: String,
    pub bucket: String,
    pub prefix: String,
    pub error_prefix: String,
    pub gzip: bool,
    pub processor_arn: String,
    pub buffer_bytes: usize,
    pub buffer_interval: Duration,
    pub retries: u32,
    /// Raw source records (S3BackupMode Enabled): bucket and prefix.
    pub backup: Option<(String, String, bool)>,
}

fn bucket_of(arn: &str) -> String {
    arn.trim_start_matches("arn:aws:s3:::").to_string()
}

impl DeliveryConfig {
    pub fn from_properties(
        name: &str,
        arn: &str,
        props: &Value,
        time: TimeScale,
    ) -> Result<Self, String> {
        let s = |v: &Value| v.as_str().map(String::from);
        let source_stream_arn =
            s(&props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"])
                .ok_or("KinesisStreamSourceConfiguration.KinesisStreamARN is missing")?;
        let dest = &props["ExtendedS3DestinationConfiguration"];
        let processor = dest
            .pointer("/ProcessingConfiguration/Processors")
            .and_then(Value::as_array)
            .and_then(|p| p.iter().find(|p| p["Type"] == "Lambda"))
            .ok_or("no Lambda processor in ProcessingConfiguration")?;
        let parameter = |name: &str| {
            processor["Parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["ParameterName"] == name)
                .and_then(|p| p["ParameterValue"].as_str().map(String::from))
        };
        let processor_arn = parameter("LambdaArn").ok_or("processor has no LambdaArn")?;
        let backup = (dest["S3BackupMode"] == "Enabled").then(|| {
            let b = &dest["S3BackupConfiguration"];
            (
                bucket_of(b["BucketARN"].as_str().unwrap_or_default()),
                b["Prefix"].as_str().unwrap_or_default().to_string(),
                b["CompressionFormat"] == "GZIP",
            )
        });
        Ok(Self {
            delivery_stream_name: name.to_string(),
            delivery_stream_arn: arn.to_string(),
            source_stream_name: source_stream_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            source_stream_arn,
            bucket: bucket_of(dest["BucketARN"].as_str().unwrap_or_default()),
            prefix: s(&dest["Prefix"]).unwrap_or_default(),
            error_prefix: s(&dest["ErrorOutputPrefix"]).unwrap_or_default(),
            gzip: dest["CompressionFormat"] == "GZIP",
            processor_arn,
            buffer_bytes: parameter("BufferSizeInMBs")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1)
                * 1024
                * 1024,
            buffer_interval: parameter("BufferIntervalSeconds")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(60))
                .min(time.max_buffer_interval),
            retries: parameter("NumberOfRetries")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
            backup,
        })
    }
}

/// Firehose's S3 prefix expressions: `!{partitionKeyFromLambda:k}`, `!{timestamp:fmt}`,
/// `!{firehose:error-output-type}`, `!{firehose:random-string}`.
pub fn expand_prefix(
    template: &str,
    keys: &serde_json::Map<String, Value>,
    at: DateTime<Utc>,
    error_type: &str,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("!{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("unclosed !{ in prefix")?;
        let expression = &after[..end];
        match expression.split_once(':') {
            Some(("partitionKeyFromLambda", key)) => out.push_str(
                keys.get(key)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("partitionKeys has no {key}"))?,
            ),
            Some(("timestamp", format)) => {
                let chrono_format = format
                    .replace("yyyy", "%Y")
                    .replace("MM", "%m")
                    .replace("dd", "%d")
                    .replace("HH", "%H")
                    .replace("mm", "%M")
                    .replace("ss", "%S");
                out.push_str(&at.format(&chrono_format).to_string());
            }
            Some(("firehose", "error-output-type")) => out.push_str(error_type),
            Some(("firehose", "random-string")) => {
                out.push_str(&format!("{:011x}", rand::random::<u64>() & 0xfff_ffff_ffff))
            }
            _ => return Err(format!("unsupported prefix expression !{{{expression}}}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Counters of the Firehose driver.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub records_in: AtomicU64,
    pub invocations: AtomicU64,
    pub ok: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    pub objects: AtomicU64,
    /// Kinesis arrival → object written to S3.
    pub latency: Latencies,
    /// Objects written to the destination bucket: (key, when).
    pub written: Mutex<Vec<(String, Instant)>>,
    /// Contract violations by the processor (missing/duplicate recordIds, bad results).
    pub contract_errors: Mutex<Vec<String>>,
    pub last_error: Mutex<Option<String>>,
}

struct SourceRecord {
    record_id: String,
    data: Vec<u8>,
    arrival_ms: u64,
    partition_key: String,
    sequence_number: String,
    shard_id: String,
}

pub struct FirehoseDriver {
    pub config: DeliveryConfig,
    pub kinesis: aws_sdk_kinesis::Client,
    pub s3: aws_sdk_s3::Client,
    pub stats: Arc<DeliveryStats>,
}

impl FirehoseDriver {
    /// Read every shard from the start, buffer, invoke, deliver; until `stop` (then flush).
    pub async fn run(self, processor: Arc<LocalLambda>, stop: Arc<AtomicBool>) {
        let mut iterators: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut buffer: Vec<SourceRecord> = Vec::new();
        let mut buffered_bytes = 0usize;
        let mut oldest: Option<Instant> = None;
        let mut next_id = 0u64;
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            if let Err(e) = self
                .read(
                    &mut iterators,
                    &mut buffer,
                    &mut buffered_bytes,
                    &mut next_id,
                )
                .await
            {
                *self
                    .stats
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
            if !buffer.is_empty() && oldest.is_none() {
                oldest = Some(Instant::now());
            }
            let due = oldest.is_some_and(|t| t.elapsed() >= self.config.buffer_interval)
                || buffered_bytes >= self.config.buffer_bytes;
            if !buffer.is_empty() && (due || stopping) {
                let batch = std::mem::take(&mut buffer);
                buffered_bytes = 0;
                oldest = None;
                if let Err(e) = self.deliver(&processor, batch).await {
                    *self
                        .stats
                        .last_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                }
            }
            if stopping {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn read(
        &self,
        iterators: &mut BTreeMap<String, Option<String>>,
        buffer: &mut Vec<SourceRecord>,
        buffered_bytes: &mut usize,
        next_id: &mut u64,
    ) -> Result<(), BoxError> {
        if iterators.is_empty() {
            let shards = self
                .kinesis
                .list_shards()
                .stream_name(&self.config.source_stream_name)
                .send()
                .await?;
            for shard in shards.shards() {
                let iterator = self
                    .kinesis
                    .get_shard_iterator()
                    .stream_name(&self.config.source_stream_name)
                    .shard_id(shard.shard_id())
                    .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                    .send()
                    .await?
                    .shard_iterator;
                iterators.insert(shard.shard_id().to_string(), iterator);
            }
        }
        for (shard_id, iterator) in iterators.iter_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let out = self
                .kinesis
                .get_records()
                .shard_iterator(current)
                .limit(1000)
                .send()
                .await?;
            for record in out.records() {
                *next_id += 1;
                let data = record.data().as_ref().to_vec();
                *buffered_bytes += data.len();
                buffer.push(SourceRecord {
                    record_id: format!("{}{:08}", record.sequence_number(), next_id),
                    data,
                    arrival_ms: record
                        .approximate_arrival_timestamp()
                        .map(|t| t.to_millis().unwrap_or(0).max(0) as u64)
                        .unwrap_or_else(now_ms),
                    partition_key: record.partition_key().unwrap_or_default().to_string(),
                    sequence_number: record.sequence_number().to_string(),
                    shard_id: shard_id.clone(),
                });
            }
            *iterator = out.next_shard_iterator;
        }
        Ok(())
    }

    fn event(&self, batch: &[SourceRecord]) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        json!({
            "invocationId": format!("{:016x}", rand::random::<u64>()),
            "deliveryStreamArn": self.config.delivery_stream_arn,
            "sourceKinesisStreamArn": self.config.source_stream_arn,
            "region": "us-east-1",
            "records": batch.iter().map(|r| json!({
                "recordId": r.record_id,
                "approximateArrivalTimestamp": r.arrival_ms,
                "data": b64.encode(&r.data),
                "kinesisRecordMetadata": {
                    "shardId": r.shard_id,
                    "partitionKey": r.partition_key,
                    "approximateArrivalTimestamp": r.arrival_ms,
                    "sequenceNumber": r.sequence_number,
                    "subsequenceNumber": 0,
                },
            })).collect::<Vec<_>>(),
        })
    }

    fn contract_error(&self, problem: String) {
        self.stats
            .contract_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(problem);
    }

    /// One processor invocation (retried as Firehose does) and delivery of its results.
    async fn deliver(
        &self,
        processor: &LocalLambda,
        batch: Vec<SourceRecord>,
    ) -> Result<(), BoxError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        self.stats
            .records_in
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        let event = serde_json::to_vec(&self.event(&batch))?;
        let mut response = None;
        let mut last_failure = String::new();
        for _ in 0..=self.config.retries {
            self.stats.invocations.fetch_add(1, Ordering::SeqCst);
            match processor.invoke(event.clone()).await {
                Ok(Outcome::Response(body)) => {
                    response = Some(serde_json::from_slice::<Value>(&body)?);
                    break;
                }
                Ok(Outcome::FunctionError(e)) => last_failure = e.to_string(),
                Err(e) => last_failure = e.to_string(),
            }
        }
        let now = Utc::now();
        let mut partitions: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut errors: Vec<u8> = Vec::new();
        let mut error_record = |r: &SourceRecord, code: &str, message: &str| {
            let line = json!({
                "attemptsMade": 1, "arrivalTimestamp": r.arrival_ms, "errorCode": code,
                "errorMessage": message, "attemptEndingTimestamp": now.timestamp_millis(),
                "rawData": b64.encode(&r.data), "lambdaArn": self.config.processor_arn,
            });
            errors.extend_from_slice(line.to_string().as_bytes());
            errors.push(b'\n');
        };
        match response {
            None => {
                for r in &batch {
                    error_record(r, "Lambda.InvokeFailed", &last_failure);
                }
                self.stats
                    .failed
                    .fetch_add(batch.len() as u64, Ordering::SeqCst);
            }
            Some(response) => {
                let results = response["records"].as_array().cloned().unwrap_or_default();
                let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
                for result in results {
                    let id = result["recordId"].as_str().unwrap_or_default().to_string();
                    if by_id.insert(id.clone(), result).is_some() {
                        self.contract_error(format!("recordId {id} answered twice"));
                    }
                }
                if by_id.len() != batch.len() {
                    self.contract_error(format!(
                        "{} records in, {} distinct recordIds out",
                        batch.len(),
                        by_id.len()
                    ));
                }
                for r in &batch {
                    let Some(result) = by_id.get(&r.record_id) else {
                        self.contract_error(format!(
                            "recordId {} missing from the response",
                            r.record_id
                        ));
                        error_record(
                            r,
                            "Lambda.MissingRecordId",
                            "record missing from the response",
                        );
                        self.stats.failed.fetch_add(1, Ordering::SeqCst);
                        continue;
                    };
                    match result["result"].as_str() {
                        Some("Ok") => {
                            let data = b64.decode(result["data"].as_str().unwrap_or_default())?;
                            let keys = result
                                .pointer("/metadata/partitionKeys")
                                .and_then(Value::as_object)
                                .cloned()
                                .unwrap_or_default();
                            match expand_prefix(&self.config.prefix, &keys, now, "") {
                                Ok(prefix) => {
                                    partitions
                                        .entry(prefix)
                                        .or_default()
                                        .extend_from_slice(&data);
                                    self.stats.ok.fetch_add(1, Ordering::SeqCst);
                                    self.stats.latency.record(Duration::from_millis(
                                        now_ms().saturating_sub(r.arrival_ms),
                                    ));
                                }
                                Err(problem) => {
                                    error_record(
                                        r,
                                        "DynamicPartitioning.MetadataExtractionFailed",
                                        &problem,
                                    );
                                    self.stats.failed.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        }
                        Some("Dropped") => {
                            self.stats.dropped.fetch_add(1, Ordering::SeqCst);
                        }
                        Some("ProcessingFailed") => {
                            error_record(
                                r,
                                "Lambda.ProcessingFailed",
                                "The record was marked failed by the Lambda",
                            );
                            self.stats.failed.fetch_add(1, Ordering::SeqCst);
                        }
                        other => {
                            self.contract_error(format!(
                                "recordId {}: result {other:?} is not Ok, Dropped or ProcessingFailed",
                                r.record_id
                            ));
                            error_record(r, "Lambda.InvalidResult", "invalid result");
                            self.stats.failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }
        }
        let object_name = |_: ()| {
            format!(
                "{}-1-{}-{:08x}-{:04x}{}",
                self.config.delivery_stream_name,
                now.format("%Y-%m-%d-%H-%M-%S"),
                rand::random::<u32>(),
                rand::random::<u16>(),
                if self.config.gzip { ".gz" } else { "" }
            )
        };
        for (prefix, body) in partitions {
            self.put(
                &self.config.bucket,
                &format!("{prefix}{}", object_name(())),
                body,
                self.config.gzip,
            )
            .await?;
        }
        if !errors.is_empty() {
            let prefix = expand_prefix(
                &self.config.error_prefix,
                &Default::default(),
                now,
                "processing-failed",
            )?;
            self.put(
                &self.config.bucket,
                &format!("{prefix}{}", object_name(())),
                errors,
                self.config.gzip,
            )
            .await?;
        }
        if let Some((bucket, prefix, gzip)) = &self.config.backup {
            let prefix = expand_prefix(prefix, &Default::default(), now, "")?;
            let raw: Vec<u8> = batch.iter().flat_map(|r| r.data.iter().copied()).collect();
            self.put(bucket, &format!("{prefix}{}", object_name(())), raw, *gzip)
                .await?;
        }
        Ok(())
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        gzip: bool,
    ) -> Result<(), BoxError> {
        let body = if gzip { gzip_bytes(&body)? } else { body };
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await?;
        if bucket == self.config.bucket {
            self.stats.objects.fetch_add(1, Ordering::SeqCst);
            self.stats
                .written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((key.to_string(), Instant::now()));
        }
        Ok(())
    }
}

pub fn gzip_bytes(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

pub fn gunzip_bytes(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if !data.starts_with(&[0x1f, 0x8b]) {
        return Ok(data.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_expand_like_firehose() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T06:07:08Z")
            .unwrap()
            .with_timezone(&Utc);
        let keys = json!({"event": "updated", "dt": "2026-11-22", "hour": "06"});
        let keys = keys.as_object().unwrap();
        assert_eq!(
            expand_prefix("events/event=!{partitionKeyFromLambda:event}/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/", keys, at, "").unwrap(),
            "events/event=updated/dt=2026-11-22/hour=06/"
        );
        assert_eq!(
            expand_prefix(
                "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/",
                keys,
                at,
                "processing-failed"
            )
            .unwrap(),
            "errors/processing-failed/dt=2026-11-22/"
        );
        let missing = expand_prefix("x/!{partitionKeyFromLambda:nope}/", keys, at, "").unwrap_err();
        assert!(missing.contains("partitionKeys has no nope"), "{missing}");
        assert!(expand_prefix("!{unknown:x}", keys, at, "")
            .unwrap_err()
            .contains("unsupported"));
    }

    #[test]
    fn partial_batch_responses_are_read_as_lambda_reads_them() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "a", "body": "{}"}, {"messageId": "b", "body": "{}"}
        ]}))
        .unwrap();
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        assert_eq!(reported_failures(b"", &event), set(&[]));
        assert_eq!(reported_failures(b"null", &event), set(&[]));
        assert_eq!(
            reported_failures(br#"{"batchItemFailures": []}"#, &event),
            set(&[])
        );
        assert_eq!(
            reported_failures(
                br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#,
                &event
            ),
            set(&["b"])
        );
        // Not a batch response, or an identifier not in the batch: the whole batch failed.
        assert_eq!(reported_failures(b"\"ok\"", &event), set(&["a", "b"]));
        assert_eq!(
            reported_failures(
                br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
                &event
            ),
            set(&["a", "b"])
        );
        assert_eq!(
            reported_failures(
                br#"{"batchItemFailures": [{"itemIdentifier": "zz"}]}"#,
                &event
            ),
            set(&["a", "b"])
        );
    }

    #[test]
    fn latencies_summarise() {
        let l = Latencies::default();
        for ms in [5, 1, 3, 2, 4] {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.summary(), (5, 3, 5, 5));
    }
}
