//! Managed passwords in Secrets Manager, in AWS's Redshift secret format
//! (`engine`, `host`, `username`, `password`, `dbname`, `port`, `dbClusterIdentifier`), plus
//! `ferrolake_target` so rotation knows how to reach the cluster as admin. Values are never
//! logged or put in errors.

use crate::desired::{Credentials, Target};
use aws_sdk_secretsmanager::Client;
use ferrolake_shared::aws::error_code;
use serde::{Deserialize, Serialize};

/// Characters Redshift refuses in passwords (plus `:` for DSNs and space).
pub const EXCLUDE_CHARACTERS: &str = "'\"\\/@: ";
pub const PASSWORD_LENGTH: i64 = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error("Secrets Manager {action} on {secret} failed ({code}): {source}")]
    Call {
        action: &'static str,
        secret: String,
        code: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {secret} is not a Redshift secret: {reason}")]
    Format { secret: String, reason: String },
}

impl SecretStoreError {
    /// A failed Secrets Manager call, named by action and secret (never its value).
    pub(crate) fn call<E>(action: &'static str, secret: &str, e: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
    {
        SecretStoreError::Call {
            action,
            secret: secret.into(),
            code: e.code().unwrap_or("no code").into(),
            source: Box::new(e),
        }
    }
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

/// The calls redshift-config makes on managed secrets.
#[allow(async_fn_in_trait)]
pub trait PasswordStore {
    /// The AWSCURRENT value, `None` when the secret does not exist.
    async fn current(&self, secret: &str) -> Result<Option<RedshiftSecret>, SecretStoreError>;
    /// Create the secret with a fresh random password; returns it.
    async fn create(
        &self,
        secret: &str,
        value: RedshiftSecret,
    ) -> Result<RedshiftSecret, SecretStoreError>;
    async fn random_password(&self) -> Result<String, SecretStoreError>;
}

pub struct SecretsManagerStore {
    pub client: Client,
}

impl PasswordStore for SecretsManagerStore {
    async fn current(&self, secret: &str) -> Result<Option<RedshiftSecret>, SecretStoreError> {
        fetch(&self.client, secret, None, "AWSCURRENT").await
    }

    async fn create(
        &self,
        secret: &str,
        mut value: RedshiftSecret,
    ) -> Result<RedshiftSecret, SecretStoreError> {
        value.password = self.random_password().await?;
        self.client
            .create_secret()
            .name(secret)
            .description("Redshift user password managed by ferrolake redshift-config")
            .secret_string(value.to_json())
            .send()
            .await
            .map_err(|e| SecretStoreError::call("CreateSecret", secret, e))?;
        Ok(value)
    }

    async fn random_password(&self) -> Result<String, SecretStoreError> {
        random_password(&self.client).await
    }
}

/// One version of a Redshift secret (by stage, optionally a version id); `None` when Secrets
/// Manager has no such secret or version.
pub(crate) async fn fetch(
    client: &Client,
    secret: &str,
    version: Option<&str>,
    stage: &str,
) -> Result<Option<RedshiftSecret>, SecretStoreError> {
    match client
        .get_secret_value()
        .secret_id(secret)
        .set_version_id(version.map(str::to_string))
        .version_stage(stage)
        .send()
        .await
    {
        Ok(out) => RedshiftSecret::parse(secret, out.secret_string().unwrap_or_default()).map(Some),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(SecretStoreError::call("GetSecretValue", secret, e)),
    }
}

/// A new password from GetRandomPassword: 32 characters, upper/lower/digit/punctuation,
/// none that Redshift refuses.
pub async fn random_password(client: &Client) -> Result<String, SecretStoreError> {
    let out = client
        .get_random_password()
        .password_length(PASSWORD_LENGTH)
        .exclude_characters(EXCLUDE_CHARACTERS)
        .require_each_included_type(true)
        .send()
        .await
        .map_err(|e| SecretStoreError::call("GetRandomPassword", "-", e))?;
    out.random_password.ok_or_else(|| SecretStoreError::Format {
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
