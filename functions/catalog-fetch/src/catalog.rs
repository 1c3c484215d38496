//! The catalog API: `GET <CATALOG_API_URL with {id}>` → the item's current metadata.
//! 200 → found; 404 → gone (tombstone); 429, 5xx, timeouts, connection errors → transient;
//! other 4xx → permanent.

use ferrolake_shared::secrets::{SecretCache, SecretError, SecretsManager};
use serde_json::Value;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    Found(Value),
    Gone,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("catalog API answered {status} for item {id}")]
    Status { id: String, status: u16 },
    #[error("catalog API request for item {id} failed: {source}")]
    Transport {
        id: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("catalog API returned a body that is not JSON for item {id}: {reason}")]
    Body { id: String, reason: String },
    #[error("catalog API credentials: {0}")]
    Secret(#[from] SecretError),
    #[error("signing the catalog API request for item {id} failed: {reason}")]
    Signing { id: String, reason: String },
}

impl FetchError {
    /// Worth retrying: throttling, server errors, timeouts, connection problems.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            FetchError::Transport { .. } | FetchError::Body { .. } => true,
            FetchError::Secret(e) => e.is_transient(),
            FetchError::Signing { .. } => false,
        }
    }
}

/// The catalog port (the HTTP adapter, or a fake in unit tests).
#[allow(async_fn_in_trait)]
pub trait CatalogApi {
    async fn fetch(&self, item_id: &str) -> Result<Fetched, FetchError>;
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// The secret's value in a header (default `x-api-key`).
    ApiKey {
        secret_id: String,
        header: String,
    },
    /// `Authorization: Bearer <secret value>`.
    Bearer {
        secret_id: String,
    },
    /// AWS SigV4 (API Gateway IAM auth), service `execute-api`.
    SigV4 {
        region: String,
    },
}

/// Percent-encode an id for a URL path segment.
pub fn encode_path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct HttpCatalog {
    client: reqwest::Client,
    url_template: String,
    auth: Auth,
    secrets: Option<SecretCache<SecretsManager>>,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

impl HttpCatalog {
    /// One client for the life of the process: connections are reused across invocations.
    pub fn new(
        url_template: String,
        timeout: Duration,
        auth: Auth,
        secrets: Option<SecretCache<SecretsManager>>,
        credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> Result<Self, ferrolake_shared::https::HttpsError> {
        let client = ferrolake_shared::https::client_builder()?
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(ferrolake_shared::https::HttpsError::Client)?;
        Ok(Self {
            client,
            url_template,
            auth,
            secrets,
            credentials,
        })
    }

    pub fn url(&self, item_id: &str) -> String {
        self.url_template
            .replace("{id}", &encode_path_segment(item_id))
    }

    async fn secret(&self, secret_id: &str) -> Result<std::sync::Arc<str>, FetchError> {
        let cache = self.secrets.as_ref().ok_or_else(|| FetchError::Signing {
            id: String::new(),
            reason: "a secret-based auth mode needs the Secrets Manager client".into(),
        })?;
        Ok(cache.get(secret_id).await?)
    }

    async fn sigv4_headers(
        &self,
        item_id: &str,
        url: &str,
        region: &str,
    ) -> Result<Vec<(String, String)>, FetchError> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let signing = |reason: String| FetchError::Signing {
            id: item_id.to_string(),
            reason,
        };
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| signing("no AWS credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| signing(e.to_string()))?;
        let identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing(e.to_string()))?
            .into();
        let request =
            SignableRequest::new("GET", url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(|e| signing(e.to_string()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| signing(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

impl CatalogApi for HttpCatalog {
    async fn fetch(&self, item_id: &str) -> Result<Fetched, FetchError> {
        let url = self.url(item_id);
        let mut request = self.client.get(&url).header("accept", "application/json");
        match &self.auth {
            Auth::None => {}
            Auth::ApiKey { secret_id, header } => {
                request = request.header(header.as_str(), &*self.secret(secret_id).await?)
            }
            Auth::Bearer { secret_id } => {
                request = request.bearer_auth(&*self.secret(secret_id).await?)
            }
            Auth::SigV4 { region } => {
                for (k, v) in self.sigv4_headers(item_id, &url, region).await? {
                    request = request.header(k, v);
                }
            }
        }
        let response = request
            .send()
            .await
            .map_err(|source| FetchError::Transport {
                id: item_id.to_string(),
                source,
            })?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(Fetched::Gone);
        }
        if status == 401 || status == 403 {
            // The key may have rotated: read it again next time.
            if let Auth::ApiKey { secret_id, .. } | Auth::Bearer { secret_id } = &self.auth {
                if let Some(cache) = &self.secrets {
                    cache.invalidate(secret_id);
                }
            }
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                id: item_id.to_string(),
                status,
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| FetchError::Transport {
                id: item_id.to_string(),
                source,
            })?;
        serde_json::from_slice(&body)
            .map(Fetched::Found)
            .map_err(|e| FetchError::Body {
                id: item_id.to_string(),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_into_the_url_template() {
        let c = HttpCatalog::new(
            "https://catalog.example.com/items/{id}?view=full".into(),
            Duration::from_secs(1),
            Auth::None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            c.url("show 1/ä"),
            "https://catalog.example.com/items/show%201%2F%C3%A4?view=full"
        );
    }

    #[test]
    fn transient_classification() {
        let status = |s| FetchError::Status {
            id: "x".into(),
            status: s,
        };
        assert!(status(429).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(403).is_transient());
    }
}
