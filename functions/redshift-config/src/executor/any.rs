//! Either executor, as each target's `executor` names it.

use super::data_api::{DataApiConnector, DataApiSession};
use super::direct::{DirectConnector, PgSession};
use super::{ConnectError, Connector, Endpoint, ExecError, Session, Statement};
use crate::desired::{Executor, Target};

/// A session over either executor.
pub enum AnySession {
    Direct(PgSession),
    DataApi(DataApiSession),
}

impl Session for AnySession {
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ExecError> {
        match self {
            AnySession::Direct(s) => s.rows(sql).await,
            AnySession::DataApi(s) => s.rows(sql).await,
        }
    }

    async fn apply(&mut self, statements: &[Statement]) -> Result<(), ExecError> {
        match self {
            AnySession::Direct(s) => s.apply(statements).await,
            AnySession::DataApi(s) => s.apply(statements).await,
        }
    }
}

/// Picks the executor each target's `executor` names; password logins are always direct.
pub struct AnyConnector {
    pub direct: DirectConnector,
    pub data_api: DataApiConnector,
}

impl Connector for AnyConnector {
    type Session = AnySession;

    async fn admin(&self, target: &Target, database: &str) -> Result<AnySession, ConnectError> {
        Ok(match target.executor {
            Executor::Direct => AnySession::Direct(self.direct.admin(target, database).await?),
            Executor::DataApi => AnySession::DataApi(self.data_api.admin(target, database).await?),
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
