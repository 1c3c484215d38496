//! Maps the Lambda event to domain calls. Skeleton: answers every event with a clear
//! "not implemented" error until its issue lands.

use ferrolake_shared::NotImplemented;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub async fn handle(_event: LambdaEvent<Value>) -> Result<Value, NotImplemented> {
    Err(NotImplemented {
        function: "firehose-flatten",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_not_implemented() {
        let event = LambdaEvent::new(Value::Null, lambda_runtime::Context::default());
        let err = handle(event).await.unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "NotImplemented");
        assert_eq!(
            diagnostic.error_message,
            "firehose-flatten is not implemented yet"
        );
    }
}
