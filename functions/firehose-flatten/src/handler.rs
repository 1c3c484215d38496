//! Firehose transformation: every record is decoded, flattened and answered exactly once,
//! in input order, as `Ok`, `Dropped` or `ProcessingFailed` — and the response never
//! exceeds the byte budget (records that do not fit are re-ingested and `Dropped`).

use crate::config::{Config, Overflow};
use crate::partition::{partition_values, watched_fields};
use crate::request::{FirehoseEvent, FirehoseRecord, RecordData};
use crate::response::{
    base64_len, json_string_len, record_size_for, FirehoseResponse, RecordResult, ResponseData,
    ResponseWriter, ENVELOPE_BYTES,
};
use ferrolake_flatten::{FlattenError, FlattenOptions, Flattener};
use ferrolake_shared::batch::catch_panic_sync;
use ferrolake_shared::retry::{Backoff, Deadline};
use ferrolake_shared::streams::{put_all, Entry, StreamPut, Target};
use ferrolake_shared::telemetry::Metrics;
use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Metric names (EMF, namespace `ferrolake`).
pub mod metric {
    pub const RECORDS: &str = "Records";
    pub const OK: &str = "RecordsOk";
    pub const DROPPED: &str = "RecordsDropped";
    pub const FAILED: &str = "RecordsProcessingFailed";
    pub const REINGESTED: &str = "RecordsReingested";
    pub const REINGEST_FAILED: &str = "RecordsReingestFailed";
    pub const BYTES_IN: &str = "BytesIn";
    pub const BYTES_OUT: &str = "BytesOut";
    pub const COLLISIONS: &str = "KeyCollisions";
    pub const LINES: &str = "OutputLines";
    pub const RESPONSE_BYTES: &str = "ResponseBytes";
}

/// Why a record failed, as logged (with its recordId).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("`data` is missing or not a string")]
    DataNotString,
    #[error("`data` is not valid base64 (standard alphabet, padded)")]
    NotBase64,
    #[error("gzip data could not be decompressed: {0}")]
    Gzip(#[source] std::io::Error),
    #[error("gzip data decompresses beyond {limit} bytes")]
    GzipTooLarge { limit: usize },
    #[error(transparent)]
    Flatten(#[from] FlattenError),
    #[error("flattened output ({bytes} bytes of base64) alone exceeds the response budget of {budget} bytes")]
    TooLarge { bytes: usize, budget: usize },
    #[error("processing panicked: {0}")]
    Panicked(String),
    #[error("does not fit the response and re-ingestion is off (OVERFLOW=fail)")]
    OverflowFail,
    #[error("does not fit the response and cannot be re-ingested: the event names no delivery or source stream")]
    NoReingestTarget,
    #[error("does not fit the response and re-ingestion failed: {0}")]
    Reingest(String),
}

/// Per-record counters, summed locally and added to the metrics once per batch (a
/// metrics update takes a lock and a map lookup; a batch has thousands of records).
#[derive(Debug, Default)]
struct Tally {
    bytes_in: u64,
    bytes_out: u64,
    collisions: u64,
    lines: u64,
    ok: u64,
    dropped: u64,
    failed: u64,
}

impl Tally {
    fn add_to(&self, metrics: &Metrics) {
        for (name, n) in [
            (metric::BYTES_IN, self.bytes_in),
            (metric::BYTES_OUT, self.bytes_out),
            (metric::COLLISIONS, self.collisions),
            (metric::LINES, self.lines),
            (metric::OK, self.ok),
            (metric::DROPPED, self.dropped),
            (metric::FAILED, self.failed),
        ] {
            metrics.count(name, n);
        }
    }
}

enum State {
    /// Flattened (the output is in the flattener's buffer until the record is written).
    Ok {
        keys: Option<BTreeMap<String, String>>,
        out_bytes: usize,
    },
    Dropped,
    Failed(RecordError),
    /// Ok, but did not fit: waiting for re-ingestion.
    Overflow,
}

struct Prepared<'e> {
    record: &'e FirehoseRecord,
    state: State,
    /// Whether a `ProcessingFailed` answer carries the original data.
    failed_with_data: bool,
}

/// The response-size budget, walked in input order as records are transformed. Every
/// record's smallest possible answer is reserved up front (every recordId must appear);
/// `Ok` records are admitted while their full answer fits, and once one does not, the
/// response is full.
struct Budget {
    limit: usize,
    total: usize,
    id_lens: Vec<usize>,
    full: bool,
}

impl Budget {
    fn new(records: &[FirehoseRecord], limit: usize) -> Self {
        let id_lens: Vec<usize> = records
            .iter()
            .map(|r| json_string_len(&r.record_id))
            .collect();
        // The largest minimal answer (ProcessingFailed without data) for each record.
        let total = ENVELOPE_BYTES
            + records.len().saturating_sub(1)
            + id_lens
                .iter()
                .map(|&id| Self::failed_size(id))
                .sum::<usize>();
        Self {
            limit,
            total,
            id_lens,
            full: false,
        }
    }

    fn failed_size(id: usize) -> usize {
        record_size_for(id, RecordResult::ProcessingFailed, None, None)
    }

    /// Decide whether record `index` (just transformed) fits; mutates its state.
    fn admit(&mut self, index: usize, p: &mut Prepared) {
        let id = self.id_lens[index];
        match &p.state {
            State::Ok { keys, out_bytes } => {
                let data_len = base64_len(*out_bytes);
                let full = record_size_for(id, RecordResult::Ok, Some(data_len), keys.as_ref());
                if ENVELOPE_BYTES + full > self.limit {
                    p.state = State::Failed(RecordError::TooLarge {
                        bytes: data_len,
                        budget: self.limit,
                    });
                } else if self.total - Self::failed_size(id) + full <= self.limit {
                    self.total = self.total - Self::failed_size(id) + full;
                } else {
                    p.state = State::Overflow;
                    self.full = true;
                }
            }
            State::Failed(_) => {
                let data_len = p.record.data.base64_text_len();
                let with_data = record_size_for(id, RecordResult::ProcessingFailed, data_len, None);
                if data_len.is_some()
                    && self.total - Self::failed_size(id) + with_data <= self.limit
                {
                    self.total = self.total - Self::failed_size(id) + with_data;
                    p.failed_with_data = true;
                }
            }
            State::Dropped => {
                // Its answer is smaller than the reserved one.
                self.total = self.total - Self::failed_size(id)
                    + record_size_for(id, RecordResult::Dropped, None, None);
            }
            State::Overflow => {}
        }
    }
}

pub struct FirehoseFlatten<R> {
    config: Config,
    reingest: R,
    backoff: Backoff,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl<R: StreamPut> FirehoseFlatten<R> {
    pub fn new(config: Config, reingest: R) -> Self {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_attempts: 6,
        };
        Self {
            config,
            reingest,
            backoff,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn reingest(&self) -> &R {
        &self.reingest
    }

    fn flattener(&self) -> Result<Flattener, FlattenError> {
        Flattener::new(FlattenOptions {
            watch: watched_fields(&self.config.partition_keys),
            ..self.config.flatten.clone()
        })
    }

    pub async fn handle(
        &self,
        event: &FirehoseEvent,
        ctx: &lambda_runtime::Context,
        metrics: &Metrics,
    ) -> FirehoseResponse {
        let deadline = Deadline::from_context(ctx, self.config.deadline_reserve);
        self.process(event, &deadline, metrics).await
    }

    pub async fn process(
        &self,
        event: &FirehoseEvent,
        deadline: &Deadline,
        metrics: &Metrics,
    ) -> FirehoseResponse {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        metrics.count(metric::RECORDS, event.records.len() as u64);
        let mut budget = Budget::new(&event.records, self.config.response_budget);
        let mut response = ResponseWriter::with_capacity(Self::expected_response_bytes(
            &event.records,
            self.config.response_budget,
        ));
        // Records are written as they are decided, in input order; from the first that
        // does not fit on, they wait for the re-ingestion's outcome.
        let mut deferred: Vec<Prepared> = Vec::new();
        let mut flattener = self.flattener();
        let mut out = Vec::new();
        let mut tally = Tally::default();
        for (index, record) in event.records.iter().enumerate() {
            let mut p = Prepared {
                record,
                state: State::Dropped,
                failed_with_data: false,
            };
            p.state = if budget.full {
                // The response is full: later records are re-ingested from their original
                // bytes, so flattening them now would be wasted work.
                match Self::bytes(record, &mut tally) {
                    Ok(_) => State::Overflow,
                    Err(decided) => decided,
                }
            } else {
                match &mut flattener {
                    Err(e) => State::Failed(RecordError::Flatten(e.clone())),
                    Ok(f) => {
                        let result = catch_panic_sync(|| {
                            self.transform(record, f, &mut out, now_ms, &mut tally)
                        });
                        match result {
                            Ok(state) => state,
                            Err(panic) => {
                                // The flattener's buffers may be mid-way: start a fresh one.
                                flattener = self.flattener();
                                State::Failed(RecordError::Panicked(panic))
                            }
                        }
                    }
                }
            };
            budget.admit(index, &mut p);
            if deferred.is_empty() && !matches!(p.state, State::Overflow) {
                Self::write(&mut response, p, &out, &mut tally);
            } else {
                deferred.push(p);
            }
        }
        self.reingest_overflow(event, &mut deferred, deadline, metrics)
            .await;
        for p in deferred {
            // Nothing after the first overflow was flattened: no output to pass.
            Self::write(&mut response, p, &[], &mut tally);
        }
        Self::finish(response, tally, metrics)
    }

    /// A capacity for the response: the records' data grown as flattening grows it
    /// (~1.2× in `docs/benchmarks.md`), within the budget.
    fn expected_response_bytes(records: &[FirehoseRecord], budget: usize) -> usize {
        let data: usize = records
            .iter()
            .map(|r| r.data.base64_text_len().unwrap_or(0) + r.record_id.len() + 48)
            .sum();
        (data + data / 4).min(budget)
    }

    /// Gunzip and flatten one record.
    fn transform(
        &self,
        record: &FirehoseRecord,
        flattener: &mut Flattener,
        out: &mut Vec<u8>,
        now_ms: i64,
        tally: &mut Tally,
    ) -> State {
        let original = match Self::bytes(record, tally) {
            Ok(bytes) => bytes,
            Err(decided) => return decided,
        };
        let gunzipped;
        let input: &[u8] = if original.starts_with(&GZIP_MAGIC) {
            let limit = self.config.max_decompressed_bytes;
            let mut decoded = Vec::new();
            let mut reader = flate2::read::GzDecoder::new(original).take(limit as u64 + 1);
            if let Err(e) = reader.read_to_end(&mut decoded) {
                return State::Failed(RecordError::Gzip(e));
            }
            if decoded.len() > limit {
                return State::Failed(RecordError::GzipTooLarge { limit });
            }
            gunzipped = decoded;
            &gunzipped
        } else {
            original
        };
        out.clear();
        let summary = match flattener.flatten(input, out) {
            Ok(summary) => summary,
            Err(e) => return State::Failed(RecordError::Flatten(e)),
        };
        tally.collisions += summary.collisions as u64;
        tally.lines += summary.lines as u64;
        if summary.lines == 0 {
            tracing::debug!(recordId = %record.record_id, dropped = summary.dropped as u64, "every object matched DROP_WHERE");
            return State::Dropped;
        }
        let keys = (!self.config.partition_keys.is_empty()).then(|| {
            partition_values(
                &self.config.partition_keys,
                &summary.watched,
                record.arrival_millis().unwrap_or(now_ms),
                &self.config.partition_default,
            )
        });
        State::Ok {
            keys,
            out_bytes: out.len(),
        }
    }

    /// A record's bytes (base64-decoded with the event), or the state that already decides
    /// the record: `data` not a string or not base64 (`ProcessingFailed`), or empty
    /// (`Dropped`).
    fn bytes<'r>(record: &'r FirehoseRecord, tally: &mut Tally) -> Result<&'r [u8], State> {
        let bytes = match &record.data {
            RecordData::Bytes(bytes) => bytes,
            RecordData::NotBase64(_) => return Err(State::Failed(RecordError::NotBase64)),
            RecordData::NotString => return Err(State::Failed(RecordError::DataNotString)),
        };
        tally.bytes_in += bytes.len() as u64;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            tracing::debug!(recordId = %record.record_id, "empty record dropped");
            return Err(State::Dropped);
        }
        Ok(bytes)
    }

    async fn reingest_overflow(
        &self,
        event: &FirehoseEvent,
        prepared: &mut [Prepared<'_>],
        deadline: &Deadline,
        metrics: &Metrics,
    ) {
        let overflow: Vec<usize> = (0..prepared.len())
            .filter(|&i| matches!(prepared[i].state, State::Overflow))
            .collect();
        if overflow.is_empty() {
            return;
        }
        let target = match self.config.overflow {
            Overflow::Fail => None,
            Overflow::Reingest => Target::from_arns(
                event.delivery_stream_arn.as_deref(),
                event.source_kinesis_stream_arn.as_deref(),
            ),
        };
        let Some(target) = target else {
            for &i in &overflow {
                prepared[i].state = State::Failed(match self.config.overflow {
                    Overflow::Fail => RecordError::OverflowFail,
                    Overflow::Reingest => RecordError::NoReingestTarget,
                });
            }
            return;
        };
        let outcome = {
            let entries: Vec<Entry> = overflow
                .iter()
                .map(|&i| {
                    let p = &prepared[i];
                    Entry {
                        // Only records whose `data` decoded can overflow.
                        data: p.record.data.bytes().unwrap_or_default(),
                        partition_key: p.record.partition_key().unwrap_or(&p.record.record_id),
                    }
                })
                .collect();
            // put_all turns a panicking adapter into failed entries, never a failed batch.
            put_all(&self.reingest, &target, &entries, &self.backoff, deadline).await
        };
        for (&i, result) in overflow.iter().zip(outcome) {
            prepared[i].state = match result {
                None => {
                    metrics.count(metric::REINGESTED, 1);
                    State::Dropped
                }
                Some(error) => {
                    metrics.count(metric::REINGEST_FAILED, 1);
                    State::Failed(RecordError::Reingest(error))
                }
            };
        }
        tracing::info!(
            target = ?target,
            reingested = metrics.counter(metric::REINGESTED),
            failed = metrics.counter(metric::REINGEST_FAILED),
            "records over the response budget re-ingested"
        );
    }

    /// Write one decided record into the response; `flattened` is an `Ok` record's output.
    fn write(response: &mut ResponseWriter, p: Prepared, flattened: &[u8], tally: &mut Tally) {
        let record_id = p.record.record_id.as_str();
        match p.state {
            State::Ok { keys, out_bytes } => {
                debug_assert_eq!(out_bytes, flattened.len());
                tally.ok += 1;
                tally.bytes_out += out_bytes as u64;
                response.push(
                    record_id,
                    RecordResult::Ok,
                    Some(ResponseData::Base64Of(flattened)),
                    keys.as_ref(),
                );
            }
            State::Dropped => {
                tally.dropped += 1;
                response.push(record_id, RecordResult::Dropped, None, None);
            }
            State::Failed(error) => {
                tally.failed += 1;
                tracing::warn!(recordId = %record_id, error = %error, "record ProcessingFailed");
                let data = if p.failed_with_data {
                    p.record.data.as_response_data()
                } else {
                    None
                };
                response.push(record_id, RecordResult::ProcessingFailed, data, None);
            }
            State::Overflow => {
                unreachable!("every overflow record is resolved by reingest_overflow")
            }
        }
    }

    fn finish(response: ResponseWriter, tally: Tally, metrics: &Metrics) -> FirehoseResponse {
        let size = response.size();
        tally.add_to(metrics);
        metrics.record(
            metric::RESPONSE_BYTES,
            ferrolake_shared::telemetry::Unit::Bytes,
            size as f64,
        );
        tracing::info!(
            records = tally.ok + tally.dropped + tally.failed,
            ok = metrics.counter(metric::OK),
            dropped = metrics.counter(metric::DROPPED),
            failed = metrics.counter(metric::FAILED),
            reingested = metrics.counter(metric::REINGESTED),
            bytes_in = metrics.counter(metric::BYTES_IN),
            bytes_out = metrics.counter(metric::BYTES_OUT),
            response_bytes = size as u64,
            "batch transformed"
        );
        response.finish()
    }
}

#[cfg(test)]
mod tests;
