//! Seeded fault injection in front of moto or an HTTP stub: a configurable fraction of
//! requests (optionally only some operations) gets one of the faults real services
//! produce — 5xx, throttling, a slow answer, a dropped connection — and batch writes
//! (Kinesis PutRecords, Firehose PutRecordBatch) can have a fraction of their entries fail
//! alone, as the real services report them. moto produces none of these itself.

use super::http_stub::{FaultProxy, StubRequest, StubResponse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with an `InternalFailure` body.
    ServerError,
    /// HTTP 400 with a throttling error code (what AWS JSON services send).
    Throttled,
    /// The answer arrives after this long (provokes client timeouts when long enough).
    Slow(Duration),
    /// The connection is closed without an answer.
    Dropped,
    /// A plain HTTP status with a small JSON body (e.g. 429, 503 from an HTTP API).
    Status(u16),
}

/// What to inject, for the requests an operation filter selects.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// Fraction of selected requests that fail whole (0.0–1.0).
    pub request_fraction: f64,
    /// The faults to choose from, uniformly.
    pub faults: Vec<Fault>,
    /// Fraction of the entries of a PutRecords / PutRecordBatch that fail alone.
    pub entry_fraction: f64,
    /// Only requests whose `x-amz-target` (or path, for plain HTTP) contains one of these;
    /// empty selects every request.
    pub operations: Vec<String>,
    pub seed: u64,
    /// Operations forwarded one at a time (`x-amz-target` contains one of these): moto
    /// 5.2.5's Kinesis loses records under concurrent PutRecords (measured: 96 of 10,000
    /// with four writers), which a soak must not mistake for the function's loss.
    pub serialize: Vec<String>,
}

impl FaultPlan {
    /// `fraction` of every request fails with any of the four faults (1 s when slow).
    pub fn uniform(fraction: f64, seed: u64) -> Self {
        Self {
            request_fraction: fraction,
            faults: vec![
                Fault::ServerError,
                Fault::Throttled,
                Fault::Slow(Duration::from_secs(1)),
                Fault::Dropped,
            ],
            entry_fraction: 0.0,
            operations: Vec::new(),
            seed,
            serialize: Vec::new(),
        }
    }
}

/// Counts of what was injected.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub requests: AtomicU64,
    pub server_errors: AtomicU64,
    pub throttled: AtomicU64,
    pub slow: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_entries: AtomicU64,
}

impl FaultCounts {
    pub fn injected(&self) -> u64 {
        self.server_errors.load(Ordering::SeqCst)
            + self.throttled.load(Ordering::SeqCst)
            + self.slow.load(Ordering::SeqCst)
            + self.dropped.load(Ordering::SeqCst)
            + self.failed_entries.load(Ordering::SeqCst)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} requests: {} 5xx, {} throttled, {} slow, {} dropped; {} batch entries failed",
            self.requests.load(Ordering::SeqCst),
            self.server_errors.load(Ordering::SeqCst),
            self.throttled.load(Ordering::SeqCst),
            self.slow.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
            self.failed_entries.load(Ordering::SeqCst)
        )
    }
}

/// The batch-write operations whose entries can fail alone: (target, request list, response
/// list, failed-count field, error code).
const BATCH_WRITES: [(&str, &str, &str, &str, &str); 2] = [
    (
        "Kinesis_20131202.PutRecords",
        "Records",
        "Records",
        "FailedRecordCount",
        "ProvisionedThroughputExceededException",
    ),
    (
        "Firehose_20150804.PutRecordBatch",
        "Records",
        "RequestResponses",
        "FailedPutCount",
        "ServiceUnavailableException",
    ),
];

fn selected(plan: &FaultPlan, request: &StubRequest) -> bool {
    if plan.operations.is_empty() {
        return true;
    }
    let target = request
        .headers
        .get("x-amz-target")
        .cloned()
        .unwrap_or_else(|| request.path.clone());
    plan.operations
        .iter()
        .any(|op| target.contains(op.as_str()))
}

fn whole_request_fault(fault: Fault, counts: &FaultCounts) -> Option<StubResponse> {
    Some(match fault {
        Fault::ServerError => {
            counts.server_errors.fetch_add(1, Ordering::SeqCst);
            StubResponse::json(
                500,
                &json!({"__type": "InternalFailure", "message": "injected server error"}),
            )
        }
        Fault::Throttled => {
            counts.throttled.fetch_add(1, Ordering::SeqCst);
            StubResponse::json(
                400,
                &json!({"__type": "ThrottlingException", "message": "Rate exceeded (injected)"}),
            )
        }
        Fault::Dropped => {
            counts.dropped.fetch_add(1, Ordering::SeqCst);
            StubResponse::dropped()
        }
        Fault::Status(status) => {
            counts.server_errors.fetch_add(1, Ordering::SeqCst);
            StubResponse::json(status, &json!({"error": format!("injected {status}")}))
        }
        Fault::Slow(_) => return None,
    })
}

/// A [`FaultProxy`] in front of `upstream` injecting `plan`; returns the proxy and its counts.
pub async fn chaos_proxy(
    upstream: &str,
    plan: FaultPlan,
) -> std::io::Result<(FaultProxy, Arc<FaultCounts>)> {
    let counts = Arc::new(FaultCounts::default());
    let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(plan.seed)));
    let plan = Arc::new(plan);
    let (req_counts, req_rng, req_plan) = (counts.clone(), rng.clone(), plan.clone());
    let on_request = Arc::new(move |request: &mut StubRequest| {
        req_counts.requests.fetch_add(1, Ordering::SeqCst);
        if !selected(&req_plan, request) {
            return Ok(None);
        }
        let mut rng = req_rng.lock().unwrap_or_else(|p| p.into_inner());
        if !req_plan.faults.is_empty() && rng.random_bool(req_plan.request_fraction.clamp(0.0, 1.0))
        {
            let fault = req_plan.faults[rng.random_range(0..req_plan.faults.len())];
            if let Some(response) = whole_request_fault(fault, &req_counts) {
                return Err(response);
            }
            if let Fault::Slow(delay) = fault {
                req_counts.slow.fetch_add(1, Ordering::SeqCst);
                return Ok(Some(json!({"slow_ms": delay.as_millis() as u64})));
            }
        }
        // Entry-level failures: take the chosen entries out of the request (the service
        // never writes them) and answer them as failed at their original positions.
        let target = request
            .headers
            .get("x-amz-target")
            .cloned()
            .unwrap_or_default();
        let Some(&(_, list, _, _, _)) = BATCH_WRITES.iter().find(|b| b.0 == target) else {
            return Ok(None);
        };
        if req_plan.entry_fraction <= 0.0 {
            return Ok(None);
        }
        let Ok(mut body) = serde_json::from_slice::<Value>(&request.body) else {
            return Ok(None);
        };
        let entries = body[list].as_array().cloned().unwrap_or_default();
        let mut kept = Vec::new();
        let mut failed_at = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            if rng.random_bool(req_plan.entry_fraction.clamp(0.0, 1.0)) {
                failed_at.push(i);
            } else {
                kept.push(entry.clone());
            }
        }
        // The service is never sent an empty batch (AWS refuses one, and so does the
        // contract layer behind this proxy): when every entry was chosen, the last is kept.
        if kept.is_empty() {
            if let Some(last) = failed_at.pop() {
                kept.push(entries[last].clone());
            }
        }
        if failed_at.is_empty() {
            return Ok(None);
        }
        req_counts
            .failed_entries
            .fetch_add(failed_at.len() as u64, Ordering::SeqCst);
        body[list] = Value::Array(kept);
        request.body = serde_json::to_vec(&body).unwrap_or_default();
        Ok(Some(json!({"failed_at": failed_at, "target": target})))
    });
    let on_response = Arc::new(
        |_: &StubRequest, state: Option<Value>, response: &mut StubResponse| {
            let Some(state) = state else { return };
            if let Some(ms) = state["slow_ms"].as_u64() {
                response.delay = Duration::from_millis(ms);
                return;
            }
            let target = state["target"].as_str().unwrap_or_default();
            let Some(&(_, _, results_key, count_key, code)) =
                BATCH_WRITES.iter().find(|b| b.0 == target)
            else {
                return;
            };
            let failed_at: Vec<usize> =
                serde_json::from_value(state["failed_at"].clone()).unwrap_or_default();
            let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else {
                return;
            };
            let mut results = body[results_key].as_array().cloned().unwrap_or_default();
            for i in failed_at.iter().copied() {
                let at = i.min(results.len());
                results.insert(
                    at,
                    json!({"ErrorCode": code, "ErrorMessage": "injected entry failure"}),
                );
            }
            let already = body[count_key].as_u64().unwrap_or(0);
            body[results_key] = Value::Array(results);
            body[count_key] = json!(already + failed_at.len() as u64);
            response.body = serde_json::to_vec(&body).unwrap_or_default();
        },
    );
    let serialized = plan.serialize.clone();
    let serialize = Arc::new(move |request: &StubRequest| {
        let target = request
            .headers
            .get("x-amz-target")
            .map(String::as_str)
            .unwrap_or_default();
        serialized.iter().any(|op| target.contains(op.as_str()))
    });
    let proxy = FaultProxy::start_serializing(upstream, on_request, on_response, serialize).await?;
    Ok((proxy, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpStub;

    #[tokio::test]
    async fn a_fraction_of_requests_fail_and_batch_entries_fail_alone() {
        let upstream = HttpStub::start(|request| async move {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let n = body["Records"].as_array().map(Vec::len).unwrap_or(0);
            StubResponse::json(
                200,
                &json!({"FailedRecordCount": 0, "Records": vec![json!({"SequenceNumber": "1"}); n]}),
            )
        })
        .await
        .unwrap();
        let mut plan = FaultPlan::uniform(0.3, 7);
        plan.faults = vec![Fault::ServerError, Fault::Throttled];
        plan.entry_fraction = 0.2;
        let (proxy, counts) = chaos_proxy(&upstream.url(), plan).await.unwrap();
        let client = reqwest_free_post(&proxy.url());
        let mut failed_whole = 0;
        let mut failed_entries = 0;
        for _ in 0..100 {
            let (status, body) = client(
                "Kinesis_20131202.PutRecords",
                r#"{"Records":[{"Data":"a"},{"Data":"b"},{"Data":"c"},{"Data":"d"},{"Data":"e"}]}"#,
            )
            .await;
            if status != 200 {
                failed_whole += 1;
                continue;
            }
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                body["Records"].as_array().unwrap().len(),
                5,
                "one result per entry"
            );
            failed_entries += body["FailedRecordCount"].as_u64().unwrap();
        }
        assert!(
            (15..=45).contains(&failed_whole),
            "{failed_whole} of 100 failed whole"
        );
        assert!(failed_entries > 20, "{failed_entries} entries failed");
        assert_eq!(counts.failed_entries.load(Ordering::SeqCst), failed_entries);
        assert_eq!(
            counts.server_errors.load(Ordering::SeqCst) + counts.throttled.load(Ordering::SeqCst),
            failed_whole
        );
    }

    /// A tiny POST helper over the crate's own forwarder (no HTTP client crate here).
    fn reqwest_free_post(
        url: &str,
    ) -> impl Fn(&'static str, &'static str) -> futures::future::BoxFuture<'static, (u16, String)>
    {
        let upstream = url.trim_start_matches("http://").to_string();
        move |target, body| {
            let upstream = upstream.clone();
            Box::pin(async move {
                let request = StubRequest {
                    method: "POST".into(),
                    path: "/".into(),
                    headers: [("x-amz-target".to_string(), target.to_string())].into(),
                    body: body.as_bytes().to_vec(),
                };
                match super::super::http_stub::forward(&upstream, &request).await {
                    Ok(r) => (r.status, String::from_utf8_lossy(&r.body).to_string()),
                    Err(_) => (0, String::new()),
                }
            })
        }
    }
}
