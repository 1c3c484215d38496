//! `redshift-config` Lambda entry point: telemetry, clients built once, the runtime loop.
#![recursion_limit = "256"]

use ferrolake_shared::aws::LazyClient;
use ferrolake_shared::secrets::SecretsManager;
use ferrolake_shared::telemetry;
use lambda_runtime::LambdaEvent;
use redshift_config::config::Config;
use redshift_config::desired::SslMode;
use redshift_config::executor::any::AnyConnector;
use redshift_config::executor::data_api::DataApiConnector;
use redshift_config::executor::direct::{Aws, DirectConnector};
use redshift_config::handler::RedshiftConfig;
use redshift_config::store::DynamoConfig;
use serde_json::Value;
use std::time::Duration;

const FUNCTION: &str = "redshift-config";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(FUNCTION);
    let config = Config::from_env()?;
    let sdk = ferrolake_shared::aws::load_config().await?;
    // DynamoDB is read by every invocation; the connection clients are built when a
    // target first needs them (LazyClient).
    let aws = Aws {
        redshift: LazyClient::new(&sdk, aws_sdk_redshift::Client::new),
        serverless: LazyClient::new(&sdk, aws_sdk_redshiftserverless::Client::new),
        secrets: SecretsManager::lazy(&sdk),
    };
    let function = RedshiftConfig {
        source: DynamoConfig {
            client: aws_sdk_dynamodb::Client::new(&sdk),
            table: config.table,
        },
        connector: AnyConnector {
            direct: DirectConnector {
                aws: aws.clone(),
                connect_timeout: Duration::from_secs(10),
            },
            data_api: DataApiConnector {
                client: LazyClient::new(&sdk, aws_sdk_redshiftdata::Client::new),
                timeout: Duration::from_secs(120),
            },
        },
        secrets: aws.secrets.clone(),
        default_sslmode: SslMode::VerifyFull,
    };
    let function = &function;
    telemetry::run_runtime_fallible(FUNCTION, |event: LambdaEvent<Value>, _metrics| async move {
        function.handle(event.payload).await
    })
    .await
}
