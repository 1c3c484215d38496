//! Settings from the environment (documented with defaults in the README).

use crate::partition::{parse_partition_keys, PartitionConfigError, PartitionKey};
use ferrolake_flatten::{FlattenError, FlattenOptions};
use ferrolake_shared::env::{self, Env, EnvError};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Partition(#[from] PartitionConfigError),
    /// The options each parsed, but the flattener rejects them together.
    #[error("flatten options={:?} is invalid: expected a consistent set (see README)", .0.to_string())]
    Flatten(#[source] FlattenError),
}

/// What happens to records that do not fit the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Put the original bytes back into the stream, answer `Dropped`.
    Reingest,
    /// Answer `ProcessingFailed` (Firehose writes the original to the error prefix).
    Fail,
}

ferrolake_shared::choices! {
    Overflow {
        "reingest" => Reingest,
        "fail" => Fail,
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub flatten: FlattenOptions,
    pub partition_keys: Vec<PartitionKey>,
    pub partition_default: String,
    pub response_budget: usize,
    pub overflow: Overflow,
    /// Upper bound for gunzipped record size.
    pub max_decompressed_bytes: usize,
    pub deadline_reserve: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            flatten: FlattenOptions::default(),
            partition_keys: Vec::new(),
            partition_default: "unknown".into(),
            response_budget: 6_000_000,
            overflow: Overflow::Reingest,
            max_decompressed_bytes: 64 * 1024 * 1024,
            deadline_reserve: Duration::from_secs(2),
        }
    }
}

/// Replace `target` with the setting's value when it is set.
fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&env::from_process_env())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env::new(lookup))
    }

    fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let mut c = Config::default();
        let f = &mut c.flatten;
        set(&mut f.separator, env.optional("SEPARATOR"));
        set(&mut f.normalize_keys, env.boolean("NORMALIZE_KEYS")?);
        set(&mut f.digit_prefix, env.optional("DIGIT_PREFIX"));
        set(&mut f.array_mode, env.choice("ARRAY_MODE")?);
        f.explode_path = env
            .optional("EXPLODE_PATH")
            .filter(|p| !p.trim().is_empty());
        set(&mut f.max_array_items, env.number("MAX_ARRAY_ITEMS", ..)?);
        set(&mut f.max_depth, env.number("MAX_DEPTH", ..)?);
        set(&mut f.hard_max_depth, env.number("HARD_MAX_DEPTH", ..)?);
        set(&mut f.collision, env.choice("COLLISION")?);
        set(&mut f.keep_nulls, env.boolean("NULLS")?);
        set(&mut f.keep_empty, env.boolean("EMPTY")?);
        f.include = env.list("INCLUDE_PATHS").unwrap_or_default();
        f.exclude = env.list("EXCLUDE_PATHS").unwrap_or_default();
        f.json_paths = env.list("JSON_PATHS").unwrap_or_default();
        set(&mut f.renames, env.pairs("RENAMES")?);
        set(&mut f.non_object, env.choice("NON_OBJECT")?);
        set(&mut f.multi_json, env.boolean("MULTI_JSON")?);
        set(&mut f.append_newline, env.boolean("APPEND_NEWLINE")?);
        if let Some(v) = env.optional("PARTITION_KEYS") {
            c.partition_keys = parse_partition_keys(&v)?;
        }
        set(&mut c.partition_default, env.optional("PARTITION_DEFAULT"));
        set(&mut c.flatten.drop_where, env.pairs("DROP_WHERE")?);
        set(
            &mut c.response_budget,
            env.number(
                "RESPONSE_BUDGET_BYTES",
                1024..=crate::response::LAMBDA_RESPONSE_LIMIT,
            )?,
        );
        set(&mut c.overflow, env.choice("OVERFLOW")?);
        // Fail at start-up, not per record, on options the flattener rejects.
        c.flatten.validate().map_err(ConfigError::Flatten)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolake_flatten::{ArrayMode, Collision, NonObject};

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(ferrolake_shared::env::lookup_from(pairs))
    }

    #[test]
    fn defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.flatten.separator, "_");
        assert_eq!(c.flatten.array_mode, ArrayMode::Keep);
        assert_eq!(c.response_budget, 6_000_000);
        assert_eq!(c.overflow, Overflow::Reingest);
        assert_eq!(c.partition_default, "unknown");
    }

    #[test]
    fn parses_everything() {
        let c = with(&[
            ("ARRAY_MODE", "explode"),
            ("EXPLODE_PATH", "items"),
            ("COLLISION", "last"),
            ("NULLS", "drop"),
            ("EMPTY", "keep"),
            ("RENAMES", "a=b, c=d"),
            ("DROP_WHERE", "event_type=heartbeat"),
            ("PARTITION_KEYS", "dt=@arrival_date"),
            ("RESPONSE_BUDGET_BYTES", "5000000"),
            ("OVERFLOW", "fail"),
            ("INCLUDE_PATHS", "a, b"),
        ])
        .unwrap();
        assert_eq!(c.flatten.array_mode, ArrayMode::Explode);
        assert_eq!(c.flatten.collision, Collision::Last);
        assert!(!c.flatten.keep_nulls && c.flatten.keep_empty);
        assert_eq!(
            c.flatten.renames,
            vec![("a".into(), "b".into()), ("c".into(), "d".into())]
        );
        assert_eq!(
            c.flatten.drop_where,
            vec![("event_type".into(), "heartbeat".into())]
        );
        assert_eq!(c.flatten.include, vec!["a", "b"]);
        assert_eq!(c.overflow, Overflow::Fail);
    }

    #[test]
    fn choices_are_trimmed_and_errors_list_them() {
        let c = with(&[("ARRAY_MODE", " index "), ("NON_OBJECT", "fail\n")]).unwrap();
        assert_eq!(c.flatten.array_mode, ArrayMode::Index);
        assert_eq!(c.flatten.non_object, NonObject::Fail);
        assert_eq!(
            with(&[("ARRAY_MODE", " flat")]).unwrap_err().to_string(),
            "ARRAY_MODE=\" flat\" is invalid: expected keep | index | json | explode"
        );
        assert_eq!(
            with(&[("NON_OBJECT", "Wrap")]).unwrap_err().to_string(),
            "NON_OBJECT=\"Wrap\" is invalid: expected wrap | fail"
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        for (name, value, needle) in [
            ("ARRAY_MODE", "flat", "keep | index | json | explode"),
            ("COLLISION", "merge", "suffix | fail | first | last"),
            ("NULLS", "maybe", "NULLS=\"maybe\""),
            ("RESPONSE_BUDGET_BYTES", "7000000", "6291556"),
            ("MAX_DEPTH", "500", "max depth must be 1..=128"),
            ("ARRAY_MODE", "explode", "explode needs an explode path"),
            ("RENAMES", "novalue", "name=value"),
            ("PARTITION_KEYS", "x", "expected name=source"),
        ] {
            let err = with(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(needle), "{name}={value}: {err}");
        }
    }
}
