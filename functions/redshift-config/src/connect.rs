//! Admin logins: temporary credentials per invocation (GetClusterCredentials for a
//! provisioned cluster, redshift-serverless GetCredentials) or an admin secret.

use crate::config::{Credentials, Target};
use crate::exec::{ConnectParams, ExecError, PgSession};
use crate::secrets::RedshiftSecret;
use ferrolake_shared::aws::error_code;
use std::time::Duration;

/// Shortest allowed: credentials are used at once, and Lambda runs ≤ 15 minutes.
pub const CREDENTIAL_SECONDS: i32 = 900;

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
    pub sslmode: crate::config::SslMode,
}

#[derive(Clone)]
pub struct Aws {
    pub redshift: aws_sdk_redshift::Client,
    pub serverless: aws_sdk_redshiftserverless::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// Connections for a target.
#[allow(async_fn_in_trait)]
pub trait Connector {
    type Session: crate::exec::Session;
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
                let out = self
                    .aws
                    .secrets
                    .get_secret_value()
                    .secret_id(secret_arn)
                    .version_stage("AWSCURRENT")
                    .send()
                    .await
                    .map_err(|e| {
                        let code = error_code(&e).map(str::to_string);
                        failed(api, code.as_deref(), Box::new(e))
                    })?;
                let secret =
                    RedshiftSecret::parse(secret_arn, out.secret_string().unwrap_or_default())?;
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

/// A session over either executor.
pub enum AnySession {
    Direct(PgSession),
    DataApi(crate::data_api::DataApiSession),
}

impl crate::exec::Session for AnySession {
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ExecError> {
        match self {
            AnySession::Direct(s) => s.rows(sql).await,
            AnySession::DataApi(s) => s.rows(sql).await,
        }
    }

    async fn apply(&mut self, statements: &[crate::exec::Statement]) -> Result<(), ExecError> {
        match self {
            AnySession::Direct(s) => s.apply(statements).await,
            AnySession::DataApi(s) => s.apply(statements).await,
        }
    }
}

/// Picks the executor each target's `executor` names; password logins are always direct.
pub struct AnyConnector {
    pub direct: DirectConnector,
    pub data_api: crate::data_api::DataApiConnector,
}

impl Connector for AnyConnector {
    type Session = AnySession;

    async fn admin(&self, target: &Target, database: &str) -> Result<AnySession, ConnectError> {
        Ok(match target.executor {
            crate::config::Executor::Direct => {
                AnySession::Direct(self.direct.admin(target, database).await?)
            }
            crate::config::Executor::DataApi => {
                AnySession::DataApi(self.data_api.admin(target, database).await?)
            }
        })
    }

    async fn user(
        &self,
        endpoint: &Endpoint,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<AnySession, ConnectError> {
        Ok(AnySession::Direct(
            self.direct.user(endpoint, database, user, password).await?,
        ))
    }
}
