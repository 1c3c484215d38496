//! One target end to end: read state, make sure managed passwords exist, plan, apply in
//! one transaction per database (retrying Redshift's transient conflicts), report.

use crate::desired::{DesiredState, User};
use crate::executor::{ConnectError, Connector};
use crate::executor::{ExecError, Session};
use crate::plan::{self, Passwords, Plan};
use crate::secrets::{self, new_secret, SecretStoreError};
use crate::state::{self, DatabaseState};
use ferrolake_shared::secrets::SecretStore;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Return the statements without running them (and without creating secrets).
    Plan,
    #[default]
    Apply,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("reading the catalog of {database}: {source}")]
    Read {
        database: String,
        #[source]
        source: ExecError,
    },
    #[error("managed password of user {user}: {source}")]
    Password {
        user: String,
        #[source]
        source: SecretStoreError,
    },
    #[error("applying to {database} failed after {attempts} attempt(s), nothing in that transaction was applied: {source}")]
    Apply {
        database: String,
        attempts: u32,
        #[source]
        source: ExecError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStatement {
    pub database: String,
    pub sql: String,
}

/// What a run did; statements are redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub target: String,
    pub mode: Mode,
    pub statements: Vec<PlannedStatement>,
    pub statement_count: usize,
    pub secrets_created: Vec<String>,
    pub applied: bool,
}

const ATTEMPTS: u32 = 5;

pub async fn reconcile<C: Connector, P: SecretStore>(
    connector: &C,
    passwords: &P,
    config: &DesiredState,
    mode: Mode,
) -> Result<Report, ReconcileError> {
    let target = &config.target;
    let dialect = target.dialect;
    let mut sessions = BTreeMap::new();
    let mut databases = BTreeMap::new();
    let mut cluster = None;
    for database in &target.databases {
        let mut session = connector.admin(target, database).await?;
        let read = |source| ReconcileError::Read {
            database: database.clone(),
            source,
        };
        if cluster.is_none() {
            cluster = Some(
                state::read_cluster(&mut session, dialect)
                    .await
                    .map_err(read)?,
            );
        }
        let db: DatabaseState = state::read_database(&mut session, dialect)
            .await
            .map_err(read)?;
        databases.insert(database.clone(), db);
        sessions.insert(database.clone(), session);
    }
    let cluster = cluster.unwrap_or_default();

    let mut plain = Passwords::new();
    let mut secrets_created = Vec::new();
    for user in plan::users_needing_passwords(config, &cluster) {
        if let Some(password) =
            managed_password(passwords, config, user, mode, &mut secrets_created).await?
        {
            plain.insert(user.name.clone(), password);
        }
    }
    let plan: Plan = plan::plan(config, &cluster, &databases, &plain);
    let statements: Vec<PlannedStatement> = plan
        .redacted()
        .into_iter()
        .map(|(database, sql)| PlannedStatement { database, sql })
        .collect();
    for s in &statements {
        tracing::info!(target_name = %target.name, database = %s.database, sql = %s.sql, mode = ?mode, "planned");
    }
    if mode == Mode::Apply {
        for phase in &plan.phases {
            let Some(session) = sessions.get_mut(&phase.database) else {
                continue;
            };
            apply_with_retry(session, &phase.database, &phase.statements).await?;
        }
    }
    Ok(Report {
        target: target.name.clone(),
        mode,
        statement_count: statements.len(),
        statements,
        secrets_created,
        applied: mode == Mode::Apply,
    })
}

async fn managed_password<P: SecretStore>(
    passwords: &P,
    config: &DesiredState,
    user: &User,
    mode: Mode,
    created: &mut Vec<String>,
) -> Result<Option<String>, ReconcileError> {
    let Some(secret) = &user.password_secret else {
        return Ok(None);
    };
    let error = |source| ReconcileError::Password {
        user: user.name.as_str().to_string(),
        source,
    };
    if let Some(existing) = secrets::current(passwords, secret).await.map_err(error)? {
        return Ok(Some(existing.password));
    }
    if mode == Mode::Plan {
        return Ok(None);
    }
    let value = secrets::create(
        passwords,
        secret,
        new_secret(&config.target, user.name.as_str()),
    )
    .await
    .map_err(error)?;
    tracing::info!(user = %user.name.as_str(), secret = %secret, "created the managed password secret");
    created.push(secret.clone());
    Ok(Some(value.password))
}

async fn apply_with_retry<S: Session>(
    session: &mut S,
    database: &str,
    statements: &[crate::executor::Statement],
) -> Result<(), ReconcileError> {
    let mut attempt = 1;
    loop {
        match session.apply(statements).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                tracing::warn!(database, attempt, error = %e, "transient conflict; retrying the transaction");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(source) => {
                return Err(ReconcileError::Apply {
                    database: database.into(),
                    attempts: attempt,
                    source,
                })
            }
        }
    }
}
