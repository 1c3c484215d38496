//! `firehose-flatten`: the Firehose data-transformation Lambda.
//!
//! - [`request`]: lenient request types.
//! - [`response`]: the response, written with exact size accounting.
//! - [`config`]: settings from the environment.
//! - [`partition`]: dynamic-partitioning keys.
//! - [`handler`]: per-record processing, the 6 MB size guard, re-ingestion.
//! - `sample` (feature `sample`, on for this crate's tests and benchmarks): a seeded
//!   generator of realistic clickstream events. Not in the release binary.
//!
//! The flattening itself is `ferrolake_flatten` (shared with athena-udf).

pub mod config;
pub mod handler;
pub mod partition;
pub mod request;
pub mod response;
#[cfg(any(test, feature = "sample"))]
pub mod sample;
