//! Pure routing: which crawler or Glue table an S3 object belongs to (longest prefix
//! wins), and the Hive-style partition an object key names.

use serde::Deserialize;

/// A Glue table registered directly (the fast path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRef {
    pub database: String,
    pub table: String,
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// One routing rule. At least one of `crawler` and `table` is set; with both, the table
/// fast path is used and the crawler is the fallback for keys that are not partitions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub crawler: Option<String>,
    #[serde(default)]
    pub table: Option<TableRef>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("CRAWLER_ROUTES is not a JSON array of routes: {0}")]
    NotJson(String),
    #[error("CRAWLER_ROUTES[{index}] (bucket {bucket:?}, prefix {prefix:?}) names neither a crawler nor a table")]
    NoTarget {
        index: usize,
        bucket: String,
        prefix: String,
    },
    #[error("CRAWLER_ROUTES[{index}] has an empty {field}")]
    Empty { index: usize, field: &'static str },
    #[error("CRAWLER_ROUTES[{index}] repeats bucket {bucket:?} prefix {prefix:?} of CRAWLER_ROUTES[{first}]")]
    Duplicate {
        index: usize,
        first: usize,
        bucket: String,
        prefix: String,
    },
}

/// Routing rules, validated.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// Parse and validate the `CRAWLER_ROUTES` JSON (an array of [`Route`]).
    pub fn parse(json: &str) -> Result<Self, RouteError> {
        let routes: Vec<Route> =
            serde_json::from_str(json).map_err(|e| RouteError::NotJson(e.to_string()))?;
        Self::new(routes)
    }

    pub fn new(routes: Vec<Route>) -> Result<Self, RouteError> {
        for (index, route) in routes.iter().enumerate() {
            if route.bucket.is_empty() {
                return Err(RouteError::Empty {
                    index,
                    field: "bucket",
                });
            }
            if route.crawler.as_deref() == Some("") {
                return Err(RouteError::Empty {
                    index,
                    field: "crawler",
                });
            }
            if let Some(t) = &route.table {
                if t.database.is_empty() || t.table.is_empty() {
                    return Err(RouteError::Empty {
                        index,
                        field: "table",
                    });
                }
            }
            if route.crawler.is_none() && route.table.is_none() {
                return Err(RouteError::NoTarget {
                    index,
                    bucket: route.bucket.clone(),
                    prefix: route.prefix.clone(),
                });
            }
            if let Some(first) = routes[..index]
                .iter()
                .position(|r| r.bucket == route.bucket && r.prefix == route.prefix)
            {
                return Err(RouteError::Duplicate {
                    index,
                    first,
                    bucket: route.bucket.clone(),
                    prefix: route.prefix.clone(),
                });
            }
        }
        Ok(Self { routes })
    }

    /// The route with the longest prefix of `key` in `bucket`.
    pub fn route(&self, bucket: &str, key: &str) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.bucket == bucket && key.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// A Hive-style partition named by an object key: `dt=2026-11-22/hour=01/file.json`
/// after the route prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// Values in the table's partition-key order.
    pub values: Vec<String>,
    /// `s3://bucket/<prefix><k1=v1>/…/<kn=vn>/`
    pub location: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PartitionError {
    #[error("key {key:?} does not name partition {expected} (found {found:?})")]
    Mismatch {
        key: String,
        expected: String,
        found: Vec<String>,
    },
}

/// The partition of `key` for a table partitioned by `partition_keys` (names compared
/// case-insensitively, as Glue lowercases them). The `key=value` directory segments right
/// after `prefix` must be exactly the table's partition keys, in order.
pub fn partition_of(
    bucket: &str,
    prefix: &str,
    key: &str,
    partition_keys: &[String],
) -> Result<Partition, PartitionError> {
    let relative = key.strip_prefix(prefix).unwrap_or(key);
    let directories: Vec<&str> = match relative.rsplit_once('/') {
        Some((dirs, _file)) => dirs.split('/').filter(|s| !s.is_empty()).collect(),
        None => Vec::new(),
    };
    let pairs: Vec<(&str, &str)> = directories
        .iter()
        .take(partition_keys.len())
        .filter_map(|segment| segment.split_once('='))
        .collect();
    let names_match = pairs.len() == partition_keys.len()
        && pairs
            .iter()
            .zip(partition_keys)
            .all(|((name, _), expected)| name.eq_ignore_ascii_case(expected));
    if !names_match || partition_keys.is_empty() {
        return Err(PartitionError::Mismatch {
            key: key.to_string(),
            expected: partition_keys.iter().map(|k| format!("{k}=…/")).collect(),
            found: pairs.iter().map(|(n, _)| n.to_string()).collect(),
        });
    }
    let path: String = directories[..partition_keys.len()]
        .iter()
        .map(|s| format!("{s}/"))
        .collect();
    Ok(Partition {
        values: pairs.iter().map(|(_, v)| v.to_string()).collect(),
        location: format!("s3://{bucket}/{prefix}{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes::parse(
            r#"[
              {"bucket": "lake", "prefix": "", "crawler": "everything"},
              {"bucket": "lake", "prefix": "shows/", "crawler": "shows"},
              {"bucket": "lake", "prefix": "shows/archive/", "crawler": "archive"},
              {"bucket": "lake", "prefix": "events/", "table": {"database": "analytics", "table": "events"}},
              {"bucket": "other", "prefix": "x/", "crawler": "other-x"}
            ]"#,
        )
        .unwrap()
    }

    #[test]
    fn longest_prefix_wins_within_the_bucket() {
        let r = routes();
        assert_eq!(
            r.route("lake", "shows/archive/2020/a.json")
                .unwrap()
                .crawler
                .as_deref(),
            Some("archive")
        );
        assert_eq!(
            r.route("lake", "shows/2026/a.json")
                .unwrap()
                .crawler
                .as_deref(),
            Some("shows")
        );
        assert_eq!(
            r.route("lake", "misc/a.json").unwrap().crawler.as_deref(),
            Some("everything")
        );
        assert!(r
            .route("lake", "events/dt=1/a.json")
            .unwrap()
            .table
            .is_some());
        assert_eq!(
            r.route("other", "x/y").unwrap().crawler.as_deref(),
            Some("other-x")
        );
        assert!(r.route("other", "y/z").is_none());
        assert!(r.route("unknown-bucket", "shows/a").is_none());
    }

    #[test]
    fn invalid_routes_are_rejected_with_the_index() {
        assert!(matches!(Routes::parse("{"), Err(RouteError::NotJson(_))));
        assert_eq!(
            Routes::parse(r#"[{"bucket":"b","prefix":"p/"}]"#).unwrap_err(),
            RouteError::NoTarget {
                index: 0,
                bucket: "b".into(),
                prefix: "p/".into()
            }
        );
        assert_eq!(
            Routes::parse(r#"[{"bucket":"b","crawler":"c"},{"bucket":"b","crawler":"d"}]"#)
                .unwrap_err(),
            RouteError::Duplicate {
                index: 1,
                first: 0,
                bucket: "b".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            Routes::parse(r#"[{"bucket":"","crawler":"c"}]"#).unwrap_err(),
            RouteError::Empty {
                index: 0,
                field: "bucket"
            }
        );
        let unknown = Routes::parse(r#"[{"bucket":"b","crawlr":"c"}]"#).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `crawlr`"),
            "{unknown}"
        );
    }

    #[test]
    fn partition_values_come_from_hive_segments() {
        let keys = vec!["dt".to_string(), "hour".to_string()];
        let p = partition_of(
            "lake",
            "events/",
            "events/dt=2026-11-22/hour=01/part-0001.json",
            &keys,
        )
        .unwrap();
        assert_eq!(p.values, vec!["2026-11-22", "01"]);
        assert_eq!(p.location, "s3://lake/events/dt=2026-11-22/hour=01/");
        // Deeper directories below the partition are fine; names are case-insensitive.
        let p = partition_of("lake", "events/", "events/DT=x/Hour=y/sub/file", &keys).unwrap();
        assert_eq!(p.values, vec!["x", "y"]);
        // Spaces and unicode in values (keys arrive decoded).
        let one = vec!["region".to_string()];
        let p = partition_of("lake", "e/", "e/region=île de france/f.json", &one).unwrap();
        assert_eq!(p.values, vec!["île de france"]);
    }

    #[test]
    fn keys_that_are_not_partitions_are_mismatches() {
        let keys = vec!["dt".to_string(), "hour".to_string()];
        for key in [
            "events/file.json",
            "events/dt=1/file.json",
            "events/hour=1/dt=2/f",
            "events/2026/11/f",
        ] {
            let err = partition_of("lake", "events/", key, &keys).unwrap_err();
            assert!(err.to_string().contains("dt=…/hour=…/"), "{key}: {err}");
        }
        assert!(partition_of("lake", "events/", "events/dt=1/f", &[]).is_err());
    }
}
