//! `ferrolake-udf-echo`: the athena-udf Lambda (the same handler, protocol and IPC code, the
//! same library) with the type-matrix `echo(x) -> x` overloads of
//! `athena_udf::fixtures::register_echo` added — BOOLEAN, TINYINT … DOUBLE, DECIMAL,
//! VARCHAR, VARBINARY, DATE, TIMESTAMP, ARRAY(INTEGER), ARRAY(VARCHAR) and any ROW. No
//! library UDF takes those types, so this is how the Java conformance harness
//! (`tests/java/`) sends every type the Java SDK carries through ferrolake and back. Test
//! only: it is not in template.yaml.
#![recursion_limit = "256"]

use athena_udf::handler::AthenaUdf;
use ferrolake_shared::secrets::SecretsManager;
use ferrolake_shared::telemetry;
use lambda_runtime::LambdaEvent;
use serde_json::value::RawValue;

const FUNCTION: &str = "athena-udf-echo";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let sdk = ferrolake_shared::aws::load_config().await;
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let threads = athena_udf::handler::threads_from(|k| std::env::var(k).ok())?;
    let mut registry = athena_udf::library::registry();
    athena_udf::fixtures::register_echo(&mut registry);
    let function = AthenaUdf::new(registry, secrets).with_threads(threads);
    let function = &function;
    telemetry::run_fallible(
        FUNCTION,
        |event: LambdaEvent<Box<RawValue>>, metrics| async move {
            function.handle(&event.payload, &metrics).await
        },
    )
    .await
}
