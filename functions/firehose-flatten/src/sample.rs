//! A seeded generator of realistic clickstream events (nested 3–5 levels, arrays of
//! objects and strings, decimals) and Firehose events built from them — for tests and
//! benchmarks. Deterministic: the same seed gives the same bytes.

use base64::Engine;

/// xorshift64*: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const EVENT_TYPES: &[&str] = &[
    "page_view",
    "click",
    "add_to_cart",
    "purchase",
    "show_join",
    "show_leave",
    "search",
];
const COUNTRIES: &[&str] = &["NO", "SE", "DE", "FR", "US", "BR", "JP"];
const GENRES: &[&str] = &[
    "comedy",
    "true-crime",
    "music",
    "news",
    "sports",
    "tech",
    "history",
];
const PATHS: &[&str] = &[
    "/",
    "/shows/live",
    "/shows/123/episodes",
    "/search",
    "/checkout/cart",
    "/account/settings",
];

/// One clickstream event as compact JSON.
pub fn clickstream_event(rng: &mut Rng) -> String {
    let items: Vec<String> = (0..1 + rng.below(4))
        .map(|i| {
            format!(
                r#"{{"Sku":"SKU-{:06}","Name":"Item \"{}\" #{i}","Price":{{"Amount":{}.{:02},"Currency":"EUR"}},"Qty":{},"Tags":["{}","{}"]}}"#,
                rng.below(1_000_000),
                rng.pick(GENRES),
                rng.below(500),
                rng.below(100),
                1 + rng.below(5),
                rng.pick(GENRES),
                rng.pick(GENRES)
            )
        })
        .collect();
    let experiments: Vec<String> = (0..rng.below(3))
        .map(|i| {
            format!(
                r#"{{"id":"exp-{i}","variant":"{}"}}"#,
                if rng.below(2) == 0 {
                    "control"
                } else {
                    "treatment"
                }
            )
        })
        .collect();
    format!(
        concat!(
            r#"{{"eventId":"{:016x}{:016x}","eventType":"{}","timestamp":"2026-11-22T0{}:{:02}:{:02}.{:03}Z","#,
            r#""user":{{"id":{},"anonymousId":"anon-{:x}","profile":{{"tier":"{}","locale":"nb-NO","Preferences":{{"Genres":["{}","{}","{}"],"notifications":{{"email":{},"push":{}}}}}}}}},"#,
            r#""context":{{"app":{{"name":"ferrolake-app","version":"5.{}.{}","build":{}}},"device":{{"type":"{}","os":{{"name":"{}","version":"{}.{}"}},"screen":{{"width":{},"height":{},"density":{}.{}}}}},"#,
            r#""geo":{{"country":"{}","city":"City {}","lat":{}.{:05},"lon":{}.{:05}}}}},"#,
            r#""page":{{"path":"{}","referrer":"https://example.com/ref?q={}","title":"Show – episode {}","Query-Params":{{"utm_source":"newsletter","utm_campaign":"c{}"}}}},"#,
            r#""items":[{}],"experiments":[{}],"metrics":{{"load_ms":{}.{},"ttfb_ms":{}}}}}"#
        ),
        rng.next_u64(),
        rng.next_u64(),
        rng.pick(EVENT_TYPES),
        rng.below(10),
        rng.below(60),
        rng.below(60),
        rng.below(1000),
        rng.below(10_000_000_000),
        rng.next_u64() >> 16,
        if rng.below(4) == 0 { "premium" } else { "free" },
        rng.pick(GENRES),
        rng.pick(GENRES),
        rng.pick(GENRES),
        rng.below(2) == 0,
        rng.below(2) == 0,
        rng.below(30),
        rng.below(10),
        rng.below(100_000),
        if rng.below(2) == 0 {
            "mobile"
        } else {
            "desktop"
        },
        if rng.below(2) == 0 { "iOS" } else { "Android" },
        10 + rng.below(8),
        rng.below(10),
        320 + rng.below(3000),
        480 + rng.below(2000),
        1 + rng.below(3),
        rng.below(100),
        rng.pick(COUNTRIES),
        rng.below(500),
        rng.below(90),
        rng.below(100_000),
        rng.below(180),
        rng.below(100_000),
        rng.pick(PATHS),
        rng.below(1000),
        rng.below(300),
        rng.below(50),
        items.join(","),
        experiments.join(","),
        rng.below(3000),
        rng.below(10),
        rng.below(800)
    )
}

/// A Firehose transformation event of about `target_bytes` of event JSON, one clickstream
/// event per record; with `kinesis_source`, shaped like a Kinesis Data Stream source.
pub fn firehose_event(seed: u64, target_bytes: usize, kinesis_source: bool) -> String {
    let mut rng = Rng::new(seed);
    let mut records = Vec::new();
    let mut size = 300;
    let mut n = 0u64;
    while size < target_bytes {
        let data = base64::engine::general_purpose::STANDARD.encode(clickstream_event(&mut rng));
        let metadata = if kinesis_source {
            format!(
                r#","kinesisRecordMetadata":{{"shardId":"shardId-000000000000","partitionKey":"user-{}","approximateArrivalTimestamp":1795309323456,"sequenceNumber":"4963600000000000000000000000{n:020}","subsequenceNumber":0}}"#,
                rng.below(1000)
            )
        } else {
            String::new()
        };
        let record = format!(
            r#"{{"recordId":"49636000000000000000000000000000000000000000000{n:010}","approximateArrivalTimestamp":1795309323456,"data":"{data}"{metadata}}}"#
        );
        size += record.len() + 1;
        records.push(record);
        n += 1;
    }
    let source = if kinesis_source {
        r#""sourceKinesisStreamArn":"arn:aws:kinesis:us-east-1:123456789012:stream/ferrolake-catalog","#
    } else {
        ""
    };
    format!(
        r#"{{"invocationId":"00540a87-5050-496a-84e4-e7d92bbaf5e2","deliveryStreamArn":"arn:aws:firehose:us-east-1:123456789012:deliverystream/ferrolake-lake",{source}"region":"us-east-1","records":[{}]}}"#,
        records.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_nested_json_and_deterministic() {
        let mut rng = Rng::new(42);
        for _ in 0..200 {
            let text = clickstream_event(&mut rng);
            let v: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert!(
                v["user"]["profile"]["Preferences"]["notifications"].is_object(),
                "5 levels deep"
            );
            assert!(v["items"].as_array().is_some_and(|a| !a.is_empty()));
        }
        assert_eq!(
            firehose_event(7, 20_000, false),
            firehose_event(7, 20_000, false)
        );
        let event: serde_json::Value =
            serde_json::from_str(&firehose_event(7, 50_000, true)).unwrap();
        assert!(event["sourceKinesisStreamArn"].is_string());
        assert!(event["records"].as_array().unwrap().len() > 10);
    }
}
