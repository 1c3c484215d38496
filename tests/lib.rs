//! Cross-crate tests (`local_stack.rs`, `e2e.rs`) and the local demo (`make demo`).
pub mod demo;
