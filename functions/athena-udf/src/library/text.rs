//! UDFs for clickstream and catalog lakes: user agents, e-mail and IP anonymisation,
//! JSON flattening (the firehose-flatten flattener) and language detection.

use crate::udf::RowValue;
use ferrolake_flatten::{FlattenOptions, Flattener};
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// woothee's placeholder for "could not tell"; SQL says that with NULL.
const UNKNOWN: &str = "UNKNOWN";

fn known(value: &str) -> Option<&str> {
    (!value.is_empty() && value != UNKNOWN).then_some(value)
}

/// The fields of `parse_user_agent`'s ROW, in order.
pub const USER_AGENT_FIELDS: [&str; 6] =
    ["category", "name", "version", "os", "os_version", "vendor"];

/// `ROW(category varchar, name varchar, version varchar, os varchar, os_version varchar, vendor varchar)`.
pub fn user_agent_type() -> arrow_schema::DataType {
    let fields: Vec<arrow_schema::Field> = USER_AGENT_FIELDS
        .iter()
        .map(|name| arrow_schema::Field::new(*name, arrow_schema::DataType::Utf8, true))
        .collect();
    arrow_schema::DataType::Struct(fields.into())
}

/// `parse_user_agent(varchar) -> ROW(category, name, version, os, os_version, vendor)`,
/// all VARCHAR; parts the parser cannot tell are NULL.
pub fn parse_user_agent(user_agent: Option<&str>) -> Option<RowValue> {
    let parsed = woothee::parser::Parser::new().parse(user_agent?)?;
    Some(
        RowValue::default()
            .with("category", known(parsed.category))
            .with("name", known(parsed.name))
            .with("version", known(parsed.version))
            .with("os", known(parsed.os))
            .with("os_version", known(&parsed.os_version))
            .with("vendor", known(parsed.vendor)),
    )
}

/// `mask_email(varchar) -> varchar`: `jane.doe@example.com` → `j***@example.com`. The
/// domain stays (useful for analytics); anything that is not `local@domain` is masked
/// whole (`***`), so a malformed value never leaks.
pub fn mask_email(email: Option<&str>) -> Option<String> {
    let email = email?.trim();
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            Some(format!("{first}***@{domain}"))
        }
        _ => Some("***".into()),
    }
}

/// `anonymize_ip(varchar) -> varchar`: IPv4 keeps its /24 (`203.0.113.77` →
/// `203.0.113.0`), IPv6 its /48 (`2001:db8:abcd:12::1` → `2001:db8:abcd::`),
/// IPv4-mapped IPv6 is treated as IPv4. Not an IP address → NULL.
pub fn anonymize_ip(ip: Option<&str>) -> Option<String> {
    let ip: IpAddr = ip?.trim().parse().ok()?;
    let masked = match ip {
        IpAddr::V4(v4) => IpAddr::V4(mask_v4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V6(mask_v4(v4).to_ipv6_mapped()),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 80) - 1))),
        },
    };
    Some(masked.to_string())
}

fn mask_v4(ip: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) & 0xffff_ff00)
}

thread_local! {
    /// One flattener per thread: it reuses its buffers across rows.
    static FLATTENER: RefCell<Option<Flattener>> = const { RefCell::new(None) };
}

/// The firehose-flatten defaults, for one JSON document per value and no trailing newline.
pub fn flatten_options() -> FlattenOptions {
    FlattenOptions {
        multi_json: false,
        append_newline: false,
        ..FlattenOptions::default()
    }
}

/// `flatten_json(varchar) -> varchar`: the firehose-flatten flattener with its default
/// options, so raw data can be backfilled with CTAS into the same columns. A value that is
/// not valid JSON gives NULL (and a log line), so one bad row does not fail a backfill.
pub fn flatten_json(json: Option<&str>) -> Option<String> {
    let json = json?;
    FLATTENER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let flattener = match slot.as_mut() {
            Some(f) => f,
            None => match Flattener::new(flatten_options()) {
                Ok(f) => slot.insert(f),
                Err(e) => {
                    tracing::error!(error = %e, "flatten_json: invalid flattener options");
                    return None;
                }
            },
        };
        let mut out = Vec::with_capacity(json.len() + 16);
        match flattener.flatten(json.as_bytes(), &mut out) {
            // The flattener writes valid UTF-8 JSON.
            Ok(_) => String::from_utf8(out).ok(),
            Err(e) => {
                tracing::warn!(error = %e, bytes = json.len(), "flatten_json: value is not flattenable JSON; returning NULL");
                None
            }
        }
    })
}

/// `detect_language(varchar) -> varchar`: the ISO 639-3 code (`eng`, `deu`, `fra`, …) of
/// the most likely language (whatlang's trigram model), NULL when the text has nothing to
/// go on (empty, digits, punctuation). Very short texts are best guesses.
pub fn detect_language(text: Option<&str>) -> Option<String> {
    whatlang::detect(text?).map(|info| info.lang().code().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udf::AnyValue;

    #[test]
    fn user_agents_parse_into_the_six_fields() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let row = parse_user_agent(Some(chrome)).unwrap();
        let get = |name: &str| {
            row.0
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("category"), AnyValue::from("pc"));
        assert_eq!(get("name"), AnyValue::from("Chrome"));
        assert_eq!(get("version"), AnyValue::from("120.0.0.0"));
        assert_eq!(get("os"), AnyValue::from("Windows 10"));
        assert_eq!(get("vendor"), AnyValue::from("Google"));
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        let row = parse_user_agent(Some(iphone)).unwrap();
        assert!(
            row.0
                .contains(&("category".into(), AnyValue::from("smartphone"))),
            "{row:?}"
        );
        assert!(
            row.0.contains(&("os".into(), AnyValue::from("iPhone"))),
            "{row:?}"
        );
        // Not a user agent the parser knows: a NULL row.
        assert_eq!(parse_user_agent(Some("curl-ish/0")), None);
        assert_eq!(parse_user_agent(None), None);
    }

    #[test]
    fn emails_are_masked() {
        let cases = [
            (Some("jane.doe@example.com"), Some("j***@example.com")),
            (Some(" Ünal@büro.de "), Some("Ü***@büro.de")),
            (Some("a@b@c.org"), Some("a***@c.org")),
            (Some("not-an-email"), Some("***")),
            (Some("@example.com"), Some("***")),
            (None, None),
        ];
        for (input, expected) in cases {
            assert_eq!(mask_email(input).as_deref(), expected, "{input:?}");
        }
    }

    #[test]
    fn ips_keep_their_network_only() {
        let cases = [
            ("203.0.113.77", Some("203.0.113.0")),
            ("2001:db8:abcd:12::1", Some("2001:db8:abcd::")),
            (
                "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff",
                Some("2001:db8:abcd::"),
            ),
            ("::ffff:198.51.100.23", Some("::ffff:198.51.100.0")),
            (" 10.1.2.3 ", Some("10.1.2.0")),
            ("999.1.1.1", None),
            ("example.com", None),
        ];
        for (input, expected) in cases {
            assert_eq!(anonymize_ip(Some(input)).as_deref(), expected, "{input}");
        }
        assert_eq!(anonymize_ip(None), None);
    }

    #[test]
    fn flatten_json_matches_the_firehose_defaults() {
        let out = flatten_json(Some(
            r#"{"User":{"Id":7,"Tags":["a",{"K-1":null}]},"n":1.50}"#,
        ))
        .unwrap();
        assert_eq!(
            out,
            r#"{"user_id":7,"user_tags":["a",{"k_1":null}],"n":1.50}"#
        );
        assert_eq!(flatten_json(Some("{not json")), None);
        assert_eq!(flatten_json(None), None);
    }

    #[test]
    fn languages_are_iso_639_3() {
        let cases = [
            (
                "The quick brown fox jumps over the lazy dog near the river bank",
                Some("eng"),
            ),
            (
                "Der schnelle braune Fuchs springt über den faulen Hund am Flussufer",
                Some("deu"),
            ),
            (
                "Le renard brun rapide saute par-dessus le chien paresseux près de la rivière",
                Some("fra"),
            ),
            ("", None),
            ("12345 !!!", None),
        ];
        for (text, expected) in cases {
            assert_eq!(detect_language(Some(text)).as_deref(), expected, "{text}");
        }
        assert_eq!(detect_language(None), None);
    }
}
