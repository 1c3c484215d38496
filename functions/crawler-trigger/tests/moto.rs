//! crawler-trigger against moto: real S3 notifications (direct and through SNS) delivered
//! to SQS, the batch driven like Lambda's event source mapping, real Glue crawlers and
//! partitions.

use aws_sdk_glue::types::{
    Column, CrawlerState, CrawlerTargets, DatabaseInput, S3Target, SerDeInfo, StorageDescriptor,
    TableInput,
};
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration, TopicConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use crawler_trigger::config::Config;
use crawler_trigger::glue::GlueSdk;
use crawler_trigger::handler::{metric, CrawlerTrigger};
use ferrolake_local_aws::{create_queue, moto, SqsEventSource, TestEnv};
use ferrolake_shared::batch::SqsBatchFunction;
use ferrolake_shared::retry::{Backoff, Deadline};
use ferrolake_shared::telemetry::Metrics;
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Long enough for a second batch to find the crawler still running, short enough to wait for.
const CRAWL_SECONDS: u64 = 4;

/// What one event-source-mapping round saw: received and failed message ids (sorted).
struct Round {
    received: Vec<String>,
    failed: Vec<String>,
    metrics: Metrics,
}

struct Lake {
    env: TestEnv,
    glue: aws_sdk_glue::Client,
    s3: aws_sdk_s3::Client,
    bucket: String,
    database: String,
    source: SqsEventSource,
    dlq_url: String,
}

impl Lake {
    /// A bucket whose notifications go to a queue (visibility 1 s, DLQ after 2 receives),
    /// directly or through an SNS topic, and a Glue database.
    async fn new(test: &str, via_sns: bool) -> Result<Self, Box<dyn std::error::Error>> {
        let env = TestEnv::new(test).await;
        moto().set_transition(
            "glue::crawl",
            &format!(r#"{{"progression":"time","seconds":{CRAWL_SECONDS}}}"#),
        );
        let sqs = aws_sdk_sqs::Client::new(env.sdk_config());
        let s3 = env.s3();
        let glue = aws_sdk_glue::Client::new(env.sdk_config());
        let bucket = env.name("transformed");
        let (dlq_url, dlq_arn) = create_queue(&sqs, &env.name("objects-dlq")).await?;
        let (queue_url, queue_arn) = create_queue(&sqs, &env.name("objects")).await?;
        sqs.set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(QueueAttributeName::VisibilityTimeout, "1")
            .attributes(
                QueueAttributeName::RedrivePolicy,
                format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#),
            )
            .send()
            .await?;
        s3.create_bucket().bucket(&bucket).send().await?;
        let notifications = if via_sns {
            let sns = aws_sdk_sns::Client::new(env.sdk_config());
            let topic = sns
                .create_topic()
                .name(env.name("objects-topic"))
                .send()
                .await?
                .topic_arn
                .unwrap_or_default();
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("sqs")
                .endpoint(&queue_arn)
                .send()
                .await?;
            NotificationConfiguration::builder()
                .topic_configurations(
                    TopicConfiguration::builder()
                        .topic_arn(topic)
                        .events(Event::S3ObjectCreated)
                        .build()?,
                )
                .build()
        } else {
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(&queue_arn)
                        .events(Event::S3ObjectCreated)
                        .build()?,
                )
                .build()
        };
        s3.put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(notifications)
            .send()
            .await?;
        let database = env.name("lake").replace('-', "_");
        glue.create_database()
            .database_input(DatabaseInput::builder().name(&database).build()?)
            .send()
            .await?;
        let source = SqsEventSource {
            sqs,
            queue_url,
            queue_arn,
        };
        Ok(Self {
            env,
            glue,
            s3,
            bucket,
            database,
            source,
            dlq_url,
        })
    }

    async fn crawler(
        &self,
        name: &str,
        prefix: &str,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let crawler = self.env.name(name);
        self.glue
            .create_crawler()
            .name(&crawler)
            .role("arn:aws:iam::123456789012:role/ferrolake-crawler")
            .database_name(&self.database)
            .targets(
                CrawlerTargets::builder()
                    .s3_targets(
                        S3Target::builder()
                            .path(format!("s3://{}/{prefix}", self.bucket))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await?;
        Ok(crawler)
    }

    async fn put(&self, keys: &[&str]) -> TestResult {
        for key in keys {
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(*key)
                .body(b"{\"id\":1}\n".to_vec().into())
                .send()
                .await?;
        }
        Ok(())
    }

    fn trigger(
        &self,
        routes: serde_json::Value,
        extra: &[(&str, &str)],
    ) -> CrawlerTrigger<GlueSdk> {
        let routes = routes.to_string();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_lookup(move |name| {
            if name == "CRAWLER_ROUTES" {
                return Some(routes.clone());
            }
            extra
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("valid test config");
        let backoff = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            max_attempts: 3,
        };
        CrawlerTrigger::new(GlueSdk::new(self.glue.clone()), config).with_backoff(backoff)
    }

    /// One event-source-mapping round: poll up to `want` messages, invoke, delete successes.
    async fn invoke(
        &self,
        trigger: &CrawlerTrigger<GlueSdk>,
        want: usize,
    ) -> Result<Round, Box<dyn std::error::Error>> {
        let event = self.source.poll(want, Duration::from_secs(10)).await?;
        let metrics = Metrics::new("crawler-trigger", false);
        let deadline = Deadline::after(Duration::from_secs(30), Duration::from_secs(1));
        let response = trigger
            .process(&event, &deadline, &metrics)
            .await
            .into_response(Default::default());
        self.source.complete(&event, &response).await?;
        let mut failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        failed.sort();
        let mut received: Vec<String> = event
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect();
        received.sort();
        Ok(Round {
            received,
            failed,
            metrics,
        })
    }

    async fn crawler_state(
        &self,
        crawler: &str,
    ) -> Result<Option<CrawlerState>, Box<dyn std::error::Error>> {
        Ok(self
            .glue
            .get_crawler()
            .name(crawler)
            .send()
            .await?
            .crawler
            .and_then(|c| c.state))
    }
}

#[tokio::test]
async fn coalesced_start_then_running_crawler_defers_then_retry_starts_it() -> TestResult {
    let lake = Lake::new("coalesce", false).await?;
    let crawler = lake.crawler("shows", "shows/").await?;
    let routes =
        serde_json::json!([{"bucket": lake.bucket, "prefix": "shows/", "crawler": crawler}]);
    let trigger = lake.trigger(routes, &[]);

    // Batch 1: the s3:TestEvent moto sent on configuration, plus three objects → one start.
    lake.put(&[
        "shows/dt=2026-11-22/a.json",
        "shows/dt=2026-11-22/b.json",
        "shows/dt=2026-11-22/c.json",
    ])
    .await?;
    let Round {
        received,
        failed,
        metrics,
    } = lake.invoke(&trigger, 4).await?;
    assert_eq!(received.len(), 4);
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(metrics.counter(metric::TEST_EVENTS), 1);
    assert_eq!(metrics.counter(metric::CRAWLS_STARTED), 1);
    assert_eq!(
        lake.crawler_state(&crawler).await?,
        Some(CrawlerState::Running)
    );

    // Batch 2 while the crawl runs: exactly its messages are reported for retry.
    lake.put(&["shows/dt=2026-11-22/d.json", "shows/dt=2026-11-22/e.json"])
        .await?;
    let batch2 = lake.invoke(&trigger, 2).await?;
    assert_eq!(batch2.received.len(), 2);
    assert_eq!(batch2.failed, batch2.received);
    let metrics = batch2.metrics;
    assert_eq!(metrics.counter(metric::DEFERRED_RUNNING), 1);
    assert_eq!(metrics.counter(metric::CRAWLS_STARTED), 0);

    // moto's crawl finishes (time-based transition); the redelivered messages start a new crawl.
    let started = Instant::now();
    while lake.crawler_state(&crawler).await? != Some(CrawlerState::Ready) {
        assert!(
            started.elapsed() < Duration::from_secs(CRAWL_SECONDS * 4),
            "crawler never finished"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let Round {
        received,
        failed,
        metrics,
    } = lake.invoke(&trigger, 2).await?;
    assert_eq!(received, batch2.received, "the deferred messages came back");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(metrics.counter(metric::CRAWLS_STARTED), 1);
    assert_eq!(
        lake.crawler_state(&crawler).await?,
        Some(CrawlerState::Running)
    );
    Ok(())
}

#[tokio::test]
async fn unknown_crawler_is_poison_and_ends_in_the_dlq() -> TestResult {
    let lake = Lake::new("unknown-crawler", false).await?;
    let routes = serde_json::json!([{"bucket": lake.bucket, "prefix": "", "crawler": "crawler-that-does-not-exist"}]);
    let trigger = lake.trigger(routes, &[]);
    lake.put(&["x/a.json"]).await?;
    let Round {
        received,
        failed,
        metrics,
    } = lake.invoke(&trigger, 2).await?;
    assert_eq!(received.len(), 2, "test event + object");
    assert_eq!(failed.len(), 1);
    assert_eq!(metrics.counter(metric::POISON), 1);
    // Redelivered after the 1 s visibility timeout, failed again, then moved to the DLQ.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let Round {
        received, failed, ..
    } = lake.invoke(&trigger, 1).await?;
    assert_eq!((received.len(), failed.len()), (1, 1));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = lake.source.poll(1, Duration::from_secs(2)).await?;
    assert!(
        again.records.is_empty(),
        "past maxReceiveCount the queue no longer delivers it"
    );
    let dead = ferrolake_local_aws::receive_messages(
        &lake.source.sqs,
        &lake.dlq_url,
        1,
        Duration::from_secs(5),
    )
    .await?;
    assert_eq!(dead.len(), 1);
    // The DLQ holds the original notification (moto encodes the key's `/` as %2F).
    let dead_body = dead[0].body().unwrap_or_default();
    assert!(
        dead_body.contains("x%2Fa.json") || dead_body.contains("x/a.json"),
        "{dead_body}"
    );
    Ok(())
}

async fn partitioned_table(lake: &Lake, table: &str, prefix: &str, keys: &[&str]) -> TestResult {
    let column = |name: &str| Column::builder().name(name).r#type("string").build();
    let mut input = TableInput::builder().name(table).storage_descriptor(
        StorageDescriptor::builder()
            .location(format!("s3://{}/{prefix}", lake.bucket))
            .columns(column("id")?)
            .input_format("org.apache.hadoop.mapred.TextInputFormat")
            .serde_info(
                SerDeInfo::builder()
                    .serialization_library("org.openx.data.jsonserde.JsonSerDe")
                    .build(),
            )
            .build(),
    );
    for key in keys {
        input = input.partition_keys(column(key)?);
    }
    lake.glue
        .create_table()
        .database_name(&lake.database)
        .table_input(input.build()?)
        .send()
        .await?;
    Ok(())
}

async fn partitions(
    lake: &Lake,
    table: &str,
) -> Result<Vec<(String, String, Option<String>)>, Box<dyn std::error::Error>> {
    let out = lake
        .glue
        .get_partitions()
        .database_name(&lake.database)
        .table_name(table)
        .send()
        .await?;
    let mut found: Vec<_> = out
        .partitions()
        .iter()
        .map(|p| {
            let sd = p.storage_descriptor();
            (
                p.values().join("/"),
                sd.and_then(|s| s.location())
                    .unwrap_or_default()
                    .to_string(),
                sd.and_then(|s| s.serde_info())
                    .and_then(|s| s.serialization_library())
                    .map(str::to_string),
            )
        })
        .collect();
    found.sort();
    Ok(found)
}

#[tokio::test]
async fn fast_path_registers_partitions_idempotently_without_a_crawler() -> TestResult {
    let lake = Lake::new("fast-path", false).await?;
    partitioned_table(&lake, "clicks", "clicks/", &["dt", "hour"]).await?;
    let routes = serde_json::json!([{"bucket": lake.bucket, "prefix": "clicks/", "table": {"database": lake.database, "table": "clicks"}}]);
    let trigger = lake.trigger(routes, &[]);
    lake.put(&[
        "clicks/dt=2026-11-22/hour=01/a.json",
        "clicks/dt=2026-11-22/hour=01/b.json",
        "clicks/dt=2026-11-22/hour=02/c.json",
    ])
    .await?;
    let Round {
        received,
        failed,
        metrics,
    } = lake.invoke(&trigger, 4).await?;
    assert_eq!(received.len(), 4);
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(metrics.counter(metric::PARTITIONS_REGISTERED), 2);
    assert_eq!(metrics.counter(metric::CRAWLS_STARTED), 0);
    let b = &lake.bucket;
    let serde = Some("org.openx.data.jsonserde.JsonSerDe".to_string());
    let expected = vec![
        (
            "2026-11-22/01".to_string(),
            format!("s3://{b}/clicks/dt=2026-11-22/hour=01/"),
            serde.clone(),
        ),
        (
            "2026-11-22/02".to_string(),
            format!("s3://{b}/clicks/dt=2026-11-22/hour=02/"),
            serde,
        ),
    ];
    assert_eq!(
        partitions(&lake, "clicks").await?,
        expected,
        "partitions copy the table's SerDe"
    );

    // The same objects again (a duplicate delivery): nothing new, nothing failed.
    lake.put(&["clicks/dt=2026-11-22/hour=01/a.json"]).await?;
    let Round {
        failed, metrics, ..
    } = lake.invoke(&trigger, 1).await?;
    assert!(failed.is_empty());
    assert_eq!(metrics.counter(metric::PARTITIONS_REGISTERED), 0);
    assert_eq!(metrics.counter(metric::PARTITIONS_EXISTING), 1);
    assert_eq!(partitions(&lake, "clicks").await?, expected);
    Ok(())
}

#[tokio::test]
async fn sns_wrapped_events_with_encoded_keys_route_and_register() -> TestResult {
    let lake = Lake::new("sns-wrapped", true).await?;
    let crawler = lake.crawler("shows", "shows/").await?;
    partitioned_table(&lake, "visits", "visits/", &["region"]).await?;
    let routes = serde_json::json!([
        {"bucket": lake.bucket, "prefix": "shows/", "crawler": crawler},
        {"bucket": lake.bucket, "prefix": "visits/", "table": {"database": lake.database, "table": "visits"}}
    ]);
    let trigger = lake.trigger(routes, &[]);
    lake.put(&[
        "shows/my show é+1.json",
        "visits/region=île de france/part 1+x.json",
        "elsewhere/ignored.json",
    ])
    .await?;
    let Round {
        received,
        failed,
        metrics,
    } = lake.invoke(&trigger, 4).await?;
    assert_eq!(received.len(), 4, "test event + 3 objects, all SNS-wrapped");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(metrics.counter(metric::TEST_EVENTS), 1);
    assert_eq!(metrics.counter(metric::UNMATCHED), 1);
    assert_eq!(metrics.counter(metric::CRAWLS_STARTED), 1);
    assert_eq!(
        lake.crawler_state(&crawler).await?,
        Some(CrawlerState::Running)
    );
    let found = partitions(&lake, "visits").await?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "île de france");
    assert_eq!(
        found[0].1,
        format!("s3://{}/visits/region=île de france/", lake.bucket)
    );
    Ok(())
}
