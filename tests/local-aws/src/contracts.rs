//! AWS's request limits, applied in front of moto. moto accepts most requests AWS refuses
//! (a 101-partition BatchCreatePartition, a 300-character Kinesis partition key, a secret
//! name with `$`), so a function that breaks a limit passes every local test and fails on
//! its first deploy. [`check`] is a pure function from a request to the rejection AWS would
//! send (same HTTP status, error code and message shape: awsJson `__type` + `message`,
//! awsQuery `<ErrorResponse>`); [`contract_proxy`] puts it in front of an upstream (moto, or
//! a fault proxy) so that refused requests never reach it and everything else passes through
//! unchanged.
//!
//! Only limits moto does not enforce itself, or enforces differently, are checked here; the
//! table in docs/local-fidelity.md says which. Every limit names the docs.aws.amazon.com page
//! that states it ([`LIMITS`]).

use super::http_stub::{FaultProxy, StubRequest, StubResponse};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One request limit: what it is and where AWS documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub id: &'static str,
    /// The operations it applies to.
    pub operations: &'static str,
    pub rule: &'static str,
    pub url: &'static str,
}

const KINESIS_PUT_RECORDS: &str =
    "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html";
const KINESIS_ENTRY: &str =
    "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecordsRequestEntry.html";
const FIREHOSE_BATCH: &str =
    "https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html";
const GLUE_BATCH: &str =
    "https://docs.aws.amazon.com/glue/latest/webapi/API_BatchCreatePartition.html";
const GLUE_NAMES: &str = "https://docs.aws.amazon.com/glue/latest/webapi/API_GetTable.html";
const SECRET_CREATE: &str =
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html";
const SECRET_GET: &str =
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html";
const SECRET_PASSWORD: &str =
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html";
const SQS_SEND_BATCH: &str =
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html";
const SQS_DELETE_BATCH: &str =
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessageBatch.html";
const DYNAMODB_QUERY: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html";
const DATA_API_BATCH: &str =
    "https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_BatchExecuteStatement.html";
const DATA_API_EXECUTE: &str =
    "https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_ExecuteStatement.html";
const CLUSTER_CREDENTIALS: &str =
    "https://docs.aws.amazon.com/redshift/latest/APIReference/API_GetClusterCredentials.html";
const SERVERLESS_CREDENTIALS: &str =
    "https://docs.aws.amazon.com/redshift-serverless/latest/APIReference/API_GetCredentials.html";

/// Every limit [`check`] applies.
pub const LIMITS: &[Limit] = &[
    Limit {
        id: "kinesis-records-per-request",
        operations: "kinesis:PutRecords",
        rule: "1–500 records per request",
        url: KINESIS_PUT_RECORDS,
    },
    Limit {
        id: "kinesis-record-size",
        operations: "kinesis:PutRecords",
        rule: "data + partition key ≤ 1 MiB per record (the stream's default maximum record size)",
        url: KINESIS_ENTRY,
    },
    Limit {
        id: "kinesis-request-size",
        operations: "kinesis:PutRecords",
        rule: "≤ 10 MiB per request (data + partition keys)",
        url: KINESIS_PUT_RECORDS,
    },
    Limit {
        id: "kinesis-partition-key",
        operations: "kinesis:PutRecords",
        rule: "PartitionKey is 1–256 Unicode characters",
        url: KINESIS_ENTRY,
    },
    Limit {
        id: "kinesis-stream-name",
        operations: "kinesis:PutRecords",
        rule: "StreamName is 1–128 characters of [a-zA-Z0-9_.-]",
        url: KINESIS_PUT_RECORDS,
    },
    Limit {
        id: "firehose-records-per-request",
        operations: "firehose:PutRecordBatch",
        rule: "1–500 records per request",
        url: FIREHOSE_BATCH,
    },
    Limit {
        id: "firehose-record-size",
        operations: "firehose:PutRecordBatch",
        rule: "≤ 1,000 KiB per record before base64 encoding",
        url: FIREHOSE_BATCH,
    },
    Limit {
        id: "firehose-request-size",
        operations: "firehose:PutRecordBatch",
        rule: "≤ 4 MiB per request",
        url: FIREHOSE_BATCH,
    },
    Limit {
        id: "glue-partitions-per-call",
        operations: "glue:BatchCreatePartition",
        rule: "1–100 PartitionInputs per call",
        url: GLUE_BATCH,
    },
    Limit {
        id: "glue-name-length",
        operations: "glue:GetTable, glue:BatchCreatePartition, glue:StartCrawler, glue:GetCrawler",
        rule: "DatabaseName, TableName and Name are 1–255 characters",
        url: GLUE_NAMES,
    },
    Limit {
        id: "secret-name",
        operations: "secretsmanager:CreateSecret",
        rule: "Name is 1–512 characters of ASCII letters, digits and /_+=.@-",
        url: SECRET_CREATE,
    },
    Limit {
        id: "secret-string-size",
        operations: "secretsmanager:CreateSecret, secretsmanager:PutSecretValue",
        rule: "SecretString ≤ 65,536 bytes",
        url: SECRET_CREATE,
    },
    Limit {
        id: "secret-id-length",
        operations: "secretsmanager:GetSecretValue, DescribeSecret, PutSecretValue, UpdateSecretVersionStage",
        rule: "SecretId is 1–2048 characters",
        url: SECRET_GET,
    },
    Limit {
        id: "secret-request-token",
        operations: "secretsmanager:CreateSecret, secretsmanager:PutSecretValue",
        rule: "ClientRequestToken is 32–64 characters",
        url: SECRET_CREATE,
    },
    Limit {
        id: "secret-password-length",
        operations: "secretsmanager:GetRandomPassword",
        rule: "PasswordLength is 1–4096",
        url: SECRET_PASSWORD,
    },
    Limit {
        id: "sqs-batch-entries",
        operations: "sqs:SendMessageBatch, sqs:DeleteMessageBatch, sqs:ChangeMessageVisibilityBatch",
        rule: "1–10 entries per batch",
        url: SQS_DELETE_BATCH,
    },
    Limit {
        id: "sqs-batch-entry-ids",
        operations: "sqs:SendMessageBatch, sqs:DeleteMessageBatch, sqs:ChangeMessageVisibilityBatch",
        rule: "entry Ids are distinct, 1–80 characters of [A-Za-z0-9_-]",
        url: SQS_DELETE_BATCH,
    },
    Limit {
        id: "sqs-batch-size",
        operations: "sqs:SendMessageBatch",
        rule: "the message bodies of a batch total ≤ 1 MiB (1,048,576 bytes)",
        url: SQS_SEND_BATCH,
    },
    Limit {
        id: "dynamodb-table-name",
        operations: "dynamodb:Query, dynamodb:Scan",
        rule: "TableName is 3–255 characters of [a-zA-Z0-9_.-] (or a table ARN)",
        url: DYNAMODB_QUERY,
    },
    Limit {
        id: "dynamodb-limit",
        operations: "dynamodb:Query, dynamodb:Scan",
        rule: "Limit ≥ 1",
        url: DYNAMODB_QUERY,
    },
    Limit {
        id: "data-api-statements-per-batch",
        operations: "redshift-data:BatchExecuteStatement",
        rule: "Sqls holds 1–40 statements",
        url: DATA_API_BATCH,
    },
    Limit {
        id: "data-api-statement-size",
        operations: "redshift-data:ExecuteStatement, redshift-data:BatchExecuteStatement",
        rule: "one statement ≤ 100 KB",
        url: DATA_API_EXECUTE,
    },
    Limit {
        id: "redshift-db-user",
        operations: "redshift:GetClusterCredentials",
        rule: "DbUser is 1–64 characters and not PUBLIC",
        url: CLUSTER_CREDENTIALS,
    },
    Limit {
        id: "redshift-credential-duration",
        operations: "redshift:GetClusterCredentials",
        rule: "DurationSeconds is 900–3600",
        url: CLUSTER_CREDENTIALS,
    },
    Limit {
        id: "serverless-credential-duration",
        operations: "redshift-serverless:GetCredentials",
        rule: "durationSeconds is 900–3600",
        url: SERVERLESS_CREDENTIALS,
    },
];

/// The wire protocol of a request, which decides the error's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson 1.0 / 1.1: `{"__type": code, "message": …}`.
    Json(&'static str),
    /// awsQuery: `<ErrorResponse><Error><Code>…`.
    Query,
}

/// What AWS answers a request over a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub limit: &'static Limit,
    pub status: u16,
    pub code: String,
    pub message: String,
    pub protocol: Protocol,
}

impl Rejection {
    pub fn response(&self) -> StubResponse {
        match self.protocol {
            Protocol::Json(version) => {
                let mut r = StubResponse::json(
                    self.status,
                    &json!({"__type": self.code, "message": self.message}),
                );
                r.headers = vec![(
                    "content-type".into(),
                    format!("application/x-amz-json-{version}"),
                )];
                // awsJson SQS also names the legacy query code here (the SDK reads either).
                if let Some(code) = self.code.strip_prefix("com.amazonaws.sqs#") {
                    r.headers.push((
                        "x-amzn-query-error".into(),
                        format!("AWS.SimpleQueueService.{code};Sender"),
                    ));
                }
                r
            }
            Protocol::Query => {
                let body = format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>contract-check</RequestId></ErrorResponse>",
                    xml_escape(&self.code),
                    xml_escape(&self.message)
                );
                let mut r = StubResponse::new(self.status, body);
                r.headers.push(("content-type".into(), "text/xml".into()));
                r
            }
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}: {} — {}",
            self.limit.id, self.limit.rule, self.code, self.message, self.limit.url
        )
    }
}

fn limit(id: &str) -> &'static Limit {
    LIMITS.iter().find(|l| l.id == id).unwrap_or(&LIMITS[0])
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Bytes a base64 string decodes to, without decoding it (padded or not).
fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() * 3 / 4).saturating_sub(pad)
}

/// The message of AWS's model validation (Coral): "1 validation error detected: …".
fn constraint(value: Option<&str>, at: &str, constraint: &str) -> String {
    match value {
        Some(v) => format!("1 validation error detected: Value '{v}' at '{at}' failed to satisfy constraint: Member must {constraint}"),
        None => format!("1 validation error detected: Value at '{at}' failed to satisfy constraint: Member must {constraint}"),
    }
}

fn length_rule(min: usize, max: usize) -> String {
    format!("have length less than or equal to {max} and greater than or equal to {min}")
}

fn name_chars(name: &str, extra: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// A request in the shape [`check`] reads: the operation and its parameters as JSON (awsQuery
/// forms are turned into flat string members).
struct Call {
    service: &'static str,
    operation: String,
    body: Value,
    protocol: Protocol,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse(request: &StubRequest) -> Option<Call> {
    if let Some(target) = request.headers.get("x-amz-target") {
        let (prefix, operation) = target.split_once('.')?;
        let (service, version) = match prefix {
            "Kinesis_20131202" => ("kinesis", "1.1"),
            "Firehose_20150804" => ("firehose", "1.1"),
            "AWSGlue" => ("glue", "1.1"),
            "secretsmanager" => ("secretsmanager", "1.1"),
            "AmazonSQS" => ("sqs", "1.0"),
            "DynamoDB_20120810" => ("dynamodb", "1.0"),
            "RedshiftData" => ("redshift-data", "1.1"),
            "RedshiftServerless" => ("redshift-serverless", "1.1"),
            _ => return None,
        };
        // A body that is not JSON is left to the service to refuse (it would, as moto does).
        let body = serde_json::from_slice(&request.body).ok()?;
        return Some(Call {
            service,
            operation: operation.to_string(),
            body,
            protocol: Protocol::Json(version),
        });
    }
    let form = std::str::from_utf8(&request.body).ok()?;
    if !request
        .headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        return None;
    }
    let mut body = serde_json::Map::new();
    for pair in form.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        body.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
    let operation = body.get("Action")?.as_str()?.to_string();
    // Only Redshift's awsQuery operations are checked (the functions call no other).
    if operation != "GetClusterCredentials" {
        return None;
    }
    Some(Call {
        service: "redshift",
        operation,
        body: Value::Object(body),
        protocol: Protocol::Query,
    })
}

/// How many requests were checked and refused, by limit.
#[derive(Debug, Default)]
pub struct ContractCounts {
    /// AWS API requests the contract layer understood and checked.
    pub checked: AtomicU64,
    /// Requests that passed through without a check (S3 REST, unknown services).
    pub passed_unchecked: AtomicU64,
    pub refused: AtomicU64,
    /// Each refusal, as [`Rejection`]'s Display (the first 100).
    pub refusals: Mutex<Vec<String>>,
    /// Limit id → refusals.
    pub by_limit: Mutex<BTreeMap<&'static str, u64>>,
}

impl ContractCounts {
    pub fn checked(&self) -> u64 {
        self.checked.load(Ordering::SeqCst)
    }
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
    pub fn refusals(&self) -> Vec<String> {
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The rejection AWS would answer `request` with, or `None` when it is within every limit
/// (or is not a request this layer understands: it then passes unchecked).
pub fn check(request: &StubRequest) -> Option<Rejection> {
    let call = parse(request)?;
    check_call(&call)
}

/// [`check`], and whether the request was one this layer reads at all.
pub fn check_counted(request: &StubRequest) -> (bool, Option<Rejection>) {
    match parse(request) {
        Some(call) => (true, check_call(&call)),
        None => (false, None),
    }
}

fn check_call(call: &Call) -> Option<Rejection> {
    let b = &call.body;
    let refuse = |id: &str, code: &str, message: String| {
        Some(Rejection {
            limit: limit(id),
            status: 400,
            code: code.to_string(),
            message,
            protocol: call.protocol,
        })
    };
    let text = |key: &str| b.get(key).and_then(Value::as_str);
    let op = call.operation.as_str();
    match (call.service, op) {
        ("kinesis", "PutRecords") => {
            let records = b["Records"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if records.is_empty() || records.len() > 500 {
                return refuse(
                    "kinesis-records-per-request",
                    "ValidationException",
                    constraint(None, "records", &length_rule(1, 500)),
                );
            }
            if let Some(name) = text("StreamName") {
                if name.is_empty() || name.len() > 128 || !name_chars(name, "_.-") {
                    return refuse(
                        "kinesis-stream-name",
                        "ValidationException",
                        constraint(
                            Some(name),
                            "streamName",
                            "satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length less than or equal to 128",
                        ),
                    );
                }
            }
            let mut total = 0usize;
            for (i, r) in records.iter().enumerate() {
                let key = r["PartitionKey"].as_str().unwrap_or_default();
                let chars = key.chars().count();
                if !(1..=256).contains(&chars) {
                    return refuse(
                        "kinesis-partition-key",
                        "ValidationException",
                        constraint(
                            Some(key),
                            &format!("records.{}.member.partitionKey", i + 1),
                            &length_rule(1, 256),
                        ),
                    );
                }
                // The record-size limit counts the partition key's bytes with the data.
                let size = decoded_len(r["Data"].as_str().unwrap_or_default()) + key.len();
                if size > 1024 * 1024 {
                    return refuse(
                        "kinesis-record-size",
                        "ValidationException",
                        constraint(
                            None,
                            &format!("records.{}.member.data", i + 1),
                            "have length less than or equal to 1048576",
                        ),
                    );
                }
                total += size;
            }
            if total > 10 * 1024 * 1024 {
                return refuse(
                    "kinesis-request-size",
                    "InvalidArgumentException",
                    format!("Records size exceeds 10 MB limit ({total} bytes)"),
                );
            }
            None
        }
        ("firehose", "PutRecordBatch") => {
            let records = b["Records"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if records.is_empty() || records.len() > 500 {
                return refuse(
                    "firehose-records-per-request",
                    "ValidationException",
                    constraint(None, "records", &length_rule(1, 500)),
                );
            }
            let mut total = 0usize;
            for (i, r) in records.iter().enumerate() {
                let size = decoded_len(r["Data"].as_str().unwrap_or_default());
                if size > 1_024_000 {
                    return refuse(
                        "firehose-record-size",
                        "ValidationException",
                        constraint(
                            None,
                            &format!("records.{}.member.data", i + 1),
                            "have length less than or equal to 1024000",
                        ),
                    );
                }
                total += size;
            }
            if total > 4 * 1024 * 1024 {
                return refuse(
                    "firehose-request-size",
                    "InvalidArgumentException",
                    format!("Records size exceeds 4 MiB limit ({total} bytes)"),
                );
            }
            None
        }
        ("glue", "BatchCreatePartition" | "GetTable" | "StartCrawler" | "GetCrawler") => {
            for (key, at) in [
                ("DatabaseName", "databaseName"),
                ("TableName", "tableName"),
                ("Name", "name"),
            ] {
                if let Some(v) = text(key) {
                    if v.is_empty() || v.chars().count() > 255 {
                        return refuse(
                            "glue-name-length",
                            "ValidationException",
                            constraint(Some(v), at, &length_rule(1, 255)),
                        );
                    }
                }
            }
            if op == "BatchCreatePartition" {
                let n = b["PartitionInputList"].as_array().map_or(0, Vec::len);
                if !(1..=100).contains(&n) {
                    return refuse(
                        "glue-partitions-per-call",
                        "ValidationException",
                        constraint(None, "partitionInputList", &length_rule(1, 100)),
                    );
                }
            }
            None
        }
        ("secretsmanager", _) => {
            if op == "CreateSecret" {
                let name = text("Name").unwrap_or_default();
                if name.is_empty() || name.len() > 512 {
                    return refuse(
                        "secret-name",
                        "ValidationException",
                        constraint(Some(name), "name", &length_rule(1, 512)),
                    );
                }
                if !name_chars(name, "/_+=.@-") {
                    return refuse(
                        "secret-name",
                        "InvalidParameterException",
                        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!".into(),
                    );
                }
            }
            if matches!(
                op,
                "GetSecretValue" | "DescribeSecret" | "PutSecretValue" | "UpdateSecretVersionStage"
            ) {
                let id = text("SecretId").unwrap_or_default();
                if id.is_empty() || id.len() > 2048 {
                    return refuse(
                        "secret-id-length",
                        "ValidationException",
                        constraint(Some(id), "secretId", &length_rule(1, 2048)),
                    );
                }
            }
            if matches!(op, "CreateSecret" | "PutSecretValue") {
                if let Some(s) = text("SecretString") {
                    if s.len() > 65_536 {
                        return refuse(
                            "secret-string-size",
                            "ValidationException",
                            constraint(
                                None,
                                "secretString",
                                "have length less than or equal to 65536",
                            ),
                        );
                    }
                }
                if let Some(token) = text("ClientRequestToken") {
                    if !(32..=64).contains(&token.len()) {
                        return refuse(
                            "secret-request-token",
                            "ValidationException",
                            constraint(Some(token), "clientRequestToken", &length_rule(32, 64)),
                        );
                    }
                }
            }
            if op == "GetRandomPassword" {
                if let Some(n) = b.get("PasswordLength").and_then(Value::as_i64) {
                    if !(1..=4096).contains(&n) {
                        return refuse(
                            "secret-password-length",
                            "ValidationException",
                            constraint(
                                Some(&n.to_string()),
                                "passwordLength",
                                "have value less than or equal to 4096 and greater than or equal to 1",
                            ),
                        );
                    }
                }
            }
            None
        }
        ("sqs", "SendMessageBatch" | "DeleteMessageBatch" | "ChangeMessageVisibilityBatch") => {
            let entries = b["Entries"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let kind = op.trim_end_matches("Batch");
            if entries.is_empty() {
                return refuse(
                    "sqs-batch-entries",
                    "com.amazonaws.sqs#EmptyBatchRequest",
                    format!("There should be at least one {kind}BatchRequestEntry in the request."),
                );
            }
            if entries.len() > 10 {
                return refuse(
                    "sqs-batch-entries",
                    "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
                    format!(
                        "Maximum number of entries per request are 10. You have sent {}.",
                        entries.len()
                    ),
                );
            }
            let mut ids = std::collections::HashSet::new();
            for e in entries {
                let id = e["Id"].as_str().unwrap_or_default();
                if id.is_empty() || id.len() > 80 || !name_chars(id, "_-") {
                    return refuse(
                        "sqs-batch-entry-ids",
                        "com.amazonaws.sqs#InvalidBatchEntryId",
                        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.".into(),
                    );
                }
                if !ids.insert(id) {
                    return refuse(
                        "sqs-batch-entry-ids",
                        "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
                        format!("Id {id} repeated."),
                    );
                }
            }
            if op == "SendMessageBatch" {
                let total: usize = entries
                    .iter()
                    .map(|e| e["MessageBody"].as_str().map_or(0, str::len))
                    .sum();
                if total > 1_048_576 {
                    return refuse(
                        "sqs-batch-size",
                        "com.amazonaws.sqs#BatchRequestTooLong",
                        format!("Batch requests cannot be longer than 1048576 bytes. You have sent {total} bytes."),
                    );
                }
            }
            None
        }
        ("dynamodb", "Query" | "Scan") => {
            // DynamoDB names its model validation error with Coral's full type.
            let code = "com.amazon.coral.validate#ValidationException";
            let table = text("TableName").unwrap_or_default();
            let is_arn = table.starts_with("arn:");
            if !is_arn && (!(3..=255).contains(&table.len()) || !name_chars(table, "_.-")) {
                return refuse(
                    "dynamodb-table-name",
                    code,
                    constraint(
                        Some(table),
                        "tableName",
                        "satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255",
                    ),
                );
            }
            if let Some(n) = b.get("Limit").and_then(Value::as_i64) {
                if n < 1 {
                    return refuse(
                        "dynamodb-limit",
                        code,
                        constraint(
                            Some(&n.to_string()),
                            "limit",
                            "have value greater than or equal to 1",
                        ),
                    );
                }
            }
            None
        }
        ("redshift-data", "BatchExecuteStatement" | "ExecuteStatement") => {
            // The same limits and messages as redshift-config's Data API fake
            // (functions/redshift-config/tests/common/data_api_fake.rs `refuse`).
            let sqls: Vec<&str> = if op == "ExecuteStatement" {
                text("Sql").into_iter().collect()
            } else {
                let sqls: Vec<&str> = b["Sqls"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !(1..=40).contains(&sqls.len()) {
                    return refuse(
                        "data-api-statements-per-batch",
                        "ValidationException",
                        format!(
                            "{} (got {})",
                            constraint(None, "sqls", &length_rule(1, 40)),
                            sqls.len()
                        ),
                    );
                }
                sqls
            };
            sqls.iter().find(|s| s.len() > 100 * 1024).and_then(|s| {
                refuse(
                    "data-api-statement-size",
                    "ValidationException",
                    format!(
                        "Query statement exceeds the maximum size of 100 KB ({} bytes)",
                        s.len()
                    ),
                )
            })
        }
        ("redshift", "GetClusterCredentials") => {
            let user = text("DbUser").unwrap_or_default();
            if user.is_empty() || user.chars().count() > 64 || user.eq_ignore_ascii_case("public") {
                return refuse(
                    "redshift-db-user",
                    "InvalidParameterValue",
                    format!("DbUser '{user}' must be 1 to 64 characters and must not be PUBLIC."),
                );
            }
            if let Some(d) = text("DurationSeconds") {
                match d.parse::<i64>() {
                    Ok(n) if (900..=3600).contains(&n) => {}
                    _ => {
                        return refuse(
                            "redshift-credential-duration",
                            "InvalidParameterValue",
                            format!(
                            "DurationSeconds {d} is out of range: it must be between 900 and 3600."
                        ),
                        )
                    }
                }
            }
            None
        }
        ("redshift-serverless", "GetCredentials") => {
            if let Some(n) = b.get("durationSeconds").and_then(Value::as_i64) {
                if !(900..=3600).contains(&n) {
                    return refuse(
                        "serverless-credential-duration",
                        "ValidationException",
                        constraint(
                            Some(&n.to_string()),
                            "durationSeconds",
                            "have value less than or equal to 3600 and greater than or equal to 900",
                        ),
                    );
                }
            }
            None
        }
        _ => None,
    }
}

/// A proxy in front of `upstream` (moto, or another proxy) that answers requests over an AWS
/// limit itself, as AWS would, and forwards the rest unchanged.
pub async fn contract_proxy(upstream: &str) -> std::io::Result<(FaultProxy, Arc<ContractCounts>)> {
    let counts = Arc::new(ContractCounts::default());
    let seen = counts.clone();
    let on_request = Arc::new(move |request: &mut StubRequest| {
        let (understood, rejection) = check_counted(request);
        if !understood {
            seen.passed_unchecked.fetch_add(1, Ordering::SeqCst);
            return Ok(None);
        }
        seen.checked.fetch_add(1, Ordering::SeqCst);
        let Some(rejection) = rejection else {
            return Ok(None);
        };
        seen.refused.fetch_add(1, Ordering::SeqCst);
        *seen
            .by_limit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(rejection.limit.id)
            .or_default() += 1;
        let mut refusals = seen.refusals.lock().unwrap_or_else(|p| p.into_inner());
        if refusals.len() < 100 {
            refusals.push(rejection.to_string());
        }
        Err(rejection.response())
    });
    let proxy = FaultProxy::start(upstream, on_request, Arc::new(|_, _, _| {})).await?;
    Ok((proxy, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpStub;

    fn aws_json(target: &str, body: Value) -> StubRequest {
        StubRequest {
            method: "POST".into(),
            path: "/".into(),
            headers: [
                ("x-amz-target".to_string(), target.to_string()),
                (
                    "content-type".to_string(),
                    "application/x-amz-json-1.1".to_string(),
                ),
            ]
            .into(),
            body: body.to_string().into_bytes(),
        }
    }

    fn aws_query(form: &str) -> StubRequest {
        StubRequest {
            method: "POST".into(),
            path: "/".into(),
            headers: [(
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            )]
            .into(),
            body: form.as_bytes().to_vec(),
        }
    }

    /// Base64 text that decodes to exactly `bytes` bytes.
    fn b64(bytes: usize) -> String {
        let mut s = "AAAA".repeat(bytes / 3);
        match bytes % 3 {
            1 => s.push_str("AA=="),
            2 => s.push_str("AAA="),
            _ => {}
        }
        s
    }

    fn records(n: usize, data_bytes: usize, key: &str) -> Value {
        let data = b64(data_bytes);
        Value::Array(
            (0..n)
                .map(|_| json!({"Data": data, "PartitionKey": key}))
                .collect(),
        )
    }

    fn entries(n: usize) -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"Id": i.to_string(), "ReceiptHandle": "h", "MessageBody": "b"}))
                .collect(),
        )
    }

    const MIB: usize = 1024 * 1024;

    /// (limit, request over it, the code AWS answers with).
    fn over_limit() -> Vec<(&'static str, StubRequest, &'static str)> {
        let put = |records: Value| {
            aws_json(
                "Kinesis_20131202.PutRecords",
                json!({"StreamName": "s", "Records": records}),
            )
        };
        let batch = |records: Value| {
            aws_json(
                "Firehose_20150804.PutRecordBatch",
                json!({"DeliveryStreamName": "d", "Records": records}),
            )
        };
        let partitions = |n: usize| {
            aws_json(
                "AWSGlue.BatchCreatePartition",
                json!({"DatabaseName": "db", "TableName": "t",
                       "PartitionInputList": vec![json!({"Values": ["a"]}); n]}),
            )
        };
        let sm = |op: &str, body: Value| aws_json(&format!("secretsmanager.{op}"), body);
        let sqs = |op: &str, entries: Value| {
            aws_json(
                &format!("AmazonSQS.{op}"),
                json!({"QueueUrl": "q", "Entries": entries}),
            )
        };
        let big_body = "x".repeat(110 * 1024);
        vec![
            ("kinesis-records-per-request", put(records(501, 1, "k")), "ValidationException"),
            ("kinesis-records-per-request", put(json!([])), "ValidationException"),
            ("kinesis-record-size", put(records(1, MIB, "k")), "ValidationException"),
            ("kinesis-request-size", put(records(11, MIB - 1, "k")), "InvalidArgumentException"),
            ("kinesis-partition-key", put(records(1, 1, &"k".repeat(257))), "ValidationException"),
            ("kinesis-partition-key", put(records(1, 1, "")), "ValidationException"),
            (
                "kinesis-stream-name",
                aws_json("Kinesis_20131202.PutRecords", json!({"StreamName": "a b", "Records": records(1, 1, "k")})),
                "ValidationException",
            ),
            ("firehose-records-per-request", batch(records(501, 1, "")), "ValidationException"),
            ("firehose-record-size", batch(records(1, 1_024_001, "")), "ValidationException"),
            ("firehose-request-size", batch(records(5, 1_000_000, "")), "InvalidArgumentException"),
            ("glue-partitions-per-call", partitions(101), "ValidationException"),
            ("glue-partitions-per-call", partitions(0), "ValidationException"),
            (
                "glue-name-length",
                aws_json("AWSGlue.GetTable", json!({"DatabaseName": "d".repeat(256), "Name": "t"})),
                "ValidationException",
            ),
            ("secret-name", sm("CreateSecret", json!({"Name": "redshift/t/$user"})), "InvalidParameterException"),
            ("secret-name", sm("CreateSecret", json!({"Name": "n".repeat(513)})), "ValidationException"),
            (
                "secret-string-size",
                sm("PutSecretValue", json!({"SecretId": "s", "SecretString": "x".repeat(65_537)})),
                "ValidationException",
            ),
            ("secret-id-length", sm("GetSecretValue", json!({"SecretId": ""})), "ValidationException"),
            (
                "secret-request-token",
                sm("PutSecretValue", json!({"SecretId": "s", "ClientRequestToken": "short"})),
                "ValidationException",
            ),
            ("secret-password-length", sm("GetRandomPassword", json!({"PasswordLength": 4097})), "ValidationException"),
            ("sqs-batch-entries", sqs("DeleteMessageBatch", entries(11)), "com.amazonaws.sqs#TooManyEntriesInBatchRequest"),
            ("sqs-batch-entries", sqs("SendMessageBatch", entries(0)), "com.amazonaws.sqs#EmptyBatchRequest"),
            (
                "sqs-batch-entry-ids",
                sqs("DeleteMessageBatch", json!([{"Id": "a", "ReceiptHandle": "h"}, {"Id": "a", "ReceiptHandle": "h"}])),
                "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
            ),
            (
                "sqs-batch-entry-ids",
                sqs("DeleteMessageBatch", json!([{"Id": "a.b", "ReceiptHandle": "h"}])),
                "com.amazonaws.sqs#InvalidBatchEntryId",
            ),
            (
                "sqs-batch-size",
                sqs("SendMessageBatch", Value::Array((0..10).map(|i| json!({"Id": i.to_string(), "MessageBody": big_body})).collect())),
                "com.amazonaws.sqs#BatchRequestTooLong",
            ),
            (
                "dynamodb-table-name",
                aws_json("DynamoDB_20120810.Query", json!({"TableName": "ab"})),
                "com.amazon.coral.validate#ValidationException",
            ),
            (
                "dynamodb-limit",
                aws_json("DynamoDB_20120810.Scan", json!({"TableName": "table", "Limit": 0})),
                "com.amazon.coral.validate#ValidationException",
            ),
            (
                "data-api-statements-per-batch",
                aws_json("RedshiftData.BatchExecuteStatement", json!({"Sqls": vec!["select 1"; 41]})),
                "ValidationException",
            ),
            (
                "data-api-statement-size",
                aws_json("RedshiftData.ExecuteStatement", json!({"Sql": "x".repeat(100 * 1024 + 1)})),
                "ValidationException",
            ),
            (
                "redshift-db-user",
                aws_query(&format!("Action=GetClusterCredentials&Version=2012-12-01&ClusterIdentifier=c&DbUser={}", "u".repeat(65))),
                "InvalidParameterValue",
            ),
            (
                "redshift-db-user",
                aws_query("Action=GetClusterCredentials&ClusterIdentifier=c&DbUser=PUBLIC"),
                "InvalidParameterValue",
            ),
            (
                "redshift-credential-duration",
                aws_query("Action=GetClusterCredentials&ClusterIdentifier=c&DbUser=admin&DurationSeconds=600"),
                "InvalidParameterValue",
            ),
            (
                "serverless-credential-duration",
                aws_json("RedshiftServerless.GetCredentials", json!({"workgroupName": "w", "durationSeconds": 7200})),
                "ValidationException",
            ),
        ]
    }

    #[test]
    fn every_limit_fires_with_the_services_error_code() {
        let mut fired = std::collections::BTreeSet::new();
        for (id, request, code) in over_limit() {
            let r = check(&request).unwrap_or_else(|| panic!("{id}: not refused"));
            assert_eq!(r.limit.id, id, "{r}");
            assert_eq!(r.code, code, "{id}: {r}");
            assert_eq!(r.status, 400);
            assert!(
                r.limit.url.starts_with("https://docs.aws.amazon.com/"),
                "{id}"
            );
            fired.insert(id);
        }
        let all: std::collections::BTreeSet<&str> = LIMITS.iter().map(|l| l.id).collect();
        assert_eq!(fired, all, "every limit has a request that breaks it");
    }

    #[test]
    fn requests_at_the_limits_pass() {
        let within = [
            aws_json(
                "Kinesis_20131202.PutRecords",
                json!({"StreamName": "s.1-a_b", "Records": records(500, 10, &"k".repeat(256))}),
            ),
            aws_json(
                "Kinesis_20131202.PutRecords",
                json!({"StreamARN": "arn:aws:kinesis:us-east-1:1:stream/s", "Records": records(1, MIB - 1, "k")}),
            ),
            aws_json(
                "Kinesis_20131202.PutRecords",
                json!({"Records": records(10, MIB - 1, "k")}),
            ),
            aws_json(
                "Firehose_20150804.PutRecordBatch",
                json!({"Records": records(4, 1_024_000, "")}),
            ),
            aws_json(
                "AWSGlue.BatchCreatePartition",
                json!({"DatabaseName": "db", "TableName": "t", "PartitionInputList": vec![json!({}); 100]}),
            ),
            aws_json(
                "secretsmanager.CreateSecret",
                json!({"Name": "redshift/t/jane_+=.@-", "SecretString": "x".repeat(65_536), "ClientRequestToken": "0".repeat(36)}),
            ),
            aws_json(
                "secretsmanager.GetRandomPassword",
                json!({"PasswordLength": 32}),
            ),
            aws_json(
                "AmazonSQS.DeleteMessageBatch",
                json!({"Entries": entries(10)}),
            ),
            aws_json(
                "DynamoDB_20120810.Query",
                json!({"TableName": "ferrolake-demo-RedshiftConfigTable", "Limit": 1}),
            ),
            aws_json(
                "DynamoDB_20120810.Query",
                json!({"TableName": "arn:aws:dynamodb:us-east-1:1:table/t"}),
            ),
            aws_json(
                "RedshiftData.BatchExecuteStatement",
                json!({"Sqls": vec!["select 1"; 40]}),
            ),
            aws_query(
                "Action=GetClusterCredentials&ClusterIdentifier=c&DbUser=admin&DurationSeconds=900",
            ),
            aws_json(
                "RedshiftServerless.GetCredentials",
                json!({"durationSeconds": 3600}),
            ),
            // Not an operation with limits here: passes unchecked.
            aws_json("Kinesis_20131202.ListShards", json!({})),
        ];
        for request in within {
            assert_eq!(
                check(&request),
                None,
                "{}",
                String::from_utf8_lossy(&request.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
        }
        let (understood, _) = check_counted(&StubRequest {
            method: "PUT".into(),
            path: "/bucket/key".into(),
            headers: Default::default(),
            body: b"object".to_vec(),
        });
        assert!(!understood, "S3 REST requests are not read");
    }

    #[test]
    fn rejections_have_the_wire_shape_of_their_protocol() {
        let json_reject = check(&aws_json(
            "AWSGlue.BatchCreatePartition",
            json!({"DatabaseName": "d", "TableName": "t", "PartitionInputList": vec![json!({}); 101]}),
        ))
        .unwrap();
        let response = json_reject.response();
        assert_eq!(response.status, 400);
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["__type"], "ValidationException");
        assert_eq!(
            body["message"],
            "1 validation error detected: Value at 'partitionInputList' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1"
        );
        assert!(response
            .headers
            .contains(&("content-type".into(), "application/x-amz-json-1.1".into())));
        let sqs = check(&aws_json(
            "AmazonSQS.DeleteMessageBatch",
            json!({"Entries": entries(11)}),
        ))
        .unwrap()
        .response();
        assert!(sqs.headers.contains(&(
            "x-amzn-query-error".into(),
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender".into()
        )));
        let query = check(&aws_query(
            "Action=GetClusterCredentials&DbUser=a%20%26b&DurationSeconds=10",
        ))
        .unwrap()
        .response();
        let text = String::from_utf8(query.body).unwrap();
        assert!(
            text.starts_with(
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code>"
            ),
            "{text}"
        );
        assert!(text.contains("DurationSeconds 10"), "{text}");
    }

    #[tokio::test]
    async fn the_proxy_answers_refused_requests_itself_and_forwards_the_rest() {
        let hits = Arc::new(AtomicU64::new(0));
        let seen = hits.clone();
        let upstream = HttpStub::start(move |_| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                StubResponse::json(200, &json!({"FailedRecordCount": 0, "Records": []}))
            }
        })
        .await
        .unwrap();
        let (proxy, counts) = contract_proxy(&upstream.url()).await.unwrap();
        let address = proxy.url().trim_start_matches("http://").to_string();
        let too_many = aws_json(
            "Kinesis_20131202.PutRecords",
            json!({"StreamName": "s", "Records": records(501, 1, "k")}),
        );
        let fine = aws_json(
            "Kinesis_20131202.PutRecords",
            json!({"StreamName": "s", "Records": records(2, 1, "k")}),
        );
        let refused = super::super::http_stub::forward(&address, &too_many)
            .await
            .unwrap();
        assert_eq!(refused.status, 400);
        let body: Value = serde_json::from_slice(&refused.body).unwrap();
        assert_eq!(body["__type"], "ValidationException");
        let passed = super::super::http_stub::forward(&address, &fine)
            .await
            .unwrap();
        assert_eq!(passed.status, 200);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the refused request never reached moto"
        );
        assert_eq!((counts.checked(), counts.refused()), (2, 1));
        assert!(
            counts.refusals()[0].starts_with("kinesis-records-per-request"),
            "{:?}",
            counts.refusals()
        );
    }
}
