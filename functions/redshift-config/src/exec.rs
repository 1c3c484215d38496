//! Running SQL: a [`Session`] reads catalog rows and applies a list of statements in one
//! transaction. [`PgSession`] is the direct connection (tokio-postgres, TLS verify-full by
//! default); rows are read with the simple-query protocol, so no type lookups happen
//! (Redshift lacks some of the catalogs tokio-postgres would consult).

use crate::config::SslMode;
use std::time::Duration;

/// One planned statement: the SQL to run and the same with secrets redacted (what plans,
/// reports and logs show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub redacted: String,
}

impl Statement {
    pub fn new(sql: String) -> Self {
        Self {
            redacted: sql.clone(),
            sql,
        }
    }

    /// A statement whose SQL carries a secret; `redacted` replaces it.
    pub fn secret(sql: String, redacted: String) -> Self {
        Self { sql, redacted }
    }

    /// A server's error text for this statement, safe to report: error texts can quote the
    /// statement ("syntax error at or near …"), so none is passed on for one that carries a
    /// password hash.
    pub fn safe_error_text(&self, text: String) -> String {
        if self.sql == self.redacted {
            text
        } else {
            "(the error text is withheld: the statement carries a password hash)".into()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("could not connect to {host}:{port}/{database} as {user}: {source}")]
    Connect {
        host: String,
        port: u16,
        database: String,
        user: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("catalog query failed ({code}): {source}")]
    Query {
        code: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("statement {index} failed ({code}): {redacted}: {message}")]
    Statement {
        index: usize,
        code: String,
        redacted: String,
        message: String,
    },
    #[error("TLS setup failed")]
    Tls(#[source] ferrolake_shared::https::HttpsError),
    #[error("Redshift Data API {action} failed ({code}): {message}")]
    DataApi {
        action: &'static str,
        code: String,
        message: String,
    },
    #[error("statement {index} failed through the Data API: {redacted}: {message}")]
    DataApiStatement {
        index: usize,
        redacted: String,
        message: String,
    },
}

impl ExecError {
    /// SQLSTATEs Redshift uses for conflicts a retry resolves (§2.6 of the spec).
    pub fn is_retryable(&self) -> bool {
        let code = match self {
            ExecError::Statement { code, .. } | ExecError::Query { code, .. } => code.as_str(),
            _ => return false,
        };
        matches!(code, "XX000" | "40P01" | "25P02" | "3F000" | "40001")
    }
}

/// A connection to one database.
#[allow(async_fn_in_trait)]
pub trait Session {
    /// Rows of a catalog query, every column as text (NULL → `None`).
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ExecError>;
    /// Run `statements` in order. A direct connection runs them in one transaction (all or
    /// nothing); the Data API in consecutive transactions of at most 40 (each all or
    /// nothing; an error stops at the failing one). Either way a re-plan converges.
    async fn apply(&mut self, statements: &[Statement]) -> Result<(), ExecError>;
}

/// Where and as whom to connect.
#[derive(Clone)]
pub struct ConnectParams {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub sslmode: SslMode,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for ConnectParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

pub struct PgSession {
    client: tokio_postgres::Client,
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map_or_else(|| "no SQLSTATE".into(), |c| c.code().to_string())
}

impl PgSession {
    pub async fn connect(params: &ConnectParams, database: &str) -> Result<Self, ExecError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&params.host)
            .port(params.port)
            .user(&params.user)
            .password(params.password.as_bytes())
            .dbname(database)
            .connect_timeout(params.connect_timeout)
            .application_name("ferrolake-redshift-config");
        let connect_error = |source| ExecError::Connect {
            host: params.host.clone(),
            port: params.port,
            database: database.to_string(),
            user: params.user.clone(),
            source,
        };
        let client = match params.sslmode {
            SslMode::Disable => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(connect_error)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                client
            }
            SslMode::VerifyFull => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let (client, connection) = config.connect(tls()?).await.map_err(connect_error)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                client
            }
        };
        Ok(Self { client })
    }
}

/// The shared TLS configuration ([`ferrolake_shared::https`]: Redshift's certificates chain
/// to Amazon's roots, which are among the Mozilla roots); host names are verified.
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, ExecError> {
    let config = ferrolake_shared::https::tls_config().map_err(ExecError::Tls)?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(
        (*config).clone(),
    ))
}

impl Session for PgSession {
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ExecError> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(|source| ExecError::Query {
                code: code(&source),
                source,
            })?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    async fn apply(&mut self, statements: &[Statement]) -> Result<(), ExecError> {
        let failed = |index: usize, statement: Option<&Statement>, e: tokio_postgres::Error| {
            let message = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string());
            ExecError::Statement {
                index,
                code: code(&e),
                redacted: statement
                    .map_or("BEGIN/COMMIT", |s| s.redacted.as_str())
                    .to_string(),
                message: match statement {
                    Some(s) => s.safe_error_text(message),
                    None => message,
                },
            }
        };
        let tx = self
            .client
            .transaction()
            .await
            .map_err(|e| failed(0, None, e))?;
        for (index, statement) in statements.iter().enumerate() {
            if let Err(e) = tx.batch_execute(&statement.sql).await {
                // Dropping `tx` rolls back.
                return Err(failed(index, Some(statement), e));
            }
        }
        tx.commit()
            .await
            .map_err(|e| failed(statements.len(), None, e))
    }
}
