//! `catalog-fetch` Lambda entry point: telemetry, config, clients (built once: HTTP
//! connections and cached secrets are reused across invocations), runtime loop.
#![recursion_limit = "256"]

use catalog_fetch::catalog_api::{Authenticator, HttpCatalog};
use catalog_fetch::{config::Config, handler::CatalogFetch};
use ferrolake_shared::batch::SqsBatchFunction;
use ferrolake_shared::streams::SdkStreams;
use ferrolake_shared::telemetry;
use lambda_runtime::LambdaEvent;

const FUNCTION: &str = "catalog-fetch";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let config = Config::from_env()?;
    let sdk = ferrolake_shared::aws::load_config().await?;
    let auth = Authenticator::new(&config.auth, config.secret_ttl, &sdk)?;
    let catalog = HttpCatalog::new(config.url_template.clone(), config.timeout, auth)?;
    let streams = SdkStreams::kinesis_only(&sdk);
    let function = CatalogFetch::new(catalog, streams, config);
    let function = &function;
    telemetry::run_runtime(
        FUNCTION,
        |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>, metrics| async move {
            function
                .handle(&event.payload, &event.context, &metrics)
                .await
        },
    )
    .await
}
