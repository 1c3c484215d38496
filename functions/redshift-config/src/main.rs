//! `redshift-config` Lambda entry point: telemetry, then the runtime loop.

use redshift_config::handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ferrolake_shared::telemetry::init("redshift-config");
    lambda_runtime::run(lambda_runtime::service_fn(handler::handle)).await
}
