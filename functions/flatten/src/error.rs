//! Why flattening failed: bad input (syntax, encoding, shape, limits) or bad options.

/// Internal results box the error: it is rare, and a pointer-sized error keeps the hot
/// paths' `Result`s in registers.
pub(crate) type Fallible<T> = Result<T, Box<FlattenError>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlattenError {
    #[error("invalid JSON at byte {offset}: expected {expected}, found {}", found.map(|c| format!("{c:?}")).unwrap_or_else(|| "the end of the input".into()))]
    Syntax {
        offset: usize,
        expected: &'static str,
        found: Option<char>,
    },
    #[error("not UTF-8 (invalid byte at {offset})")]
    NotUtf8 { offset: usize },
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error(
        "top-level value is {found}, not an object (non-object values are configured to fail)"
    )]
    NotAnObject { found: &'static str },
    #[error("keys collide after normalisation: {key:?} (collisions are configured to fail)")]
    Collision { key: String },
    #[error("array {path:?} has more than {limit} items")]
    TooManyItems { path: String, limit: usize },
    #[error("no JSON value in the input")]
    Empty,
    #[error("more than one JSON value in the input (multi-value input is off)")]
    MultipleValues,
    #[error("invalid flatten option: {0}")]
    Option(String),
}
