//! `athena-udf`: Athena's external-function (`USING EXTERNAL FUNCTION`) protocol and a
//! UDF library.
//!
//! - [`config`]: settings from the environment (`UDF_THREADS`), read once by `main`.
//! - [`protocol`]: the JSON requests and responses (Java key order out, liberal in).
//! - [`ipc`]: Arrow IPC messages in base64 (both framings in; continuation, V5, align 8 out).
//! - [`udf`]: typed arguments/results over Arrow arrays, the registry, signature checks.
//! - [`library`]: the UDFs (athena-udfs drop-ins and lake helpers), registered in one place.
//! - [`handler`]: one invocation end to end, errors Athena users can read, the 6 MB guard,
//!   and [`handler::serve`], the Lambda process around a registry.
//! - `fixtures` (feature `fixtures`, on for this crate's tests and benchmarks and for
//!   ferrolake-local-aws): requests built the way Athena builds them and responses read back
//!   (tests, benchmarks, sample events), and the type-matrix `echo` UDFs. Not in the release
//!   binary.

// The runtime loop's future (handler::serve) is deeper than the default query limit.
#![recursion_limit = "256"]

pub mod config;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod handler;
pub mod ipc;
pub mod library;
pub mod protocol;
pub mod udf;
