//! `redshift-config`: declarative Redshift users, groups, roles, schemas and grants kept in
//! DynamoDB, applied with temporary credentials; managed passwords and their rotation.
//!
//! - [`config`]: settings from the environment (`CONFIG_TABLE`), read once by `main`.
//! - [`desired`]: the desired state as DynamoDB items, validated completely before any SQL.
//! - [`store`]: the config table read (one Query per target; stream images unwrapped).
//! - [`ident`]: identifier validation and quoting, literal checks, md5 password hashes.
//! - [`acl`]: catalog ACL strings.
//! - [`state`]: the current state, one catalog query at a time.
//! - [`plan`]: desired + current → ordered statements (pure).
//! - [`executor`]: statements and sessions, and the two executors that run them (direct
//!   connections, the Redshift Data API).
//! - [`secrets`]: managed passwords in AWS's Redshift secret format.
//! - [`reconcile`]: one target end to end: read, make passwords, plan, apply, report.
//! - [`rotation`]: the four Secrets Manager rotation steps.
//! - [`handler`]: one binary, four triggers (rotation, stream, schedule, direct).

pub mod acl;
pub mod config;
pub mod desired;
pub mod executor;
pub mod handler;
pub mod ident;
pub mod plan;
pub mod reconcile;
pub mod rotation;
pub mod secrets;
pub mod state;
pub mod store;
