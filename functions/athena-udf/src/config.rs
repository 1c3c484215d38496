//! Settings from the environment (documented in the README), read once at start-up.

use ferrolake_shared::env::{self, Env, EnvError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Threads per UDF call: `UDF_THREADS`, else every CPU the function has (Lambda gives
    /// up to 6 vCPUs, in proportion to memory).
    pub threads: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, EnvError> {
        Self::read(&env::from_process_env())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        Self::read(&Env::new(lookup))
    }

    fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, EnvError> {
        let threads = match env.number("UDF_THREADS", 1..=64)? {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Self { threads })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udf_threads_must_be_a_small_whole_number() {
        let env = |v: &'static str| move |k: &str| (k == "UDF_THREADS").then(|| v.to_string());
        assert_eq!(Config::from_lookup(env("2")).unwrap().threads, 2);
        assert_eq!(Config::from_lookup(env(" 3 ")).unwrap().threads, 3);
        assert!(Config::from_lookup(|_| None).unwrap().threads >= 1);
        for bad in ["0", "-1", "two", "65", ""] {
            let err = Config::from_lookup(env(bad)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("UDF_THREADS={bad:?} is invalid: expected a whole number from 1 to 64")
            );
            assert_eq!((err.name(), err.value()), ("UDF_THREADS", Some(bad)));
        }
    }
}
