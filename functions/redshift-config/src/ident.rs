//! Identifiers and literals. DynamoDB content is untrusted: names must be lowercase and
//! match a fixed pattern, are always emitted quoted (`"…"`, `"` doubled), and literals may
//! not contain `'` or `\` (Redshift reads `\'` as an escaped quote, defeating doubling).

use md5::{Digest, Md5};
use std::fmt;

/// Why a name or literal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} name {name:?} is invalid: {reason}")]
    Invalid {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("{what} contains ' or \\ (not allowed in SQL literals)")]
    Literal { what: String },
}

/// A validated, lowercase SQL name, rendered quoted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(String);

impl Ident {
    /// A schema, group or role name: `^[a-z_][a-z0-9_$]{0,126}$`, not starting `__`
    /// (reserved), not `public` for groups/roles (checked by the caller's kind).
    pub fn object(kind: &'static str, name: &str) -> Result<Self, NameError> {
        Self::check(kind, name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$'
        })
    }

    /// A user name: as [`Ident::object`], plus `.`, `@`, `+`, `-` (IAM-style names).
    pub fn user(name: &str) -> Result<Self, NameError> {
        Self::check("user", name, |c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '_' | '$' | '.' | '@' | '+' | '-')
        })
    }

    fn check(
        kind: &'static str,
        name: &str,
        allowed: impl Fn(char) -> bool,
    ) -> Result<Self, NameError> {
        let invalid = |reason| NameError::Invalid {
            kind,
            name: name.to_string(),
            reason,
        };
        let first = name.chars().next().ok_or_else(|| invalid("empty"))?;
        if name.len() > 127 {
            return Err(invalid("longer than 127 bytes"));
        }
        if !(first.is_ascii_lowercase() || first == '_') {
            return Err(invalid("must start with a lowercase letter or _"));
        }
        if name.starts_with("__") {
            return Err(invalid("names starting with __ are reserved"));
        }
        if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
            return Err(if bad.is_ascii_uppercase() {
                invalid("must be lowercase")
            } else {
                invalid("contains a character outside [a-z0-9_$] (quotes, spaces, semicolons and look-alike letters are refused)")
            });
        }
        if name == "public" {
            return Err(invalid("public is a keyword, not a name"));
        }
        Ok(Self(name.to_string()))
    }

    /// An identifier read from the catalog (trusted, possibly not matching our rules);
    /// still rendered quoted.
    pub fn from_catalog(name: &str) -> Self {
        Self(name.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    /// Always quoted, `"` doubled (validated names never contain one; catalog names might).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.replace('"', "\"\""))
    }
}

/// Refuse `'` and `\` in a value that will become an SQL literal.
pub fn literal(what: impl Fn() -> String, value: &str) -> Result<&str, NameError> {
    if value.contains('\'') || value.contains('\\') {
        return Err(NameError::Literal { what: what() });
    }
    Ok(value)
}

/// The md5 form Redshift (and PostgreSQL) store: `md5` + hex(MD5(password ‖ username)).
/// The only form in which a password reaches SQL.
pub fn md5_password(password: &str, user: &Ident) -> String {
    let digest = Md5::new()
        .chain_update(password.as_bytes())
        .chain_update(user.as_str().as_bytes())
        .finalize();
    let mut out = String::with_capacity(35);
    out.push_str("md5");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_postgres() {
        // PostgreSQL: SELECT 'md5' || md5('ez' || 'user1');
        assert_eq!(
            md5_password("ez", &Ident::user("user1").unwrap()),
            "md5153c434b4b77c89e6b94f12c5393af5b"
        );
    }

    #[test]
    fn names_are_validated_and_quoted() {
        assert_eq!(
            Ident::object("schema", "marts_v2").unwrap().to_string(),
            "\"marts_v2\""
        );
        assert_eq!(
            Ident::user("etl.bot@corp").unwrap().to_string(),
            "\"etl.bot@corp\""
        );
        assert_eq!(Ident::from_catalog("we\"ird").to_string(), "\"we\"\"ird\"");
        let refused = [
            ("Analysts", "must start with a lowercase letter or _"),
            ("anAlysts", "must be lowercase"),
            ("a\"; drop table x; --", "contains a character outside"),
            ("a b", "contains a character outside"),
            ("a;b", "contains a character outside"),
            ("аnalysts", "must start with a lowercase letter"), // Cyrillic а
            ("analуsts", "contains a character outside"),       // Cyrillic у
            ("__internal", "reserved"),
            ("", "empty"),
            ("public", "keyword"),
            ("1abc", "must start"),
        ];
        for (name, reason) in refused {
            let err = Ident::object("group", name).unwrap_err().to_string();
            assert!(err.contains(reason), "{name:?}: {err}");
        }
        assert!(Ident::object("schema", &"a".repeat(128)).is_err());
        assert!(literal(|| "valid_until".into(), "2027-01-01").is_ok());
        assert!(literal(|| "valid_until".into(), "x' OR '1").is_err());
        assert!(literal(|| "valid_until".into(), "x\\").is_err());
    }
}
