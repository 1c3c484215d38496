//! Secrets Manager reads with a TTL cache, so a warm function asks once per TTL. Secret
//! values are never logged or put in error messages; errors name the secret id only.

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
}

impl SecretError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SecretError::Read {
                transient: true,
                ..
            }
        )
    }
}

/// Where secret strings come from (the SDK adapter, or a fake in unit tests).
#[allow(async_fn_in_trait)]
pub trait SecretSource {
    async fn secret_string(&self, id: &str) -> Result<String, SecretError>;
}

/// Secrets Manager, always asking for `AWSCURRENT` explicitly.
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
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
