//! AWS SDK configuration from the environment.
//!
//! `aws-config` itself honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (e.g.
//! `AWS_ENDPOINT_URL_KINESIS`), so pointing a function at moto or another emulator needs
//! no code. S3 additionally needs path-style addressing against such endpoints.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
pub use aws_smithy_runtime_api::client::result::SdkError;
pub use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The loader every function and test starts from (latest behaviour version, default
/// credential/region chains, endpoint overrides from the environment).
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
}

/// Load the shared SDK configuration once, in `main`, before building clients.
pub async fn load_config() -> SdkConfig {
    config_loader().load().await
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
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
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
