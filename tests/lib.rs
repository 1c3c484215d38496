//! Shared helpers for the cross-crate integration tests live in `ferrolake_shared::testing`.
