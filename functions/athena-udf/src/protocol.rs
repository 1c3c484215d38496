//! The JSON half of Athena's external-function protocol: requests parsed liberally
//! (serde v1 and v2+ shapes, any key order, unknown keys ignored), responses written in
//! the exact key order of the Java SDK's strict v2+ serializers.

use serde::{Deserialize, Serialize};

/// What we announce in the ping: the Java SDK's current values. The `serDeVersion`
/// selects the request shape and Arrow framing Athena uses afterwards.
pub const CAPABILITIES: u32 = 24;
pub const SERDE_VERSION: u32 = 6;
pub const SOURCE_TYPE: &str = "ferrolake";

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the request has no \"@type\"; expected PingRequest or UserDefinedFunctionRequest")]
    NoType,
    #[error("unsupported request type {0:?}; this Lambda answers PingRequest and UserDefinedFunctionRequest")]
    UnknownType(String),
    #[error("{kind} is malformed: {source}")]
    Malformed {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("unsupported functionType {0:?}; Athena UDFs are SCALAR")]
    FunctionType(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping(PingRequest),
    Udf(UdfRequest),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingRequest {
    #[serde(default)]
    pub catalog_name: String,
    #[serde(default)]
    pub query_id: String,
}

/// The parts of a UDF request we use; identity and allocator ids are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UdfRequest {
    pub input_records: Block,
    pub output_schema: OutputSchema,
    pub method_name: String,
    #[serde(default)]
    pub function_type: Option<String>,
}

/// An Arrow block: one base64 schema message and one base64 record-batch message
/// (`""` when the block has no rows).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Block {
    pub schema: String,
    #[serde(default)]
    pub records: String,
}

/// serde v2+ writes the schema inline as a string; v1 wraps it as `{"schema": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OutputSchema {
    Inline(String),
    Wrapped { schema: String },
}

impl OutputSchema {
    pub fn base64(&self) -> &str {
        match self {
            OutputSchema::Inline(s) | OutputSchema::Wrapped { schema: s } => s,
        }
    }
}

#[derive(Deserialize)]
struct Typed {
    #[serde(rename = "@type")]
    kind: Option<String>,
}

/// Parse a request document. The type is read first so each kind gets its own message.
pub fn parse_request(json: &str) -> Result<Request, RequestError> {
    let typed: Typed = serde_json::from_str(json).map_err(RequestError::NotJson)?;
    match typed.kind.as_deref() {
        None => Err(RequestError::NoType),
        Some("PingRequest") => serde_json::from_str(json)
            .map(Request::Ping)
            .map_err(|source| RequestError::Malformed {
                kind: "PingRequest",
                source,
            }),
        Some("UserDefinedFunctionRequest") => {
            let request: UdfRequest =
                serde_json::from_str(json).map_err(|source| RequestError::Malformed {
                    kind: "UserDefinedFunctionRequest",
                    source,
                })?;
            match request.function_type.as_deref() {
                None | Some("SCALAR") => Ok(Request::Udf(request)),
                Some(other) => Err(RequestError::FunctionType(other.to_string())),
            }
        }
        Some(other) => Err(RequestError::UnknownType(other.to_string())),
    }
}

/// `PingResponse`, fields in the Java order.
#[derive(Debug, Serialize)]
pub struct PingResponse<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    #[serde(rename = "catalogName")]
    catalog_name: &'a str,
    #[serde(rename = "queryId")]
    query_id: &'a str,
    #[serde(rename = "sourceType")]
    source_type: &'static str,
    capabilities: u32,
    #[serde(rename = "serDeVersion")]
    serde_version: u32,
}

impl<'a> PingResponse<'a> {
    pub fn to(ping: &'a PingRequest) -> Self {
        Self {
            kind: "PingResponse",
            catalog_name: &ping.catalog_name,
            query_id: &ping.query_id,
            source_type: SOURCE_TYPE,
            capabilities: CAPABILITIES,
            serde_version: SERDE_VERSION,
        }
    }
}

/// `UserDefinedFunctionResponse`, fields in the Java order (`@type`, `records`
/// {`aId`, `schema`, `records`}, `methodName`).
#[derive(Debug, Serialize)]
pub struct UdfResponse<'a> {
    #[serde(rename = "@type")]
    kind: &'static str,
    records: ResponseBlock<'a>,
    #[serde(rename = "methodName")]
    method_name: &'a str,
}

#[derive(Debug, Serialize)]
struct ResponseBlock<'a> {
    #[serde(rename = "aId")]
    allocator_id: String,
    schema: &'a str,
    records: &'a str,
}

impl<'a> UdfResponse<'a> {
    pub fn new(method_name: &'a str, schema: &'a str, records: &'a str) -> Self {
        Self {
            kind: "UserDefinedFunctionResponse",
            records: ResponseBlock {
                allocator_id: random_uuid(),
                schema,
                records,
            },
            method_name,
        }
    }
}

/// A version-4 UUID string, as Java's `BlockAllocatorImpl` ids are.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_response_has_the_java_key_order() {
        let ping = PingRequest {
            catalog_name: "c".into(),
            query_id: "q".into(),
        };
        let json = serde_json::to_string(&PingResponse::to(&ping)).unwrap();
        assert_eq!(
            json,
            r#"{"@type":"PingResponse","catalogName":"c","queryId":"q","sourceType":"ferrolake","capabilities":24,"serDeVersion":6}"#
        );
    }

    #[test]
    fn udf_response_has_the_java_key_order() {
        let json = serde_json::to_string(&UdfResponse::new("m", "S", "R")).unwrap();
        let (head, tail) = json.split_at(json.find(r#""aId":"#).unwrap());
        assert_eq!(
            head,
            r#"{"@type":"UserDefinedFunctionResponse","records":{"#
        );
        assert!(tail.ends_with(r#","schema":"S","records":"R"},"methodName":"m"}"#));
        let uuid: String = serde_json::from_str::<serde_json::Value>(&json).unwrap()["records"]
            ["aId"]
            .as_str()
            .unwrap()
            .into();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }

    #[test]
    fn both_output_schema_shapes_and_any_key_order_parse() {
        let v2 = r#"{"@type":"UserDefinedFunctionRequest","methodName":"f","outputSchema":"AAA","functionType":"SCALAR","inputRecords":{"records":"","schema":"BBB","aId":"x"},"extra":1}"#;
        let v1 = r#"{"methodName":"f","@type":"UserDefinedFunctionRequest","identity":{"arn":"a","account":"1","principalTags":{},"iamGroups":[]},"inputRecords":{"aId":"x","schema":"BBB"},"outputSchema":{"schema":"AAA"}}"#;
        for json in [v2, v1] {
            let Request::Udf(r) = parse_request(json).unwrap() else {
                panic!("not a UDF request: {json}")
            };
            assert_eq!(r.method_name, "f");
            assert_eq!(r.output_schema.base64(), "AAA");
            assert_eq!(r.input_records.schema, "BBB");
            assert_eq!(r.input_records.records, "");
        }
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let cases = [
            ("not json", "the request is not JSON"),
            ("{}", "the request has no \"@type\""),
            (
                r#"{"@type":"ListTablesRequest"}"#,
                "unsupported request type \"ListTablesRequest\"",
            ),
            (
                r#"{"@type":"UserDefinedFunctionRequest","methodName":"f"}"#,
                "UserDefinedFunctionRequest is malformed: missing field `inputRecords`",
            ),
            (
                r#"{"@type":"UserDefinedFunctionRequest","methodName":"f","inputRecords":{"schema":"A"},"outputSchema":"B","functionType":"AGGREGATE"}"#,
                "unsupported functionType \"AGGREGATE\"; Athena UDFs are SCALAR",
            ),
        ];
        for (json, expected) in cases {
            let err = parse_request(json).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{json}: {err}");
        }
    }
}
