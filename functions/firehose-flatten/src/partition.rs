//! Dynamic-partitioning keys returned in `metadata.partitionKeys`, for
//! `!{partitionKeyFromLambda:<name>}` in the delivery stream's S3 prefix.

use std::collections::BTreeMap;

/// Where a partition key's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionSource {
    /// A flattened field of the (first) object in the record.
    Field(String),
    /// From the record's arrival time (UTC).
    ArrivalDate,
    ArrivalHour,
    ArrivalYear,
    ArrivalMonth,
    ArrivalDay,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKey {
    pub name: String,
    pub source: PartitionSource,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("PARTITION_KEYS entry {entry:?} is invalid: {problem}")]
pub struct PartitionConfigError {
    pub entry: String,
    pub problem: &'static str,
}

/// Parse `name=source,…` where source is a flattened field name or one of `@arrival_date`
/// (YYYY-MM-DD), `@arrival_hour` (HH), `@arrival_year`, `@arrival_month`, `@arrival_day`.
pub fn parse_partition_keys(spec: &str) -> Result<Vec<PartitionKey>, PartitionConfigError> {
    let mut keys: Vec<PartitionKey> = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let err = |problem| PartitionConfigError {
            entry: entry.to_string(),
            problem,
        };
        let (name, source) = entry.split_once('=').ok_or(err("expected name=source"))?;
        let (name, source) = (name.trim(), source.trim());
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(err("the name must be non-empty [A-Za-z0-9_]"));
        }
        if keys.iter().any(|k| k.name == name) {
            return Err(err("the name is repeated"));
        }
        let source = match source {
            "@arrival_date" => PartitionSource::ArrivalDate,
            "@arrival_hour" => PartitionSource::ArrivalHour,
            "@arrival_year" => PartitionSource::ArrivalYear,
            "@arrival_month" => PartitionSource::ArrivalMonth,
            "@arrival_day" => PartitionSource::ArrivalDay,
            s if s.starts_with('@') => {
                return Err(err(
                    "unknown @source (use @arrival_date|hour|year|month|day)",
                ))
            }
            "" => return Err(err("the source is empty")),
            field => PartitionSource::Field(field.to_string()),
        };
        keys.push(PartitionKey {
            name: name.to_string(),
            source,
        });
    }
    Ok(keys)
}

/// The flattened fields the partition keys read (to watch while flattening).
pub fn watched_fields(keys: &[PartitionKey]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| match &k.source {
            PartitionSource::Field(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// A value safe as one S3 prefix segment: `[A-Za-z0-9._-]` kept, anything else `_`, at
/// most 128 bytes; empty (or `.`/`..`) becomes `default`.
pub fn sanitize_value(value: &str, default: &str) -> String {
    let mut clean: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    clean.truncate(128);
    if clean.is_empty() || clean == "." || clean == ".." {
        default.to_string()
    } else {
        clean
    }
}

/// (year, month, day, hour) in UTC of epoch milliseconds.
pub fn utc_parts(millis: i64) -> (i64, u32, u32, u32) {
    let secs = millis.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let hour = (secs.rem_euclid(86_400) / 3600) as u32;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, hour)
}

/// The partition keys of one record.
pub fn partition_values(
    keys: &[PartitionKey],
    watched: &[Option<String>],
    arrival_millis: i64,
    default: &str,
) -> BTreeMap<String, String> {
    let (year, month, day, hour) = utc_parts(arrival_millis);
    let mut field_index = 0;
    keys.iter()
        .map(|k| {
            let value = match &k.source {
                PartitionSource::Field(_) => {
                    let v = watched.get(field_index).and_then(Option::as_deref);
                    field_index += 1;
                    v.map(|v| sanitize_value(v, default))
                        .unwrap_or_else(|| default.to_string())
                }
                PartitionSource::ArrivalDate => format!("{year:04}-{month:02}-{day:02}"),
                PartitionSource::ArrivalHour => format!("{hour:02}"),
                PartitionSource::ArrivalYear => format!("{year:04}"),
                PartitionSource::ArrivalMonth => format!("{month:02}"),
                PartitionSource::ArrivalDay => format!("{day:02}"),
            };
            (k.name.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_arrival_sources() {
        let keys =
            parse_partition_keys("event=event_type, dt=@arrival_date,hour=@arrival_hour").unwrap();
        assert_eq!(
            keys[0],
            PartitionKey {
                name: "event".into(),
                source: PartitionSource::Field("event_type".into())
            }
        );
        assert_eq!(keys[1].source, PartitionSource::ArrivalDate);
        assert_eq!(watched_fields(&keys), vec!["event_type"]);
        assert!(parse_partition_keys("").unwrap().is_empty());
        for bad in ["event", "=x", "a b=x", "a=x,a=y", "a=@arrival_week", "a="] {
            assert!(parse_partition_keys(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_sanitised_and_defaulted() {
        assert_eq!(sanitize_value("page/view ü", "unknown"), "page_view__");
        assert_eq!(sanitize_value("", "unknown"), "unknown");
        assert_eq!(sanitize_value("..", "unknown"), "unknown");
        assert_eq!(sanitize_value(&"x".repeat(300), "u").len(), 128);
    }

    #[test]
    fn arrival_time_parts_are_utc() {
        // 2026-11-22T01:02:03.456Z
        assert_eq!(utc_parts(1_795_309_323_456), (2026, 11, 22, 1));
        assert_eq!(utc_parts(0), (1970, 1, 1, 0));
        assert_eq!(utc_parts(951_782_400_000), (2000, 2, 29, 0));
        let keys = parse_partition_keys("event=event_type,dt=@arrival_date,hour=@arrival_hour,y=@arrival_year,m=@arrival_month,d=@arrival_day").unwrap();
        let values = partition_values(&keys, &[None], 1_795_309_323_456, "unknown");
        let expected: Vec<(&str, &str)> = vec![
            ("d", "22"),
            ("dt", "2026-11-22"),
            ("event", "unknown"),
            ("hour", "01"),
            ("m", "11"),
            ("y", "2026"),
        ];
        assert_eq!(
            values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            expected
        );
    }
}
