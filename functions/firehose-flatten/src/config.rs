//! Settings from the environment (documented with defaults in the README).

use crate::partition::{parse_partition_keys, PartitionConfigError, PartitionKey};
use ferrolake_flatten::{FlattenOptions, ParseChoiceError};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is invalid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Partition(#[from] PartitionConfigError),
}

/// What happens to records that do not fit the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Put the original bytes back into the stream, answer `Dropped`.
    Reingest,
    /// Answer `ProcessingFailed` (Firehose writes the original to the error prefix).
    Fail,
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

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn pairs(name: &'static str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    list(value)
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((a, b)) if !a.trim().is_empty() => {
                Ok((a.trim().to_string(), b.trim().to_string()))
            }
            _ => Err(ConfigError::Invalid {
                name,
                value: pair,
                expected: "comma-separated name=value pairs",
            }),
        })
        .collect()
}

fn boolean(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "keep" => Ok(true),
        "false" | "0" | "no" | "off" | "drop" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            value: value.into(),
            expected: "true | false",
        }),
    }
}

/// One of a flatten option's named choices (`FromStr`, which lists them on error).
fn choice<T: std::str::FromStr<Err = ParseChoiceError>>(
    name: &'static str,
    value: &str,
) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|e: ParseChoiceError| ConfigError::Invalid {
            name,
            value: value.into(),
            expected: e.choices,
        })
}

fn number(name: &'static str, value: &str) -> Result<usize, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        value: value.into(),
        expected: "a whole number",
    })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Config::default();
        let f = &mut c.flatten;
        if let Some(v) = lookup("SEPARATOR") {
            f.separator = v;
        }
        if let Some(v) = lookup("NORMALIZE_KEYS") {
            f.normalize_keys = boolean("NORMALIZE_KEYS", &v)?;
        }
        if let Some(v) = lookup("DIGIT_PREFIX") {
            f.digit_prefix = v;
        }
        if let Some(v) = lookup("ARRAY_MODE") {
            f.array_mode = choice("ARRAY_MODE", &v)?;
        }
        f.explode_path = lookup("EXPLODE_PATH").filter(|p| !p.trim().is_empty());
        if let Some(v) = lookup("MAX_ARRAY_ITEMS") {
            f.max_array_items = number("MAX_ARRAY_ITEMS", &v)?;
        }
        if let Some(v) = lookup("MAX_DEPTH") {
            f.max_depth = number("MAX_DEPTH", &v)?;
        }
        if let Some(v) = lookup("HARD_MAX_DEPTH") {
            f.hard_max_depth = number("HARD_MAX_DEPTH", &v)?;
        }
        if let Some(v) = lookup("COLLISION") {
            f.collision = choice("COLLISION", &v)?;
        }
        if let Some(v) = lookup("NULLS") {
            f.keep_nulls = boolean("NULLS", &v)?;
        }
        if let Some(v) = lookup("EMPTY") {
            f.keep_empty = boolean("EMPTY", &v)?;
        }
        f.include = lookup("INCLUDE_PATHS")
            .map(|v| list(&v))
            .unwrap_or_default();
        f.exclude = lookup("EXCLUDE_PATHS")
            .map(|v| list(&v))
            .unwrap_or_default();
        f.json_paths = lookup("JSON_PATHS").map(|v| list(&v)).unwrap_or_default();
        if let Some(v) = lookup("RENAMES") {
            f.renames = pairs("RENAMES", &v)?;
        }
        if let Some(v) = lookup("NON_OBJECT") {
            f.non_object = choice("NON_OBJECT", &v)?;
        }
        if let Some(v) = lookup("MULTI_JSON") {
            f.multi_json = boolean("MULTI_JSON", &v)?;
        }
        if let Some(v) = lookup("APPEND_NEWLINE") {
            f.append_newline = boolean("APPEND_NEWLINE", &v)?;
        }
        if let Some(v) = lookup("PARTITION_KEYS") {
            c.partition_keys = parse_partition_keys(&v)?;
        }
        if let Some(v) = lookup("PARTITION_DEFAULT") {
            c.partition_default = v;
        }
        if let Some(v) = lookup("DROP_WHERE") {
            c.flatten.drop_where = pairs("DROP_WHERE", &v)?;
        }
        if let Some(v) = lookup("RESPONSE_BUDGET_BYTES") {
            let budget = number("RESPONSE_BUDGET_BYTES", &v)?;
            if !(1024..=crate::response::LAMBDA_RESPONSE_LIMIT).contains(&budget) {
                return Err(ConfigError::Invalid {
                    name: "RESPONSE_BUDGET_BYTES",
                    value: v,
                    expected: "1024..=6291556 (Lambda's response limit)",
                });
            }
            c.response_budget = budget;
        }
        if let Some(v) = lookup("OVERFLOW") {
            c.overflow = match v.trim() {
                "reingest" => Overflow::Reingest,
                "fail" => Overflow::Fail,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "OVERFLOW",
                        value: v,
                        expected: "reingest | fail",
                    })
                }
            };
        }
        // Fail at start-up, not per record, on options the flattener rejects.
        c.flatten.validate().map_err(|e| ConfigError::Invalid {
            name: "flatten options",
            value: e.to_string(),
            expected: "a consistent set (see README)",
        })?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolake_flatten::{ArrayMode, Collision, NonObject};

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(ferrolake_shared::testing::env_lookup(pairs))
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
