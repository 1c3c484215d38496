//! `catalog-fetch` Lambda entry point: telemetry, config, clients (built once: HTTP
//! connections and cached secrets are reused across invocations), runtime loop.
#![recursion_limit = "256"]

use catalog_fetch::catalog::{Auth, HttpCatalog};
use catalog_fetch::{config::Config, handler::CatalogFetch};
use ferrolake_shared::batch::SqsBatchFunction;
use ferrolake_shared::secrets::{SecretCache, SecretsManager};
use ferrolake_shared::streams::SdkStreams;
use ferrolake_shared::telemetry;
use lambda_runtime::LambdaEvent;

const FUNCTION: &str = "catalog-fetch";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let config = Config::from_env()?;
    let sdk = ferrolake_shared::aws::load_config().await?;
    let secrets = matches!(config.auth, Auth::ApiKey { .. } | Auth::Bearer { .. }).then(|| {
        SecretCache::new(
            SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk)),
            config.secret_ttl,
        )
    });
    let credentials = sdk.credentials_provider();
    let catalog = HttpCatalog::new(
        config.url_template.clone(),
        config.timeout,
        config.auth.clone(),
        secrets,
        credentials,
    )?;
    let streams = SdkStreams {
        firehose: aws_sdk_firehose::Client::new(&sdk),
        kinesis: aws_sdk_kinesis::Client::new(&sdk),
    };
    let function = CatalogFetch::new(catalog, streams, config);
    let function = &function;
    telemetry::run(
        FUNCTION,
        |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>, metrics| async move {
            function
                .handle(&event.payload, &event.context, &metrics)
                .await
        },
    )
    .await
}
