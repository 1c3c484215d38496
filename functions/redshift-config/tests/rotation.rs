//! Secrets Manager rotation end to end: moto's Secrets Manager, PostgreSQL 15 logins.
//! moto's RotateSecret cannot invoke a Rust Lambda, so the test plays Secrets Manager's
//! part (enable rotation, open an AWSPENDING version, call the four steps in order) and
//! the function does the rest.

mod common;

use common::{Fixture, TestResult};
use redshift_config::reconcile::Mode;
use redshift_config::secrets::RedshiftSecret;
use serde_json::{json, Value};

fn step(step: &str, secret: &str, token: &str) -> Value {
    json!({"Step": step, "SecretId": secret, "ClientRequestToken": token})
}

#[tokio::test]
async fn admin_strategy_rotation_end_to_end_with_repeated_steps() -> TestResult {
    let f = Fixture::new("rc_rotate").await?;
    let n = |b: &str| f.n(b);
    f.put(&f.items()).await?;
    let function = f.function();
    function
        .handle(json!({"target": f.target(), "mode": "apply"}))
        .await?;
    let secret = format!("redshift/{}/{}", f.target(), n("jane"));
    let old = f.value(&secret, "AWSCURRENT").await?;
    assert_eq!(f.login(&n("jane"), &old.password).await?, n("jane"));
    let old_version = f
        .stages(&secret)
        .await?
        .into_iter()
        .find(|(_, s)| s.contains(&"AWSCURRENT".to_string()))
        .map(|(v, _)| v)
        .ok_or("no current")?;

    let token = f.start_rotation(&secret).await?;
    let outcome = |v: Value| v["outcome"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        outcome(
            function
                .handle(step("createSecret", &secret, &token))
                .await?
        ),
        "created the pending password"
    );
    // A crash after createSecret: the repeated step keeps the same pending password.
    let pending = f
        .secrets
        .get_secret_value()
        .secret_id(&secret)
        .version_id(&token)
        .version_stage("AWSPENDING")
        .send()
        .await?;
    let pending = RedshiftSecret::parse(&secret, pending.secret_string().unwrap_or_default())?;
    assert_ne!(pending.password, old.password);
    assert_eq!(pending.password.len(), 32);
    assert!(!pending.password.chars().any(|c| "'\"\\/@: ".contains(c)));
    assert_eq!(
        outcome(
            function
                .handle(step("createSecret", &secret, &token))
                .await?
        ),
        "pending version already created"
    );

    assert_eq!(
        outcome(function.handle(step("setSecret", &secret, &token)).await?),
        "password changed"
    );
    assert_eq!(
        outcome(function.handle(step("setSecret", &secret, &token)).await?),
        "pending password already set"
    );
    assert_eq!(
        outcome(function.handle(step("testSecret", &secret, &token)).await?),
        "pending password logs in"
    );
    assert_eq!(
        outcome(
            function
                .handle(step("finishSecret", &secret, &token))
                .await?
        ),
        "pending version is now AWSCURRENT"
    );
    assert_eq!(
        outcome(
            function
                .handle(step("finishSecret", &secret, &token))
                .await?
        ),
        "already current"
    );

    // The new password logs in, the old one no longer does; stages moved.
    assert_eq!(f.login(&n("jane"), &pending.password).await?, n("jane"));
    assert!(f.login(&n("jane"), &old.password).await.is_err());
    assert_eq!(
        f.value(&secret, "AWSCURRENT").await?.password,
        pending.password
    );
    // (Secrets Manager itself removes AWSPENDING after finishSecret; moto does not.)
    let stages = f.stages(&secret).await?;
    assert!(
        stages
            .get(&token)
            .is_some_and(|s| s.iter().any(|s| s == "AWSCURRENT")),
        "{stages:?}"
    );
    assert_eq!(
        f.value(&secret, "AWSPREVIOUS").await?.password,
        old.password,
        "{stages:?} (old version {old_version})"
    );
    // Reconciling afterwards does not touch the rotated password.
    assert_eq!(f.run(Mode::Plan).await?.statement_count, 0);
    Ok(())
}

#[tokio::test]
async fn single_user_strategy_and_the_guard() -> TestResult {
    let f = Fixture::new("rc_rotate_single").await?;
    let user = f.n("app");
    let secret = f.single_user_secret(&user, "Old-Passw0rd-1").await?;
    let function = f.function();

    // Rotation not enabled yet: refused by the guard.
    let err = function
        .handle(step("createSecret", &secret, "nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("rotation is not enabled"), "{err}");
    let token = f.start_rotation(&secret).await?;
    let err = function
        .handle(step("createSecret", &secret, "unknown-token"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a version of the secret"), "{err}");
    let err = function
        .handle(step("renameSecret", &secret, &token))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown rotation step"), "{err}");

    for s in ["create_secret", "setSecret", "testSecret", "finishSecret"] {
        function.handle(step(s, &secret, &token)).await?;
    }
    let new = f.value(&secret, "AWSCURRENT").await?;
    assert_ne!(new.password, "Old-Passw0rd-1");
    assert_eq!(f.login(&user, &new.password).await?, user);
    assert!(f.login(&user, "Old-Passw0rd-1").await.is_err());
    Ok(())
}
