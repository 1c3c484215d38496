//! The one HTTPS stack every function uses: one rustls configuration and trust store,
//! shared by the AWS SDK clients, the catalog API client and PostgreSQL connections.
//!
//! Why one stack: each TLS client used to build its own trust store at start-up, and each
//! read and PEM-decoded the system bundle (rustls-pki-types' constant-time base64): once for
//! the SDK's default client and once for reqwest's platform verifier, about 0.5 ms each
//! before the first poll (`docs/benchmarks.md`, cold-start profile). Here the store is built
//! once, from Mozilla's root program compiled into the binary (webpki-roots, the list
//! Amazon Linux's ca-certificates package is also made from), so no file is read and no
//! PEM decoded. Setting `SSL_CERT_FILE` replaces it with that PEM bundle (a private CA in
//! a layer, say); Lambda itself never sets the variable.
//!
//! The SDK reaches it through [`SdkHttpClient`], an SDK HTTP client over the same reqwest
//! connection pool, so the SDK's own hyper client (and its trust store) is never built.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::timeout::TimeoutConfig;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The variable that replaces the compiled-in roots with a PEM bundle (OpenSSL's name).
pub const CERT_FILE_VAR: &str = "SSL_CERT_FILE";

#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    #[error("{CERT_FILE_VAR}={path}: cannot read the certificate bundle")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{CERT_FILE_VAR}={path}: not a PEM certificate bundle")]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error(
        "{CERT_FILE_VAR}={path}: no usable CA certificate in the bundle ({rejected} rejected)"
    )]
    Empty { path: PathBuf, rejected: usize },
    #[error("TLS configuration")]
    Tls(#[source] rustls::Error),
    #[error("HTTP client")]
    Client(#[source] reqwest::Error),
}

/// The trust store: the compiled-in Mozilla roots, or the bundle `cert_file` names.
pub fn root_store(cert_file: Option<PathBuf>) -> Result<rustls::RootCertStore, HttpsError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let Some(path) = cert_file else {
        return Ok(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let pem = std::fs::read(&path).map_err(|source| HttpsError::Read {
        path: path.clone(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| HttpsError::Pem {
            path: path.clone(),
            source,
        })?;
    let mut store = rustls::RootCertStore::empty();
    let (added, rejected) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(HttpsError::Empty { path, rejected });
    }
    Ok(store)
}

static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// The process's TLS client configuration (built on first use, then shared): TLS 1.2 and
/// 1.3 with aws-lc-rs, the trust store above, host names verified, no client certificate.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, HttpsError> {
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let roots = root_store(std::env::var_os(CERT_FILE_VAR).map(PathBuf::from))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(HttpsError::Tls)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // No ALPN: HTTP/1.1 is the default without it, and PostgreSQL (which shares this
    // configuration) refuses an ALPN other than its own.
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// A reqwest client builder on the shared TLS configuration (callers add their timeouts).
pub fn client_builder() -> Result<reqwest::ClientBuilder, HttpsError> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured((*tls_config()?).clone()))
}

/// Idle connections are kept this long between invocations (a warm function reuses them).
const POOL_IDLE: Duration = Duration::from_secs(60);

/// The AWS SDK's HTTP client: reqwest on the shared TLS configuration. One reqwest client per
/// distinct connect/read timeout pair the SDK asks for (in practice one).
#[derive(Debug, Clone, Default)]
pub struct SdkHttpClient {
    connectors: Arc<Mutex<Vec<(TimeoutKey, SharedHttpConnector)>>>,
}

type TimeoutKey = (Option<Duration>, Option<Duration>);

impl SdkHttpClient {
    /// Checks the trust store now, so a bad `SSL_CERT_FILE` fails the init, not a request.
    pub fn new() -> Result<Self, HttpsError> {
        tls_config()?;
        Ok(Self::default())
    }

    fn connector(&self, key: TimeoutKey) -> Result<SharedHttpConnector, HttpsError> {
        let mut connectors = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return Ok(connector.clone());
        }
        let mut builder = client_builder()?.pool_idle_timeout(POOL_IDLE);
        if let Some(connect) = key.0 {
            builder = builder.connect_timeout(connect);
        }
        if let Some(read) = key.1 {
            builder = builder.read_timeout(read);
        }
        let client = builder.build().map_err(HttpsError::Client)?;
        let connector = SharedHttpConnector::new(ReqwestConnector { client });
        connectors.push((key, connector.clone()));
        Ok(connector)
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        match self.connector(key) {
            Ok(connector) => connector,
            // Only reachable if reqwest cannot build a client for these timeouts (the trust
            // store was checked by SdkHttpClient::new): every request fails with the reason.
            Err(err) => {
                let reason = Arc::new(err.to_string());
                SharedHttpConnector::new(FailingConnector(reason))
            }
        }
    }

    /// Called when an SDK client is built: the reqwest client for that configuration's
    /// timeouts is built now, so a function's first request only looks it up (as the SDK's
    /// own client also does its set-up here, at init).
    fn validate_base_client_config(
        &self,
        _components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        let timeouts = cfg.load::<TimeoutConfig>();
        let key = (
            timeouts.and_then(|t| t.connect_timeout()),
            timeouts.and_then(|t| t.read_timeout()),
        );
        self.connector(key)?;
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", None))
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    client: reqwest::Client,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|err| ConnectorError::user(err.into()))?;
            let (parts, body) = request.into_parts();
            // SDK request bodies for the calls the functions make are in memory; a streaming
            // body is handed over as a stream.
            let body = match body.bytes() {
                Some(bytes) => reqwest::Body::from(bytes.to_vec()),
                None => reqwest::Body::wrap(body),
            };
            let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
                .map_err(|err| ConnectorError::user(err.into()))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response: http::Response<reqwest::Body> = response.into();
            let (parts, body) = response.into_parts();
            let response = http::Response::from_parts(parts, SdkBody::from_body_1_x(body));
            Response::try_from(response).map_err(|err| ConnectorError::other(err.into(), None))
        })
    }
}

/// reqwest's failure as the SDK classifies it: timeouts and I/O are retryable transport
/// errors; a malformed request is the caller's.
fn connector_error(err: reqwest::Error) -> ConnectorError {
    if err.is_timeout() {
        ConnectorError::timeout(err.into())
    } else if err.is_builder() {
        ConnectorError::user(err.into())
    } else {
        ConnectorError::io(err.into())
    }
}

#[derive(Debug)]
struct FailingConnector(Arc<String>);

#[derive(Debug, thiserror::Error)]
#[error("no HTTPS client: {0}")]
struct NoClient(Arc<String>);

impl HttpConnector for FailingConnector {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let err = NoClient(self.0.clone());
        HttpConnectorFuture::ready(Err(ConnectorError::user(err.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_roots_without_a_bundle() {
        let store = root_store(None).unwrap();
        assert!(store.len() > 100, "{} roots", store.len());
    }

    #[test]
    fn a_bundle_file_replaces_the_roots() {
        let dir = std::env::temp_dir().join(format!("ferrolake-https-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = root_store(Some(missing.clone())).unwrap_err();
        assert!(matches!(err, HttpsError::Read { .. }), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err = root_store(Some(empty)).unwrap_err();
        assert!(
            matches!(err, HttpsError::Empty { rejected: 0, .. }),
            "{err}"
        );

        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = root_store(Some(broken)).unwrap_err();
        assert!(matches!(err, HttpsError::Pem { .. }), "{err}");

        // Debian's and Amazon Linux's bundles are the same program's roots as PEM.
        let system = PathBuf::from("/etc/ssl/certs/ca-certificates.crt");
        if system.exists() {
            let store = root_store(Some(system)).unwrap();
            assert!(store.len() > 100, "{} roots", store.len());
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The SDK over this client classifies transport failures as the retry rules expect:
    /// a refused connection and a server that never answers are both transient.
    #[cfg(feature = "streams")]
    #[tokio::test]
    async fn sdk_transport_failures_are_transient() {
        use aws_config::retry::RetryConfig;
        use aws_config::timeout::TimeoutConfig;
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_url = format!("http://{}", silent.local_addr().unwrap());
        let refused_url = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        for (url, what) in [(refused_url, "refused"), (silent_url, "silent")] {
            let config = crate::aws::config_loader()
                .unwrap()
                .endpoint_url(&url)
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_credential_types::Credentials::new(
                    "a", "b", None, None, "test",
                ))
                .retry_config(RetryConfig::disabled())
                .timeout_config(
                    TimeoutConfig::builder()
                        .read_timeout(Duration::from_millis(300))
                        .build(),
                )
                .load()
                .await;
            let http = SdkHttpClient::new().unwrap();
            let config = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .http_client(http.clone())
                .endpoint_url(config.endpoint_url().unwrap())
                .region(config.region().cloned())
                .credentials_provider(config.credentials_provider().unwrap())
                .retry_config(RetryConfig::disabled())
                .timeout_config(config.timeout_config().unwrap().clone())
                .build();
            let kinesis = aws_sdk_kinesis::Client::new(&config);
            // Built with the client (at init), not by the first request.
            assert_eq!(http.connectors.lock().unwrap().len(), 1, "{what}");
            let err = kinesis
                .describe_stream_summary()
                .stream_name("s")
                .send()
                .await
                .expect_err(what);
            assert!(crate::aws::is_transient(&err), "{what}: {err:?}");
            assert_eq!(http.connectors.lock().unwrap().len(), 1, "{what}");
        }
        drop(silent);
    }
}
