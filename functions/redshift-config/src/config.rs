//! Settings from the environment (documented in the README), read once by `main`.

use ferrolake_shared::env::{self, Env, EnvError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The DynamoDB table of desired-state items ([`crate::desired`]), one partition per target.
    pub table: String,
}

impl Config {
    pub fn from_env() -> Result<Self, EnvError> {
        Self::read(&env::from_process_env())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        Self::read(&Env::new(lookup))
    }

    fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, EnvError> {
        Ok(Self {
            table: env.required_for(
                "CONFIG_TABLE",
                "the DynamoDB table holding the Redshift configuration",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_table_is_required() {
        let config =
            Config::from_lookup(|k| (k == "CONFIG_TABLE").then(|| "redshift".to_string())).unwrap();
        assert_eq!(config.table, "redshift");
        let err = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CONFIG_TABLE is not set: the DynamoDB table holding the Redshift configuration"
        );
    }
}
