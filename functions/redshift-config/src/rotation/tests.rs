//! The rotation steps against in-memory fakes: the shared secret seam ([`SecretStore`]) as
//! Secrets Manager keeps versions and stages, and a database whose logins change when an
//! `ALTER USER … PASSWORD` is applied.

use super::*;
use crate::executor::Endpoint;
use ferrolake_shared::secrets::SecretError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Version id → (value, stages).
type Versions = HashMap<String, (String, Vec<String>)>;

/// Secrets Manager in memory: per secret, rotation on/off and its versions.
#[derive(Default)]
struct MemorySecrets {
    secrets: Mutex<HashMap<String, (bool, Versions)>>,
    passwords: Mutex<u32>,
}

fn not_found(action: &'static str, id: &str) -> SecretError {
    SecretError::Call {
        action,
        id: id.into(),
        code: "ResourceNotFoundException".into(),
        transient: false,
        source: "no such secret or version".into(),
    }
}

impl MemorySecrets {
    fn with(self, id: &str, rotation: bool, value: &RedshiftSecret) -> Self {
        let versions = HashMap::from([(
            "v1".to_string(),
            (value.to_json(), vec!["AWSCURRENT".to_string()]),
        )]);
        self.secrets
            .lock()
            .unwrap()
            .insert(id.into(), (rotation, versions));
        self
    }

    /// What RotateSecret does before it calls the function: a new AWSPENDING version id,
    /// holding a copy of the current value.
    fn start_rotation(&self, id: &str, token: &str) {
        let mut secrets = self.secrets.lock().unwrap();
        let (_, versions) = secrets.get_mut(id).unwrap();
        let current = versions
            .values()
            .find(|(_, s)| s.iter().any(|s| s == "AWSCURRENT"))
            .unwrap()
            .0
            .clone();
        versions.insert(token.into(), (current, vec!["AWSPENDING".into()]));
    }

    fn value(&self, id: &str, stage: &str) -> RedshiftSecret {
        let secrets = self.secrets.lock().unwrap();
        let (value, _) = secrets[id]
            .1
            .values()
            .find(|(_, s)| s.iter().any(|s| s == stage))
            .unwrap();
        RedshiftSecret::parse(id, value).unwrap()
    }
}

impl SecretStore for MemorySecrets {
    async fn get_version(
        &self,
        id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<String, SecretError> {
        let secrets = self.secrets.lock().unwrap();
        let (_, versions) = secrets
            .get(id)
            .ok_or_else(|| not_found("GetSecretValue", id))?;
        versions
            .iter()
            .find(|(v, (_, stages))| {
                version_id.is_none_or(|want| want == v.as_str())
                    && stages.iter().any(|s| s == stage)
            })
            .map(|(_, (value, _))| value.clone())
            .ok_or_else(|| not_found("GetSecretValue", id))
    }

    async fn versions(&self, id: &str) -> Result<SecretVersions, SecretError> {
        let secrets = self.secrets.lock().unwrap();
        let (rotation_enabled, versions) = secrets
            .get(id)
            .ok_or_else(|| not_found("DescribeSecret", id))?;
        Ok(SecretVersions {
            rotation_enabled: *rotation_enabled,
            stages: versions
                .iter()
                .map(|(v, (_, s))| (v.clone(), s.clone()))
                .collect(),
        })
    }

    async fn create(&self, name: &str, _: &str, value: &str) -> Result<(), SecretError> {
        let versions = HashMap::from([(
            "v1".to_string(),
            (value.to_string(), vec!["AWSCURRENT".to_string()]),
        )]);
        self.secrets
            .lock()
            .unwrap()
            .insert(name.into(), (false, versions));
        Ok(())
    }

    async fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &str,
        _: Option<&str>,
    ) -> Result<(), SecretError> {
        let mut secrets = self.secrets.lock().unwrap();
        let (_, versions) = secrets
            .get_mut(id)
            .ok_or_else(|| not_found("PutSecretValue", id))?;
        for (_, stages) in versions.values_mut() {
            stages.retain(|s| s != "AWSPENDING");
        }
        let version = versions.entry(token.into()).or_default();
        version.0 = value.into();
        version.1.push("AWSPENDING".into());
        Ok(())
    }

    async fn make_current(
        &self,
        id: &str,
        to: &str,
        from: Option<&str>,
    ) -> Result<(), SecretError> {
        let mut secrets = self.secrets.lock().unwrap();
        let (_, versions) = secrets
            .get_mut(id)
            .ok_or_else(|| not_found("UpdateSecretVersionStage", id))?;
        let holder = versions
            .iter()
            .find(|(_, (_, s))| s.iter().any(|s| s == "AWSCURRENT"))
            .map(|(v, _)| v.clone());
        assert_eq!(
            holder.as_deref(),
            from,
            "RemoveFromVersionId must name the AWSCURRENT holder"
        );
        for (_, stages) in versions.values_mut() {
            stages.retain(|s| s != "AWSCURRENT");
        }
        versions
            .get_mut(to)
            .ok_or_else(|| not_found("UpdateSecretVersionStage", id))?
            .1
            .push("AWSCURRENT".into());
        Ok(())
    }

    async fn random_password(
        &self,
        length: i64,
        exclude: &str,
    ) -> Result<Option<String>, SecretError> {
        let mut n = self.passwords.lock().unwrap();
        *n += 1;
        let password = format!("{:A<width$}", format!("Fresh{n}x"), width = length as usize);
        assert!(!password.chars().any(|c| exclude.contains(c)));
        Ok(Some(password))
    }
}

/// A database: each user's md5 password hash; sessions record what they applied.
#[derive(Clone, Default)]
struct MemoryDatabase {
    hashes: Arc<Mutex<HashMap<String, String>>>,
    applied: Arc<Mutex<Vec<(String, String)>>>,
}

impl MemoryDatabase {
    fn with_user(self, user: &str, password: &str) -> Self {
        let hash = md5_password(password, &Ident::user(user).unwrap());
        self.hashes.lock().unwrap().insert(user.into(), hash);
        self
    }

    fn logs_in(&self, user: &str, password: &str) -> bool {
        let hash = md5_password(password, &Ident::user(user).unwrap());
        self.hashes.lock().unwrap().get(user) == Some(&hash)
    }
}

struct MemorySession {
    database: MemoryDatabase,
    login: String,
}

impl Session for MemorySession {
    async fn rows(&mut self, _: &str) -> Result<Vec<Vec<Option<String>>>, ExecError> {
        Ok(vec![vec![Some("1".into())]])
    }

    async fn apply(&mut self, statements: &[Statement]) -> Result<(), ExecError> {
        for s in statements {
            // ALTER USER "name" PASSWORD 'md5…'
            let rest = s
                .sql
                .strip_prefix("ALTER USER \"")
                .expect("only password changes are applied");
            let (user, rest) = rest.split_once("\" PASSWORD '").unwrap();
            let hash = rest.strip_suffix('\'').unwrap();
            self.database
                .hashes
                .lock()
                .unwrap()
                .insert(user.into(), hash.into());
            self.database
                .applied
                .lock()
                .unwrap()
                .push((self.login.clone(), s.redacted.clone()));
        }
        Ok(())
    }
}

impl Connector for MemoryDatabase {
    type Session = MemorySession;

    async fn admin(
        &self,
        target: &crate::desired::Target,
        _: &str,
    ) -> Result<MemorySession, ConnectError> {
        Ok(MemorySession {
            database: self.clone(),
            login: format!("admin of {}", target.name),
        })
    }

    async fn user(
        &self,
        _: &Endpoint,
        _: &str,
        user: &str,
        password: &str,
    ) -> Result<MemorySession, ConnectError> {
        if self.logs_in(user, password) {
            Ok(MemorySession {
                database: self.clone(),
                login: user.into(),
            })
        } else {
            Err(ConnectError::Unsupported(format!(
                "password authentication failed for user {user}"
            )))
        }
    }
}

/// Targets from the sample configuration (`analytics`).
struct SampleTargets;

impl Targets for SampleTargets {
    async fn desired(&self, target: &str) -> Result<DesiredState, String> {
        crate::desired::from_items(target, &crate::desired::tests::sample())
            .map_err(|e| e.to_string())
    }
}

fn secret(user: &str, password: &str, target: Option<&str>) -> RedshiftSecret {
    RedshiftSecret::parse(
        "s",
        &serde_json::json!({"engine": "redshift", "host": "db.local", "port": 5439,
        "username": user, "password": password, "dbname": "dev"})
        .to_string(),
    )
    .map(|mut s| {
        s.ferrolake_target = target.map(str::to_string);
        s
    })
    .unwrap()
}

fn event(step: &str, token: &str) -> RotationEvent {
    RotationEvent {
        secret_id: "s".into(),
        token: token.into(),
        step: step.into(),
        rotation_token: None,
    }
}

async fn step<C: Connector, T: Targets>(
    rotator: &Rotator<'_, MemorySecrets, C, T>,
    step: &str,
) -> String {
    match rotator.run(&event(step, "t2")).await {
        Ok(outcome) => outcome.to_string(),
        Err(e) => format!("error: {e}"),
    }
}

#[tokio::test]
async fn single_user_rotation_steps_in_memory_each_repeatable() {
    let secrets = MemorySecrets::default().with("s", true, &secret("etl", "old-password", None));
    let database = MemoryDatabase::default().with_user("etl", "old-password");
    let rotator = Rotator {
        secrets: &secrets,
        connector: &database,
        targets: &SampleTargets,
        default_sslmode: SslMode::VerifyFull,
    };
    secrets.start_rotation("s", "t2");

    // createSecret: a fresh password in the pending version; repeated, it is kept.
    assert_eq!(
        step(&rotator, "createSecret").await,
        "created the pending password"
    );
    let pending = secrets.value("s", "AWSPENDING");
    assert_ne!(pending.password, "old-password");
    assert_eq!(pending.password.len(), 32);
    assert_eq!(
        step(&rotator, "createSecret").await,
        "pending version already created"
    );
    assert_eq!(secrets.value("s", "AWSPENDING").password, pending.password);

    // setSecret, single-user strategy: the user changes its own password; repeated, nothing runs.
    assert_eq!(step(&rotator, "setSecret").await, "password changed");
    assert!(database.logs_in("etl", &pending.password));
    assert!(!database.logs_in("etl", "old-password"));
    assert_eq!(
        step(&rotator, "setSecret").await,
        "pending password already set"
    );
    assert_eq!(
        *database.applied.lock().unwrap(),
        [(
            "etl".to_string(),
            "ALTER USER \"etl\" PASSWORD '***'".to_string()
        )]
    );

    // testSecret logs in with the pending password; finishSecret makes it current, once.
    assert_eq!(
        step(&rotator, "testSecret").await,
        "pending password logs in"
    );
    assert_eq!(
        step(&rotator, "finishSecret").await,
        "pending version is now AWSCURRENT"
    );
    assert_eq!(secrets.value("s", "AWSCURRENT").password, pending.password);
    assert_eq!(step(&rotator, "finishSecret").await, "already current");
}

#[tokio::test]
async fn admin_strategy_changes_the_password_as_the_targets_admin() {
    let secrets =
        MemorySecrets::default().with("s", true, &secret("etl", "old-password", Some("analytics")));
    // The old password no longer logs in: the admin strategy does not need it.
    let database = MemoryDatabase::default();
    let rotator = Rotator {
        secrets: &secrets,
        connector: &database,
        targets: &SampleTargets,
        default_sslmode: SslMode::Disable,
    };
    secrets.start_rotation("s", "t2");
    assert_eq!(
        step(&rotator, "createSecret").await,
        "created the pending password"
    );
    assert_eq!(step(&rotator, "setSecret").await, "password changed");
    assert_eq!(
        *database.applied.lock().unwrap(),
        [(
            "admin of analytics".to_string(),
            "ALTER USER \"etl\" PASSWORD '***'".to_string()
        )]
    );
    assert!(database.logs_in("etl", &secrets.value("s", "AWSPENDING").password));
}

#[tokio::test]
async fn the_guard_refuses_before_any_step() {
    let off = MemorySecrets::default().with("s", false, &secret("etl", "pw", None));
    let database = MemoryDatabase::default();
    let rotator = Rotator {
        secrets: &off,
        connector: &database,
        targets: &SampleTargets,
        default_sslmode: SslMode::Disable,
    };
    assert_eq!(
        step(&rotator, "createSecret").await,
        "error: rotation of s: rotation is not enabled on the secret"
    );

    let on = MemorySecrets::default().with("s", true, &secret("etl", "pw", None));
    let rotator = Rotator {
        secrets: &on,
        ..rotator
    };
    assert_eq!(
        step(&rotator, "createSecret").await,
        "error: rotation of s: the ClientRequestToken is not a version of the secret"
    );
    assert_eq!(
        step(&rotator, "fooSecret").await,
        "error: unknown rotation step \"fooSecret\""
    );
    let missing = Rotator {
        secrets: &MemorySecrets::default(),
        ..rotator
    };
    let err = missing.run(&event("createSecret", "t2")).await.unwrap_err();
    assert_eq!(err.to_string(), "Secrets Manager DescribeSecret on s failed (ResourceNotFoundException): no such secret or version");
    assert!(
        on.secrets.lock().unwrap()["s"].1.len() == 1,
        "nothing was written"
    );
}
