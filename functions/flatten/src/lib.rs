//! The JSON flattener of `firehose-flatten` and `athena-udf`'s `flatten_json`.
//!
//! Streaming: a validating scanner (JSON grammar and UTF-8) walks the input bytes once and
//! writes flattened compact JSON directly — no `serde_json::Value` tree. Numbers and
//! strings are copied verbatim (exact digits, original escapes). Recursion is bounded by
//! `max_depth` (≤ 128); deeper subtrees are copied iteratively as JSON strings, and input
//! nested beyond `hard_max_depth` is rejected, so no input can overflow the stack.
//!
//! - `options`: [`FlattenOptions`] (what the caller chooses), validated and compiled once
//!   into the form the walker reads.
//! - `error`: [`FlattenError`].
//! - `walk`: the walker ([`Flattener`]), explode, watched fields and drop rules.
//! - `key_index`: the keys of one output object (collisions, member positions).
//! - `keys`: key normalisation. `paths`: include/exclude, JSON paths, renames.
//! - `scan`: the validating JSON scanner.

mod error;
mod key_index;
mod keys;
mod options;
mod paths;
mod scan;
mod walk;

pub use error::FlattenError;
pub use options::{
    ArrayMode, Collision, FlattenOptions, NonObject, ParseChoiceError, MAX_DEPTH_LIMIT,
};
pub use walk::{FlattenSummary, Flattener};

#[cfg(test)]
mod tests;
