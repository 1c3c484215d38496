//! No password, and no md5 form of one, appears in any log line of an apply (and of a
//! rotation). Its own test binary: tracing's per-callsite interest cache makes thread-local
//! log capture unreliable while other tests log on other threads.

mod common;

use common::{Fixture, TestResult};
use ferrolake_local_aws::LogCapture;
use redshift_config::ident::{md5_password, Ident};

use redshift_config::reconcile::Mode;
use serde_json::Value;

#[tokio::test]
async fn no_secret_is_ever_logged() -> TestResult {
    let (logs, _guard) = LogCapture::start("redshift-config", "debug");
    let f = Fixture::new("rc_logs").await?;
    let n = |b: &str| f.n(b);
    f.put(&f.items()).await?;
    f.run(Mode::Apply).await?;
    // And a whole rotation of jane's password.
    let secret = format!("redshift/{}/{}", f.target(), n("jane"));
    let old = f.value(&secret, "AWSCURRENT").await?;
    let token = f.start_rotation(&secret).await?;
    let function = f.function();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        function
            .handle(
                serde_json::json!({"Step": step, "SecretId": secret, "ClientRequestToken": token}),
            )
            .await?;
    }
    let new = f.value(&secret, "AWSCURRENT").await?;
    assert_ne!(new.password, old.password);
    // No password (or its md5 form) was logged.
    let text = logs.text();
    let messages: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["message"].as_str().map(String::from))
        .filter(|m| !m.contains("interceptor"))
        .collect();
    assert!(
        messages.contains("planned"),
        "no planned line: {messages:#?}"
    );
    let mut passwords = vec![
        (n("jane"), old.password.clone()),
        (n("jane"), new.password.clone()),
    ];
    passwords.push((n("etl"), f.secret("etl").await?.password));
    assert!(messages.contains("password changed"), "{messages:#?}");
    for (user, password) in passwords {
        assert!(!text.contains(&password), "a password was logged");
        let hash = md5_password(&password, &Ident::user(&user)?);
        assert!(!text.contains(&hash), "a password hash was logged");
    }
    Ok(())
}
