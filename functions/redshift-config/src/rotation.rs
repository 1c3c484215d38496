//! Secrets Manager rotation of managed passwords: the four steps (createSecret, setSecret,
//! testSecret, finishSecret), each idempotent and safe to repeat after a crash, behind the
//! guard of AWS's templates. setSecret uses the admin strategy (the function's own
//! temporary admin credentials, so the old password is never the only way in) when the
//! secret names its ferrolake target, else the single-user strategy (the user changes its
//! own password, logging in with the current one).

use crate::desired::{DesiredState, SslMode};
use crate::executor::{ConnectError, Connector, Endpoint};
use crate::executor::{ExecError, Session, Statement};
use crate::ident::{md5_password, Ident, NameError};
use crate::secrets::{self, RedshiftSecret, SecretStoreError};
use ferrolake_shared::secrets::{SecretStore, SecretVersions};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

/// `{"SecretId", "ClientRequestToken", "Step", "RotationToken"?}`; steps in camelCase or
/// snake_case (one AWS page spells them `create_secret`).
#[derive(Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
    #[serde(rename = "Step")]
    pub step: String,
    #[serde(rename = "RotationToken", default)]
    pub rotation_token: Option<String>,
}

impl std::fmt::Debug for RotationEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationEvent")
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field("step", &self.step)
            .finish()
    }
}

impl RotationEvent {
    pub fn step(&self) -> Result<Step, RotationError> {
        match self.step.as_str() {
            "createSecret" | "create_secret" => Ok(Step::Create),
            "setSecret" | "set_secret" => Ok(Step::Set),
            "testSecret" | "test_secret" => Ok(Step::Test),
            "finishSecret" | "finish_secret" => Ok(Step::Finish),
            other => Err(RotationError::Invalid(format!(
                "unknown rotation step {other:?}"
            ))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("rotation of {secret}: {reason}")]
    Guard { secret: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] SecretStoreError),
    #[error("{step:?} for {secret}: {source}")]
    Connect {
        step: Step,
        secret: String,
        #[source]
        source: ConnectError,
    },
    #[error("setSecret for {secret} failed: {source}")]
    Apply {
        secret: String,
        #[source]
        source: ExecError,
    },
    #[error("testSecret for {secret}: the pending password does not log in: {source}")]
    Test {
        secret: String,
        #[source]
        source: ConnectError,
    },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("setSecret for {secret}: the secret names target {target:?}: {reason}")]
    Target {
        secret: String,
        target: String,
        reason: String,
    },
}

/// How setSecret reaches the admin for a secret that names a ferrolake target.
#[allow(async_fn_in_trait)]
pub trait Targets {
    async fn desired(&self, target: &str) -> Result<DesiredState, String>;
}

pub struct Rotator<'a, S, C, T> {
    pub secrets: &'a S,
    pub connector: &'a C,
    pub targets: &'a T,
    /// TLS mode for secrets without a ferrolake target (single-user strategy).
    pub default_sslmode: SslMode,
}

impl<S: SecretStore, C: Connector, T: Targets> Rotator<'_, S, C, T> {
    pub async fn run(&self, event: &RotationEvent) -> Result<&'static str, RotationError> {
        let step = event.step()?;
        let secret = event.secret_id.as_str();
        // The guard of AWS's templates.
        let versions = self
            .secrets
            .versions(secret)
            .await
            .map_err(SecretStoreError::from)?;
        let guard = |reason: &str| RotationError::Guard {
            secret: secret.into(),
            reason: reason.into(),
        };
        if !versions.rotation_enabled {
            return Err(guard("rotation is not enabled on the secret"));
        }
        let stages = versions
            .stages
            .get(&event.token)
            .ok_or_else(|| guard("the ClientRequestToken is not a version of the secret"))?;
        if stages.iter().any(|s| s == "AWSCURRENT") {
            return Ok("already current");
        }
        if !stages.iter().any(|s| s == "AWSPENDING") {
            return Err(guard("the ClientRequestToken version is not AWSPENDING"));
        }
        match step {
            Step::Create => self.create(event).await,
            Step::Set => self.set(event).await,
            Step::Test => self.test(event).await,
            Step::Finish => self.finish(event, &versions).await,
        }
    }

    async fn value(
        &self,
        secret: &str,
        version: Option<&str>,
        stage: &str,
    ) -> Result<Option<RedshiftSecret>, RotationError> {
        Ok(secrets::fetch(self.secrets, secret, version, stage).await?)
    }

    async fn current(&self, secret: &str) -> Result<RedshiftSecret, RotationError> {
        self.value(secret, None, "AWSCURRENT")
            .await?
            .ok_or_else(|| RotationError::Guard {
                secret: secret.into(),
                reason: "the secret has no AWSCURRENT value".into(),
            })
    }

    async fn pending(&self, event: &RotationEvent) -> Result<RedshiftSecret, RotationError> {
        self.value(&event.secret_id, Some(&event.token), "AWSPENDING")
            .await?
            .ok_or_else(|| RotationError::Guard {
                secret: event.secret_id.clone(),
                reason: "no AWSPENDING value: run createSecret first".into(),
            })
    }

    /// A new password in a pending version. Idempotent: a pending version with a new
    /// password is kept (one that still carries the current password — what RotateSecret
    /// leaves in some setups — is replaced).
    async fn create(&self, event: &RotationEvent) -> Result<&'static str, RotationError> {
        let secret = event.secret_id.as_str();
        let current = self.current(secret).await?;
        if let Some(pending) = self.value(secret, Some(&event.token), "AWSPENDING").await? {
            if pending.password != current.password {
                return Ok("pending version already created");
            }
        }
        let password = secrets::random_password(self.secrets).await?;
        let mut next = current;
        next.password = password;
        self.secrets
            .put_pending(
                secret,
                &event.token,
                &next.to_json(),
                event.rotation_token.as_deref(),
            )
            .await
            .map_err(SecretStoreError::from)?;
        Ok("created the pending password")
    }

    fn endpoint(&self, secret: &RedshiftSecret, sslmode: SslMode) -> Endpoint {
        Endpoint {
            host: secret.host.clone(),
            port: secret.port,
            sslmode,
        }
    }

    async fn set(&self, event: &RotationEvent) -> Result<&'static str, RotationError> {
        let secret = event.secret_id.as_str();
        let pending = self.pending(event).await?;
        let current = self.current(secret).await?;
        // Never let a pending version point the change at another user or host.
        if pending.username != current.username || pending.host != current.host {
            return Err(RotationError::Guard {
                secret: secret.into(),
                reason: "the pending version changes the username or host".into(),
            });
        }
        let user = Ident::user(&pending.username)?;
        let (sslmode, target) =
            match &pending.ferrolake_target {
                Some(name) => {
                    let config = self.targets.desired(name).await.map_err(|reason| {
                        RotationError::Target {
                            secret: secret.into(),
                            target: name.clone(),
                            reason,
                        }
                    })?;
                    (config.target.sslmode, Some(config.target))
                }
                None => (self.default_sslmode, None),
            };
        let endpoint = self.endpoint(&pending, sslmode);
        // Already set (a repeated step): the pending password logs in.
        if self
            .connector
            .user(
                &endpoint,
                &pending.dbname,
                &pending.username,
                &pending.password,
            )
            .await
            .is_ok()
        {
            return Ok("pending password already set");
        }
        let connect_error = |source| RotationError::Connect {
            step: Step::Set,
            secret: secret.into(),
            source,
        };
        let statement = Statement::secret(
            format!(
                "ALTER USER {user} PASSWORD '{}'",
                md5_password(&pending.password, &user)
            ),
            format!("ALTER USER {user} PASSWORD '***'"),
        );
        let mut session = match &target {
            // Admin strategy: the function's temporary admin credentials.
            Some(target) => self
                .connector
                .admin(target, &pending.dbname)
                .await
                .map_err(connect_error)?,
            // Single-user strategy: the user changes its own password.
            None => self
                .connector
                .user(
                    &endpoint,
                    &current.dbname,
                    &current.username,
                    &current.password,
                )
                .await
                .map_err(connect_error)?,
        };
        session
            .apply(&[statement])
            .await
            .map_err(|source| RotationError::Apply {
                secret: secret.into(),
                source,
            })?;
        tracing::info!(secret, user = %user.as_str(), strategy = if target.is_some() { "admin" } else { "single-user" }, "password changed");
        Ok("password changed")
    }

    async fn test(&self, event: &RotationEvent) -> Result<&'static str, RotationError> {
        let secret = event.secret_id.as_str();
        let pending = self.pending(event).await?;
        let sslmode = match &pending.ferrolake_target {
            Some(name) => self
                .targets
                .desired(name)
                .await
                .map(|c| c.target.sslmode)
                .unwrap_or(self.default_sslmode),
            None => self.default_sslmode,
        };
        let mut session = self
            .connector
            .user(
                &self.endpoint(&pending, sslmode),
                &pending.dbname,
                &pending.username,
                &pending.password,
            )
            .await
            .map_err(|source| RotationError::Test {
                secret: secret.into(),
                source,
            })?;
        session
            .rows("SELECT 1")
            .await
            .map_err(|source| RotationError::Apply {
                secret: secret.into(),
                source,
            })?;
        Ok("pending password logs in")
    }

    async fn finish(
        &self,
        event: &RotationEvent,
        versions: &SecretVersions,
    ) -> Result<&'static str, RotationError> {
        let secret = event.secret_id.as_str();
        let current = versions.holding("AWSCURRENT");
        if current == Some(event.token.as_str()) {
            return Ok("already current");
        }
        self.secrets
            .make_current(secret, &event.token, current)
            .await
            .map_err(SecretStoreError::from)?;
        Ok("pending version is now AWSCURRENT")
    }
}

#[cfg(test)]
mod tests;
