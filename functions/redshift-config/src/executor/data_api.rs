//! The second executor: the Redshift Data API, for deployments without VPC access to the
//! cluster. A `BatchExecuteStatement` runs its statements as one transaction, and takes at
//! most 40 of them, so a phase is applied as consecutive batches of at most 40: each batch
//! is all or nothing, and a failure stops the phase after the batches before it committed.
//! The plan is re-read from the catalogs on every run, so a retry converges from wherever it
//! stopped. Catalog reads are separate `ExecuteStatement`s, polled with backoff. Only md5
//! password hashes ever appear in statements (never clear passwords) — but the Data API
//! keeps SQL text for 24 h and shows it to callers with the same IAM identity, which the
//! README points out.

use super::{ConnectError, Connector, Endpoint, ExecError, Session, Statement};
use crate::desired::{Credentials, Target};
use aws_sdk_redshiftdata::types::{Field, StatusString};
use aws_sdk_redshiftdata::Client;
use ferrolake_shared::aws::error_code;
use std::time::Duration;

/// How the Data API authenticates, from the target's credentials.
#[derive(Debug, Clone)]
enum Auth {
    Cluster { cluster: String, db_user: String },
    Workgroup(String),
    Secret(String),
}

/// `BatchExecuteStatement` accepts 1–40 SQL statements.
pub const MAX_BATCH_STATEMENTS: usize = 40;
/// The Data API's quota on one query statement's size.
pub const MAX_STATEMENT_BYTES: usize = 100 * 1024;

pub struct DataApiSession {
    client: Client,
    auth: Auth,
    database: String,
    timeout: Duration,
}

macro_rules! authenticated {
    ($builder:expr, $auth:expr, $database:expr) => {{
        let builder = $builder.database($database);
        match $auth {
            Auth::Cluster { cluster, db_user } => {
                builder.cluster_identifier(cluster).db_user(db_user)
            }
            Auth::Workgroup(w) => builder.workgroup_name(w),
            Auth::Secret(s) => builder.secret_arn(s),
        }
    }};
}

fn api_error<E>(
    action: &'static str,
) -> impl FnOnce(aws_sdk_redshiftdata::error::SdkError<E>) -> ExecError
where
    E: aws_sdk_redshiftdata::error::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    move |e| ExecError::DataApi {
        action,
        code: error_code(&e).unwrap_or("no code").into(),
        message: e.to_string(),
    }
}

fn missing_id(action: &'static str) -> ExecError {
    ExecError::DataApi {
        action,
        code: "NoId".into(),
        message: "the response carried no statement id".into(),
    }
}

fn text(field: &Field) -> Option<String> {
    match field {
        Field::StringValue(s) => Some(s.clone()),
        Field::LongValue(n) => Some(n.to_string()),
        Field::DoubleValue(d) => Some(d.to_string()),
        Field::BooleanValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A finished statement's description, or the reason it did not finish.
enum Outcome {
    Finished {
        has_result_set: bool,
    },
    Failed {
        error: String,
        failed_sub_statement: Option<usize>,
    },
}

impl DataApiSession {
    async fn wait(&self, id: &str) -> Result<Outcome, ExecError> {
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let out = self
                .client
                .describe_statement()
                .id(id)
                .send()
                .await
                .map_err(api_error("DescribeStatement"))?;
            match out.status() {
                Some(StatusString::Finished) => {
                    return Ok(Outcome::Finished {
                        has_result_set: out.has_result_set().unwrap_or(false),
                    })
                }
                Some(StatusString::Failed) | Some(StatusString::Aborted) => {
                    let failed_sub_statement = out.sub_statements().iter().position(|s| {
                        matches!(
                            s.status(),
                            Some(aws_sdk_redshiftdata::types::StatementStatusString::Failed)
                        )
                    });
                    return Ok(Outcome::Failed {
                        error: out.error().unwrap_or("no error text").to_string(),
                        failed_sub_statement,
                    });
                }
                _ => {}
            }
            if started.elapsed() > self.timeout {
                return Err(ExecError::DataApi {
                    action: "DescribeStatement",
                    code: "Timeout".into(),
                    message: format!("statement {id} did not finish within {:?}", self.timeout),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }
}

impl Session for DataApiSession {
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ExecError> {
        let id = authenticated!(
            self.client.execute_statement().sql(sql),
            &self.auth,
            &self.database
        )
        .send()
        .await
        .map_err(api_error("ExecuteStatement"))?
        .id
        .ok_or_else(|| missing_id("ExecuteStatement"))?;
        match self.wait(&id).await? {
            Outcome::Failed { error, .. } => Err(ExecError::DataApi {
                action: "ExecuteStatement",
                code: "Failed".into(),
                message: error,
            }),
            Outcome::Finished {
                has_result_set: false,
            } => Ok(Vec::new()),
            Outcome::Finished {
                has_result_set: true,
            } => {
                let mut rows = Vec::new();
                let mut token = None;
                loop {
                    let page = self
                        .client
                        .get_statement_result()
                        .id(&id)
                        .set_next_token(token)
                        .send()
                        .await
                        .map_err(api_error("GetStatementResult"))?;
                    rows.extend(page.records().iter().map(|r| r.iter().map(text).collect()));
                    match page.next_token() {
                        Some(next) if !next.is_empty() => token = Some(next.to_string()),
                        _ => return Ok(rows),
                    }
                }
            }
        }
    }

    async fn apply(&mut self, statements: &[Statement]) -> Result<(), ExecError> {
        if let Some((index, s)) = statements
            .iter()
            .enumerate()
            .find(|(_, s)| s.sql.len() > MAX_STATEMENT_BYTES)
        {
            return Err(ExecError::DataApiStatement {
                index,
                redacted: s.redacted.chars().take(200).collect(),
                message: format!(
                    "the statement is {} bytes; the Data API takes at most {MAX_STATEMENT_BYTES}",
                    s.sql.len()
                ),
            });
        }
        for (chunk, batch) in statements.chunks(MAX_BATCH_STATEMENTS).enumerate() {
            self.apply_batch(chunk * MAX_BATCH_STATEMENTS, batch)
                .await?;
        }
        Ok(())
    }
}

impl DataApiSession {
    /// One BatchExecuteStatement (one transaction) of at most 40 statements; `first` is
    /// the index of its first statement in the phase, for error reports.
    async fn apply_batch(
        &mut self,
        first: usize,
        statements: &[Statement],
    ) -> Result<(), ExecError> {
        let mut batch = self.client.batch_execute_statement();
        for s in statements {
            batch = batch.sqls(&s.sql);
        }
        let id = authenticated!(batch, &self.auth, &self.database)
            .send()
            .await
            .map_err(api_error("BatchExecuteStatement"))?
            .id
            .ok_or_else(|| missing_id("BatchExecuteStatement"))?;
        match self.wait(&id).await? {
            Outcome::Finished { .. } => Ok(()),
            Outcome::Failed {
                error,
                failed_sub_statement,
            } => {
                let index = failed_sub_statement.unwrap_or(0);
                let statement = statements.get(index);
                Err(ExecError::DataApiStatement {
                    index: first + index,
                    redacted: statement.map_or_else(String::new, |s| s.redacted.clone()),
                    message: match statement {
                        Some(s) => s.safe_error_text(error),
                        None => error,
                    },
                })
            }
        }
    }
}

pub struct DataApiConnector {
    /// Built on the first Data API target (a stack may have none).
    pub client: ferrolake_shared::aws::LazyClient<Client>,
    /// Longest wait for one statement.
    pub timeout: Duration,
}

impl Connector for DataApiConnector {
    type Session = DataApiSession;

    async fn admin(&self, target: &Target, database: &str) -> Result<DataApiSession, ConnectError> {
        let auth = match &target.credentials {
            Credentials::Cluster { cluster_identifier } => Auth::Cluster {
                cluster: cluster_identifier.clone(),
                db_user: target.admin_user.clone(),
            },
            Credentials::Serverless { workgroup_name } => Auth::Workgroup(workgroup_name.clone()),
            Credentials::Secret { secret_arn } => Auth::Secret(secret_arn.clone()),
        };
        Ok(DataApiSession {
            client: (*self.client).clone(),
            auth,
            database: database.to_string(),
            timeout: self.timeout,
        })
    }

    async fn user(
        &self,
        _: &Endpoint,
        _: &str,
        user: &str,
        _: &str,
    ) -> Result<DataApiSession, ConnectError> {
        Err(ConnectError::Unsupported(format!(
            "logging in as {user} with a password needs a direct connection (the Data API authenticates with IAM or a secret); rotation runs over direct connections"
        )))
    }
}
