//! `redshift-config`: declarative Redshift users, groups, roles, schemas and grants kept in
//! DynamoDB, applied with temporary credentials; managed passwords and their rotation.
//!
//! - [`config`]: the DynamoDB items, validated completely before any SQL.
//! - [`ident`]: identifier validation and quoting, literal checks, md5 password hashes.
//! - [`acl`]: catalog ACL strings.
//! - [`state`]: the current state, one catalog query at a time.
//! - [`plan`]: desired + current → ordered statements (pure).
//! - [`exec`]: sessions that read rows and apply statements in one transaction.

pub mod acl;
pub mod config;
pub mod connect;
pub mod data_api;
pub mod exec;
pub mod handler;
pub mod ident;
pub mod plan;
pub mod reconcile;
pub mod rotation;
pub mod secrets;
pub mod state;
pub mod store;
