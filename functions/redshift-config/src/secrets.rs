//! Managed passwords in Secrets Manager, in AWS's Redshift secret format
//! (`engine`, `host`, `username`, `password`, `dbname`, `port`, `dbClusterIdentifier`), plus
//! `ferrolake_target` so rotation knows how to reach the cluster as admin, read and written
//! through the shared secret seam ([`SecretStore`]). Values are never logged or put in errors.

use crate::desired::{Credentials, Target};
use ferrolake_shared::secrets::{SecretError, SecretStore};
use serde::{Deserialize, Serialize};

/// Characters Redshift refuses in passwords (plus `:` for DSNs and space).
pub const EXCLUDE_CHARACTERS: &str = "'\"\\/@: ";
pub const PASSWORD_LENGTH: i64 = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error(transparent)]
    Call(#[from] SecretError),
    #[error("secret {secret} is not a Redshift secret: {reason}")]
    Format { secret: String, reason: String },
}

/// The secret JSON (AWS's Redshift format, extra keys kept).
#[derive(Clone, Serialize, Deserialize)]
pub struct RedshiftSecret {
    pub engine: String,
    pub host: String,
    pub username: String,
    pub password: String,
    #[serde(default = "default_dbname")]
    pub dbname: String,
    #[serde(
        default = "default_port",
        deserialize_with = "port_from_string_or_number"
    )]
    pub port: u16,
    #[serde(
        rename = "dbClusterIdentifier",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub cluster_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ferrolake_target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub masterarn: Option<String>,
}

impl std::fmt::Debug for RedshiftSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedshiftSecret")
            .field("host", &self.host)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn default_dbname() -> String {
    "dev".into()
}
fn default_port() -> u16 {
    5439
}
fn port_from_string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        N(u16),
        S(String),
    }
    match Port::deserialize(d)? {
        Port::N(n) => Ok(n),
        Port::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

impl RedshiftSecret {
    pub fn parse(secret: &str, json: &str) -> Result<Self, SecretStoreError> {
        let parsed: Self = serde_json::from_str(json).map_err(|e| SecretStoreError::Format {
            secret: secret.into(),
            // serde's message names the field, never the value of a string field.
            reason: e.to_string(),
        })?;
        if parsed.engine != "redshift" && parsed.engine != "postgres" {
            return Err(SecretStoreError::Format {
                secret: secret.into(),
                reason: format!("engine is {:?}, expected \"redshift\"", parsed.engine),
            });
        }
        Ok(parsed)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The AWSCURRENT value, `None` when the secret does not exist.
pub async fn current<S: SecretStore>(
    store: &S,
    secret: &str,
) -> Result<Option<RedshiftSecret>, SecretStoreError> {
    fetch(store, secret, None, "AWSCURRENT").await
}

/// Create the secret with a fresh random password; returns it.
pub async fn create<S: SecretStore>(
    store: &S,
    secret: &str,
    mut value: RedshiftSecret,
) -> Result<RedshiftSecret, SecretStoreError> {
    value.password = random_password(store).await?;
    store
        .create(
            secret,
            "Redshift user password managed by ferrolake redshift-config",
            &value.to_json(),
        )
        .await?;
    Ok(value)
}

/// One version of a Redshift secret (by stage, optionally a version id); `None` when Secrets
/// Manager has no such secret or version.
pub async fn fetch<S: SecretStore>(
    store: &S,
    secret: &str,
    version: Option<&str>,
    stage: &str,
) -> Result<Option<RedshiftSecret>, SecretStoreError> {
    match store.get_version(secret, version, stage).await {
        Ok(json) => RedshiftSecret::parse(secret, &json).map(Some),
        // A binary secret is not a Redshift secret (parsed as empty text, as always).
        Err(SecretError::NotAString { .. }) => RedshiftSecret::parse(secret, "").map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A new password from GetRandomPassword: 32 characters, upper/lower/digit/punctuation,
/// none that Redshift refuses.
pub async fn random_password<S: SecretStore>(store: &S) -> Result<String, SecretStoreError> {
    store
        .random_password(PASSWORD_LENGTH, EXCLUDE_CHARACTERS)
        .await?
        .ok_or_else(|| SecretStoreError::Format {
            secret: "-".into(),
            reason: "GetRandomPassword returned no password".into(),
        })
}

/// The secret a newly managed user gets (password filled in by [`PasswordStore::create`]).
pub fn new_secret(target: &Target, user: &str) -> RedshiftSecret {
    RedshiftSecret {
        engine: "redshift".into(),
        host: target.host.clone(),
        username: user.into(),
        password: String::new(),
        dbname: target
            .databases
            .first()
            .cloned()
            .unwrap_or_else(default_dbname),
        port: target.port,
        cluster_identifier: match &target.credentials {
            Credentials::Cluster { cluster_identifier } => Some(cluster_identifier.clone()),
            _ => None,
        },
        ferrolake_target: Some(target.name.clone()),
        masterarn: None,
    }
}
