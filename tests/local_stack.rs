//! Proves the local stack from Rust: every AWS service the suite uses, against moto in
//! server mode, and PostgreSQL through tokio-postgres. Each test uses its own resource
//! names (`TestEnv::name`), so tests run in parallel on one moto.

use aws_sdk_sqs::types::QueueAttributeName;
use ferrolake_local_aws::{create_queue, moto, postgres, receive_messages, TestEnv};
use ferrolake_shared::envelope::{
    open_sqs_body, s3_notification_from_sqs_body, S3Notification, SqsPayload,
};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// tokio-postgres' Display is just "db error"; keep the server's message in the failure.
fn db(err: tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{}: {} ({:?})", db.severity(), db.message(), db.code()),
        None => err.to_string(),
    }
}

#[tokio::test]
async fn sns_delivers_to_sqs_wrapped_and_raw() -> TestResult {
    let env = TestEnv::new("sns").await;
    let sns = aws_sdk_sns::Client::new(env.sdk_config());
    let sqs = aws_sdk_sqs::Client::new(env.sdk_config());
    let topic = sns
        .create_topic()
        .name(env.name("changes"))
        .send()
        .await?
        .topic_arn
        .ok_or("no topic arn")?;
    let (wrapped_url, wrapped_arn) = create_queue(&sqs, &env.name("wrapped")).await?;
    let (raw_url, raw_arn) = create_queue(&sqs, &env.name("raw")).await?;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&wrapped_arn)
        .send()
        .await?;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&raw_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await?;

    let notification = r#"{"showId":"show-1","changeType":"updated"}"#;
    let published = sns
        .publish()
        .topic_arn(&topic)
        .message(notification)
        .send()
        .await?;

    let wrapped = receive_messages(&sqs, &wrapped_url, 1, Duration::from_secs(10)).await?;
    assert_eq!(wrapped.len(), 1);
    match open_sqs_body(wrapped[0].body())? {
        SqsPayload::Message {
            message,
            sns: Some(meta),
        } => {
            assert_eq!(message, notification);
            assert_eq!(Some(meta.message_id.as_str()), published.message_id());
            assert_eq!(meta.topic_arn.as_deref(), Some(topic.as_str()));
        }
        other => panic!("expected an SNS-wrapped notification, got {other:?}"),
    }
    let raw = receive_messages(&sqs, &raw_url, 1, Duration::from_secs(10)).await?;
    assert_eq!(raw.len(), 1);
    assert_eq!(
        open_sqs_body(raw[0].body())?,
        SqsPayload::Message {
            message: notification.into(),
            sns: None
        }
    );
    Ok(())
}

#[tokio::test]
async fn sqs_send_receive_delete_and_redrive_to_dlq() -> TestResult {
    let env = TestEnv::new("sqs").await;
    let sqs = aws_sdk_sqs::Client::new(env.sdk_config());
    let (dlq_url, dlq_arn) = create_queue(&sqs, &env.name("dlq")).await?;
    let url = sqs
        .create_queue()
        .queue_name(env.name("main"))
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"1"}}"#),
        )
        .send()
        .await?
        .queue_url
        .ok_or("no queue url")?;

    sqs.send_message()
        .queue_url(&url)
        .message_body("ok")
        .send()
        .await?;
    sqs.send_message()
        .queue_url(&url)
        .message_body("poison")
        .send()
        .await?;
    let received = receive_messages(&sqs, &url, 2, Duration::from_secs(10)).await?;
    assert_eq!(received.len(), 2);
    for m in &received {
        if m.body() == Some("ok") {
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().ok_or("no handle")?)
                .send()
                .await?;
        } else {
            // Not deleted: make it visible again at once, as a batchItemFailure would after the timeout.
            sqs.change_message_visibility()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().ok_or("no handle")?)
                .visibility_timeout(0)
                .send()
                .await?;
        }
    }
    // The next receive is past maxReceiveCount: moto moves the message to the DLQ.
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await?;
    assert!(again.messages.unwrap_or_default().is_empty());
    let dead = receive_messages(&sqs, &dlq_url, 1, Duration::from_secs(10)).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("poison"));
    Ok(())
}

#[tokio::test]
async fn kinesis_put_records_and_read_them_back() -> TestResult {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
    let env = TestEnv::new("kinesis").await;
    let kinesis = aws_sdk_kinesis::Client::new(env.sdk_config());
    let stream = env.name("catalog");
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(2)
        .send()
        .await?;

    let entries = (0..10)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(format!(r#"{{"id":"item-{i}"}}"#)))
                .partition_key(format!("item-{i}"))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let put = kinesis
        .put_records()
        .stream_name(&stream)
        .set_records(Some(entries))
        .send()
        .await?;
    assert_eq!(put.failed_record_count(), Some(0));
    assert_eq!(put.records().len(), 10);

    let mut read = Vec::new();
    let shards = kinesis.list_shards().stream_name(&stream).send().await?;
    assert_eq!(shards.shards().len(), 2);
    for shard in shards.shards() {
        let iterator = kinesis
            .get_shard_iterator()
            .stream_name(&stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator
            .ok_or("no iterator")?;
        let records = kinesis
            .get_records()
            .shard_iterator(iterator)
            .send()
            .await?;
        for r in records.records() {
            read.push(String::from_utf8(r.data().as_ref().to_vec())?);
        }
    }
    read.sort();
    let mut expected: Vec<_> = (0..10).map(|i| format!(r#"{{"id":"item-{i}"}}"#)).collect();
    expected.sort();
    assert_eq!(read, expected);
    Ok(())
}

#[tokio::test]
async fn s3_put_get_list() -> TestResult {
    let env = TestEnv::new("s3").await;
    let s3 = env.s3();
    let bucket = env.name("lake");
    s3.create_bucket().bucket(&bucket).send().await?;
    for key in ["raw/a.json", "raw/b.json", "other/c.json"] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(key.as_bytes().to_vec().into())
            .send()
            .await?;
    }
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key("raw/b.json")
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    assert_eq!(&body[..], b"raw/b.json");
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("raw/")
        .send()
        .await?;
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["raw/a.json", "raw/b.json"]);
    Ok(())
}

#[tokio::test]
async fn s3_notifications_reach_sqs_and_parse() -> TestResult {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let env = TestEnv::new("s3notify").await;
    let s3 = env.s3();
    let sqs = aws_sdk_sqs::Client::new(env.sdk_config());
    let bucket = env.name("transformed");
    let (url, arn) = create_queue(&sqs, &env.name("objects")).await?;
    s3.create_bucket().bucket(&bucket).send().await?;
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(&arn)
                        .events(Event::S3ObjectCreated)
                        .build()?,
                )
                .build(),
        )
        .send()
        .await?;
    let key = "shows/dt=2026-11-22/my file+x é.json";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(b"{}".to_vec().into())
        .send()
        .await?;

    let messages = receive_messages(&sqs, &url, 2, Duration::from_secs(10)).await?;
    let parsed: Vec<S3Notification> = messages
        .iter()
        .map(|m| s3_notification_from_sqs_body(m.body()))
        .collect::<Result<_, _>>()?;
    assert!(
        parsed.contains(&S3Notification::TestEvent {
            bucket: Some(bucket.clone())
        }),
        "{parsed:?}"
    );
    let objects: Vec<_> = parsed
        .iter()
        .filter_map(|p| match p {
            S3Notification::Objects(o) => Some(o),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].bucket, bucket);
    assert_eq!(
        objects[0].key, key,
        "moto's form-encoded key decodes to the original"
    );
    Ok(())
}

#[tokio::test]
async fn glue_crawler_states_and_partitions() -> TestResult {
    use aws_sdk_glue::types::{
        Column, CrawlerState, CrawlerTargets, DatabaseInput, PartitionInput, S3Target,
        StorageDescriptor, TableInput,
    };
    let env = TestEnv::new("glue").await;
    let glue = aws_sdk_glue::Client::new(env.sdk_config());
    let database = env.name("lake").replace('-', "_");
    glue.create_database()
        .database_input(DatabaseInput::builder().name(&database).build()?)
        .send()
        .await?;
    let crawler = env.name("crawler");
    glue.create_crawler()
        .name(&crawler)
        .role("arn:aws:iam::123456789012:role/glue")
        .database_name(&database)
        .targets(
            CrawlerTargets::builder()
                .s3_targets(S3Target::builder().path("s3://bucket/events/").build())
                .build(),
        )
        .send()
        .await?;
    glue.start_crawler().name(&crawler).send().await?;
    let state = glue
        .get_crawler()
        .name(&crawler)
        .send()
        .await?
        .crawler
        .and_then(|c| c.state);
    assert_eq!(state, Some(CrawlerState::Running));
    let second = glue
        .start_crawler()
        .name(&crawler)
        .send()
        .await
        .unwrap_err();
    assert!(second.into_service_error().is_crawler_running_exception());
    // The harness makes moto's crawl state machine time-based (1 s).
    let started = Instant::now();
    loop {
        let state = glue
            .get_crawler()
            .name(&crawler)
            .send()
            .await?
            .crawler
            .and_then(|c| c.state);
        if state == Some(CrawlerState::Ready) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "crawler still {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let missing = glue
        .start_crawler()
        .name("no-such-crawler")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_entity_not_found_exception());

    let column = |name: &str| Column::builder().name(name).r#type("string").build();
    glue.create_table()
        .database_name(&database)
        .table_input(
            TableInput::builder()
                .name("events")
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .location("s3://bucket/events/")
                        .columns(column("id")?)
                        .build(),
                )
                .partition_keys(column("dt")?)
                .build()?,
        )
        .send()
        .await?;
    let partition = |dt: &str| {
        PartitionInput::builder()
            .values(dt)
            .storage_descriptor(
                StorageDescriptor::builder()
                    .location(format!("s3://bucket/events/dt={dt}/"))
                    .build(),
            )
            .build()
    };
    let created = glue
        .batch_create_partition()
        .database_name(&database)
        .table_name("events")
        .partition_input_list(partition("2026-11-21"))
        .partition_input_list(partition("2026-11-22"))
        .send()
        .await?;
    assert!(created.errors().is_empty());
    let again = glue
        .batch_create_partition()
        .database_name(&database)
        .table_name("events")
        .partition_input_list(partition("2026-11-22"))
        .send()
        .await?;
    let codes: Vec<_> = again
        .errors()
        .iter()
        .filter_map(|e| e.error_detail()?.error_code())
        .collect();
    assert_eq!(codes, vec!["AlreadyExistsException"]);
    let partitions = glue
        .get_partitions()
        .database_name(&database)
        .table_name("events")
        .send()
        .await?;
    let mut values: Vec<_> = partitions
        .partitions()
        .iter()
        .map(|p| p.values().join("/"))
        .collect();
    values.sort();
    assert_eq!(values, vec!["2026-11-21", "2026-11-22"]);
    Ok(())
}

#[tokio::test]
async fn dynamodb_query_and_conditional_put() -> TestResult {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };
    let env = TestEnv::new("dynamodb").await;
    let ddb = aws_sdk_dynamodb::Client::new(env.sdk_config());
    let table = env.name("config");
    ddb.create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()?,
        )
        .send()
        .await?;
    for sk in ["TARGET", "USER#alice", "GROUP#analysts"] {
        ddb.put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("warehouse".into()))
            .item("sk", AttributeValue::S(sk.into()))
            .send()
            .await?;
    }
    ddb.put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("other".into()))
        .item("sk", AttributeValue::S("TARGET".into()))
        .send()
        .await?;
    let items = ddb
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("warehouse".into()))
        .send()
        .await?;
    assert_eq!(items.count(), 3);
    let conflict = ddb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("warehouse".into()))
        .item("sk", AttributeValue::S("TARGET".into()))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap_err();
    assert!(conflict
        .into_service_error()
        .is_conditional_check_failed_exception());
    Ok(())
}

#[tokio::test]
async fn secrets_manager_version_stages_move_on_rotation() -> TestResult {
    use aws_sdk_secretsmanager::Client;
    let env = TestEnv::new("secrets").await;
    let sm = Client::new(env.sdk_config());
    let name = env.name("redshift-alice");
    let created = sm
        .create_secret()
        .name(&name)
        .secret_string(r#"{"password":"old"}"#)
        .send()
        .await?;
    let old_version = created.version_id.ok_or("no version id")?;
    let password = sm
        .get_random_password()
        .password_length(32)
        .exclude_characters("/@\"' \\")
        .send()
        .await?;
    let password = password.random_password.ok_or("no password")?;
    assert_eq!(password.len(), 32);
    assert!(!password.contains(['/', '@', '"', '\'', ' ', '\\']));

    let new_version = "11111111-2222-3333-4444-555555555555";
    sm.put_secret_value()
        .secret_id(&name)
        .client_request_token(new_version)
        .secret_string(r#"{"password":"new"}"#)
        .version_stages("AWSPENDING")
        .send()
        .await?;
    let pending = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSPENDING")
        .send()
        .await?;
    assert_eq!(pending.secret_string(), Some(r#"{"password":"new"}"#));
    sm.update_secret_version_stage()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .move_to_version_id(new_version)
        .remove_from_version_id(&old_version)
        .send()
        .await?;
    let described = sm.describe_secret().secret_id(&name).send().await?;
    let stages = described.version_ids_to_stages().ok_or("no stages")?;
    assert!(stages[new_version].contains(&"AWSCURRENT".to_string()));
    assert!(stages[&old_version].contains(&"AWSPREVIOUS".to_string()));
    // moto returns a stale value without an explicit stage (local-stack spec): always pass it.
    let current = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .send()
        .await?;
    assert_eq!(current.secret_string(), Some(r#"{"password":"new"}"#));
    Ok(())
}

#[tokio::test]
async fn redshift_get_cluster_credentials() -> TestResult {
    let env = TestEnv::new("redshift").await;
    let redshift = aws_sdk_redshift::Client::new(env.sdk_config());
    let cluster = env.name("warehouse");
    redshift
        .create_cluster()
        .cluster_identifier(&cluster)
        .node_type("ra3.xlplus")
        .master_username("admin")
        .master_user_password("Passw0rd!Passw0rd")
        .db_name("analytics")
        .send()
        .await?;
    let creds = redshift
        .get_cluster_credentials()
        .cluster_identifier(&cluster)
        .db_user("ferrolake_admin")
        .db_name("analytics")
        .auto_create(false)
        .duration_seconds(900)
        .send()
        .await?;
    assert!(
        creds
            .db_user()
            .unwrap_or_default()
            .contains("ferrolake_admin"),
        "{:?}",
        creds.db_user()
    );
    assert!(!creds.db_password().unwrap_or_default().is_empty());
    assert!(creds.expiration().is_some());
    Ok(())
}

#[tokio::test]
async fn firehose_put_record_batch_lands_in_s3() -> TestResult {
    use aws_sdk_firehose::primitives::Blob;
    use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration, Record};
    let env = TestEnv::new("firehose").await;
    let firehose = aws_sdk_firehose::Client::new(env.sdk_config());
    let s3 = env.s3();
    let bucket = env.name("raw");
    s3.create_bucket().bucket(&bucket).send().await?;
    let stream = env.name("events");
    firehose
        .create_delivery_stream()
        .delivery_stream_name(&stream)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn("arn:aws:iam::123456789012:role/firehose")
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .prefix("raw/")
                .build()?,
        )
        .send()
        .await?;
    let records = (0..3)
        .map(|i| {
            Record::builder()
                .data(Blob::new(format!("{{\"n\":{i}}}\n")))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let put = firehose
        .put_record_batch()
        .delivery_stream_name(&stream)
        .set_records(Some(records))
        .send()
        .await?;
    assert_eq!(put.failed_put_count(), 0);
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("raw/")
        .send()
        .await?;
    assert_eq!(
        listed.contents().len(),
        1,
        "moto writes one object per batch"
    );
    let key = listed.contents()[0].key().ok_or("no key")?;
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    assert_eq!(
        String::from_utf8(body.to_vec())?,
        "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"
    );
    Ok(())
}

#[tokio::test]
async fn postgres_connects_and_md5_logins_work() -> TestResult {
    let pg = postgres();
    let admin = pg.connect("postgres").await.map_err(db)?;
    let version: String = admin
        .query_one("SELECT version()", &[])
        .await
        .map_err(db)?
        .get(0);
    assert!(version.starts_with("PostgreSQL 15"), "{version}");

    let database = format!("harness_{}", std::process::id());
    pg.create_database(&database).await.map_err(db)?;
    // The md5 literal form redshift-config sends: 'md5' || md5(password || username).
    let hash: String = admin
        .query_one("SELECT 'md5' || md5('S3cret-pw' || 'harness_user')", &[])
        .await
        .map_err(db)?
        .get(0);
    admin
        .batch_execute(&format!("CREATE USER harness_user PASSWORD '{hash}'"))
        .await
        .map_err(db)?;

    let login = |password: &str| {
        format!(
            "host=127.0.0.1 port={} user=harness_user dbname={database} password={password}",
            pg.port()
        )
    };
    let (client, connection) = tokio_postgres::connect(&login("S3cret-pw"), tokio_postgres::NoTls)
        .await
        .map_err(db)?;
    tokio::spawn(connection);
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .map_err(db)?
        .get(0);
    assert_eq!(who, "harness_user");
    let wrong = tokio_postgres::connect(&login("wrong"), tokio_postgres::NoTls).await;
    let err = wrong.err().ok_or("a wrong password must be rejected")?;
    let reason = db(err);
    assert!(
        reason.contains("password authentication failed"),
        "{reason}"
    );
    Ok(())
}

/// Runs in a child process (see `endpoint_overrides_come_from_the_environment`).
#[tokio::test]
#[ignore = "run in a child process by endpoint_overrides_come_from_the_environment"]
async fn child_creates_queue_through_env_configured_client() -> TestResult {
    let config = ferrolake_shared::aws::load_config().await?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = std::env::var("FERROLAKE_CHILD_QUEUE")?;
    sqs.create_queue().queue_name(name).send().await?;
    Ok(())
}

#[tokio::test]
async fn endpoint_overrides_come_from_the_environment() -> TestResult {
    let env = TestEnv::new("endpoint-env").await;
    let queue = env.name("from-env");
    // AWS_ENDPOINT_URL points nowhere; the per-service AWS_ENDPOINT_URL_SQS must win.
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "child_creates_queue_through_env_configured_client",
            "--ignored",
            "--nocapture",
        ])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_SQS", moto().endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("FERROLAKE_CHILD_QUEUE", &queue)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    let sqs = aws_sdk_sqs::Client::new(env.sdk_config());
    let url = sqs.get_queue_url().queue_name(&queue).send().await?;
    assert!(url.queue_url().unwrap_or_default().ends_with(&queue));
    Ok(())
}
