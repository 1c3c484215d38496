//! A small Redshift Data API (awsJson 1.1) backed by the throwaway PostgreSQL: moto's
//! redshift-data never reaches FINISHED, so the Data API executor is tested against this.
//! ExecuteStatement runs one statement; BatchExecuteStatement runs its statements in one
//! transaction (all or nothing, as the real service does); DescribeStatement and
//! GetStatementResult report what happened. Authentication is not emulated: statements run
//! as the PostgreSQL superuser; the auth fields each request carried are recorded.
//! The request limits the real service applies are applied here, with its error shape: a
//! BatchExecuteStatement takes 1–40 statements, and a statement at most 100 KB
//! (https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_BatchExecuteStatement.html,
//! https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html).

use ferrolake_local_aws::{postgres, HttpStub, StubRequest, StubResponse};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct DataApiFake {
    pub stub: HttpStub,
    /// Every request body, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
}

type Statements = Arc<Mutex<HashMap<String, (Value, Value)>>>;

impl DataApiFake {
    pub async fn start() -> std::io::Result<Self> {
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let statements: Statements = Arc::default();
        let (r, s) = (requests.clone(), statements.clone());
        let stub = HttpStub::start(move |req: StubRequest| {
            let (requests, statements) = (r.clone(), s.clone());
            async move { handle(req, requests, statements).await }
        })
        .await?;
        Ok(Self { stub, requests })
    }

    pub fn sql_seen(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests
            .iter()
            .flat_map(|r| {
                let mut all: Vec<String> = r["Sqls"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                all.extend(r["Sql"].as_str().map(String::from));
                all
            })
            .collect()
    }
}

fn reply(body: Value) -> StubResponse {
    let mut r = StubResponse::new(200, body.to_string());
    r.headers
        .push(("content-type".into(), "application/x-amz-json-1.1".into()));
    r
}

fn error(code: &str, message: &str) -> StubResponse {
    let mut r = StubResponse::new(400, json!({"__type": code, "message": message}).to_string());
    r.headers
        .push(("content-type".into(), "application/x-amz-json-1.1".into()));
    r
}

async fn run(database: &str, sqls: &[String], batch: bool) -> (Value, Value) {
    let id = format!("{:x}", rand_id());
    let client = match postgres().connect(database).await {
        Ok(c) => c,
        Err(e) => {
            return (
                json!({"Id": id, "Status": "FAILED", "Error": e.to_string()}),
                json!({"Records": []}),
            )
        }
    };
    let mut subs = Vec::new();
    let mut records = Vec::new();
    let mut failure = None;
    if batch {
        let _ = client.batch_execute("BEGIN").await;
    }
    for (i, sql) in sqls.iter().enumerate() {
        match client.simple_query(sql).await {
            Ok(messages) => {
                subs.push(json!({"Id": format!("{id}:{}", i + 1), "Status": "FINISHED"}));
                for m in messages {
                    if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
                        records.push(Value::Array(
                            (0..row.len())
                                .map(|c| match row.get(c) {
                                    Some(v) => json!({"stringValue": v}),
                                    None => json!({"isNull": true}),
                                })
                                .collect(),
                        ));
                    }
                }
            }
            Err(e) => {
                let message = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string());
                subs.push(
                    json!({"Id": format!("{id}:{}", i + 1), "Status": "FAILED", "Error": message}),
                );
                failure = Some(message);
                break;
            }
        }
    }
    if batch {
        let end = if failure.is_some() {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        let _ = client.batch_execute(end).await;
    }
    let mut describe = json!({"Id": id, "Status": if failure.is_some() { "FAILED" } else { "FINISHED" },
                              "HasResultSet": !batch && failure.is_none(), "SubStatements": if batch { Value::Array(subs) } else { json!([]) }});
    if let Some(message) = failure {
        describe["Error"] = json!(message);
    }
    (
        describe,
        json!({"Records": records, "TotalNumRows": records.len()}),
    )
}

/// The Data API's ValidationException for a request over its limits.
fn refuse(sqls: &[String], batch: bool) -> Option<StubResponse> {
    if batch && !(1..=40).contains(&sqls.len()) {
        return Some(error(
            "ValidationException",
            &format!("1 validation error detected: Value at 'sqls' failed to satisfy constraint: Member must have length less than or equal to 40 and greater than or equal to 1 (got {})", sqls.len()),
        ));
    }
    sqls.iter().find(|s| s.len() > 100 * 1024).map(|s| {
        error(
            "ValidationException",
            &format!(
                "Query statement exceeds the maximum size of 100 KB ({} bytes)",
                s.len()
            ),
        )
    })
}

fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    (u128::from(std::process::id()) << 64) | u128::from(NEXT.fetch_add(1, Ordering::SeqCst))
}

async fn handle(
    req: StubRequest,
    requests: Arc<Mutex<Vec<Value>>>,
    statements: Statements,
) -> StubResponse {
    let op = req
        .headers
        .get("x-amz-target")
        .map(|t| t.trim_start_matches("RedshiftData.").to_string())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(body.clone());
    let database = body["Database"].as_str().unwrap_or_default().to_string();
    match op.as_str() {
        "ExecuteStatement" | "BatchExecuteStatement" => {
            let batch = op == "BatchExecuteStatement";
            let sqls: Vec<String> = if batch {
                body["Sqls"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                body["Sql"]
                    .as_str()
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default()
            };
            if let Some(refusal) = refuse(&sqls, batch) {
                return refusal;
            }
            let (describe, result) = run(&database, &sqls, batch).await;
            let id = describe["Id"].as_str().unwrap_or_default().to_string();
            statements
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), (describe, result));
            reply(json!({"Id": id, "Database": database}))
        }
        "DescribeStatement" | "GetStatementResult" => {
            let id = body["Id"].as_str().unwrap_or_default();
            let found = statements
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .cloned();
            match found {
                Some((describe, result)) => reply(if op == "DescribeStatement" {
                    describe
                } else {
                    result
                }),
                None => error("ResourceNotFoundException", "no such statement"),
            }
        }
        other => error(
            "ValidationException",
            &format!("the fake does not implement {other}"),
        ),
    }
}
