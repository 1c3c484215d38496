//! The catalog API: `GET <CATALOG_API_URL with {id}>` → the item's current metadata.
//! 200 → found; 404 → gone (tombstone); 429, 5xx, timeouts, connection errors → transient;
//! other 4xx → permanent.

use aws_credential_types::provider::SharedCredentialsProvider;
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

/// How requests authenticate, as the settings name it (`CATALOG_AUTH` and friends).
/// [`Authenticator::new`] turns it into the authenticator with what the mode needs.
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

/// Why an [`Authenticator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("CATALOG_AUTH=sigv4 needs AWS credentials, and the SDK configuration has no credentials provider")]
    NoCredentials,
}

/// What signs or authorises each request, owning what its mode needs: api-key and bearer a
/// Secrets Manager cache (and nothing else), sigv4 the SDK's credentials. Built once per
/// process; a mode without its dependency cannot be represented.
pub enum Authenticator {
    None,
    /// The secret's value in `header`.
    ApiKey {
        header: String,
        secret_id: String,
        secrets: SecretCache<SecretsManager>,
    },
    /// `Authorization: Bearer <secret value>`.
    Bearer {
        secret_id: String,
        secrets: SecretCache<SecretsManager>,
    },
    /// AWS SigV4 (API Gateway IAM auth), service `execute-api`.
    SigV4 {
        region: String,
        credentials: SharedCredentialsProvider,
    },
}

impl Authenticator {
    /// The one place that decides what each mode needs. The Secrets Manager client is
    /// built only for the secret-based modes; its values are cached for `secret_ttl`.
    pub fn new(
        auth: &Auth,
        secret_ttl: Duration,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, AuthError> {
        let secrets = || {
            SecretCache::new(
                SecretsManager::new(aws_sdk_secretsmanager::Client::new(sdk)),
                secret_ttl,
            )
        };
        Ok(match auth {
            Auth::None => Authenticator::None,
            Auth::ApiKey { secret_id, header } => Authenticator::ApiKey {
                header: header.clone(),
                secret_id: secret_id.clone(),
                secrets: secrets(),
            },
            Auth::Bearer { secret_id } => Authenticator::Bearer {
                secret_id: secret_id.clone(),
                secrets: secrets(),
            },
            Auth::SigV4 { region } => Authenticator::SigV4 {
                region: region.clone(),
                credentials: sdk.credentials_provider().ok_or(AuthError::NoCredentials)?,
            },
        })
    }

    /// `request` with this mode's credentials.
    async fn authorise(
        &self,
        request: reqwest::RequestBuilder,
        item_id: &str,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, FetchError> {
        Ok(match self {
            Authenticator::None => request,
            Authenticator::ApiKey {
                header,
                secret_id,
                secrets,
            } => request.header(header.as_str(), &*secrets.get(secret_id).await?),
            Authenticator::Bearer { secret_id, secrets } => {
                request.bearer_auth(&*secrets.get(secret_id).await?)
            }
            Authenticator::SigV4 {
                region,
                credentials,
            } => sigv4_headers(credentials, item_id, url, region)
                .await?
                .into_iter()
                .fold(request, |request, (k, v)| request.header(k, v)),
        })
    }

    /// The API refused the credentials (401/403): a secret may have rotated, so it is read
    /// again next time.
    fn rejected(&self) {
        if let Authenticator::ApiKey {
            secret_id, secrets, ..
        }
        | Authenticator::Bearer { secret_id, secrets } = self
        {
            secrets.invalidate(secret_id);
        }
    }
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
    auth: Authenticator,
}

impl HttpCatalog {
    /// One client for the life of the process: connections are reused across invocations.
    pub fn new(
        url_template: String,
        timeout: Duration,
        auth: Authenticator,
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
        })
    }

    pub fn url(&self, item_id: &str) -> String {
        self.url_template
            .replace("{id}", &encode_path_segment(item_id))
    }
}

/// The SigV4 headers of a GET of `url`, signed with the current credentials.
async fn sigv4_headers(
    provider: &SharedCredentialsProvider,
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
    let request = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| signing(e.to_string()))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| signing(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

impl CatalogApi for HttpCatalog {
    async fn fetch(&self, item_id: &str) -> Result<Fetched, FetchError> {
        let url = self.url(item_id);
        let request = self.client.get(&url).header("accept", "application/json");
        let response = self
            .auth
            .authorise(request, item_id, &url)
            .await?
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
            self.auth.rejected();
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
            Authenticator::None,
        )
        .unwrap();
        assert_eq!(
            c.url("show 1/ä"),
            "https://catalog.example.com/items/show%201%2F%C3%A4?view=full"
        );
    }

    #[test]
    fn each_mode_gets_what_it_needs_and_sigv4_needs_credentials() {
        let sdk = |credentials: bool| {
            let builder = aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("eu-north-1"))
                .behavior_version(aws_config::BehaviorVersion::latest());
            if credentials {
                builder
                    .credentials_provider(SharedCredentialsProvider::new(
                        aws_credential_types::Credentials::new("a", "b", None, None, "test"),
                    ))
                    .build()
            } else {
                builder.build()
            }
        };
        let ttl = Duration::from_secs(60);
        let build = |auth: Auth, credentials| Authenticator::new(&auth, ttl, &sdk(credentials));
        assert!(matches!(build(Auth::None, false), Ok(Authenticator::None)));
        let api_key = Auth::ApiKey {
            secret_id: "k".into(),
            header: "x-key".into(),
        };
        assert!(matches!(
            build(api_key, false),
            Ok(Authenticator::ApiKey { header, secret_id, .. }) if header == "x-key" && secret_id == "k"
        ));
        let bearer = Auth::Bearer {
            secret_id: "t".into(),
        };
        assert!(matches!(
            build(bearer, false),
            Ok(Authenticator::Bearer { secret_id, .. }) if secret_id == "t"
        ));
        let sigv4 = || Auth::SigV4 {
            region: "eu-west-1".into(),
        };
        assert!(matches!(
            build(sigv4(), true),
            Ok(Authenticator::SigV4 { region, .. }) if region == "eu-west-1"
        ));
        let Err(err) = build(sigv4(), false) else {
            panic!("sigv4 without credentials was built")
        };
        assert!(err.to_string().contains("needs AWS credentials"), "{err}");
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
