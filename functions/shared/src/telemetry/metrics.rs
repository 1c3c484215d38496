//! CloudWatch Embedded Metric Format: metrics collected during one invocation are
//! written as one EMF JSON line to stdout when the invocation ends.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const METRICS_NAMESPACE: &str = "ferrolake";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
        }
    }
}

#[derive(Debug, Default)]
struct Collected {
    /// name -> (unit, values); counters hold one summed value.
    values: BTreeMap<String, (Unit, Vec<f64>)>,
}

/// Metrics of one invocation. Cheap to clone; clones share the same collection.
#[derive(Debug, Clone)]
pub struct Metrics {
    function: Arc<str>,
    cold_start: bool,
    collected: Arc<Mutex<Collected>>,
}

impl Metrics {
    pub fn new(function: &str, cold_start: bool) -> Self {
        Self {
            function: Arc::from(function),
            cold_start,
            collected: Arc::default(),
        }
    }

    pub fn cold_start(&self) -> bool {
        self.cold_start
    }

    /// Add `n` to a counter (unit Count).
    pub fn count(&self, name: &str, n: u64) {
        let mut c = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        // Look up before inserting: counters are bumped per record, and `entry` would
        // allocate the name every time.
        match c.values.get_mut(name) {
            Some((_, values)) => match values.first_mut() {
                Some(total) => *total += n as f64,
                None => values.push(n as f64),
            },
            None => {
                c.values
                    .insert(name.to_string(), (Unit::Count, vec![n as f64]));
            }
        }
    }

    /// Record one observation (a latency, a size); EMF keeps every value.
    pub fn record(&self, name: &str, unit: Unit, value: f64) {
        let mut c = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        c.values
            .entry(name.to_string())
            .or_insert((unit, Vec::new()))
            .1
            .push(value);
    }

    /// The current value of a counter (0 when never counted).
    pub fn counter(&self, name: &str) -> u64 {
        let c = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        c.values
            .get(name)
            .and_then(|(_, v)| v.first())
            .map(|v| *v as u64)
            .unwrap_or(0)
    }

    /// The EMF document for what was collected so far.
    pub fn to_emf(&self) -> Value {
        let c = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut definitions = Vec::new();
        let mut doc = Map::new();
        for (name, (unit, values)) in &c.values {
            definitions.push(json!({"Name": name, "Unit": unit.as_str()}));
            let value = if values.len() == 1 {
                json!(values[0])
            } else {
                json!(values)
            };
            doc.insert(name.clone(), value);
        }
        if self.cold_start {
            definitions.push(json!({"Name": "ColdStart", "Unit": "Count"}));
            doc.insert("ColdStart".into(), json!(1));
        }
        doc.insert("function".into(), json!(&*self.function));
        doc.insert("coldStart".into(), json!(self.cold_start));
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["function"]],
                    "Metrics": definitions,
                }]
            }),
        );
        Value::Object(doc)
    }

    /// Write the EMF line to stdout (where Lambda ships it to CloudWatch).
    pub fn flush(&self) {
        let mut line = serde_json::to_vec(&self.to_emf()).unwrap_or_default();
        line.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_has_namespace_dimension_and_values() {
        let m = Metrics::new("catalog-fetch", true);
        m.count("MessagesReceived", 3);
        m.count("MessagesReceived", 2);
        m.record("FetchLatency", Unit::Milliseconds, 12.0);
        m.record("FetchLatency", Unit::Milliseconds, 30.0);
        let doc = m.to_emf();
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "ferrolake");
        assert_eq!(cw["Dimensions"], json!([["function"]]));
        assert_eq!(doc["function"], "catalog-fetch");
        assert_eq!(doc["MessagesReceived"], json!(5.0));
        assert_eq!(doc["FetchLatency"], json!([12.0, 30.0]));
        assert_eq!(doc["ColdStart"], 1);
        let names: Vec<_> = cw["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["Name"].as_str().unwrap(), d["Unit"].as_str().unwrap()))
            .collect();
        assert!(names.contains(&("FetchLatency", "Milliseconds")));
        assert!(names.contains(&("MessagesReceived", "Count")));
        assert!(names.contains(&("ColdStart", "Count")));
        assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    }

    #[test]
    fn warm_invocation_has_no_cold_start_metric() {
        let m = Metrics::new("athena-udf", false);
        m.count("Rows", 1);
        let doc = m.to_emf();
        assert!(doc.get("ColdStart").is_none());
        assert_eq!(doc["coldStart"], false);
        assert_eq!(m.counter("Rows"), 1);
        assert_eq!(m.counter("Never"), 0);
    }

    #[test]
    fn cold_start_is_taken_once() {
        // Other tests in this process may have taken it already; after one take it is false.
        let _ = crate::telemetry::take_cold_start();
        assert!(!crate::telemetry::take_cold_start());
    }
}
