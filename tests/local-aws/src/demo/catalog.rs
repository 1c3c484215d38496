//! The local catalog API and the notifications the demo publishes. Shows are generated
//! from their id (seeded), so the API answers the same item every time and a test can
//! recompute what it should see.

use crate::{HttpStub, StubResponse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const CITIES: [(&str, &str, f64, f64); 5] = [
    ("Oslo", "NO", 59.91, 10.75),
    ("Lisboa", "PT", 38.72, -9.14),
    ("Berlin", "DE", 52.52, 13.40),
    ("Montréal", "CA", 45.50, -73.57),
    ("Kyoto", "JP", 35.01, 135.77),
];
const GENRES: [&str; 5] = ["jazz", "comedy", "talk", "indie", "classical"];
const DESCRIPTIONS: [&str; 4] = [
    "A late-night conversation with musicians about their first records and the cities that shaped them.",
    "Une soirée d'humour en direct avec des invités surprises et beaucoup d'improvisation.",
    "Eine Live-Sendung über neue Musik aus Berlin mit Gästen aus der ganzen Stadt.",
    "Uma noite de fado ao vivo com convidados especiais e histórias de Lisboa.",
];
const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
];

/// The id the catalog answers `400 Bad Request` for (a poison message, dead-lettered).
pub const REJECTED_ID: &str = "show-rejected";

fn seed(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The show `id` as the catalog API serves it: nested 3–5 levels, arrays of objects and
/// strings, decimals as written.
pub fn show(id: &str) -> Value {
    let mut rng = StdRng::seed_from_u64(seed(id));
    let (city, country, lat, lon) = CITIES[rng.random_range(0..CITIES.len())];
    let genre = GENRES[rng.random_range(0..GENRES.len())];
    let n = rng.random_range(100..999);
    let lineup: Vec<Value> = (0..rng.random_range(1..4))
        .map(|i| json!({"name": format!("Artist {}", rng.random_range(1..500)), "role": if i == 0 {"host"} else {"guest"}}))
        .collect();
    json!({
        "id": id,
        "title": format!("{} {} Live #{n}", city, genre),
        "status": "scheduled",
        "host": {"name": format!("Host {n}"), "email": format!("host{n}@shows.example.com")},
        "venue": {"name": format!("{city} Hall"), "address": {"city": city, "country": country,
                  "geo": {"lat": lat, "lon": lon}}},
        "schedule": {"starts_at": format!("2026-12-{:02}T20:00:00Z", 1 + n % 28), "duration_min": 60 + n % 90},
        "lineup": lineup,
        "tickets": {"currency": "EUR", "tiers": [
            {"name": "standard", "price": format!("{}.{:02}", 10 + n % 40, n % 100)},
            {"name": "vip", "price": format!("{}.50", 60 + n % 40)}]},
        "tags": [genre, "live", country.to_lowercase()],
        "description": DESCRIPTIONS[rng.random_range(0..DESCRIPTIONS.len())],
        "stats": {"followers": rng.random_range(0..100_000), "rating": format!("{}.{}", 3 + n % 2, n % 10)},
        "last_client": {"user_agent": AGENTS[rng.random_range(0..AGENTS.len())],
                        "ip": format!("203.0.113.{}", n % 250)},
    })
}

/// Serves `GET /items/{id}` to callers presenting `x-api-key`: the generated show, `404`
/// for ids starting `gone-` (a deleted item: catalog-fetch writes a tombstone), `400` for
/// [`REJECTED_ID`], `401` without the key.
pub struct CatalogApi {
    stub: HttpStub,
    pub requests: Arc<AtomicU64>,
    pub unauthorized: Arc<AtomicU64>,
}

impl CatalogApi {
    pub async fn start(api_key: &str) -> std::io::Result<Self> {
        let requests = Arc::new(AtomicU64::new(0));
        let unauthorized = Arc::new(AtomicU64::new(0));
        let (counter, refused) = (requests.clone(), unauthorized.clone());
        let api_key = api_key.to_string();
        let stub = HttpStub::start(move |request| {
            counter.fetch_add(1, Ordering::SeqCst);
            let authorized = request.headers.get("x-api-key") == Some(&api_key);
            if !authorized {
                refused.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if !authorized {
                    return StubResponse::json(
                        401,
                        &json!({"error": "missing or wrong x-api-key"}),
                    );
                }
                let Some(id) = request.path.strip_prefix("/items/") else {
                    return StubResponse::json(404, &json!({"error": "not found"}));
                };
                let id = id.split('?').next().unwrap_or_default();
                if id == REJECTED_ID {
                    StubResponse::json(400, &json!({"error": format!("invalid item id {id}")}))
                } else if id.starts_with("gone-") {
                    StubResponse::json(404, &json!({"error": "no such item"}))
                } else {
                    StubResponse::json(200, &show(id))
                }
            }
        })
        .await?;
        Ok(Self {
            stub,
            requests,
            unauthorized,
        })
    }

    /// The URL template for catalog-fetch (`CatalogApiUrl`).
    pub fn url_template(&self) -> String {
        format!("{}/items/{{id}}", self.stub.url())
    }
}

/// One notification the demo publishes to the catalog topic.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The show id; `None` for a malformed notification.
    pub show_id: Option<String>,
    pub body: String,
    /// Why a malformed notification is malformed.
    pub flaw: Option<&'static str>,
}

/// `events` good changes (distinct shows, a few of them deletions) and three malformed
/// notifications: not JSON, no id, and an id the catalog API rejects.
pub fn notifications(events: usize) -> Vec<Notification> {
    let changes = ["created", "updated", "rescheduled", "updated"];
    let mut out: Vec<Notification> = (0..events)
        .map(|i| {
            // Every tenth change is a deletion: the API answers 404 and the lake gets a tombstone.
            let (id, change) = if i % 10 == 9 {
                (format!("gone-{i:05}"), "deleted")
            } else {
                (format!("show-{i:05}"), changes[i % changes.len()])
            };
            Notification {
                body: json!({"showId": id, "changeType": change,
                             "occurredAt": format!("2026-11-22T06:{:02}:{:02}Z", (i / 60) % 60, i % 60)})
                .to_string(),
                show_id: Some(id),
                flaw: None,
            }
        })
        .collect();
    out.push(Notification {
        show_id: None,
        body: "{\"showId\": \"show-broken\", \"changeType\": ".into(),
        flaw: Some("not JSON"),
    });
    out.push(Notification {
        show_id: None,
        body: json!({"changeType": "updated", "note": "no id"}).to_string(),
        flaw: Some("no item id"),
    });
    out.push(Notification {
        show_id: None,
        body: json!({"showId": REJECTED_ID, "changeType": "updated"}).to_string(),
        flaw: Some("catalog API answers 400"),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_are_deterministic_and_nested() {
        assert_eq!(show("show-00001"), show("show-00001"));
        assert_ne!(show("show-00001")["title"], show("show-00002")["title"]);
        assert!(
            show("x").pointer("/venue/address/geo/lat").is_some(),
            "4 levels deep"
        );
        let n = notifications(20);
        assert_eq!(n.len(), 23);
        assert_eq!(n.iter().filter(|n| n.flaw.is_some()).count(), 3);
        assert_eq!(n[9].show_id.as_deref(), Some("gone-00009"));
    }
}
