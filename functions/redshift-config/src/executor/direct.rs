//! The direct executor: a PostgreSQL-protocol connection ([`PgSession`]: tokio-postgres, TLS
//! verify-full by default) as an admin with temporary credentials per invocation
//! (GetClusterCredentials for a provisioned cluster, redshift-serverless GetCredentials) or
//! from an admin secret. Rows are read with the simple-query protocol, so no type lookups
//! happen (Redshift lacks some of the catalogs tokio-postgres would consult).

use super::{ConnectError, Connector, Endpoint, ExecError, Session, Statement};
use crate::desired::{Credentials, SslMode, Target};
use crate::secrets::RedshiftSecret;
use ferrolake_shared::aws::error_code;
use ferrolake_shared::secrets::{SecretError, SecretStore, SecretsManager};
use std::time::Duration;

/// Shortest allowed: credentials are used at once, and Lambda runs ≤ 15 minutes.
pub const CREDENTIAL_SECONDS: i32 = 900;

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

#[derive(Clone)]
/// The clients a direct login may need, each built on first use: a target is either a
/// provisioned cluster or a serverless workgroup, or signs in with a secret.
pub struct Aws {
    pub redshift: ferrolake_shared::aws::LazyClient<aws_sdk_redshift::Client>,
    pub serverless: ferrolake_shared::aws::LazyClient<aws_sdk_redshiftserverless::Client>,
    /// The shared secret seam's adapter (admin logins from a secret).
    pub secrets: SecretsManager,
}

pub struct DirectConnector {
    pub aws: Aws,
    pub connect_timeout: Duration,
}

impl DirectConnector {
    async fn admin_login(
        &self,
        target: &Target,
        database: &str,
    ) -> Result<(String, String), ConnectError> {
        let failed = |api: &'static str,
                      code: Option<&str>,
                      source: Box<dyn std::error::Error + Send + Sync>| {
            ConnectError::Credentials {
                api,
                target: target.name.clone(),
                code: code.unwrap_or("no code").to_string(),
                source,
            }
        };
        let incomplete = |api, field| ConnectError::Incomplete {
            api,
            target: target.name.clone(),
            field,
        };
        match &target.credentials {
            Credentials::Cluster { cluster_identifier } => {
                let api = "GetClusterCredentials";
                let out = self
                    .aws
                    .redshift
                    .get_cluster_credentials()
                    .cluster_identifier(cluster_identifier)
                    .db_user(&target.admin_user)
                    .db_name(database)
                    .duration_seconds(CREDENTIAL_SECONDS)
                    .auto_create(false)
                    .send()
                    .await
                    .map_err(|e| {
                        let code = error_code(&e).map(str::to_string);
                        failed(api, code.as_deref(), Box::new(e))
                    })?;
                // The login name carries the IAM: prefix; use it exactly as returned.
                Ok((
                    out.db_user.ok_or_else(|| incomplete(api, "DbUser"))?,
                    out.db_password
                        .ok_or_else(|| incomplete(api, "DbPassword"))?,
                ))
            }
            Credentials::Serverless { workgroup_name } => {
                let api = "redshift-serverless GetCredentials";
                let out = self
                    .aws
                    .serverless
                    .get_credentials()
                    .workgroup_name(workgroup_name)
                    .db_name(database)
                    .duration_seconds(CREDENTIAL_SECONDS)
                    .send()
                    .await
                    .map_err(|e| {
                        let code = error_code(&e).map(str::to_string);
                        failed(api, code.as_deref(), Box::new(e))
                    })?;
                Ok((
                    out.db_user.ok_or_else(|| incomplete(api, "dbUser"))?,
                    out.db_password
                        .ok_or_else(|| incomplete(api, "dbPassword"))?,
                ))
            }
            Credentials::Secret { secret_arn } => {
                let api = "GetSecretValue";
                let json = match self
                    .aws
                    .secrets
                    .get_version(secret_arn, None, "AWSCURRENT")
                    .await
                {
                    Ok(json) => json,
                    // A binary secret is not a Redshift secret (parsed as empty text).
                    Err(SecretError::NotAString { .. }) => String::new(),
                    Err(SecretError::Call { code, source, .. }) => {
                        return Err(failed(api, Some(&code), source))
                    }
                    Err(other) => {
                        let code = other.code().map(str::to_string);
                        return Err(failed(api, code.as_deref(), Box::new(other)));
                    }
                };
                let secret = RedshiftSecret::parse(secret_arn, &json)?;
                Ok((secret.username, secret.password))
            }
        }
    }

    fn params(&self, target: &Target, user: String, password: String) -> ConnectParams {
        ConnectParams {
            host: target.host.clone(),
            port: target.port,
            user,
            password,
            sslmode: target.sslmode,
            connect_timeout: self.connect_timeout,
        }
    }
}

impl Connector for DirectConnector {
    type Session = PgSession;

    async fn admin(&self, target: &Target, database: &str) -> Result<PgSession, ConnectError> {
        let (user, password) = self.admin_login(target, database).await?;
        Ok(PgSession::connect(&self.params(target, user, password), database).await?)
    }

    async fn user(
        &self,
        endpoint: &Endpoint,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<PgSession, ConnectError> {
        let params = ConnectParams {
            host: endpoint.host.clone(),
            port: endpoint.port,
            user: user.into(),
            password: password.into(),
            sslmode: endpoint.sslmode,
            connect_timeout: self.connect_timeout,
        };
        Ok(PgSession::connect(&params, database).await?)
    }
}
