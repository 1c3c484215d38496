//! Settings from the environment (documented with defaults in the README).

use crate::catalog_api::Auth;
use crate::filter::{FieldSpec, FieldSpecError};
use crate::notification::NotificationFields;
use ferrolake_shared::batch::{BatchConfig, ConfigError as BatchConfigError};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name}={value:?} is invalid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Fields(#[from] FieldSpecError),
    #[error(transparent)]
    Batch(#[from] BatchConfigError),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub url_template: String,
    pub stream_name: String,
    pub fields: Vec<FieldSpec>,
    pub notification: NotificationFields,
    /// Change types that mean "removed": a tombstone is written without fetching.
    pub removed_types: Vec<String>,
    pub auth: Auth,
    pub timeout: Duration,
    pub secret_ttl: Duration,
    pub batch: BatchConfig,
    pub deadline_reserve: Duration,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url_template =
            lookup("CATALOG_API_URL").ok_or(ConfigError::Missing("CATALOG_API_URL"))?;
        if !url_template.contains("{id}")
            || !(url_template.starts_with("https://") || url_template.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                name: "CATALOG_API_URL",
                value: url_template,
                expected: "an http(s) URL containing {id}",
            });
        }
        let stream_name = lookup("STREAM_NAME").ok_or(ConfigError::Missing("STREAM_NAME"))?;
        let mut notification = NotificationFields::default();
        if let Some(v) = lookup("ID_POINTERS") {
            notification.id_pointers = list(&v);
        }
        if let Some(v) = lookup("TYPE_POINTERS") {
            notification.type_pointers = list(&v);
        }
        for p in notification
            .id_pointers
            .iter()
            .chain(&notification.type_pointers)
        {
            if !p.starts_with('/') {
                return Err(ConfigError::Invalid {
                    name: "ID_POINTERS/TYPE_POINTERS",
                    value: p.clone(),
                    expected: "JSON pointers starting with /",
                });
            }
        }
        let secret = |mode: &'static str| {
            lookup("CATALOG_SECRET_ID").ok_or(ConfigError::Invalid {
                name: "CATALOG_AUTH",
                value: mode.into(),
                expected: "CATALOG_SECRET_ID to be set for api-key / bearer",
            })
        };
        let auth = match lookup("CATALOG_AUTH")
            .as_deref()
            .map(str::trim)
            .unwrap_or("none")
        {
            "none" => Auth::None,
            "api-key" => Auth::ApiKey {
                secret_id: secret("api-key")?,
                header: lookup("CATALOG_API_KEY_HEADER").unwrap_or_else(|| "x-api-key".into()),
            },
            "bearer" => Auth::Bearer {
                secret_id: secret("bearer")?,
            },
            "sigv4" => Auth::SigV4 {
                region: lookup("CATALOG_SIGV4_REGION")
                    .or_else(|| lookup("AWS_REGION"))
                    .ok_or(ConfigError::Missing("CATALOG_SIGV4_REGION or AWS_REGION"))?,
            },
            other => {
                return Err(ConfigError::Invalid {
                    name: "CATALOG_AUTH",
                    value: other.into(),
                    expected: "none | api-key | bearer | sigv4",
                })
            }
        };
        let millis =
            |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
                match lookup(name) {
                    None => Ok(Duration::from_millis(default)),
                    Some(v) => v.trim().parse().map(Duration::from_millis).map_err(|_| {
                        ConfigError::Invalid {
                            name,
                            value: v,
                            expected: "milliseconds",
                        }
                    }),
                }
            };
        Ok(Self {
            url_template,
            stream_name,
            fields: FieldSpec::parse_list(&lookup("CATALOG_FIELDS").unwrap_or_default())?,
            notification,
            removed_types: list(
                &lookup("REMOVED_TYPES").unwrap_or_else(|| "removed,deleted".into()),
            ),
            auth,
            timeout: millis("CATALOG_TIMEOUT_MS", 3000)?,
            secret_ttl: millis("CATALOG_SECRET_TTL_MS", 300_000)?,
            batch: BatchConfig::from_lookup(&lookup)?,
            deadline_reserve: Duration::from_secs(2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(ferrolake_shared::testing::env_lookup(pairs))
    }

    const BASE: [(&str, &str); 2] = [
        ("CATALOG_API_URL", "https://c.example.com/items/{id}"),
        ("STREAM_NAME", "s"),
    ];

    #[test]
    fn defaults() {
        let c = with(&BASE).unwrap();
        assert_eq!(c.auth, Auth::None);
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(
            c.notification.id_pointers,
            vec!["/itemId", "/showId", "/id"]
        );
        assert_eq!(c.removed_types, vec!["removed", "deleted"]);
        assert!(c.fields.is_empty());
    }

    #[test]
    fn auth_modes_and_errors() {
        let mut p = BASE.to_vec();
        p.extend([
            ("CATALOG_AUTH", "api-key"),
            ("CATALOG_SECRET_ID", "catalog/key"),
        ]);
        assert_eq!(
            with(&p).unwrap().auth,
            Auth::ApiKey {
                secret_id: "catalog/key".into(),
                header: "x-api-key".into()
            }
        );
        let err = |pairs: &[(&str, &str)]| with(pairs).unwrap_err().to_string();
        assert!(err(&[("STREAM_NAME", "s")]).contains("CATALOG_API_URL is not set"));
        assert!(
            err(&[("CATALOG_API_URL", "https://x/items"), ("STREAM_NAME", "s")])
                .contains("containing {id}")
        );
        let mut bad = BASE.to_vec();
        bad.push(("CATALOG_AUTH", "bearer"));
        assert!(err(&bad).contains("CATALOG_SECRET_ID"));
        let mut bad = BASE.to_vec();
        bad.push(("CATALOG_AUTH", "oauth"));
        assert!(err(&bad).contains("none | api-key | bearer | sigv4"));
        let mut bad = BASE.to_vec();
        bad.push(("ID_POINTERS", "showId"));
        assert!(err(&bad).contains("JSON pointers"));
    }
}
