//! `catalog-fetch`: catalog change notifications → current item metadata → Kinesis.
//!
//! - [`notification`]: pure — item id and change type from a notification (JSON pointers).
//! - [`filter`]: pure — the allow-list of fields and the output record.
//! - [`catalog_api`]: the catalog HTTP API port and its adapter, with the one
//!   [`catalog_api::Authenticator`] (none, API key, bearer, SigV4) built from the settings.
//! - [`config`]: settings from the environment.
//! - [`handler`]: SQS batch → fetch (deduplicated, concurrent) → PutRecords → batch response.

pub mod catalog_api;
pub mod config;
pub mod filter;
pub mod handler;
pub mod notification;
