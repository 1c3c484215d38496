//! AWS SDK configuration from the environment.
//!
//! `aws-config` itself honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (e.g.
//! `AWS_ENDPOINT_URL_KINESIS`), so pointing a function at moto or another emulator needs
//! no code. S3 additionally needs path-style addressing against such endpoints.

use crate::https::{HttpsError, SdkHttpClient};
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
pub use aws_smithy_runtime_api::client::result::SdkError;
pub use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The loader every function and test starts from: latest behaviour version, the shared
/// HTTPS stack ([`crate::https`]), endpoint overrides from the environment.
///
/// Credentials and region come from the environment when it has them, as Lambda's always
/// does (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` and `AWS_REGION`
/// are reserved runtime variables:
/// <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>).
/// The default chains would pick exactly those first too, but building them constructs
/// every fallback provider up front: the web-identity one builds an STS client (its
/// endpoint partition table parsed, its HTTP client validated), ~0.9 ms of a cold start.
/// Without them in the environment, the default chains decide.
pub fn config_loader() -> Result<ConfigLoader, HttpsError> {
    config_loader_from(|name| std::env::var(name).ok())
}

fn config_loader_from(lookup: impl Fn(&str) -> Option<String>) -> Result<ConfigLoader, HttpsError> {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(SdkHttpClient::new()?);
    if let Some(region) = lookup("AWS_REGION").filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region));
    }
    let has = |name: &str| lookup(name).is_some_and(|v| !v.is_empty());
    if has("AWS_ACCESS_KEY_ID") && has("AWS_SECRET_ACCESS_KEY") {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    Ok(loader)
}

/// Load the shared SDK configuration once, in `main`, before building clients.
pub async fn load_config() -> Result<SdkConfig, HttpsError> {
    Ok(config_loader()?.load().await)
}

/// An SDK client built on first use, then shared by every clone. For the clients a function
/// needs only for some events (redshift-config's connection modes, athena-udf's keyed UDFs):
/// building an SDK client costs ~0.1–0.2 ms (its endpoint rules and partition table are set
/// up then), so building every possible client in `main` put the unused ones on each cold
/// start. Clients every invocation uses stay built in `main`.
pub struct LazyClient<C> {
    inner: std::sync::Arc<LazyInner<C>>,
}

struct LazyInner<C> {
    config: Option<SdkConfig>,
    build: fn(&SdkConfig) -> C,
    client: std::sync::OnceLock<C>,
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C> LazyClient<C> {
    /// Built from `config` by `build` (e.g. `aws_sdk_redshift::Client::new`) when first used.
    pub fn new(config: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            inner: std::sync::Arc::new(LazyInner {
                config: Some(config.clone()),
                build,
                client: std::sync::OnceLock::new(),
            }),
        }
    }

    /// A client that is already built (tests pointing it at a proxy, say).
    pub fn ready(client: C) -> Self {
        fn never<C>(_: &SdkConfig) -> C {
            unreachable!("a ready LazyClient is never built")
        }
        Self {
            inner: std::sync::Arc::new(LazyInner {
                config: None,
                build: never::<C>,
                client: std::sync::OnceLock::from(client),
            }),
        }
    }

    /// Whether the client has been built yet.
    pub fn is_built(&self) -> bool {
        self.inner.client.get().is_some()
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.inner.client.get_or_init(|| match &self.inner.config {
            Some(config) => (self.inner.build)(config),
            None => unreachable!("a LazyClient without a config is created ready"),
        })
    }
}

/// Whether S3 should use path-style addressing: `S3_FORCE_PATH_STYLE=true|false` decides;
/// without it, path style is on whenever an endpoint override is set (emulators rarely
/// resolve `bucket.host` names).
pub fn s3_force_path_style(lookup: impl Fn(&str) -> Option<String>) -> bool {
    match lookup("S3_FORCE_PATH_STYLE").map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "true" || v == "1" => true,
        Some(v) if v == "false" || v == "0" => false,
        _ => lookup("AWS_ENDPOINT_URL_S3").is_some() || lookup("AWS_ENDPOINT_URL").is_some(),
    }
}

/// Service error codes that mean "try again later" across AWS APIs.
pub const TRANSIENT_ERROR_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "OperationTimeoutException",
    "InternalServiceException",
    "InternalFailure",
    "InternalFailureException",
    // Kinesis PutRecords on a KMS-encrypted stream.
    "KMSThrottlingException",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ConcurrentModificationException",
];

/// The service error code of an SDK error (`None` for timeouts, connection failures…).
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Whether retrying the same request later may succeed: network-level failures
/// (timeouts, dispatch/connection errors, unreadable responses) and throttling or
/// internal-error codes.
pub fn is_transient<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| TRANSIENT_ERROR_CODES.contains(&code)),
        _ => false,
    }
}

/// An S3 client with the path-style toggle applied.
#[cfg(feature = "s3")]
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style =
        s3_force_path_style(|name| std::env::var(name).ok()) || config.endpoint_url().is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_follows_flag_then_endpoint_override() {
        let env = crate::env::lookup_from;
        assert!(!s3_force_path_style(env(&[])));
        assert!(s3_force_path_style(env(&[(
            "AWS_ENDPOINT_URL",
            "http://127.0.0.1:5000"
        )])));
        assert!(s3_force_path_style(env(&[(
            "AWS_ENDPOINT_URL_S3",
            "http://localhost:5000"
        )])));
        assert!(!s3_force_path_style(env(&[
            ("AWS_ENDPOINT_URL", "http://x"),
            ("S3_FORCE_PATH_STYLE", "false")
        ])));
        assert!(s3_force_path_style(env(&[("S3_FORCE_PATH_STYLE", "TRUE")])));
    }

    /// Lambda's reserved variables set the region and the environment credentials provider
    /// directly; without them the default chains decide.
    #[tokio::test]
    async fn lambda_variables_skip_the_default_chains() {
        let lambda = |name: &str| match name {
            "AWS_REGION" => Some("eu-west-1".to_string()),
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("from-env".to_string()),
            _ => None,
        };
        let config = config_loader_from(lambda).unwrap().load().await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let provider = format!("{:?}", config.credentials_provider().unwrap());
        assert!(
            provider.contains("EnvironmentVariableCredentialsProvider"),
            "{provider}"
        );

        let elsewhere = |_: &str| None;
        let loader = config_loader_from(elsewhere).unwrap();
        let config = loader.region(Region::new("us-east-1")).load().await;
        let provider = format!("{:?}", config.credentials_provider().unwrap());
        assert!(
            !provider.contains("EnvironmentVariableCredentialsProvider"),
            "{provider}"
        );
    }

    #[test]
    fn a_lazy_client_is_built_once_on_first_use_and_shared_by_clones() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        fn build(_: &SdkConfig) -> usize {
            BUILT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 41
        }
        let lazy = LazyClient::new(&config, build);
        let clone = lazy.clone();
        assert!(!lazy.is_built());
        assert_eq!(BUILT.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(*clone, 41);
        assert_eq!(*lazy, 41);
        assert!(lazy.is_built());
        assert_eq!(BUILT.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(*LazyClient::ready(7usize), 7);
    }

    #[derive(Debug)]
    struct CodedError(aws_smithy_types::error::ErrorMetadata);
    impl ProvideErrorMetadata for CodedError {
        fn meta(&self) -> &aws_smithy_types::error::ErrorMetadata {
            &self.0
        }
    }
    impl std::fmt::Display for CodedError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0.code())
        }
    }
    impl std::error::Error for CodedError {}

    fn service_error(code: &str) -> SdkError<CodedError, ()> {
        SdkError::service_error(
            CodedError(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code(code)
                    .build(),
            ),
            (),
        )
    }

    #[test]
    fn transient_errors_are_classified_by_kind_and_code() {
        assert!(is_transient(&service_error("ThrottlingException")));
        assert!(is_transient(&service_error("OperationTimeoutException")));
        assert!(is_transient(&service_error(
            "ProvisionedThroughputExceededException"
        )));
        // Kinesis PutRecords against a KMS-encrypted stream, and its whole-request 500.
        assert!(is_transient(&service_error("KMSThrottlingException")));
        assert!(is_transient(&service_error("InternalFailureException")));
        assert!(!is_transient(&service_error("EntityNotFoundException")));
        assert!(!is_transient(&service_error("AccessDeniedException")));
        assert_eq!(
            error_code(&service_error("CrawlerRunningException")),
            Some("CrawlerRunningException")
        );
        let timeout: SdkError<CodedError, ()> = SdkError::timeout_error("read timed out");
        assert!(is_transient(&timeout));
        assert_eq!(error_code(&timeout), None);
        let construction: SdkError<CodedError, ()> =
            SdkError::construction_failure("missing field");
        assert!(!is_transient(&construction));
    }
}
