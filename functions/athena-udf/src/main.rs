//! `athena-udf` Lambda entry point: telemetry, then the runtime loop.

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ferrolake_shared::telemetry::init("athena-udf");
    lambda_runtime::run(lambda_runtime::service_fn(handler::handle)).await
}
