//! What every ferrolake function needs, done once (the Powertools equivalent):
//!
//! - [`telemetry`]: JSON logs in Lambda's JSON log format, CloudWatch EMF metrics, cold start.
//! - [`batch`]: SQS batch processing with per-record outcomes (`Ok` / `Retry` / `Poison`).
//! - [`envelope`]: SNS-in-SQS and S3 event notification envelopes, parsed leniently.
//! - [`retry`]: capped exponential backoff with full jitter, bounded by the Lambda deadline.
//! - [`aws`]: SDK configuration from the environment (`AWS_ENDPOINT_URL[_<SERVICE>]`).
//! - [`heap`]: malloc kept warm between invocations (no trim-and-refault per batch).
//! - `testing` (feature `test-support`): the local stack — moto server and a throwaway PostgreSQL.

pub mod aws;
pub mod batch;
pub mod envelope;
pub mod heap;
pub mod retry;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "streams")]
pub mod streams;
pub mod telemetry;

#[cfg(feature = "test-support")]
pub mod testing;

/// The error every skeleton function answers with until it is implemented.
#[derive(Debug, thiserror::Error)]
#[error("{function} is not implemented yet")]
pub struct NotImplemented {
    pub function: &'static str,
}

impl From<NotImplemented> for lambda_runtime::Diagnostic {
    fn from(err: NotImplemented) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "NotImplemented".into(),
            error_message: err.to_string(),
        }
    }
}
