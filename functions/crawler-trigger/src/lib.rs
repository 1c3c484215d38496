//! `crawler-trigger`: keeps the Glue catalog current as objects land in the lake.
//!
//! - [`routing`]: pure — which crawler or table an object belongs to, Hive partition values.
//! - [`glue`]: the Glue Data Catalog and crawlers as the handler needs them (the
//!   [`glue::Glue`] port) and its SDK adapter ([`glue::GlueSdk`]).
//! - [`config`]: settings from the environment.
//! - [`handler`]: SQS batch → coalesced crawler starts and partition registrations.

pub mod config;
pub mod glue;
pub mod handler;
pub mod routing;
