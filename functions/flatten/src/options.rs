//! What the caller chooses ([`FlattenOptions`]), and the one form the walker reads: the
//! options validated and compiled once ([`Compiled`]), when a [`crate::Flattener`] is built.
//!
//! Paths in the option lists (`include`, `exclude`, `json_paths`, `renames`,
//! `explode_path`, `watch`, `drop_where`) are flattened names: normalised segments joined
//! with the separator, e.g. `user_address_city`. They apply outside arrays.

use crate::error::FlattenError;
use crate::paths::PathRules;
use crate::scan::STRING_SPECIAL;

/// A choice option (e.g. an array mode) given a name none of its choices has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {option} {input:?}: expected {choices}")]
pub struct ParseChoiceError {
    /// What is being chosen, e.g. `array mode`.
    pub option: &'static str,
    /// The name given.
    pub input: String,
    /// The names accepted, `a | b | …` (the type's `CHOICES`).
    pub choices: &'static str,
}

/// A choice enum's names, written once (one per variant): its `FromStr` (exact, lowercase
/// names) and the list of choices its error gives (`CHOICES`) both come from them.
macro_rules! choices {
    ($ty:ident ($option:literal) {
        $first:literal => $first_variant:ident $(, $name:literal => $variant:ident)* $(,)?
    }) => {
        impl $ty {
            /// The accepted names, as [`ParseChoiceError`] lists them.
            pub const CHOICES: &'static str = concat!($first $(, " | ", $name)*);
        }

        impl std::str::FromStr for $ty {
            type Err = ParseChoiceError;

            fn from_str(s: &str) -> Result<Self, ParseChoiceError> {
                match s {
                    $first => Ok(Self::$first_variant),
                    $($name => Ok(Self::$variant),)*
                    _ => Err(ParseChoiceError {
                        option: $option,
                        input: s.to_string(),
                        choices: Self::CHOICES,
                    }),
                }
            }
        }

        // Every variant has a name: a new one without fails to compile here.
        const _: fn($ty) = |choice| match choice {
            $ty::$first_variant $(| $ty::$variant)* => {}
        };
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayMode {
    /// Arrays stay JSON arrays; objects inside them are flattened (own key index).
    Keep,
    /// Elements become `<path>_0`, `<path>_1`, … (the flatten_json convention).
    Index,
    /// The whole array becomes one JSON string.
    Json,
    /// One output line per element of the array at `explode_path` (others are kept).
    Explode,
}

choices! {
    ArrayMode ("array mode") {
        "keep" => Keep,
        "index" => Index,
        "json" => Json,
        "explode" => Explode,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collision {
    /// Later duplicates get `_2`, `_3`, … in document order.
    Suffix,
    /// The record fails.
    Fail,
    /// The first value wins; later duplicates are left out.
    First,
    /// The last value wins; earlier duplicates are removed.
    Last,
}

choices! {
    Collision ("collision policy") {
        "suffix" => Suffix,
        "fail" => Fail,
        "first" => First,
        "last" => Last,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonObject {
    /// A top-level non-object becomes `{"value": <it>}`.
    Wrap,
    /// A top-level non-object fails the record.
    Fail,
}

choices! {
    NonObject ("non-object policy") {
        "wrap" => Wrap,
        "fail" => Fail,
    }
}

/// The largest `max_depth` accepted (the flattener recurses up to it).
pub const MAX_DEPTH_LIMIT: usize = 128;

#[derive(Debug, Clone)]
pub struct FlattenOptions {
    pub separator: String,
    /// Lowercase, only `[a-z0-9_]`, leading digit prefixed, long names hashed.
    pub normalize_keys: bool,
    pub digit_prefix: String,
    pub max_key_bytes: usize,
    pub array_mode: ArrayMode,
    pub explode_path: Option<String>,
    pub max_array_items: usize,
    pub max_depth: usize,
    pub hard_max_depth: usize,
    pub collision: Collision,
    pub keep_nulls: bool,
    pub keep_empty: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub json_paths: Vec<String>,
    pub renames: Vec<(String, String)>,
    pub non_object: NonObject,
    /// Several JSON values (newline-delimited or concatenated) in one input.
    pub multi_json: bool,
    pub append_newline: bool,
    /// Fields whose values in the first object are reported, in this order, in
    /// [`crate::FlattenSummary::watched`].
    pub watch: Vec<String>,
    /// `(field, value)`: objects whose `field` equals `value` (strings compared decoded)
    /// are left out.
    pub drop_where: Vec<(String, String)>,
}

impl Default for FlattenOptions {
    fn default() -> Self {
        Self {
            separator: "_".into(),
            normalize_keys: true,
            digit_prefix: "_".into(),
            max_key_bytes: 255,
            array_mode: ArrayMode::Keep,
            explode_path: None,
            max_array_items: 1000,
            max_depth: 32,
            hard_max_depth: 512,
            collision: Collision::Suffix,
            keep_nulls: true,
            keep_empty: false,
            include: Vec::new(),
            exclude: Vec::new(),
            json_paths: Vec::new(),
            renames: Vec::new(),
            non_object: NonObject::Wrap,
            multi_json: true,
            append_newline: true,
            watch: Vec::new(),
            drop_where: Vec::new(),
        }
    }
}

impl FlattenOptions {
    /// The error [`crate::Flattener::new`] would give for these options, if any.
    pub fn validate(&self) -> Result<(), FlattenError> {
        if self.separator.is_empty() {
            return Err(FlattenError::Option(
                "the separator must not be empty".into(),
            ));
        }
        if self.max_depth == 0 || self.max_depth > MAX_DEPTH_LIMIT {
            return Err(FlattenError::Option(format!(
                "max depth must be 1..={MAX_DEPTH_LIMIT}, got {}",
                self.max_depth
            )));
        }
        if self.hard_max_depth < self.max_depth {
            return Err(FlattenError::Option(
                "the hard depth limit must be at least the max depth".into(),
            ));
        }
        if self.max_key_bytes < 16 {
            return Err(FlattenError::Option(
                "max key bytes must be at least 16".into(),
            ));
        }
        if self.array_mode == ArrayMode::Explode && self.explode_path.is_none() {
            return Err(FlattenError::Option(
                "array mode explode needs an explode path".into(),
            ));
        }
        Ok(())
    }
}

/// The options as the walker reads them: validated, strings as bytes, the path rules
/// compiled ([`PathRules`]). Built once per [`crate::Flattener`], never changed after.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub normalize_keys: bool,
    pub digit_prefix: Vec<u8>,
    pub max_key_bytes: usize,
    /// Normalised paths contain only `[a-z0-9_]`, the separator and the digit prefix; when
    /// those need no escaping either, keys are written without an escape scan.
    pub keys_plain: bool,
    pub array_mode: ArrayMode,
    pub max_array_items: usize,
    pub max_depth: usize,
    pub hard_max_depth: usize,
    pub collision: Collision,
    pub keep_nulls: bool,
    pub keep_empty: bool,
    pub non_object: NonObject,
    pub multi_json: bool,
    pub append_newline: bool,
    /// The separator, include/exclude, JSON paths, renames and the explode path.
    pub paths: PathRules,
    pub watch: Vec<Vec<u8>>,
    pub drop_rules: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Compiled {
    pub fn new(opts: &FlattenOptions) -> Result<Self, FlattenError> {
        opts.validate()?;
        Ok(Self {
            normalize_keys: opts.normalize_keys,
            digit_prefix: opts.digit_prefix.as_bytes().to_vec(),
            max_key_bytes: opts.max_key_bytes,
            keys_plain: opts.normalize_keys
                && !opts
                    .separator
                    .bytes()
                    .chain(opts.digit_prefix.bytes())
                    .any(|b| STRING_SPECIAL[b as usize]),
            array_mode: opts.array_mode,
            max_array_items: opts.max_array_items,
            max_depth: opts.max_depth,
            hard_max_depth: opts.hard_max_depth,
            collision: opts.collision,
            keep_nulls: opts.keep_nulls,
            keep_empty: opts.keep_empty,
            non_object: opts.non_object,
            multi_json: opts.multi_json,
            append_newline: opts.append_newline,
            paths: path_rules(opts),
            watch: opts.watch.iter().map(|f| f.as_bytes().to_vec()).collect(),
            drop_rules: opts
                .drop_where
                .iter()
                .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        })
    }
}

/// The path options as the walker reads them.
fn path_rules(opts: &FlattenOptions) -> PathRules {
    let bytes = |list: &[String]| {
        list.iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    PathRules {
        sep: opts.separator.as_bytes().to_vec(),
        include: bytes(&opts.include),
        exclude: bytes(&opts.exclude),
        json_paths: bytes(&opts.json_paths),
        renames: opts
            .renames
            .iter()
            .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
            .collect(),
        explode_path: match opts.array_mode {
            ArrayMode::Explode => opts.explode_path.as_ref().map(|p| p.as_bytes().to_vec()),
            _ => None,
        },
    }
}
