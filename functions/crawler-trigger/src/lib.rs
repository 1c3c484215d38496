//! `crawler-trigger`: keeps the Glue catalog current as objects land in the lake.
//!
//! - [`routing`]: pure — which crawler or table an object belongs to, Hive partition values.
//! - [`catalog`]: the Glue port ([`catalog::Catalog`]) and its SDK adapter.
//! - [`config`]: settings from the environment.
//! - [`handler`]: SQS batch → coalesced crawler starts and partition registrations.

pub mod catalog;
pub mod config;
pub mod handler;
pub mod routing;
