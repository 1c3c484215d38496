//! Shared fixture of the catalog-fetch integration tests (moto, the catalog HTTP stub).
#![allow(dead_code, unused_imports)]

pub use aws_sdk_sqs::types::QueueAttributeName;
pub use catalog_fetch::catalog_api::{Auth, Authenticator, HttpCatalog};
pub use catalog_fetch::config::Config;
pub use catalog_fetch::handler::{metric, CatalogFetch};
pub use ferrolake_local_aws::{
    create_queue, read_stream, FaultProxy, HttpStub, SqsEventSource, StubRequest, StubResponse,
    TestEnv,
};
pub use ferrolake_shared::batch::PoisonPolicy;
pub use ferrolake_shared::batch::SqsBatchFunction;
pub use ferrolake_shared::retry::{Backoff, Deadline};
pub use ferrolake_shared::secrets::{SecretCache, SecretsManager};
pub use ferrolake_shared::streams::SdkStreams;
pub use ferrolake_shared::telemetry::Metrics;
pub use serde_json::{json, Value};
pub use std::collections::{BTreeMap, HashMap, HashSet};
pub use std::sync::{Arc, Mutex};
pub use std::time::Duration;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type Calls = Arc<Mutex<HashMap<String, usize>>>;

/// The catalog stub: behaviour by id prefix; counts calls per id.
pub async fn catalog_stub(calls: Calls, api_key: Option<&'static str>) -> HttpStub {
    HttpStub::start(move |request: StubRequest| {
        let calls = calls.clone();
        async move {
            let id = request.path.rsplit('/').next().unwrap_or_default().to_string();
            let n = {
                let mut calls = calls.lock().unwrap();
                let c = calls.entry(id.clone()).or_default();
                *c += 1;
                *c
            };
            if let Some(key) = api_key {
                if request.headers.get("x-api-key").map(String::as_str) != Some(key) {
                    return StubResponse::new(403, "forbidden");
                }
            }
            let item = json!({"id": id, "title": format!("Show {id}"), "venue": {"city": "Oslo", "internal": true}, "schedule": {"start": "2026-12-01T20:00:00Z"}});
            match id.split('-').next().unwrap_or_default() {
                "ok" => StubResponse::json(200, &item),
                "gone" => StubResponse::new(404, "not found"),
                "flaky" if n <= 2 => StubResponse::new(if n == 1 { 500 } else { 429 }, "busy"),
                "flaky" => StubResponse::json(200, &item),
                "throttled" => StubResponse::new(429, "slow down"),
                "bad" => StubResponse::new(400, "bad id"),
                "slow" => StubResponse::json(200, &item).delayed(Duration::from_millis(150)),
                "hang" => StubResponse::json(200, &item).delayed(Duration::from_secs(3)),
                "drop" if n == 1 => StubResponse::dropped(),
                "drop" => StubResponse::json(200, &item),
                _ => StubResponse::new(500, "unexpected"),
            }
        }
    })
    .await
    .expect("stub starts")
}

pub struct Pipeline {
    pub env: TestEnv,
    pub sns: aws_sdk_sns::Client,
    pub topic: String,
    pub source: SqsEventSource,
    pub stream: String,
}

/// What one event-source-mapping round left in `batchItemFailures`: the notification bodies.
pub struct Round {
    pub failed: Vec<Value>,
    pub metrics: Metrics,
}

pub fn notification_of(sqs_body: &str) -> Value {
    let body: Value = serde_json::from_str(sqs_body).unwrap_or(Value::Null);
    match body.get("Message").and_then(Value::as_str) {
        Some(message) => serde_json::from_str(message).unwrap_or(Value::Null),
        None => body,
    }
}

impl Pipeline {
    pub async fn new(test: &str, raw_delivery: bool) -> Result<Self, Box<dyn std::error::Error>> {
        let env = TestEnv::new(test).await;
        let sns = aws_sdk_sns::Client::new(env.sdk_config());
        let sqs = aws_sdk_sqs::Client::new(env.sdk_config());
        let topic = sns
            .create_topic()
            .name(env.name("changes"))
            .send()
            .await?
            .topic_arn
            .unwrap_or_default();
        let (queue_url, queue_arn) = create_queue(&sqs, &env.name("changes")).await?;
        sqs.set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(QueueAttributeName::VisibilityTimeout, "1")
            .send()
            .await?;
        let mut subscribe = sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&queue_arn);
        if raw_delivery {
            subscribe = subscribe.attributes("RawMessageDelivery", "true");
        }
        subscribe.send().await?;
        let stream = env.name("catalog");
        aws_sdk_kinesis::Client::new(env.sdk_config())
            .create_stream()
            .stream_name(&stream)
            .shard_count(1)
            .send()
            .await?;
        Ok(Self {
            env,
            sns,
            topic,
            source: SqsEventSource {
                sqs,
                queue_url,
                queue_arn,
            },
            stream,
        })
    }

    pub async fn publish(&self, messages: &[Value]) -> TestResult {
        for m in messages {
            self.sns
                .publish()
                .topic_arn(&self.topic)
                .message(m.to_string())
                .send()
                .await?;
        }
        Ok(())
    }

    pub fn config(&self, url: &str, extra: &[(&str, &str)]) -> Config {
        let mut pairs: Vec<(String, String)> = extra
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        pairs.extend([
            ("CATALOG_API_URL".to_string(), format!("{url}/items/{{id}}")),
            ("STREAM_NAME".to_string(), self.stream.clone()),
            (
                "CATALOG_FIELDS".to_string(),
                "title,venue.city,/schedule/start:starts_at".to_string(),
            ),
            ("CATALOG_TIMEOUT_MS".to_string(), "500".to_string()),
        ]);
        Config::from_lookup(move |k| pairs.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone()))
            .expect("config")
    }

    pub fn function(
        &self,
        config: Config,
        kinesis: aws_sdk_kinesis::Client,
    ) -> CatalogFetch<HttpCatalog, SdkStreams> {
        let auth = Authenticator::new(&config.auth, config.secret_ttl, self.env.sdk_config())
            .expect("authenticator");
        let catalog = HttpCatalog::new(config.url_template.clone(), config.timeout, auth)
            .expect("http client");
        let streams = SdkStreams {
            firehose: None,
            kinesis: Some(kinesis),
        };
        CatalogFetch::new(catalog, streams, config).with_backoff(Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
            max_attempts: 3,
        })
    }

    pub async fn invoke(
        &self,
        f: &CatalogFetch<HttpCatalog, SdkStreams>,
        want: usize,
    ) -> Result<Round, Box<dyn std::error::Error>> {
        let event = self.source.poll(want, Duration::from_secs(10)).await?;
        assert_eq!(
            event.records.len(),
            want,
            "all published notifications arrived"
        );
        let metrics = Metrics::new("catalog-fetch", false);
        let report = f
            .process(
                &event,
                &Deadline::after(Duration::from_secs(60), Duration::from_secs(1)),
                &metrics,
            )
            .await;
        let response = report.into_response(PoisonPolicy::DeadLetter);
        self.source.complete(&event, &response).await?;
        let bodies: HashMap<String, String> = event
            .records
            .iter()
            .map(|r| {
                (
                    r.message_id.clone().unwrap(),
                    r.body.clone().unwrap_or_default(),
                )
            })
            .collect();
        let failed = response
            .batch_item_failures
            .iter()
            .map(|f| notification_of(&bodies[&f.item_identifier]))
            .collect();
        Ok(Round { failed, metrics })
    }

    pub async fn stream_records(
        &self,
    ) -> Result<BTreeMap<String, Vec<Value>>, Box<dyn std::error::Error>> {
        let kinesis = aws_sdk_kinesis::Client::new(self.env.sdk_config());
        let mut by_key: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for r in read_stream(&kinesis, &self.stream).await? {
            by_key
                .entry(r.partition_key().unwrap_or_default().to_string())
                .or_default()
                .push(serde_json::from_slice(r.data().as_ref())?);
        }
        Ok(by_key)
    }
}

pub fn notification(id: &str, kind: &str) -> Value {
    json!({"showId": id, "changeType": kind, "occurredAt": "2026-11-22T01:00:00Z"})
}

pub fn ids(failed: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = failed
        .iter()
        .map(|n| n["showId"].as_str().unwrap_or("<no id>").to_string())
        .collect();
    ids.sort();
    ids
}
