//! Structured JSON logs (Lambda's JSON log format), CloudWatch Embedded Metric Format, and
//! the Lambda runtime loop that gives every invocation both ([`run_runtime`],
//! [`run_runtime_fallible`]).

mod json_log;
mod metrics;

pub use json_log::{error_chain, rfc3339, JsonLogLayer};
pub use metrics::{Metrics, Unit, METRICS_NAMESPACE};

use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

static COLD_START: AtomicBool = AtomicBool::new(true);

/// True exactly once per process: for the first invocation that asks.
pub fn take_cold_start() -> bool {
    COLD_START.swap(false, Ordering::SeqCst)
}

/// The function name Lambda gives the process (`AWS_LAMBDA_FUNCTION_NAME`), or `fallback`.
pub fn function_name(fallback: &str) -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| fallback.to_string())
}

/// Level filter as Lambda's advanced logging controls define it:
/// `AWS_LAMBDA_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) wins over `RUST_LOG`
/// (`level` or `target=level,…` directives), default INFO; an unreadable value means INFO.
/// A target filter, not `EnvFilter`: no directive the functions use needs span or field
/// matching, and `EnvFilter` (with its regex engine) was ~0.1 ms of every cold start.
pub fn level_filter() -> Targets {
    level_filter_from(|name| std::env::var(name).ok())
}

fn level_filter_from(lookup: impl Fn(&str) -> Option<String>) -> Targets {
    let directive = lookup("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| lookup("RUST_LOG"))
        .unwrap_or_else(|| "info".to_string())
        .to_lowercase();
    // Lambda's FATAL has no tracing level: the closest is ERROR.
    let directive = if directive == "fatal" {
        "error".to_string()
    } else {
        directive
    };
    directive
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO))
}

/// Install the JSON log layer on stdout as the global subscriber. Call once, first thing in `main`.
pub fn init(default_function_name: &str) {
    let layer = JsonLogLayer::new(function_name(default_function_name), std::io::stdout);
    // A second init (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::registry()
        .with(level_filter())
        .with(layer)
        .try_init();
}

/// The Lambda runtime loop every function's `main` ends with: the heap is kept between
/// invocations ([`crate::heap`]), each invocation gets a fresh [`Metrics`] (flushed as EMF
/// when it ends) and the handler's response. Handlers answer per-record problems in their
/// response, so the loop itself never fails an event.
pub async fn run_runtime<E, R, F, Fut>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize,
    F: Fn(lambda_runtime::LambdaEvent<E>, Metrics) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let handler = &handler;
    run_runtime_fallible(function, move |event, metrics| {
        let response = handler(event, metrics);
        async move { Ok::<R, std::convert::Infallible>(response.await) }
    })
    .await
}

/// [`run_runtime`] for handlers whose whole invocation can fail (synchronous callers such as
/// Athena read the function error): the error is logged with its cause chain and
/// returned to Lambda as `{"errorType", "errorMessage"}`.
pub async fn run_runtime_fallible<E, R, Er, F, Fut>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize,
    Er: std::error::Error + Into<lambda_runtime::Diagnostic> + 'static,
    F: Fn(lambda_runtime::LambdaEvent<E>, Metrics) -> Fut,
    Fut: std::future::Future<Output = Result<R, Er>>,
{
    let name = function_name(function);
    let name = name.as_str();
    let handler = &handler;
    // glibc's heap thresholds fixed once per process (why, with the measured page faults: heap.rs).
    if !crate::heap::keep_between_invocations() {
        tracing::debug!("malloc thresholds left at their defaults (not glibc)");
    }
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| async move {
            let response = with_metrics(name, |metrics| handler(event, metrics)).await;
            if let Err(e) = &response {
                tracing::error!(error = %error_chain(e), "invocation failed");
            }
            response
        },
    ))
    .await
}

/// Run one invocation with a fresh [`Metrics`] and flush it (one EMF line) when the
/// handler finishes, whatever it returned.
pub async fn with_metrics<F, Fut, R>(function: &str, handler: F) -> R
where
    F: FnOnce(Metrics) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let metrics = Metrics::new(function, take_cold_start());
    let result = handler(metrics.clone()).await;
    metrics.flush();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    fn filter(pairs: &[(&str, &str)]) -> Targets {
        level_filter_from(crate::env::lookup_from(pairs))
    }

    #[test]
    fn lambda_log_level_wins_then_rust_log_then_info() {
        assert_eq!(filter(&[]).default_level(), Some(LevelFilter::INFO));
        let both = filter(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")]);
        assert_eq!(both.default_level(), Some(LevelFilter::WARN));
        let rust_log = filter(&[("RUST_LOG", "debug,aws_smithy_runtime=warn")]);
        assert_eq!(rust_log.default_level(), Some(LevelFilter::DEBUG));
        assert!(!rust_log.would_enable("aws_smithy_runtime::client", &tracing::Level::INFO));
        assert!(rust_log.would_enable("catalog_fetch", &tracing::Level::DEBUG));
    }

    #[test]
    fn fatal_is_error_and_nonsense_is_info() {
        let fatal = filter(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
        assert_eq!(fatal.default_level(), Some(LevelFilter::ERROR));
        let nonsense = filter(&[("AWS_LAMBDA_LOG_LEVEL", "loud=!!")]);
        assert_eq!(nonsense.default_level(), Some(LevelFilter::INFO));
    }
}
