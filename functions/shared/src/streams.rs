//! Writing records to Kinesis Data Streams (PutRecords) and Firehose delivery streams
//! (PutRecordBatch) without losing any: chunks bounded by count and bytes, entries that
//! fail inside a successful response (`FailedRecordCount` / `FailedPutCount`) retried
//! alone with backoff within the deadline, and a per-record outcome for what still fails.
//! Used by catalog-fetch (its output) and firehose-flatten (re-ingestion).

use crate::aws::{is_transient, ProvideErrorMetadata, SdkError};
use crate::retry::{Backoff, Deadline};

/// A stream to write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    DeliveryStream(String),
    /// A Kinesis Data Stream; each record needs its partition key.
    KinesisStream(String),
}

impl Target {
    /// From the event: the source stream when there is one, else the delivery stream.
    pub fn from_arns(
        delivery_stream_arn: Option<&str>,
        source_stream_arn: Option<&str>,
    ) -> Option<Target> {
        if let Some(arn) = source_stream_arn {
            return arn
                .split_once(":stream/")
                .map(|(_, name)| Target::KinesisStream(name.to_string()));
        }
        delivery_stream_arn?
            .split_once(":deliverystream/")
            .map(|(_, name)| Target::DeliveryStream(name.to_string()))
    }

    /// (max records, max bytes) per call; bytes count data plus partition key.
    pub fn chunk_limits(&self) -> (usize, usize) {
        match self {
            Target::DeliveryStream(_) => (500, 4 * 1024 * 1024),
            Target::KinesisStream(_) => (500, 5 * 1024 * 1024),
        }
    }

    /// The largest single record the target accepts.
    pub fn max_record_bytes(&self) -> usize {
        match self {
            Target::DeliveryStream(_) => 1000 * 1024,
            Target::KinesisStream(_) => 1024 * 1024,
        }
    }
}

/// A whole call failed (nothing was written).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed ({code}): {source}")]
pub struct PutError {
    pub operation: &'static str,
    pub code: String,
    pub transient: bool,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// One record to write.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub data: &'a [u8],
    pub partition_key: &'a str,
}

/// The put operation (one call); the SDK adapter is [`SdkStreams`].
#[allow(async_fn_in_trait)]
pub trait StreamPut {
    /// Put `entries` in one call; `Ok` holds one result per entry (`Some(error)` = failed).
    async fn put(
        &self,
        target: &Target,
        entries: &[Entry<'_>],
    ) -> Result<Vec<Option<String>>, PutError>;
}

/// Split `sizes` into chunks of at most `max_count` entries and `max_bytes` bytes.
pub fn chunks(sizes: &[usize], max_count: usize, max_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if i > start && (i - start == max_count || bytes + size > max_bytes) {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

/// Put every entry, retrying failed entries (and transiently failed calls) with backoff
/// within the deadline. Returns, per entry, `None` when it was written or the last error.
pub async fn put_all<P: StreamPut>(
    streams: &P,
    target: &Target,
    entries: &[Entry<'_>],
    backoff: &Backoff,
    deadline: &Deadline,
) -> Vec<Option<String>> {
    let mut outcome: Vec<Option<String>> = vec![None; entries.len()];
    let mut pending: Vec<usize> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let size = e.data.len() + e.partition_key.len();
        if size > target.max_record_bytes() {
            outcome[i] = Some(format!(
                "record of {size} bytes exceeds the target's {} byte limit",
                target.max_record_bytes()
            ));
        } else {
            pending.push(i);
        }
    }
    let (max_count, max_bytes) = target.chunk_limits();
    let mut attempt = 0u32;
    while !pending.is_empty() {
        let sizes: Vec<usize> = pending
            .iter()
            .map(|&i| entries[i].data.len() + entries[i].partition_key.len())
            .collect();
        let mut still_failing = Vec::new();
        for range in chunks(&sizes, max_count, max_bytes) {
            let indexes = &pending[range];
            let batch: Vec<Entry> = indexes.iter().map(|&i| entries[i]).collect();
            // A panicking adapter fails this chunk's entries, not the caller's batch.
            let result = crate::batch::catch_panic(streams.put(target, &batch))
                .await
                .unwrap_or_else(|panic| {
                    Err(PutError {
                        operation: "put",
                        code: "Panic".into(),
                        transient: false,
                        source: panic.into(),
                    })
                });
            match result {
                Ok(results) => {
                    // An entry without its own result was not confirmed: it counts as failed
                    // (zip would otherwise leave it looking written).
                    let answered = results.len();
                    let mut results = results.into_iter();
                    for &i in indexes {
                        outcome[i] = results.next().unwrap_or_else(|| {
                            Some(format!(
                                "the response has {answered} results for {} entries; this entry's is missing",
                                indexes.len()
                            ))
                        });
                        if outcome[i].is_some() {
                            still_failing.push(i);
                        }
                    }
                }
                Err(err) => {
                    for &i in indexes {
                        outcome[i] = Some(err.to_string());
                        if err.transient {
                            still_failing.push(i);
                        }
                    }
                }
            }
        }
        attempt += 1;
        if still_failing.is_empty() || attempt >= backoff.max_attempts {
            break;
        }
        let wait = backoff.delay(attempt - 1, &mut rand::rng());
        if !deadline.allows(wait) {
            break;
        }
        tracing::info!(
            failed = still_failing.len() as u64,
            attempt,
            target = ?target,
            "retrying failed entries"
        );
        tokio::time::sleep(wait).await;
        pending = still_failing;
    }
    outcome
}

/// The SDK adapter: Firehose for delivery streams, Kinesis for data streams. A function
/// builds only the clients it writes with: each SDK client costs ~0.1–0.2 ms of a cold
/// start (its endpoint rules and partition table are set up when it is built).
pub struct SdkStreams {
    pub firehose: Option<aws_sdk_firehose::Client>,
    pub kinesis: Option<aws_sdk_kinesis::Client>,
}

impl SdkStreams {
    /// Both services (firehose-flatten re-ingests into whichever source a batch came from).
    pub fn new(config: &aws_types::SdkConfig) -> Self {
        Self {
            firehose: Some(aws_sdk_firehose::Client::new(config)),
            kinesis: Some(aws_sdk_kinesis::Client::new(config)),
        }
    }

    /// Kinesis data streams only (catalog-fetch).
    pub fn kinesis_only(config: &aws_types::SdkConfig) -> Self {
        Self {
            firehose: None,
            kinesis: Some(aws_sdk_kinesis::Client::new(config)),
        }
    }
}

/// A put to a kind of stream this function built no client for: a configuration error,
/// never retried.
#[derive(Debug, thiserror::Error)]
#[error("this function has no {service} client")]
pub struct NoClient {
    pub service: &'static str,
}

fn client<'a, C>(
    client: &'a Option<C>,
    operation: &'static str,
    service: &'static str,
) -> Result<&'a C, PutError> {
    client.as_ref().ok_or_else(|| PutError {
        operation,
        code: "NoClient".into(),
        transient: false,
        source: Box::new(NoClient { service }),
    })
}

fn put_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> PutError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    PutError {
        operation,
        code: crate::aws::error_code(&err)
            .unwrap_or("no service error code")
            .to_string(),
        transient: is_transient(&err),
        source: Box::new(err),
    }
}

impl StreamPut for SdkStreams {
    async fn put(
        &self,
        target: &Target,
        entries: &[Entry<'_>],
    ) -> Result<Vec<Option<String>>, PutError> {
        match target {
            Target::DeliveryStream(stream) => {
                let records = entries
                    .iter()
                    .map(|e| {
                        aws_sdk_firehose::types::Record::builder()
                            .data(aws_sdk_firehose::primitives::Blob::new(e.data))
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| PutError {
                        operation: "PutRecordBatch",
                        code: "BuildError".into(),
                        transient: false,
                        source: Box::new(e),
                    })?;
                let out = client(&self.firehose, "PutRecordBatch", "Firehose")?
                    .put_record_batch()
                    .delivery_stream_name(stream)
                    .set_records(Some(records))
                    .send()
                    .await
                    .map_err(|e| put_error("PutRecordBatch", e))?;
                Ok(out
                    .request_responses()
                    .iter()
                    .map(|r| {
                        r.error_code()
                            .map(|code| format!("{code}: {}", r.error_message().unwrap_or("")))
                    })
                    .collect())
            }
            Target::KinesisStream(stream) => {
                let records = entries
                    .iter()
                    .map(|e| {
                        aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                            .data(aws_sdk_kinesis::primitives::Blob::new(e.data))
                            .partition_key(e.partition_key)
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| PutError {
                        operation: "PutRecords",
                        code: "BuildError".into(),
                        transient: false,
                        source: Box::new(e),
                    })?;
                let out = client(&self.kinesis, "PutRecords", "Kinesis")?
                    .put_records()
                    .stream_name(stream)
                    .set_records(Some(records))
                    .send()
                    .await
                    .map_err(|e| put_error("PutRecords", e))?;
                Ok(out
                    .records()
                    .iter()
                    .map(|r| {
                        r.error_code()
                            .map(|code| format!("{code}: {}", r.error_message().unwrap_or("")))
                    })
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {

    /// catalog-fetch builds no Firehose client: a put to a delivery stream is refused as a
    /// configuration error (not retried), naming the missing client.
    #[tokio::test]
    async fn a_stream_kind_without_a_client_is_a_permanent_error() {
        let config = aws_types::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .build();
        let streams = SdkStreams::kinesis_only(&config);
        assert!(streams.firehose.is_none() && streams.kinesis.is_some());
        let entry = Entry {
            data: b"{}",
            partition_key: "k",
        };
        let err = streams
            .put(&Target::DeliveryStream("d".into()), &[entry])
            .await
            .unwrap_err();
        assert!(!err.transient);
        assert_eq!(err.code, "NoClient");
        assert!(err.to_string().contains("no Firehose client"), "{err}");
    }
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn targets_come_from_the_arns() {
        assert_eq!(
            Target::from_arns(
                Some("arn:aws:firehose:us-east-1:123456789012:deliverystream/lake"),
                None
            ),
            Some(Target::DeliveryStream("lake".into()))
        );
        assert_eq!(
            Target::from_arns(
                Some("arn:aws:firehose:us-east-1:1:deliverystream/lake"),
                Some("arn:aws:kinesis:us-east-1:1:stream/catalog")
            ),
            Some(Target::KinesisStream("catalog".into()))
        );
        assert_eq!(Target::from_arns(None, None), None);
        assert_eq!(Target::from_arns(Some("not-an-arn"), None), None);
    }

    #[test]
    fn chunks_respect_count_and_bytes() {
        assert_eq!(
            chunks(&[1; 1001], 500, 10_000),
            vec![0..500, 500..1000, 1000..1001]
        );
        assert_eq!(chunks(&[40, 40, 40, 40], 500, 100), vec![0..2, 2..4]);
        assert_eq!(
            chunks(&[150, 10], 500, 100),
            vec![0..1, 1..2],
            "an oversized entry goes alone"
        );
        assert!(chunks(&[], 500, 100).is_empty());
    }

    /// Fails entries whose data is in `flaky` for the first `fail_times` calls that include them.
    struct Flaky {
        flaky: Vec<Vec<u8>>,
        fail_times: usize,
        calls: Mutex<Vec<usize>>,
        seen: Mutex<Vec<Vec<u8>>>,
    }

    impl StreamPut for Flaky {
        async fn put(
            &self,
            _target: &Target,
            entries: &[Entry<'_>],
        ) -> Result<Vec<Option<String>>, PutError> {
            let mut calls = self.calls.lock().unwrap();
            calls.push(entries.len());
            let call = calls.len();
            Ok(entries
                .iter()
                .map(|e| {
                    if self.flaky.iter().any(|f| f == e.data) && call <= self.fail_times {
                        Some("ProvisionedThroughputExceededException: slow down".to_string())
                    } else {
                        self.seen.lock().unwrap().push(e.data.to_vec());
                        None
                    }
                })
                .collect())
        }
    }

    /// One entry per datum, all under partition key `pk`.
    fn entries_of(data: &[Vec<u8>]) -> Vec<Entry<'_>> {
        data.iter()
            .map(|d| Entry {
                data: d,
                partition_key: "pk",
            })
            .collect()
    }

    fn backoff() -> Backoff {
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_attempts: 3,
        }
    }

    #[tokio::test]
    async fn failed_entries_are_retried_alone_then_reported() {
        let data: Vec<Vec<u8>> = (0..5).map(|i| format!("r{i}").into_bytes()).collect();
        let entries = entries_of(&data);
        let deadline = Deadline::after(Duration::from_secs(10), Duration::ZERO);
        let target = Target::KinesisStream("s".into());

        let recovers = Flaky {
            flaky: vec![b"r1".to_vec(), b"r3".to_vec()],
            fail_times: 1,
            calls: Mutex::default(),
            seen: Mutex::default(),
        };
        let outcome = put_all(&recovers, &target, &entries, &backoff(), &deadline).await;
        assert!(outcome.iter().all(Option::is_none), "{outcome:?}");
        assert_eq!(
            *recovers.calls.lock().unwrap(),
            vec![5, 2],
            "the retry sends only the two failed entries"
        );
        assert_eq!(
            recovers.seen.lock().unwrap().len(),
            5,
            "each record written exactly once"
        );

        let stuck = Flaky {
            flaky: vec![b"r3".to_vec()],
            fail_times: 100,
            calls: Mutex::default(),
            seen: Mutex::default(),
        };
        let outcome = put_all(&stuck, &target, &entries, &backoff(), &deadline).await;
        assert_eq!(outcome.iter().filter(|o| o.is_some()).count(), 1);
        assert!(outcome[3]
            .as_deref()
            .unwrap()
            .contains("ProvisionedThroughputExceeded"));
        assert_eq!(
            *stuck.calls.lock().unwrap(),
            vec![5, 1, 1],
            "3 attempts, then given up"
        );
    }

    /// Answers one result fewer than it was given entries (a malformed response).
    struct ShortAnswer {
        calls: Mutex<Vec<usize>>,
    }

    impl StreamPut for ShortAnswer {
        async fn put(
            &self,
            _target: &Target,
            entries: &[Entry<'_>],
        ) -> Result<Vec<Option<String>>, PutError> {
            self.calls.lock().unwrap().push(entries.len());
            Ok(vec![None; entries.len() - 1])
        }
    }

    #[tokio::test]
    async fn an_entry_missing_from_the_response_is_retried_not_taken_as_written() {
        let data: Vec<Vec<u8>> = (0..3).map(|i| format!("r{i}").into_bytes()).collect();
        let entries = entries_of(&data);
        let short = ShortAnswer {
            calls: Mutex::default(),
        };
        let deadline = Deadline::after(Duration::from_secs(10), Duration::ZERO);
        let target = Target::KinesisStream("s".into());
        let outcome = put_all(&short, &target, &entries, &backoff(), &deadline).await;
        assert_eq!(outcome[0], None);
        assert_eq!(outcome[1], None);
        assert!(
            outcome[2]
                .as_deref()
                .unwrap()
                .contains("the response has 0 results for 1 entries"),
            "{outcome:?}"
        );
        assert_eq!(*short.calls.lock().unwrap(), vec![3, 1, 1]);
    }

    #[tokio::test]
    async fn oversized_records_are_not_sent() {
        let big = vec![b'x'; 1024 * 1024 + 1];
        let entries = [Entry {
            data: &big,
            partition_key: "",
        }];
        let never = Flaky {
            flaky: vec![],
            fail_times: 0,
            calls: Mutex::default(),
            seen: Mutex::default(),
        };
        let deadline = Deadline::after(Duration::from_secs(10), Duration::ZERO);
        let outcome = put_all(
            &never,
            &Target::KinesisStream("s".into()),
            &entries,
            &backoff(),
            &deadline,
        )
        .await;
        assert!(outcome[0].as_deref().unwrap().contains("exceeds"));
        assert!(never.calls.lock().unwrap().is_empty());
    }
}
