//! Running the Redshift dialect's statements on the PostgreSQL Redshift profile
//! (redshift_profile.sql). A few Redshift statement forms are not PostgreSQL grammar; each is
//! translated here, word for word, to the PostgreSQL statement with the same effect, and
//! every statement as the Redshift dialect wrote it is recorded, so tests assert on what
//! Redshift would receive. The translations (Redshift Database Developer Guide):
//! - `PASSWORD DISABLE` → `PASSWORD NULL`
//!   (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_USER.html);
//! - `CREATEUSER` / `NOCREATEUSER` → `SUPERUSER` / `NOSUPERUSER`
//!   (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_USER.html);
//! - `CONNECTION LIMIT UNLIMITED` → `CONNECTION LIMIT -1` (same page);
//! - `GRANT ROLE r TO u` / `REVOKE ROLE r FROM u` and the grantee `ROLE r` → the bare role
//!   (https://docs.aws.amazon.com/redshift/latest/dg/r_GRANT.html,
//!   https://docs.aws.amazon.com/redshift/latest/dg/r_REVOKE.html).
//!
//! Anything else runs unchanged. Catalog reads are never translated: they run as written,
//! against the profile's Redshift views.

use redshift_config::desired::Target;
use redshift_config::executor::{ConnectError, Connector, Endpoint};
use redshift_config::executor::{ExecError, Session, Statement};
use std::sync::{Arc, Mutex};

/// The PostgreSQL form of one Redshift statement.
pub fn to_postgres(sql: &str) -> String {
    let mut out = sql
        .replace(" PASSWORD DISABLE", " PASSWORD NULL")
        .replace(" NOCREATEUSER", " NOSUPERUSER")
        .replace(" CREATEUSER", " SUPERUSER")
        .replace(" CONNECTION LIMIT UNLIMITED", " CONNECTION LIMIT -1")
        .replace(" TO ROLE ", " TO ")
        .replace(" FROM ROLE ", " FROM ");
    for (redshift, postgres) in [("GRANT ROLE ", "GRANT "), ("REVOKE ROLE ", "REVOKE ")] {
        if let Some(rest) = out.strip_prefix(redshift) {
            out = format!("{postgres}{rest}");
        }
    }
    out
}

/// Sessions of `C`, applying through [`to_postgres`] and recording the Redshift statements.
pub struct ProfileConnector<C> {
    pub inner: C,
    pub applied: Arc<Mutex<Vec<String>>>,
}

pub struct ProfileSession<S> {
    inner: S,
    applied: Arc<Mutex<Vec<String>>>,
}

impl<S: Session> Session for ProfileSession<S> {
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ExecError> {
        self.inner.rows(sql).await
    }

    async fn apply(&mut self, statements: &[Statement]) -> Result<(), ExecError> {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(statements.iter().map(|s| s.redacted.clone()));
        let translated: Vec<Statement> = statements
            .iter()
            .map(|s| match s.sql == s.redacted {
                true => Statement::new(to_postgres(&s.sql)),
                false => Statement::secret(to_postgres(&s.sql), s.redacted.clone()),
            })
            .collect();
        self.inner.apply(&translated).await
    }
}

impl<C: Connector> Connector for ProfileConnector<C> {
    type Session = ProfileSession<C::Session>;

    async fn admin(&self, target: &Target, database: &str) -> Result<Self::Session, ConnectError> {
        Ok(ProfileSession {
            inner: self.inner.admin(target, database).await?,
            applied: self.applied.clone(),
        })
    }

    async fn user(
        &self,
        endpoint: &Endpoint,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<Self::Session, ConnectError> {
        Ok(ProfileSession {
            inner: self.inner.user(endpoint, database, user, password).await?,
            applied: self.applied.clone(),
        })
    }
}

#[test]
fn translations_are_word_for_word() {
    assert_eq!(
        to_postgres("ALTER USER \"a\" PASSWORD DISABLE VALID UNTIL '1970-01-01'"),
        "ALTER USER \"a\" PASSWORD NULL VALID UNTIL '1970-01-01'"
    );
    assert_eq!(
        to_postgres("GRANT ROLE \"r\" TO \"u\""),
        "GRANT \"r\" TO \"u\""
    );
    assert_eq!(
        to_postgres("REVOKE ROLE \"r\" FROM \"u\""),
        "REVOKE \"r\" FROM \"u\""
    );
    assert_eq!(
        to_postgres("GRANT USAGE ON SCHEMA \"s\" TO ROLE \"r\""),
        "GRANT USAGE ON SCHEMA \"s\" TO \"r\""
    );
    assert_eq!(
        to_postgres("CREATE USER \"u\" NOCREATEUSER CONNECTION LIMIT UNLIMITED"),
        "CREATE USER \"u\" NOSUPERUSER CONNECTION LIMIT -1"
    );
    assert_eq!(to_postgres("CREATE GROUP \"g\""), "CREATE GROUP \"g\"");
}
