//! The config table: one Query per target; DynamoDB attribute values (SDK or stream JSON)
//! unwrapped into plain JSON for validation.

use aws_sdk_dynamodb::types::AttributeValue;
use ferrolake_shared::aws::error_code;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("reading target {target:?} from table {table} failed ({code}): {source}")]
    Query {
        target: String,
        table: String,
        code: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("listing targets in table {table} failed ({code}): {source}")]
    Scan {
        table: String,
        code: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where config items come from.
#[allow(async_fn_in_trait)]
pub trait ConfigSource {
    async fn items(&self, target: &str) -> Result<Vec<Value>, StoreError>;
    async fn targets(&self) -> Result<Vec<String>, StoreError>;
}

pub struct DynamoConfig {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl ConfigSource for DynamoConfig {
    async fn items(&self, target: &str) -> Result<Vec<Value>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#t = :t")
                .expression_attribute_names("#t", "target")
                .expression_attribute_values(":t", AttributeValue::S(target.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::Query {
                    target: target.into(),
                    table: self.table.clone(),
                    code: error_code(&e).unwrap_or("no code").into(),
                    source: Box::new(e),
                })?;
            items.extend(out.items().iter().map(item_to_json));
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    async fn targets(&self) -> Result<Vec<String>, StoreError> {
        let mut targets = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#i = :t")
                .expression_attribute_names("#i", "id")
                .expression_attribute_values(":t", AttributeValue::S("TARGET".into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::Scan {
                    table: self.table.clone(),
                    code: error_code(&e).unwrap_or("no code").into(),
                    source: Box::new(e),
                })?;
            targets.extend(
                out.items()
                    .iter()
                    .filter_map(|i| i.get("target").and_then(|t| t.as_s().ok()).cloned()),
            );
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => {
                    targets.sort();
                    targets.dedup();
                    return Ok(targets);
                }
            }
        }
    }
}

pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_to_json(v)))
            .collect(),
    )
}

fn number(text: &str) -> Value {
    serde_json::from_str::<Number>(text)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(text.into()))
}

pub fn attribute_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => Value::Array(list.iter().map(attribute_to_json).collect()),
        AttributeValue::M(map) => item_to_json(map),
        AttributeValue::Ss(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(set) => Value::Array(set.iter().map(|n| number(n)).collect()),
        // Binary values have no place in the config; keep the key visible to validation.
        _ => Value::String("<unsupported DynamoDB type>".into()),
    }
}

/// A stream image (`{"name": {"S": "x"}, ...}`) as plain JSON.
pub fn stream_image_to_json(image: &Value) -> Value {
    fn one(v: &Value) -> Value {
        let Some(map) = v.as_object() else {
            return Value::Null;
        };
        let Some((kind, inner)) = map.iter().next() else {
            return Value::Null;
        };
        match kind.as_str() {
            "S" => inner.clone(),
            "N" => inner.as_str().map(number).unwrap_or(Value::Null),
            "BOOL" => inner.clone(),
            "NULL" => Value::Null,
            "L" => Value::Array(
                inner
                    .as_array()
                    .map(|l| l.iter().map(one).collect())
                    .unwrap_or_default(),
            ),
            "M" => stream_image_to_json(inner),
            "SS" => inner.clone(),
            "NS" => Value::Array(
                inner
                    .as_array()
                    .map(|l| l.iter().filter_map(Value::as_str).map(number).collect())
                    .unwrap_or_default(),
            ),
            _ => Value::String("<unsupported DynamoDB type>".into()),
        }
    }
    Value::Object(
        image
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), one(v)))
                    .collect::<Map<_, _>>()
            })
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_and_sdk_images_unwrap_alike() {
        let stream = json!({"target": {"S": "t"}, "id": {"S": "USER#a"}, "connection_limit": {"N": "5"},
            "groups": {"L": [{"S": "g"}]}, "password": {"M": {"managed": {"BOOL": true}}}, "x": {"NULL": true}});
        assert_eq!(
            stream_image_to_json(&stream),
            json!({"target": "t", "id": "USER#a", "connection_limit": 5, "groups": ["g"], "password": {"managed": true}, "x": null})
        );
        let sdk = HashMap::from([
            ("n".to_string(), AttributeValue::N("5".into())),
            (
                "l".to_string(),
                AttributeValue::L(vec![AttributeValue::S("g".into())]),
            ),
        ]);
        assert_eq!(item_to_json(&sdk), json!({"n": 5, "l": ["g"]}));
    }
}
