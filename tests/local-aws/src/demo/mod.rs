//! `make demo`: the whole pipeline on a laptop. The local stack (moto + PostgreSQL 15)
//! starts, template.yaml's resources are created in moto from the template itself, the five
//! real function binaries run behind a local Lambda Runtime API, and drivers play what moto
//! does not (SQS event source mappings, Firehose with its Lambda processor and S3 delivery,
//! Athena calling the UDF function, Secrets Manager driving a rotation). The same run, with
//! its checks, is the end-to-end test (`tests/e2e.rs`).

pub mod catalog;
pub mod drivers;
pub mod glue;
pub mod iam;
pub mod provision;
pub mod redshift;
pub mod report;
pub mod rules;
pub mod runtime;
pub mod template;
pub mod udf;

use crate::{postgres, remove_stale_scratch, workspace_root, SqsEventSource};
use drivers::{
    DeliveryConfig, DeliveryStats, FirehoseDriver, SqsMapping, SqsMappingStats, TimeScale,
};
use provision::{BoxError, Clients, Stack};
use report::Summary;
use runtime::LocalLambda;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const STACK_NAME: &str = "ferrolake-demo";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const SCRATCH_PREFIX: &str = "ferrolake-demo-";

/// The stages, in pipeline order; a failure names one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    LocalStack,
    Template,
    Functions,
    CatalogFetch,
    FirehoseFlatten,
    CrawlerTrigger,
    AthenaUdf,
    RedshiftConfig,
}

impl Stage {
    /// The stages that are one function each.
    pub const FUNCTIONS: [Stage; 5] = [
        Stage::CatalogFetch,
        Stage::FirehoseFlatten,
        Stage::CrawlerTrigger,
        Stage::AthenaUdf,
        Stage::RedshiftConfig,
    ];

    /// A short name; for the function stages, the function's binary name.
    pub fn short(self) -> &'static str {
        match self {
            Stage::LocalStack => "local stack",
            Stage::Template => "template",
            Stage::Functions => "functions",
            Stage::CatalogFetch => "catalog-fetch",
            Stage::FirehoseFlatten => "firehose-flatten",
            Stage::CrawlerTrigger => "crawler-trigger",
            Stage::AthenaUdf => "athena-udf",
            Stage::RedshiftConfig => "redshift-config",
        }
    }

    /// The stage of the function whose binary is `binary` (the functions stage if none).
    pub fn of_function(binary: &str) -> Stage {
        Self::FUNCTIONS
            .into_iter()
            .find(|s| s.short() == binary)
            .unwrap_or(Stage::Functions)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::LocalStack => "local stack (moto + PostgreSQL)",
            Stage::Template => "template.yaml → moto",
            Stage::Functions => "function processes (Lambda Runtime API)",
            Stage::CatalogFetch => "catalog-fetch (SNS → SQS → catalog API → Kinesis)",
            Stage::FirehoseFlatten => "firehose-flatten (Kinesis → Firehose → S3)",
            Stage::CrawlerTrigger => "crawler-trigger (S3 → SQS → Glue crawler)",
            Stage::AthenaUdf => "athena-udf (UDF calls over the flattened rows)",
            Stage::RedshiftConfig => "redshift-config (sample config → PostgreSQL, rotation)",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stage {stage} failed: {source}")]
pub struct DemoError {
    pub stage: Stage,
    pub source: BoxError,
}

fn at(stage: Stage) -> impl Fn(BoxError) -> DemoError {
    move |source| DemoError { stage, source }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub events: usize,
    /// Where the function binaries are (cargo's target/<profile>).
    pub bin_dir: PathBuf,
    /// How long the pipeline may take to settle.
    pub timeout: Duration,
    /// Print progress lines while waiting.
    pub progress: bool,
    pub time: TimeScale,
    /// `AWS::StackName`: resource names derive from it.
    pub stack_name: String,
    /// Template parameter overrides, beyond the demo's own.
    pub parameters: Vec<(String, String)>,
    /// The template to run instead of the workspace's template.yaml (tests/iam.rs runs
    /// deliberately broken copies).
    pub template_path: Option<PathBuf>,
}

impl Options {
    pub fn new(events: usize) -> Self {
        Self {
            events,
            bin_dir: default_bin_dir(),
            timeout: Duration::from_secs(120),
            progress: true,
            time: TimeScale::default(),
            stack_name: STACK_NAME.to_string(),
            parameters: Vec::new(),
            template_path: None,
        }
    }
}

/// The binaries next to the running executable (target/<profile>), or one level up from a
/// test executable (target/<profile>/deps).
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.parent().map(PathBuf::from).unwrap_or(dir)
    } else {
        dir
    }
}

/// A running demo: the stack, its functions and what the run observed. Dropping it stops
/// the functions; moto and PostgreSQL stop when the process exits.
pub struct Demo {
    pub stack: Stack,
    pub endpoint: String,
    pub pg_port: u16,
    pub scratch: PathBuf,
    pub functions: BTreeMap<String, Arc<LocalLambda>>,
    pub summary: Summary,
}

fn sdk<E: std::error::Error + Send + Sync + 'static>(e: E) -> BoxError {
    Box::new(e)
}

/// Log lines (JSON) of a function whose `message` is `message`.
pub fn log_lines(lambda: &LocalLambda, message: &str) -> Vec<Value> {
    std::fs::read_to_string(&lambda.log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == message)
        .collect()
}

/// (visible, in flight) messages of a queue.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<(u64, u64), BoxError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let get = |name: &A| {
        out.attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        get(&A::ApproximateNumberOfMessages),
        get(&A::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// The queue of `stack` whose ARN is `arn`: (logical id, url).
fn queue_by_arn(stack: &Stack, arn: &str) -> Option<(String, String)> {
    stack
        .of_kind("AWS::SQS::Queue")
        .find(|id| stack.attribute(id, "Arn").as_deref() == Some(arn))
        .and_then(|id| Some((id.to_string(), stack.physical(id)?.reference.clone())))
}

/// The dead-letter queue URL of the queue `logical_id` (from its RedrivePolicy).
fn dead_letter_url(stack: &Stack, logical_id: &str) -> Option<String> {
    let arn = stack.properties.get(logical_id)?["RedrivePolicy"]["deadLetterTargetArn"]
        .as_str()?
        .to_string();
    queue_by_arn(stack, &arn).map(|(_, url)| url)
}

/// Denials so far of this run's principals (0 if the strict moto cannot say).
async fn denials(clients: &Clients, principals: &[(String, String)]) -> usize {
    iam::decisions(&clients.http, &clients.endpoint)
        .await
        .map(|(_, _, _, d)| iam::ours(&d, principals).count())
        .unwrap_or(0)
}

struct Mapping {
    function: String,
    queue_id: String,
    queue_url: String,
    dlq_url: Option<String>,
    stats: Arc<SqsMappingStats>,
}

/// Run the demo: everything up to the summary. The returned [`Demo`] keeps the functions
/// running (for `--keep`); its summary says which checks passed.
pub async fn run(options: &Options) -> Result<Demo, DemoError> {
    let started = Instant::now();
    let mut summary = Summary {
        events: options.events,
        time: options.time,
        ..Default::default()
    };
    let say = |text: String| {
        if options.progress {
            println!("{:>6.1}s  {text}", started.elapsed().as_secs_f64());
        }
    };

    // 1. The local stack: moto with IAM enforced (its own process, not the shared moto of
    // the other tests), the harness signing as the admin user the launcher created.
    let (strict, pg_port) =
        tokio::task::spawn_blocking(|| iam::strict_moto().map(|m| (m, postgres().port())))
            .await
            .map_err(|e| at(Stage::LocalStack)(sdk(e)))?
            .map_err(|e| at(Stage::LocalStack)(sdk(e)))?;
    let endpoint = strict.endpoint.clone();
    // The functions reach moto through the contract layer, which answers a request over one
    // of AWS's request limits as AWS would (moto accepts most of them).
    let (contracts, contract_counts) = crate::contract_proxy(&endpoint)
        .await
        .map_err(|e| at(Stage::LocalStack)(sdk(e)))?;
    let pg = postgres();
    say(format!(
        "local stack up: moto {endpoint} (IAM enforced), PostgreSQL 15 on 127.0.0.1:{pg_port}"
    ));
    summary
        .timings
        .push(("local stack".into(), started.elapsed()));
    let config = iam::config_for(&endpoint, REGION, &strict.admin).await;
    let mut clients = Clients::new(&config, &endpoint);
    clients.keys = strict.admin.clone();
    // One strict moto serves every run of this process: count this run's decisions only.
    let (decisions_before, policies_before, _, _) = iam::decisions(&clients.http, &endpoint)
        .await
        .map_err(|e| at(Stage::LocalStack)(sdk(e)))?;
    // The catalog API wants an API key, which catalog-fetch reads from Secrets Manager
    // (CatalogAuth=api-key, CatalogSecretArn): the deployment's own way, logs checked below.
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let api_key = format!("demo-key-{:032x}", rand::random::<u128>());
    let api_key_arn = secrets
        .create_secret()
        .name(format!("{}-catalog-api-key", options.stack_name))
        .secret_string(&api_key)
        .send()
        .await
        .map_err(|e| at(Stage::LocalStack)(sdk(e)))?
        .arn
        .unwrap_or_default();
    let catalog_api = catalog::CatalogApi::start(&api_key)
        .await
        .map_err(|e| at(Stage::LocalStack)(sdk(e)))?;

    // 2. template.yaml → moto.
    let t = Instant::now();
    let template_path = options
        .template_path
        .clone()
        .unwrap_or_else(|| workspace_root().join("template.yaml"));
    let template =
        template::Template::load(&template_path).map_err(|e| at(Stage::Template)(sdk(e)))?;
    let mut overrides: HashMap<String, String> = [
        ("CatalogApiUrl".to_string(), catalog_api.url_template()),
        ("CatalogAuth".to_string(), "api-key".to_string()),
        ("CatalogSecretArn".to_string(), api_key_arn.clone()),
        // Time-scaled like the drivers: crawls may start 3 s apart instead of 5 min.
        ("MinCrawlIntervalSeconds".to_string(), "3".to_string()),
    ]
    .into();
    overrides.extend(options.parameters.iter().cloned());
    summary.overrides = overrides.clone().into_iter().collect();
    let context =
        template::Context::new(&template, &options.stack_name, REGION, ACCOUNT, &overrides)
            .map_err(|e| at(Stage::Template)(sdk(e)))?;
    let stack = provision::create_stack(&template, context, &clients)
        .await
        .map_err(|e| at(Stage::Template)(sdk(e)))?;
    say(format!(
        "template.yaml: {} resources created in moto, {} functions to run, {} resources not needed locally",
        stack.created.len() - stack.functions.len(),
        stack.functions.len(),
        stack.skipped.len()
    ));
    let mut iam_report = iam::IamReport::default();
    for id in stack.of_kind("AWS::IAM::Role") {
        let props = &stack.properties[id];
        iam_report.roles += 1;
        iam_report.inline_policies += props["Policies"].as_array().map_or(0, Vec::len);
        iam_report.managed_policies += props["ManagedPolicyArns"].as_array().map_or(0, Vec::len);
    }
    say(format!(
        "IAM: {} roles with {} inline and {} managed policies created in moto, which enforces them",
        iam_report.roles, iam_report.inline_policies, iam_report.managed_policies
    ));
    summary
        .timings
        .push(("template → moto".into(), t.elapsed()));
    // A role's credentials as the AWS service the harness plays obtains them.
    let role_name = |arn: &str| arn.rsplit('/').next().unwrap_or_default().to_string();
    let mut principals: Vec<(String, String)> = Vec::new();

    // Secrets the UDFs read (names under the template's UdfSecretPrefix).
    let udf_prefix = stack
        .context
        .parameter("UdfSecretPrefix")
        .unwrap_or_default();
    let pii_secret = format!("{udf_prefix}{}-pii-key", options.stack_name);
    let aes_secret = format!("{udf_prefix}{}-aes-key", options.stack_name);
    let pii_key = format!("{:032x}", rand::random::<u128>());
    let aes_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    };
    for (name, value) in [(&pii_secret, &pii_key), (&aes_secret, &aes_key)] {
        secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| at(Stage::Template)(sdk(e)))?;
    }

    // 3. The five binaries behind the Runtime API.
    let t = Instant::now();
    // Logs of earlier runs that failed (kept for reading) go once their process is gone.
    remove_stale_scratch(SCRATCH_PREFIX);
    let scratch = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| at(Stage::Functions)(sdk(e)))?;
    let mut functions: BTreeMap<String, Arc<LocalLambda>> = BTreeMap::new();
    for spec in &stack.functions {
        // Lambda runs the function with its execution role's credentials.
        let keys = iam::assume_role(
            &clients,
            &spec.role,
            &spec.binary,
            "lambda.amazonaws.com",
            None,
        )
        .await
        .map_err(|e| {
            at(Stage::of_function(&spec.binary))(format!("{}: {e}", spec.binary).into())
        })?;
        principals.push((spec.binary.clone(), role_name(&spec.role)));
        let mut environment = spec.environment.clone();
        environment.extend([
            ("AWS_ENDPOINT_URL".to_string(), contracts.url()),
            ("AWS_REGION".to_string(), REGION.to_string()),
            ("S3_FORCE_PATH_STYLE".to_string(), "true".to_string()),
        ]);
        environment.extend(keys.env());
        let lambda = LocalLambda::start(
            &spec.name,
            &spec.arn,
            &options.bin_dir.join(&spec.binary),
            environment,
            spec.memory_mb,
            Duration::from_secs(spec.timeout_seconds),
            &scratch,
        )
        .await
        .map_err(|e| at(Stage::Functions)(sdk(e)))?;
        functions.insert(spec.binary.clone(), Arc::new(lambda));
    }
    // Cold start: until each process polls for its first event.
    let wait = Instant::now();
    while functions.values().any(|f| f.cold_start().is_none())
        && wait.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (binary, f) in &functions {
        match f.cold_start() {
            Some(d) => summary.cold_starts.push((binary.clone(), d)),
            None => {
                return Err(at(Stage::Functions)(
                    format!(
                        "{binary} did not poll the Runtime API within 10 s; log: {}",
                        f.log.display()
                    )
                    .into(),
                ))
            }
        }
    }
    say(format!(
        "{} functions polling their Runtime API (logs in {})",
        functions.len(),
        scratch.display()
    ));
    summary
        .timings
        .push(("functions ready".into(), t.elapsed()));

    // 4. Drivers, from the functions' Events and the delivery streams.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let mut mappings: Vec<Mapping> = Vec::new();
    for spec in &stack.functions {
        for (event_name, kind, props) in &spec.events {
            if kind != "SQS" {
                summary.not_driven.push(format!(
                    "{} event {event_name} ({kind}): the demo invokes {} directly",
                    spec.binary, spec.binary
                ));
                continue;
            }
            let arn = props["Queue"].as_str().unwrap_or_default();
            let (queue_id, queue_url) = queue_by_arn(&stack, arn).ok_or_else(|| {
                at(Stage::Template)(
                    format!(
                        "{}: event {event_name} names unknown queue {arn}",
                        spec.logical_id
                    )
                    .into(),
                )
            })?;
            let stats = Arc::new(SqsMappingStats::default());
            let mapping = SqsMapping {
                source: SqsEventSource {
                    sqs: clients.sqs.clone(),
                    queue_url: queue_url.clone(),
                    queue_arn: arn.to_string(),
                },
                batch_size: props["BatchSize"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| props["BatchSize"].as_u64().map(|n| n as usize))
                    .unwrap_or(10),
                window: Duration::from_secs(
                    props["MaximumBatchingWindowInSeconds"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| props["MaximumBatchingWindowInSeconds"].as_u64())
                        .unwrap_or(0),
                )
                .clamp(Duration::from_millis(500), options.time.max_buffer_interval),
                report_failures: props["FunctionResponseTypes"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|v| v == "ReportBatchItemFailures")),
                time: options.time,
                stats: stats.clone(),
            };
            let function = functions[&spec.binary].clone();
            tasks.push(tokio::spawn(mapping.run(function, stop.clone())));
            mappings.push(Mapping {
                function: spec.binary.clone(),
                dlq_url: dead_letter_url(&stack, &queue_id),
                queue_id,
                queue_url,
                stats,
            });
        }
    }
    let mut deliveries: Vec<(DeliveryConfig, Arc<DeliveryStats>)> = Vec::new();
    for id in stack.of_kind("AWS::KinesisFirehose::DeliveryStream") {
        let physical = stack.physical(id).cloned().unwrap_or_default();
        let config = DeliveryConfig::from_properties(
            &physical.reference,
            physical
                .attributes
                .get("Arn")
                .map(String::as_str)
                .unwrap_or_default(),
            &stack.properties[id],
            options.time,
        )
        .map_err(|e| at(Stage::Template)(format!("{id}: {e}").into()))?;
        let processor = stack
            .functions
            .iter()
            .find(|f| f.arn == config.processor_arn)
            .and_then(|f| functions.get(&f.binary).cloned())
            .ok_or_else(|| {
                at(Stage::Template)(
                    format!(
                        "{id}: processor {} is not a function of the template",
                        config.processor_arn
                    )
                    .into(),
                )
            })?;
        // Firehose reads the source stream and writes S3 as the delivery stream's role,
        // passing the account as sts:ExternalId (what the role's trust policy conditions on).
        let delivery_role = stack.properties[id]["ExtendedS3DestinationConfiguration"]["RoleARN"]
            .as_str()
            .or_else(|| {
                stack.properties[id]["KinesisStreamSourceConfiguration"]["RoleARN"].as_str()
            })
            .unwrap_or_default()
            .to_string();
        let keys = iam::assume_role(
            &clients,
            &delivery_role,
            "firehose",
            "firehose.amazonaws.com",
            Some(ACCOUNT),
        )
        .await
        .map_err(|e| at(Stage::FirehoseFlatten)(format!("{id}: {e}").into()))?;
        principals.push(("firehose".into(), role_name(&delivery_role)));
        let delivery_clients = iam::clients_for(&endpoint, REGION, &keys).await;
        let stats = Arc::new(DeliveryStats::default());
        let driver = FirehoseDriver {
            config: config.clone(),
            kinesis: delivery_clients.kinesis.clone(),
            s3: delivery_clients.s3.clone(),
            stats: stats.clone(),
        };
        tasks.push(tokio::spawn(driver.run(processor, stop.clone())));
        deliveries.push((config, stats));
    }

    // Glue: the crawler stand-in performs the crawls moto records (moto's crawler reads
    // nothing); the watch times when each partition of the fast-path table appears.
    let glue_clients = Arc::new(clients.clone());
    let mut crawl_stats: Vec<Arc<glue::CrawlStats>> = Vec::new();
    for id in stack.of_kind("AWS::Glue::Crawler") {
        let props = &stack.properties[id];
        let spec = glue::CrawlerSpec {
            name: stack
                .physical(id)
                .map(|p| p.reference.clone())
                .unwrap_or_default(),
            database: props["DatabaseName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            targets: props["Targets"]["S3Targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["Path"].as_str()?.strip_prefix("s3://")?.split_once('/'))
                .map(|(bucket, prefix)| (bucket.to_string(), prefix.to_string()))
                .collect(),
        };
        // The crawler reads S3 and writes the catalog as its role.
        let crawler_role = props["Role"].as_str().unwrap_or_default().to_string();
        let keys = iam::assume_role(
            &clients,
            &crawler_role,
            "glue-crawler",
            "glue.amazonaws.com",
            None,
        )
        .await
        .map_err(|e| at(Stage::CrawlerTrigger)(format!("{id}: {e}").into()))?;
        principals.push(("glue-crawler".into(), role_name(&crawler_role)));
        let stats = Arc::new(glue::CrawlStats::default());
        let stand_in = glue::CrawlerStandIn {
            clients: Arc::new(iam::clients_for(&endpoint, REGION, &keys).await),
            crawler: spec,
            stats: stats.clone(),
        };
        tasks.push(tokio::spawn(stand_in.run(stop.clone())));
        crawl_stats.push(stats);
    }
    let table_route: Option<Value> = stack
        .functions
        .iter()
        .find(|f| f.binary == "crawler-trigger")
        .and_then(|f| f.environment.iter().find(|(k, _)| k == "CRAWLER_ROUTES"))
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok())
        .and_then(|routes| {
            routes
                .as_array()?
                .iter()
                .find(|r| r["table"].is_object())
                .cloned()
        });
    let partition_times = Arc::new(glue::PartitionTimes::default());
    if let Some(route) = &table_route {
        let watch = glue::PartitionWatch {
            clients: glue_clients.clone(),
            database: route["table"]["database"]
                .as_str()
                .unwrap_or_default()
                .into(),
            table: route["table"]["table"].as_str().unwrap_or_default().into(),
            times: partition_times.clone(),
        };
        tasks.push(tokio::spawn(watch.run(stop.clone())));
    }

    // 5. Publish the catalog changes to the topic catalog-fetch's queue subscribes to.
    let catalog_mapping = mappings
        .iter()
        .find(|m| m.function == "catalog-fetch")
        .ok_or_else(|| at(Stage::Template)("catalog-fetch has no SQS event".into()))?;
    let catalog_queue_arn = stack
        .attribute(&catalog_mapping.queue_id, "Arn")
        .unwrap_or_default();
    let topic_arn = stack
        .of_kind("AWS::SNS::Subscription")
        .filter_map(|id| stack.properties.get(id))
        .find(|p| p["Endpoint"] == catalog_queue_arn.as_str())
        .and_then(|p| p["TopicArn"].as_str().map(String::from))
        .ok_or_else(|| {
            at(Stage::Template)("no SNS subscription delivers to catalog-fetch's queue".into())
        })?;
    let notifications = catalog::notifications(options.events);
    let t = Instant::now();
    // Two waves when crawler-trigger has a table route: the creations first, until the
    // crawler has made the table (a new deployment's first crawl), then the rest, whose
    // new partitions take the fast path.
    let change_of = |n: &catalog::Notification| {
        serde_json::from_str::<Value>(&n.body)
            .ok()
            .and_then(|v| v["changeType"].as_str().map(String::from))
    };
    let (first_wave, second_wave): (Vec<&catalog::Notification>, Vec<_>) =
        notifications.iter().partition(|n| {
            table_route.is_some() && n.flaw.is_none() && change_of(n).as_deref() == Some("created")
        });
    let mut published_at: Vec<(Option<String>, Instant)> = Vec::new();
    for (wave, batch) in [first_wave, second_wave].into_iter().enumerate() {
        if wave == 1 && table_route.is_some() && !published_at.is_empty() {
            let wait = Instant::now();
            while partition_times.first_table().is_none() && wait.elapsed() < options.timeout {
                // The table never comes when a principal upstream was denied.
                if denials(&clients, &principals).await > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            say(format!(
                "Glue table created by the crawler {:.1} s after the first changes were published",
                wait.elapsed().as_secs_f64()
            ));
        }
        for n in batch {
            let id = clients
                .sns
                .publish()
                .topic_arn(&topic_arn)
                .message(&n.body)
                .send()
                .await
                .map_err(|e| {
                    // The whole cause chain: an AccessDenied names the action and resource.
                    at(Stage::CatalogFetch)(
                        format!(
                            "SNS Publish to {topic_arn}: {}",
                            aws_sdk_sns::error::DisplayErrorContext(&e)
                        )
                        .into(),
                    )
                })?
                .message_id
                .unwrap_or_default();
            published_at.push((change_of(n), Instant::now()));
            summary.published.push((id, n.clone()));
        }
    }
    let good = notifications.iter().filter(|n| n.flaw.is_none()).count() as u64;
    let malformed = notifications.len() as u64 - good;
    say(format!(
        "published {} catalog changes + {malformed} malformed notifications to {topic_arn}",
        good
    ));

    // 6. Let it flow, reporting progress, until everything settled or the timeout.
    let crawler_trigger = functions.get("crawler-trigger").cloned();
    let delivery_stats = deliveries.first().map(|(_, s)| s.clone());
    let mut last_line = String::new();
    let settled = loop {
        let catalog = &catalog_mapping.stats;
        let (visible, in_flight) = queue_depth(&clients.sqs, &catalog_mapping.queue_url)
            .await
            .unwrap_or((1, 1));
        let dead = match &catalog_mapping.dlq_url {
            Some(url) => queue_depth(&clients.sqs, url)
                .await
                .map(|(v, i)| v + i)
                .unwrap_or(0),
            None => 0,
        };
        let crawl = mappings.iter().find(|m| m.function == "crawler-trigger");
        let (crawl_visible, crawl_in_flight) = match crawl {
            Some(m) => queue_depth(&clients.sqs, &m.queue_url)
                .await
                .unwrap_or((1, 1)),
            None => (0, 0),
        };
        let crawls = crawler_trigger
            .as_ref()
            .map(|f| log_lines(f, "crawler started").len())
            .unwrap_or(0);
        let (f_in, f_ok, f_failed, objects) = delivery_stats
            .as_ref()
            .map(|s| {
                (
                    s.records_in.load(Ordering::SeqCst),
                    s.ok.load(Ordering::SeqCst),
                    s.failed.load(Ordering::SeqCst),
                    s.objects.load(Ordering::SeqCst),
                )
            })
            .unwrap_or_default();
        let crawl_msgs = crawl
            .map(|m| m.stats.deleted.load(Ordering::SeqCst))
            .unwrap_or(0);
        let line = format!(
            "catalog-fetch {}/{} acked, {} retried, DLQ {dead}/{malformed} │ firehose-flatten {f_in} in → {f_ok} ok, {f_failed} failed │ S3 {objects} objects │ crawler-trigger {crawl_msgs} notifications, {crawls} crawls",
            catalog.deleted.load(Ordering::SeqCst),
            notifications.len(),
            catalog.reported_failed.load(Ordering::SeqCst),
        );
        if line != last_line {
            say(line.clone());
            last_line = line;
        }
        let partitions_done = match (&table_route, &delivery_stats) {
            (Some(route), Some(stats)) => {
                let prefix = route["prefix"].as_str().unwrap_or_default();
                let written = stats.written.lock().map(|w| w.clone()).unwrap_or_default();
                let seen = partition_times
                    .seen
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or_default();
                written
                    .iter()
                    .filter_map(|(key, _)| glue::hive_values(prefix, key))
                    .all(|values| seen.contains_key(&values))
            }
            _ => true,
        };
        // A denial will not heal: stop waiting and report it.
        let denied = denials(&clients, &principals).await;
        if denied > 0 {
            say(format!(
                "IAM denied {denied} requests: stopping (see the IAM checks)"
            ));
            break false;
        }
        let done = partitions_done
            && visible + in_flight == 0
            && dead >= malformed
            && f_in >= good
            && f_ok + f_failed >= f_in
            && crawl_visible + crawl_in_flight == 0
            && (crawl.is_none() || (crawl_msgs > 0 && crawls > 0));
        if done {
            break true;
        }
        if t.elapsed() > options.timeout {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(40), task).await;
    }
    summary
        .timings
        .push(("pipeline settled".into(), t.elapsed()));
    summary.settled = settled;

    // 7. What the run left behind, read back from moto.
    for m in &mappings {
        let dlq = match &m.dlq_url {
            Some(url) => report::drain_dead_letters(&clients.sqs, url)
                .await
                .map_err(at(Stage::of_function(&m.function)))?,
            None => Vec::new(),
        };
        let (visible, in_flight) = queue_depth(&clients.sqs, &m.queue_url)
            .await
            .map_err(at(Stage::of_function(&m.function)))?;
        summary.queues.push(report::QueueReport::new(
            &m.function,
            &m.queue_id,
            &m.stats,
            visible + in_flight,
            dlq,
        ));
    }
    if let Some(f) = functions.get("catalog-fetch") {
        summary.poison_log = log_lines(f, "poison message");
    }
    for (config, stats) in &deliveries {
        summary.delivery = Some(
            report::DeliveryReport::read(&clients.s3, config, stats)
                .await
                .map_err(at(Stage::FirehoseFlatten))?,
        );
    }
    if let (Some(route), Some(stats)) = (&table_route, &delivery_stats) {
        summary.glue = Some(report::GlueReport::new(
            route,
            &stats.written.lock().map(|w| w.clone()).unwrap_or_default(),
            &partition_times,
            &crawl_stats,
            &published_at,
            crawler_trigger
                .as_ref()
                .map(|f| log_lines(f, "partition registered").len())
                .unwrap_or(0),
        ));
    }
    if let Some(f) = &crawler_trigger {
        summary.crawls_started = log_lines(f, "crawler started").len();
        summary.crawls_deferred =
            log_lines(f, "crawl deferred by MIN_CRAWL_INTERVAL_SECONDS").len();
    }

    // 8. Athena calls the UDFs over flattened rows.
    let t = Instant::now();
    let rows: Vec<Value> = summary
        .delivery
        .as_ref()
        .map(|d| {
            d.rows
                .iter()
                .filter(|r| r.get("title").is_some())
                .take(3)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if let Some(f) = functions.get("athena-udf") {
        match udf::run(f, &rows, &pii_secret, &pii_key, &aes_secret).await {
            Ok(r) => summary.udf = Some(r),
            Err(e) => summary.stage_errors.push((Stage::AthenaUdf, e.to_string())),
        }
    }
    summary
        .timings
        .push(("athena-udf calls".into(), t.elapsed()));
    say("athena-udf: UDF calls done".into());

    // 9. redshift-config: sample config applied to PostgreSQL, one password rotated.
    let t = Instant::now();
    if let Some(f) = functions.get("redshift-config") {
        let table = stack
            .of_kind("AWS::DynamoDB::Table")
            .find(|id| *id == "RedshiftConfigTable")
            .and_then(|id| stack.physical(id))
            .map(|p| p.reference.clone())
            .unwrap_or_default();
        let stage = redshift::RedshiftStage {
            clients: &clients,
            secrets: secrets.clone(),
            redshift: aws_sdk_redshift::Client::new(&config),
            pg,
            table,
            cluster: stack
                .context
                .parameter("RedshiftClusterIdentifier")
                .unwrap_or_default(),
            admin_user: stack
                .context
                .parameter("RedshiftAdminUser")
                .unwrap_or_default(),
            sample_config: workspace_root().join("infra/redshift/sample-config.json"),
            rotate_user: "jane".into(),
        };
        match stage.run(f).await {
            Ok(r) => summary.redshift = Some(r),
            Err(e) => summary
                .stage_errors
                .push((Stage::RedshiftConfig, e.to_string())),
        }
    }
    summary
        .timings
        .push(("redshift-config apply + rotation".into(), t.elapsed()));
    say("redshift-config: applied and rotated".into());

    for (binary, f) in &functions {
        summary.invocations.push((
            binary.clone(),
            f.invocations.load(Ordering::SeqCst),
            f.errors.load(Ordering::SeqCst),
            f.restarts.load(Ordering::SeqCst),
        ));
    }
    // No secret value may appear in any function's log: the API key, the UDF keys, every
    // version of every managed password, and their md5 hashes.
    let mut secret_names = vec![api_key_arn.clone(), pii_secret.clone(), aes_secret.clone()];
    if let Some(r) = &summary.redshift {
        secret_names.extend(r.secrets_created.iter().cloned());
    }
    match report::secret_values(&secrets, &secret_names).await {
        Ok(values) => {
            summary.secrets_checked = values.len();
            for (binary, f) in &functions {
                let log = std::fs::read_to_string(&f.log).unwrap_or_default();
                for (name, value) in &values {
                    if log.contains(value.as_str()) {
                        summary.leaks.push((binary.clone(), name.clone()));
                    }
                }
            }
        }
        Err(e) => summary
            .stage_errors
            .push((Stage::RedshiftConfig, format!("reading secrets back: {e}"))),
    }
    summary.catalog_requests = catalog_api.requests.load(Ordering::SeqCst);
    summary.catalog_unauthorized = catalog_api.unauthorized.load(Ordering::SeqCst);
    summary.contracts = report::ContractReport {
        rules_applied: stack.deploy_rules.rules_applied,
        rule_checks: stack.deploy_rules.checks,
        rule_warnings: stack
            .deploy_rules
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect(),
        requests_checked: contract_counts.checked(),
        requests_unchecked: contract_counts.passed_unchecked.load(Ordering::SeqCst),
        requests_refused: contract_counts.refused(),
        refusals: contract_counts.refusals(),
    };
    summary.total = started.elapsed();
    let (decisions, policies, resolved, denied) = iam::decisions(&clients.http, &endpoint)
        .await
        .map_err(|e| at(Stage::Functions)(sdk(e)))?;
    iam_report.decisions = decisions.saturating_sub(decisions_before);
    iam_report.policies_evaluated = policies.saturating_sub(policies_before);
    iam_report.resolved_actions = resolved;
    iam_report.denied = denied;
    iam_report.principals = principals;
    for (binary, f) in &functions {
        iam_report
            .log_denials
            .extend(iam::log_denials(binary, &f.log));
    }
    // IAM's checks first: a denial is the cause of the failures downstream of it, and the
    // first failed check of the earliest stage is the one a failed run names.
    summary.checks = iam::checks(&iam_report);
    summary
        .checks
        .extend(report::checks(&summary, good as usize));
    summary.iam = Some(iam_report);
    Ok(Demo {
        stack,
        endpoint,
        pg_port,
        scratch,
        functions,
        summary,
    })
}

impl Demo {
    /// Stop the functions; remove their logs unless `keep_logs` (a failed run keeps them
    /// for reading until the next run sweeps them).
    pub fn finish(self, keep_logs: bool) {
        let scratch = self.scratch.clone();
        drop(self);
        if !keep_logs {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }

    /// The earliest stage (in pipeline order) with a failed check or error, if any.
    pub fn failed_stage(&self) -> Option<(Stage, String)> {
        self.summary.failed_stage()
    }
}
