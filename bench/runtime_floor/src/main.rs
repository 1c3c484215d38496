//! The floor: what any Rust Lambda pays before its first poll (the runtime and tokio), so the
//! five functions' cold starts can be read as floor + their own start-up.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
