//! The one seam between ferrolake and Secrets Manager: [`SecretsManager`] is the only
//! adapter over `aws_sdk_secretsmanager::Client`. [`SecretSource`] is what readers of a
//! current value need (with [`SecretCache`], a TTL cache, so a warm function asks once per
//! TTL); [`SecretStore`] is what managed secrets and their rotation need (versions, stages,
//! writes). Unit tests put in-memory fakes behind either trait. Secret values are never
//! logged or put in error messages; errors name the secret id only.

use crate::aws::{error_code, is_transient};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} could not be read ({code}){}", if *transient { " — transient" } else { "" })]
    Read {
        id: String,
        code: String,
        transient: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {id} has no SecretString")]
    NotAString { id: String },
    /// A [`SecretStore`] call that failed.
    #[error("Secrets Manager {action} on {id} failed ({code}): {source}")]
    Call {
        action: &'static str,
        id: String,
        code: String,
        transient: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl SecretError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SecretError::Read {
                transient: true,
                ..
            } | SecretError::Call {
                transient: true,
                ..
            }
        )
    }

    /// Secrets Manager's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SecretError::Read { code, .. } | SecretError::Call { code, .. } => Some(code),
            SecretError::NotAString { .. } => None,
        }
    }

    /// No such secret, or no such version of it.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some("ResourceNotFoundException")
    }

    fn call<E>(
        action: &'static str,
        id: &str,
        e: aws_sdk_secretsmanager::error::SdkError<E>,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
    {
        SecretError::Call {
            action,
            id: id.to_string(),
            code: error_code(&e).unwrap_or("no code").to_string(),
            transient: is_transient(&e),
            source: Box::new(e),
        }
    }
}

/// Where secret strings come from (the SDK adapter, or a fake in unit tests).
#[allow(async_fn_in_trait)]
pub trait SecretSource {
    async fn secret_string(&self, id: &str) -> Result<String, SecretError>;
}

/// Which versions a secret has and the stages on each (DescribeSecret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretVersions {
    pub rotation_enabled: bool,
    /// Version id → its staging labels (`AWSCURRENT`, `AWSPENDING`, …).
    pub stages: HashMap<String, Vec<String>>,
}

impl SecretVersions {
    /// The version holding `stage`, if one does.
    pub fn holding(&self, stage: &str) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(version, _)| version.as_str())
    }
}

/// Versioned reads and writes: what managed secrets and their rotation need. Each method
/// is one Secrets Manager call; what to make of a missing secret is the caller's choice
/// ([`SecretError::is_not_found`]).
#[allow(async_fn_in_trait)]
pub trait SecretStore {
    /// The `SecretString` of the version carrying `stage` (and with id `version_id`, when
    /// given) (GetSecretValue).
    async fn get_version(
        &self,
        id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<String, SecretError>;
    /// Whether rotation is on and which stages each version has (DescribeSecret).
    async fn versions(&self, id: &str) -> Result<SecretVersions, SecretError>;
    /// A new secret whose first version is `value` (CreateSecret).
    async fn create(&self, name: &str, description: &str, value: &str) -> Result<(), SecretError>;
    /// Version `token` with `value`, staged `AWSPENDING` (PutSecretValue).
    async fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&str>,
    ) -> Result<(), SecretError>;
    /// Move `AWSCURRENT` to version `to`, from `from` (its holder) (UpdateSecretVersionStage).
    async fn make_current(&self, id: &str, to: &str, from: Option<&str>)
        -> Result<(), SecretError>;
    /// A random password with every included character type, none of `exclude`
    /// (GetRandomPassword); `None` when the answer carried none.
    async fn random_password(
        &self,
        length: i64,
        exclude: &str,
    ) -> Result<Option<String>, SecretError>;
}

/// Secrets Manager, always asking for `AWSCURRENT` explicitly.
#[derive(Clone)]
pub struct SecretsManager {
    client: crate::aws::LazyClient<aws_sdk_secretsmanager::Client>,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            client: crate::aws::LazyClient::ready(client),
        }
    }

    /// The client is built on the first secret read (functions that read secrets only for
    /// some events: athena-udf's keyed UDFs, redshift-config's logins and rotation).
    pub fn lazy(config: &aws_types::SdkConfig) -> Self {
        Self {
            client: crate::aws::LazyClient::new(config, aws_sdk_secretsmanager::Client::new),
        }
    }
}

impl SecretSource for SecretsManager {
    async fn secret_string(&self, id: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| SecretError::Read {
                id: id.to_string(),
                code: error_code(&e)
                    .unwrap_or("no service error code")
                    .to_string(),
                transient: is_transient(&e),
                source: Box::new(e),
            })?;
        out.secret_string
            .ok_or_else(|| SecretError::NotAString { id: id.to_string() })
    }
}

impl SecretStore for SecretsManager {
    async fn get_version(
        &self,
        id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .set_version_id(version_id.map(str::to_string))
            .version_stage(stage)
            .send()
            .await
            .map_err(|e| SecretError::call("GetSecretValue", id, e))?;
        out.secret_string
            .ok_or_else(|| SecretError::NotAString { id: id.to_string() })
    }

    async fn versions(&self, id: &str) -> Result<SecretVersions, SecretError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretError::call("DescribeSecret", id, e))?;
        Ok(SecretVersions {
            rotation_enabled: out.rotation_enabled == Some(true),
            stages: out.version_ids_to_stages.unwrap_or_default(),
        })
    }

    async fn create(&self, name: &str, description: &str, value: &str) -> Result<(), SecretError> {
        self.client
            .create_secret()
            .name(name)
            .description(description)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| SecretError::call("CreateSecret", name, e))?;
        Ok(())
    }

    async fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        rotation_token: Option<&str>,
    ) -> Result<(), SecretError> {
        self.client
            .put_secret_value()
            .secret_id(id)
            .client_request_token(token)
            .secret_string(value)
            .version_stages("AWSPENDING")
            .set_rotation_token(rotation_token.map(str::to_string))
            .send()
            .await
            .map_err(|e| SecretError::call("PutSecretValue", id, e))?;
        Ok(())
    }

    async fn make_current(
        &self,
        id: &str,
        to: &str,
        from: Option<&str>,
    ) -> Result<(), SecretError> {
        self.client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(to)
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| SecretError::call("UpdateSecretVersionStage", id, e))?;
        Ok(())
    }

    async fn random_password(
        &self,
        length: i64,
        exclude: &str,
    ) -> Result<Option<String>, SecretError> {
        let out = self
            .client
            .get_random_password()
            .password_length(length)
            .exclude_characters(exclude)
            .require_each_included_type(true)
            .send()
            .await
            .map_err(|e| SecretError::call("GetRandomPassword", "-", e))?;
        Ok(out.random_password)
    }
}

/// A cache in front of a [`SecretSource`]: values are reused for `ttl`.
pub struct SecretCache<S> {
    source: S,
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<str>)>>,
}

impl<S: SecretSource> SecretCache<S> {
    pub fn new(source: S, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Arc<str>, SecretError> {
        if let Some((at, value)) = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            if at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let value: Arc<str> = Arc::from(self.source.secret_string(id).await?);
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), (Instant::now(), value.clone()));
        Ok(value)
    }

    /// The source behind the cache.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Forget a cached value (e.g. after the API rejected it: the secret may have rotated).
    pub fn invalidate(&self, id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting(AtomicU32);

    impl SecretSource for Counting {
        async fn secret_string(&self, id: &str) -> Result<String, SecretError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            if id == "missing" {
                return Err(SecretError::NotAString { id: id.into() });
            }
            Ok(format!("value-{n}"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn values_are_cached_for_the_ttl() {
        let cache = SecretCache::new(Counting(AtomicU32::new(0)), Duration::from_secs(60));
        assert_eq!(&*cache.get("a").await.unwrap(), "value-0");
        assert_eq!(&*cache.get("a").await.unwrap(), "value-0");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(&*cache.get("a").await.unwrap(), "value-1");
        cache.invalidate("a");
        assert_eq!(&*cache.get("a").await.unwrap(), "value-2");
        let err = cache.get("missing").await.unwrap_err();
        assert_eq!(err.to_string(), "secret missing has no SecretString");
        assert!(!err.is_transient());
    }
}
