//! `athena-udf` Lambda entry point: the settings read once, then the library's UDF registry
//! served by [`athena_udf::handler::serve`] (telemetry, the Secrets Manager client built
//! once, the runtime loop).
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = athena_udf::config::Config::from_env()?;
    athena_udf::handler::serve("athena-udf", athena_udf::library::registry(), config).await
}
