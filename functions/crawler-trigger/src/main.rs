//! `crawler-trigger` Lambda entry point: telemetry, config, Glue client, runtime loop.
// The runtime + SDK futures nest deeper than the default query depth allows.
#![recursion_limit = "256"]

use crawler_trigger::{catalog::GlueCatalog, config::Config, handler::CrawlerTrigger};
use ferrolake_shared::telemetry;
use lambda_runtime::{service_fn, LambdaEvent};

const FUNCTION: &str = "crawler-trigger";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let config = Config::from_env()?;
    let sdk = ferrolake_shared::aws::load_config().await;
    let trigger = CrawlerTrigger::new(GlueCatalog::new(aws_sdk_glue::Client::new(&sdk)), config);
    let trigger = &trigger;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
            let name = telemetry::function_name(FUNCTION);
            let response = telemetry::with_metrics(&name, |metrics| async move {
                trigger
                    .handle(&event.payload, &event.context, &metrics)
                    .await
            })
            .await;
            Ok::<_, std::convert::Infallible>(response)
        },
    ))
    .await
}
