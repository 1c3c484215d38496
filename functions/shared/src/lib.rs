//! What every ferrolake function needs, done once (the Powertools equivalent):
//!
//! - [`telemetry`]: JSON logs in Lambda's JSON log format, CloudWatch EMF metrics, cold start,
//!   and the runtime loop every `main` ends with (`run_runtime`, `run_runtime_fallible`).
//! - [`batch`]: SQS batch processing with per-record verdicts (`Ok` / `Retry` / `Poison`).
//! - [`env`]: settings from the environment, typed getters and one error naming the variable
//!   (`flatten` feature: the flattener's choice enums through `env::choice`).
//! - [`envelope`]: SNS-in-SQS and S3 event notification envelopes, parsed leniently.
//! - [`retry`]: capped exponential backoff with full jitter, bounded by the Lambda deadline.
//! - [`aws`]: SDK configuration from the environment (`AWS_ENDPOINT_URL[_<SERVICE>]`).
//! - [`https`]: the one TLS configuration and trust store (SDK, catalog API, PostgreSQL).
//! - [`heap`]: malloc kept warm between invocations (no trim-and-refault per batch).
//! - `secrets` (feature `secrets`): the one Secrets Manager seam — current values with a TTL
//!   cache, and the versions, stages and writes of managed secrets and rotation.
//! - `streams` (feature `streams`): Kinesis PutRecords / Firehose PutRecordBatch without
//!   losing records.
//!
//! The local stack (moto, PostgreSQL, the demo's stand-ins) is a dev-only crate,
//! `ferrolake-local-aws` (tests/local-aws/); nothing here is test code.

pub mod aws;
pub mod batch;
pub mod env;
pub mod envelope;
pub mod heap;
pub mod https;
pub mod retry;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "streams")]
pub mod streams;
pub mod telemetry;
