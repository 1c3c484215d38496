//! `firehose-flatten` Lambda entry point: telemetry, config, clients, runtime loop.
#![recursion_limit = "256"]

use ferrolake_shared::streams::SdkStreams;
use ferrolake_shared::telemetry;
use firehose_flatten::{config::Config, handler::FirehoseFlatten, request::FirehoseEvent};
use lambda_runtime::LambdaEvent;

const FUNCTION: &str = "firehose-flatten";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let config = Config::from_env()?;
    let sdk = ferrolake_shared::aws::load_config().await?;
    let reingest = SdkStreams::new(&sdk);
    let function = FirehoseFlatten::new(config, reingest);
    let function = &function;
    telemetry::run_runtime(
        FUNCTION,
        |event: LambdaEvent<FirehoseEvent>, metrics| async move {
            function
                .handle(&event.payload, &event.context, &metrics)
                .await
        },
    )
    .await
}
