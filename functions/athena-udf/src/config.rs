//! Settings from the environment (documented in the README), read once at start-up.

/// Why a setting was refused: the variable, its value and what it should be.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Threads per UDF call: `UDF_THREADS`, else every CPU the function has (Lambda gives
    /// up to 6 vCPUs, in proportion to memory).
    pub threads: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let threads = match lookup("UDF_THREADS") {
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(value) => match value.trim().parse::<usize>() {
                Ok(n @ 1..=64) => n,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "UDF_THREADS",
                        value,
                        expected: "a whole number from 1 to 64",
                    })
                }
            },
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
                format!("UDF_THREADS={bad:?} is not a whole number from 1 to 64")
            );
            let ConfigError::Invalid { name, value, .. } = err;
            assert_eq!((name, value.as_str()), ("UDF_THREADS", bad));
        }
    }
}
