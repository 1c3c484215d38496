//! Running SQL on a target, by one of two executors: [`direct`] (a PostgreSQL-protocol
//! connection with temporary admin credentials) or [`data_api`] (the Redshift Data API, for
//! deployments without VPC access), and [`any`], which picks the one each target names.
//!
//! This module holds what every executor shares: the [`Statement`]s a plan consists of, the
//! [`Session`] that reads catalog rows and applies statements, the [`Connector`] that opens
//! sessions for a target, and their errors. The executors use it; it uses none of them.

pub mod any;
pub mod data_api;
pub mod direct;

use crate::desired::{SslMode, Target};

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

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{api} for target {target} failed ({code}): {source}")]
    Credentials {
        api: &'static str,
        target: String,
        code: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{api} for target {target} returned no {field}")]
    Incomplete {
        api: &'static str,
        target: String,
        field: &'static str,
    },
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretStoreError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{0}")]
    Unsupported(String),
}

/// Where a database listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub sslmode: SslMode,
}

/// Connections for a target.
#[allow(async_fn_in_trait)]
pub trait Connector {
    type Session: Session;
    async fn admin(&self, target: &Target, database: &str) -> Result<Self::Session, ConnectError>;
    /// Log in as a user with a password (rotation: testSecret and single-user setSecret).
    async fn user(
        &self,
        endpoint: &Endpoint,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<Self::Session, ConnectError>;
}
