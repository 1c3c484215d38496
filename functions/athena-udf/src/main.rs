//! `athena-udf` Lambda entry point: telemetry, the UDF registry and Secrets Manager client
//! (built once), then the runtime loop.
#![recursion_limit = "256"]

use athena_udf::handler::AthenaUdf;
use ferrolake_shared::secrets::SecretsManager;
use ferrolake_shared::telemetry;
use lambda_runtime::LambdaEvent;
use serde_json::value::RawValue;

const FUNCTION: &str = "athena-udf";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let sdk = ferrolake_shared::aws::load_config().await;
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let threads = athena_udf::handler::threads_from(|k| std::env::var(k).ok())?;
    let function = AthenaUdf::new(athena_udf::library::registry(), secrets).with_threads(threads);
    let function = &function;
    telemetry::run_fallible(
        FUNCTION,
        |event: LambdaEvent<Box<RawValue>>, metrics| async move {
            function.handle(&event.payload, &metrics).await
        },
    )
    .await
}
