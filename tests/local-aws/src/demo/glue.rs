//! Glue as the demo needs it beyond moto. moto records StartCrawler but its crawler never
//! reads S3, so a crawl creates no table. [`CrawlerStandIn`] performs each crawl moto
//! records: it reads the crawler's S3 targets the way Glue's JSON classifier does (one
//! column per top-level key of the rows, types merged across files, partition keys from
//! the hive-style `name=value/` folders) and writes the table and its partitions to moto's
//! Glue catalog, honouring the crawler's SchemaChangePolicy. [`PartitionWatch`] polls the
//! catalog and records when each partition first appears, for the freshness figures.

use super::drivers::gunzip_bytes;
use super::provision::{BoxError, Clients};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the stand-in did.
#[derive(Debug, Default)]
pub struct CrawlStats {
    pub crawls: AtomicU64,
    pub tables_created: AtomicU64,
    pub tables_updated: AtomicU64,
    pub partitions_added: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// A crawler of the template, as the stand-in reads it from moto.
#[derive(Debug, Clone)]
pub struct CrawlerSpec {
    pub name: String,
    pub database: String,
    /// (bucket, key prefix) of each S3 target.
    pub targets: Vec<(String, String)>,
}

impl CrawlerSpec {
    /// The table a crawler names after its include path's last folder.
    pub fn table_name(prefix: &str) -> String {
        prefix
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

pub struct CrawlerStandIn {
    pub clients: Arc<Clients>,
    pub crawler: CrawlerSpec,
    pub stats: Arc<CrawlStats>,
}

/// Glue's type for one JSON value (the JSON classifier's names).
fn glue_type(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "bigint".into(),
        Value::Number(_) => "double".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            let inner = items
                .iter()
                .filter_map(glue_type)
                .reduce(|a, b| merge(&a, &b))
                .unwrap_or_else(|| "string".into());
            format!("array<{inner}>")
        }
        Value::Object(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .filter_map(|(k, v)| glue_type(v).map(|t| format!("{k}:{t}")))
                .collect();
            format!("struct<{}>", inner.join(","))
        }
    })
}

/// Two types seen for one column: equal stays, bigint+double widens, anything else is string.
fn merge(a: &str, b: &str) -> String {
    match (a, b) {
        _ if a == b => a.to_string(),
        ("bigint", "double") | ("double", "bigint") => "double".into(),
        _ => "string".into(),
    }
}

/// The partition values of `key` below `prefix` (`None` unless every folder is `name=value`).
pub fn hive_values(prefix: &str, key: &str) -> Option<Vec<String>> {
    partition_of(prefix, key).map(|(_, values)| values)
}

/// The hive partition (names, values) of `key` below `prefix`; `None` when a folder between
/// them is not `name=value`.
fn partition_of(prefix: &str, key: &str) -> Option<(Vec<String>, Vec<String>)> {
    let relative = key.strip_prefix(prefix)?;
    let (folders, _file) = relative.rsplit_once('/')?;
    let mut names = Vec::new();
    let mut values = Vec::new();
    for folder in folders.split('/').filter(|f| !f.is_empty()) {
        let (name, value) = folder.split_once('=')?;
        names.push(name.to_ascii_lowercase());
        values.push(value.to_string());
    }
    Some((names, values))
}

impl CrawlerStandIn {
    /// Crawl every time moto records a new crawl of this crawler (a new LastCrawl start).
    pub async fn run(self, stop: Arc<AtomicBool>) {
        let mut last_seen: Option<Value> = None;
        while !stop.load(Ordering::SeqCst) {
            let started = self
                .clients
                .json_call(
                    "glue",
                    "AWSGlue.GetCrawler",
                    "1.1",
                    &json!({"Name": self.crawler.name}),
                )
                .await
                .map(|c| c["Crawler"].clone());
            if let Ok(crawler) = started {
                let start = crawler["LastCrawl"]["StartTime"].clone();
                if !start.is_null() && Some(&start) != last_seen.as_ref() {
                    last_seen = Some(start);
                    self.stats.crawls.fetch_add(1, Ordering::SeqCst);
                    let update = crawler["SchemaChangePolicy"]["UpdateBehavior"]
                        .as_str()
                        .unwrap_or("UPDATE_IN_DATABASE")
                        == "UPDATE_IN_DATABASE";
                    if let Err(e) = self.crawl(update).await {
                        *self
                            .stats
                            .last_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn crawl(&self, update_in_database: bool) -> Result<(), BoxError> {
        for (bucket, prefix) in &self.crawler.targets {
            let mut columns: BTreeMap<String, String> = BTreeMap::new();
            let mut order: Vec<String> = Vec::new();
            let mut partition_keys: Option<Vec<String>> = None;
            let mut partitions: BTreeSet<Vec<String>> = BTreeSet::new();
            let mut token = None;
            loop {
                let page = self
                    .clients
                    .s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token)
                    .send()
                    .await?;
                for object in page.contents() {
                    let key = object.key().unwrap_or_default();
                    let Some((names, values)) = partition_of(prefix, key) else {
                        continue;
                    };
                    // One table: the first object's folder names are its partition keys;
                    // objects in other layouts are not this table's (Glue would make
                    // another table of them).
                    if partition_keys.get_or_insert_with(|| names.clone()) != &names {
                        continue;
                    }
                    partitions.insert(values);
                    let body = self
                        .clients
                        .s3
                        .get_object()
                        .bucket(bucket)
                        .key(key)
                        .send()
                        .await?
                        .body
                        .collect()
                        .await?
                        .into_bytes();
                    let text = if body.starts_with(&[0x1f, 0x8b]) {
                        gunzip_bytes(&body)?
                    } else {
                        body.to_vec()
                    };
                    for line in String::from_utf8_lossy(&text).lines() {
                        let Ok(Value::Object(row)) = serde_json::from_str::<Value>(line) else {
                            continue;
                        };
                        for (name, value) in &row {
                            let Some(t) = glue_type(value) else { continue };
                            let name = name.to_ascii_lowercase();
                            match columns.get(&name) {
                                Some(seen) => {
                                    let merged = merge(seen, &t);
                                    columns.insert(name, merged);
                                }
                                None => {
                                    order.push(name.clone());
                                    columns.insert(name, t);
                                }
                            }
                        }
                    }
                }
                match page.next_continuation_token() {
                    Some(next) => token = Some(next.to_string()),
                    None => break,
                }
            }
            let Some(partition_keys) = partition_keys else {
                continue;
            };
            self.write_table(
                bucket,
                prefix,
                &order,
                &columns,
                &partition_keys,
                &partitions,
                update_in_database,
            )
            .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_table(
        &self,
        bucket: &str,
        prefix: &str,
        order: &[String],
        columns: &BTreeMap<String, String>,
        partition_keys: &[String],
        partitions: &BTreeSet<Vec<String>>,
        update_in_database: bool,
    ) -> Result<(), BoxError> {
        let database = &self.crawler.database;
        let table = CrawlerSpec::table_name(prefix);
        let existing = self
            .clients
            .json_call(
                "glue",
                "AWSGlue.GetTable",
                "1.1",
                &json!({"DatabaseName": database, "Name": table}),
            )
            .await
            .ok()
            .map(|t| t["Table"].clone());
        // Columns: the table's own first (MergeNewColumns never drops or retypes one), then
        // the new ones in the order they were met.
        let mut all: Vec<Value> = existing
            .as_ref()
            .and_then(|t| t["StorageDescriptor"]["Columns"].as_array().cloned())
            .unwrap_or_default();
        let known: BTreeSet<String> = all
            .iter()
            .filter_map(|c| c["Name"].as_str().map(String::from))
            .collect();
        let new: Vec<Value> = order
            .iter()
            .filter(|c| !known.contains(*c) && !partition_keys.contains(c))
            .map(|c| json!({"Name": c, "Type": columns[c]}))
            .collect();
        let location = format!("s3://{bucket}/{prefix}");
        let storage = |columns: &[Value], location: &str| {
            json!({
                "Columns": columns,
                "Location": location,
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "Compressed": true,
                "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
                "Parameters": {"classification": "json", "compressionType": "gzip"},
            })
        };
        match &existing {
            None => {
                all.extend(new);
                let input = json!({
                    "Name": table,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {"classification": "json", "compressionType": "gzip", "UPDATED_BY_CRAWLER": self.crawler.name},
                    "PartitionKeys": partition_keys.iter().map(|k| json!({"Name": k, "Type": "string"})).collect::<Vec<_>>(),
                    "StorageDescriptor": storage(&all, &location),
                });
                self.clients
                    .json_call(
                        "glue",
                        "AWSGlue.CreateTable",
                        "1.1",
                        &json!({"DatabaseName": database, "TableInput": input}),
                    )
                    .await?;
                self.stats.tables_created.fetch_add(1, Ordering::SeqCst);
            }
            Some(t) if update_in_database && !new.is_empty() => {
                all.extend(new);
                let input = json!({
                    "Name": table,
                    "TableType": t["TableType"],
                    "Parameters": t["Parameters"],
                    "PartitionKeys": t["PartitionKeys"],
                    "StorageDescriptor": storage(&all, &location),
                });
                self.clients
                    .json_call(
                        "glue",
                        "AWSGlue.UpdateTable",
                        "1.1",
                        &json!({"DatabaseName": database, "TableInput": input}),
                    )
                    .await?;
                self.stats.tables_updated.fetch_add(1, Ordering::SeqCst);
            }
            Some(_) => {}
        }
        // Partitions inherit the table's schema (AddOrUpdateBehavior InheritFromTable).
        let inputs: Vec<Value> = partitions
            .iter()
            .map(|values| {
                let path: String = partition_keys
                    .iter()
                    .zip(values)
                    .map(|(k, v)| format!("{k}={v}/"))
                    .collect();
                json!({"Values": values, "StorageDescriptor": storage(&all, &format!("{location}{path}"))})
            })
            .collect();
        for chunk in inputs.chunks(100) {
            let out = self
                .clients
                .json_call(
                    "glue",
                    "AWSGlue.BatchCreatePartition",
                    "1.1",
                    &json!({"DatabaseName": database, "TableName": table, "PartitionInputList": chunk}),
                )
                .await?;
            let failed = out["Errors"].as_array().map_or(0, Vec::len);
            self.stats
                .partitions_added
                .fetch_add((chunk.len() - failed) as u64, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// When each partition of a table was first seen in the catalog.
#[derive(Debug, Default)]
pub struct PartitionTimes {
    /// Partition values → first seen.
    pub seen: Mutex<BTreeMap<Vec<String>, Instant>>,
    /// When the table first existed.
    pub table_at: Mutex<Option<Instant>>,
    /// The table's columns and partition keys, as last read.
    pub columns: Mutex<Vec<String>>,
    pub partition_keys: Mutex<Vec<String>>,
}

impl PartitionTimes {
    pub fn first_table(&self) -> Option<Instant> {
        *self.table_at.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct PartitionWatch {
    pub clients: Arc<Clients>,
    pub database: String,
    pub table: String,
    pub times: Arc<PartitionTimes>,
}

impl PartitionWatch {
    pub async fn run(self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::SeqCst) {
            let _ = self.poll().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.poll().await;
    }

    async fn poll(&self) -> Result<(), BoxError> {
        let table = self
            .clients
            .json_call(
                "glue",
                "AWSGlue.GetTable",
                "1.1",
                &json!({"DatabaseName": self.database, "Name": self.table}),
            )
            .await?;
        let now = Instant::now();
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c["Name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        self.times
            .table_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(now);
        *self.times.columns.lock().unwrap_or_else(|p| p.into_inner()) =
            names(&table["Table"]["StorageDescriptor"]["Columns"]);
        *self
            .times
            .partition_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = names(&table["Table"]["PartitionKeys"]);
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"DatabaseName": self.database, "TableName": self.table});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = self
                .clients
                .json_call("glue", "AWSGlue.GetPartitions", "1.1", &body)
                .await?;
            let mut seen = self.times.seen.lock().unwrap_or_else(|p| p.into_inner());
            for p in page["Partitions"].as_array().into_iter().flatten() {
                let values: Vec<String> = p["Values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                seen.entry(values).or_insert(now);
            }
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }
}

/// Nearest-rank percentile of `values` (sorted here); `None` when empty.
pub fn percentile(values: &mut [Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_merge_the_way_the_json_classifier_does() {
        assert_eq!(glue_type(&json!(1)).as_deref(), Some("bigint"));
        assert_eq!(glue_type(&json!(1.5)).as_deref(), Some("double"));
        assert_eq!(
            glue_type(&json!([1, 2.5])).as_deref(),
            Some("array<double>")
        );
        assert_eq!(
            glue_type(&json!({"a": true, "b": "x"})).as_deref(),
            Some("struct<a:boolean,b:string>")
        );
        assert_eq!(glue_type(&json!(null)), None);
        assert_eq!(merge("bigint", "double"), "double");
        assert_eq!(merge("bigint", "string"), "string");
        assert_eq!(merge("boolean", "boolean"), "boolean");
    }

    #[test]
    fn partitions_come_from_hive_folders() {
        assert_eq!(
            partition_of("events/", "events/event=created/dt=2026-12-01/hour=07/f.gz"),
            Some((
                vec!["event".into(), "dt".into(), "hour".into()],
                vec!["created".into(), "2026-12-01".into(), "07".into()]
            ))
        );
        assert_eq!(partition_of("events/", "events/2026/f.gz"), None);
        assert_eq!(partition_of("events/", "other/event=x/f.gz"), None);
        assert_eq!(CrawlerSpec::table_name("events/"), "events");
        assert_eq!(CrawlerSpec::table_name("lake/Clicks/"), "clicks");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut v, 50.0), Some(Duration::from_millis(10)));
        assert_eq!(percentile(&mut v, 95.0), Some(Duration::from_millis(19)));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
