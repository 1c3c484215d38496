//! Settings from the environment (documented with defaults in the README).

use crate::catalog_api::Auth;
use crate::filter::{FieldSpec, FieldSpecError};
use crate::notification::NotificationFields;
use ferrolake_shared::batch::BatchConfig;
use ferrolake_shared::env::{self, Env, EnvError};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Fields(#[from] FieldSpecError),
}

/// `CATALOG_AUTH`: how requests to the catalog API authenticate ([`Auth`] with its settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    None,
    ApiKey,
    Bearer,
    SigV4,
}

ferrolake_shared::choices! {
    AuthMode {
        "none" => None,
        "api-key" => ApiKey,
        "bearer" => Bearer,
        "sigv4" => SigV4,
    }
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

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&env::from_process_env())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env::new(lookup))
    }

    fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let url_template = env.required("CATALOG_API_URL")?;
        if !url_template.contains("{id}")
            || !(url_template.starts_with("https://") || url_template.starts_with("http://"))
        {
            return Err(EnvError::invalid(
                "CATALOG_API_URL",
                url_template,
                "an http(s) URL containing {id}",
            )
            .into());
        }
        let stream_name = env.required("STREAM_NAME")?;
        let mut notification = NotificationFields::default();
        if let Some(pointers) = env.list("ID_POINTERS") {
            notification.id_pointers = pointers;
        }
        if let Some(pointers) = env.list("TYPE_POINTERS") {
            notification.type_pointers = pointers;
        }
        for p in notification
            .id_pointers
            .iter()
            .chain(&notification.type_pointers)
        {
            if !p.starts_with('/') {
                return Err(EnvError::invalid(
                    "ID_POINTERS/TYPE_POINTERS",
                    p.clone(),
                    "JSON pointers starting with /",
                )
                .into());
            }
        }
        let secret = |mode: &'static str| {
            env.optional("CATALOG_SECRET_ID").ok_or(EnvError::invalid(
                "CATALOG_AUTH",
                mode,
                "CATALOG_SECRET_ID to be set for api-key / bearer",
            ))
        };
        let auth = match env.choice("CATALOG_AUTH")?.unwrap_or(AuthMode::None) {
            AuthMode::None => Auth::None,
            AuthMode::ApiKey => Auth::ApiKey {
                secret_id: secret("api-key")?,
                header: env
                    .optional("CATALOG_API_KEY_HEADER")
                    .unwrap_or_else(|| "x-api-key".into()),
            },
            AuthMode::Bearer => Auth::Bearer {
                secret_id: secret("bearer")?,
            },
            AuthMode::SigV4 => Auth::SigV4 {
                region: env
                    .optional("CATALOG_SIGV4_REGION")
                    .or_else(|| env.optional("AWS_REGION"))
                    .ok_or(EnvError::missing("CATALOG_SIGV4_REGION or AWS_REGION"))?,
            },
        };
        Ok(Self {
            url_template,
            stream_name,
            fields: FieldSpec::parse_list(&env.optional("CATALOG_FIELDS").unwrap_or_default())?,
            notification,
            removed_types: env
                .list("REMOVED_TYPES")
                .unwrap_or_else(|| vec!["removed".into(), "deleted".into()]),
            auth,
            timeout: env
                .millis("CATALOG_TIMEOUT_MS")?
                .unwrap_or(Duration::from_millis(3000)),
            secret_ttl: env
                .millis("CATALOG_SECRET_TTL_MS")?
                .unwrap_or(Duration::from_millis(300_000)),
            batch: BatchConfig::read(env)?,
            deadline_reserve: Duration::from_secs(2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(ferrolake_shared::env::lookup_from(pairs))
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
