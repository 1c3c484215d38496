//! Structured JSON logs (Lambda's JSON log format), CloudWatch Embedded Metric Format, and
//! the Lambda runtime loop that gives every invocation both ([`run_runtime`],
//! [`run_runtime_fallible`]).

mod json_log;
mod metrics;

pub use json_log::{error_chain, rfc3339, JsonLogLayer};
pub use metrics::{Metrics, Unit, METRICS_NAMESPACE};

use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

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
/// `AWS_LAMBDA_LOG_LEVEL` wins over `RUST_LOG`, default INFO.
pub fn level_filter() -> EnvFilter {
    let directive = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    EnvFilter::try_new(directive.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"))
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
