//! `crawler-trigger` Lambda entry point: telemetry, config, Glue client, runtime loop.
// The runtime + SDK futures nest deeper than the default query depth allows.
#![recursion_limit = "256"]

use crawler_trigger::{config::Config, glue::GlueSdk, handler::CrawlerTrigger};
use ferrolake_shared::batch::SqsBatchFunction;
use ferrolake_shared::telemetry;
use lambda_runtime::LambdaEvent;

const FUNCTION: &str = "crawler-trigger";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let config = Config::from_env()?;
    let sdk = ferrolake_shared::aws::load_config().await?;
    let trigger = CrawlerTrigger::new(GlueSdk::new(aws_sdk_glue::Client::new(&sdk)), config);
    let trigger = &trigger;
    telemetry::run_runtime(
        FUNCTION,
        |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>, metrics| async move {
            trigger
                .handle(&event.payload, &event.context, &metrics)
                .await
        },
    )
    .await
}
