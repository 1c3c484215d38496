//! No password, and no md5 form of one, appears in any log line of an apply (and of a
//! rotation). Its own test binary: tracing's per-callsite interest cache makes thread-local
//! log capture unreliable while other tests log on other threads.

mod common;

use common::{Fixture, TestResult};
use ferrolake_shared::testing::LogCapture;
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
    for user in ["jane", "etl"] {
        let s = f.secret(user).await?;
        assert!(!text.contains(&s.password), "a password was logged");
        let hash = md5_password(&s.password, &Ident::user(&n(user))?);
        assert!(!text.contains(&hash), "a password hash was logged");
    }
    Ok(())
}
