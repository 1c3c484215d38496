//! `catalog-fetch`: catalog change notifications → current item metadata → Kinesis.
//!
//! - [`notification`]: pure — item id and change type from a notification (JSON pointers).
//! - [`filter`]: pure — the allow-list of fields and the output record.
//! - [`catalog`]: the catalog API port and its HTTP adapter (auth: none, API key, bearer, SigV4).
//! - [`config`]: settings from the environment.
//! - [`handler`]: SQS batch → fetch (deduplicated, concurrent) → PutRecords → batch response.

pub mod catalog;
pub mod config;
pub mod filter;
pub mod handler;
pub mod notification;
