//! Settings from the environment (documented in the README).

use crate::routing::{RouteError, Routes};
use ferrolake_shared::batch::BatchConfig;
use ferrolake_shared::env::{self, Env, EnvError};
use std::time::Duration;

/// What to do with objects whose crawler is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunningPolicy {
    /// Report their messages for retry: the running crawl may have listed the prefix before
    /// they landed, so only a later crawl is sure to see them.
    Retry,
    /// Acknowledge them (cheaper; relies on a later crawl or schedule to pick them up).
    Accept,
}

ferrolake_shared::choices! {
    RunningPolicy {
        "retry" => Retry,
        "accept" => Accept,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Routes(#[from] RouteError),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub routes: Routes,
    /// No new crawl of a crawler sooner than this after its last crawl started (0 = off).
    pub min_crawl_interval: Duration,
    pub running_policy: RunningPolicy,
    pub batch: BatchConfig,
    /// Kept before the Lambda deadline for answering.
    pub deadline_reserve: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&env::from_process_env())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env::new(lookup))
    }

    fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let routes = Routes::parse(&env.required_for(
            "CRAWLER_ROUTES",
            "it maps bucket + key prefix to a crawler or table (see README)",
        )?)?;
        Ok(Self {
            routes,
            min_crawl_interval: env
                .seconds("MIN_CRAWL_INTERVAL_SECONDS")?
                .unwrap_or(Duration::ZERO),
            running_policy: env
                .choice("CRAWLER_RUNNING_POLICY")?
                .unwrap_or(RunningPolicy::Retry),
            batch: BatchConfig::read(env)?,
            deadline_reserve: Duration::from_secs(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let routes = r#"[{"bucket":"b","crawler":"c"}]"#;
        let config =
            Config::from_lookup(|k| (k == "CRAWLER_ROUTES").then(|| routes.to_string())).unwrap();
        assert_eq!(config.min_crawl_interval, Duration::ZERO);
        assert_eq!(config.running_policy, RunningPolicy::Retry);
        assert_eq!(config.routes.len(), 1);

        let err = Config::from_lookup(|_| None).unwrap_err();
        assert!(
            err.to_string().contains("CRAWLER_ROUTES is not set"),
            "{err}"
        );
        let bad = |name: &'static str, value: &'static str| {
            Config::from_lookup(move |k| match k {
                "CRAWLER_ROUTES" => Some(routes.to_string()),
                k if k == name => Some(value.to_string()),
                _ => None,
            })
            .unwrap_err()
            .to_string()
        };
        assert!(
            bad("MIN_CRAWL_INTERVAL_SECONDS", "ten").contains("MIN_CRAWL_INTERVAL_SECONDS=\"ten\"")
        );
        assert!(bad("CRAWLER_RUNNING_POLICY", "ignore").contains("retry | accept"));
        assert!(bad("BATCH_CONCURRENCY", "0").contains("BATCH_CONCURRENCY"));
    }
}
