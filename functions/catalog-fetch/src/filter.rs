//! The allow-list of catalog fields analytics keeps, and the output record.

use serde_json::{Map, Value};

/// One allowed field: a JSON pointer (`/venue/city`) or dotted path (`venue.city`), with an
/// optional rename (`venue.city:city`). Without a rename the field keeps its nesting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub tokens: Vec<String>,
    pub rename: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("CATALOG_FIELDS entry {entry:?} is invalid: {problem}")]
pub struct FieldSpecError {
    pub entry: String,
    pub problem: &'static str,
}

impl FieldSpec {
    pub fn parse(entry: &str) -> Result<Self, FieldSpecError> {
        let err = |problem| FieldSpecError {
            entry: entry.to_string(),
            problem,
        };
        let (path, rename) = match entry.rsplit_once(':') {
            Some((p, r)) => (p.trim(), Some(r.trim().to_string())),
            None => (entry.trim(), None),
        };
        if rename.as_deref() == Some("") {
            return Err(err("the rename after ':' is empty"));
        }
        let tokens: Vec<String> = if let Some(pointer) = path.strip_prefix('/') {
            pointer
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect()
        } else {
            path.split('.').map(str::to_string).collect()
        };
        if tokens.is_empty() || tokens.iter().any(String::is_empty) {
            return Err(err("empty path segment"));
        }
        Ok(Self { tokens, rename })
    }

    /// Parse a comma-separated list.
    pub fn parse_list(spec: &str) -> Result<Vec<Self>, FieldSpecError> {
        spec.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(Self::parse)
            .collect()
    }

    fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.tokens.iter().try_fold(value, |v, t| match v {
            Value::Object(m) => m.get(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
    }
}

/// Keep the allowed fields of `metadata` (missing ones are skipped). An empty allow-list
/// keeps everything.
pub fn filter(metadata: &Value, fields: &[FieldSpec]) -> Map<String, Value> {
    if fields.is_empty() {
        return metadata.as_object().cloned().unwrap_or_default();
    }
    let mut out = Map::new();
    for field in fields {
        let Some(value) = field.get(metadata) else {
            continue;
        };
        match &field.rename {
            Some(name) => {
                out.insert(name.clone(), value.clone());
            }
            None => {
                let (last, parents) = field.tokens.split_last().expect("non-empty");
                let mut node = &mut out;
                for t in parents {
                    let entry = node
                        .entry(t.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    node = entry.as_object_mut().expect("object");
                }
                node.insert(last.clone(), value.clone());
            }
        }
    }
    out
}

/// Envelope fields of an output record.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub item_id: &'a str,
    pub change_type: &'a str,
    pub sns_message_id: Option<&'a str>,
    pub notified_at: Option<&'a str>,
    pub fetched_at: &'a str,
}

/// One compact JSON line: envelope fields first, then the filtered metadata (a metadata
/// field named like an envelope field is left out).
pub fn record(envelope: &Envelope, metadata: Option<Map<String, Value>>) -> Vec<u8> {
    let mut out = Map::new();
    out.insert("item_id".into(), envelope.item_id.into());
    out.insert("change_type".into(), envelope.change_type.into());
    out.insert("sns_message_id".into(), envelope.sns_message_id.into());
    out.insert("notified_at".into(), envelope.notified_at.into());
    out.insert("fetched_at".into(), envelope.fetched_at.into());
    match metadata {
        Some(metadata) => {
            for (k, v) in metadata {
                out.entry(k).or_insert(v);
            }
        }
        None => {
            out.insert("deleted".into(), true.into());
        }
    }
    let mut line = serde_json::to_vec(&Value::Object(out)).unwrap_or_default();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_dotted_paths_and_renames() {
        let fields = FieldSpec::parse_list("/title, venue.city, /schedule/start:starts_at, tags, /a~1b, lineup.0.name:headliner, missing.field").unwrap();
        let metadata = json!({
            "title": "Late Show", "venue": {"city": "Oslo", "capacity": 900}, "schedule": {"start": "2026-12-01T20:00:00Z"},
            "tags": ["live"], "a/b": 1, "lineup": [{"name": "Ann"}], "internal": {"cost": 5}
        });
        assert_eq!(
            Value::Object(filter(&metadata, &fields)),
            json!({"title": "Late Show", "venue": {"city": "Oslo"}, "starts_at": "2026-12-01T20:00:00Z", "tags": ["live"], "a/b": 1, "headliner": "Ann"})
        );
        assert_eq!(
            filter(&metadata, &[]).len(),
            7,
            "no allow-list keeps everything"
        );
    }

    #[test]
    fn invalid_specs() {
        assert!(FieldSpec::parse("a..b").is_err());
        assert!(FieldSpec::parse("a:").is_err());
        assert!(FieldSpec::parse("/").is_err());
    }

    #[test]
    fn records_are_one_compact_line_and_tombstones_say_deleted() {
        let env = Envelope {
            item_id: "s1",
            change_type: "updated",
            sns_message_id: Some("m"),
            notified_at: None,
            fetched_at: "2026-11-22T01:00:00Z",
        };
        let mut meta = Map::new();
        meta.insert("title".into(), "x".into());
        meta.insert("item_id".into(), "spoofed".into());
        let line = String::from_utf8(record(&env, Some(meta))).unwrap();
        assert_eq!(line, "{\"item_id\":\"s1\",\"change_type\":\"updated\",\"sns_message_id\":\"m\",\"notified_at\":null,\"fetched_at\":\"2026-11-22T01:00:00Z\",\"title\":\"x\"}\n");
        let tomb: Value = serde_json::from_slice(&record(
            &Envelope {
                change_type: "removed",
                ..env
            },
            None,
        ))
        .unwrap();
        assert_eq!(tomb["deleted"], true);
        assert_eq!(tomb["change_type"], "removed");
    }
}
