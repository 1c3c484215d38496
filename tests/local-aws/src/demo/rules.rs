//! The create-time rules AWS applies to template.yaml's resources and moto does not: moto's
//! CreateCrawler takes `CRAWL_NEW_FOLDERS_ONLY` with `UPDATE_IN_DATABASE`, its event source
//! mappings do not exist, and it creates a 100-character bucket name. So the provisioner runs
//! these rules first, on the values actually being deployed (parameters with their overrides,
//! conditions and intrinsics resolved), and refuses the whole stack when AWS would refuse a
//! resource. `tests/template_rules.py` checks some of the same contracts on the raw template
//! (parameter ranges); this module checks the resolved values.
//!
//! Each rule names its resource type, property, the rule, and the docs.aws.amazon.com page
//! that states it ([`RULES`]); docs/aws-contracts.md has the rows. A rule is one of:
//! - [`Severity::Refused`]: the create call fails (CloudFormation rolls the stack back);
//! - [`Severity::Unusable`]: AWS creates it, but the service principal that must use it never
//!   can (an alarm topic CloudWatch cannot publish to): a deploy that can only fail silently;
//! - [`Severity::Recommended`]: AWS's documented recommendation; reported as a warning.

use super::template::{merge, Context, Physical, Template, TemplateError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Refused,
    Unusable,
    Recommended,
}

/// One rule: where it applies and where AWS documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    /// A resource type, or `Parameters` for the template's parameters.
    pub kind: &'static str,
    pub property: &'static str,
    pub rule: &'static str,
    pub url: &'static str,
    pub severity: Severity,
}

const FUNCTION: &str = "AWS::Serverless::Function";

macro_rules! rule {
    ($id:literal, $kind:expr, $property:literal, $rule:literal, $url:literal) => {
        rule!($id, $kind, $property, $rule, $url, Severity::Refused)
    };
    ($id:literal, $kind:expr, $property:literal, $rule:literal, $url:literal, $severity:expr) => {
        Rule {
            id: $id,
            kind: $kind,
            property: $property,
            rule: $rule,
            url: $url,
            severity: $severity,
        }
    };
}

/// Every rule [`check`] applies.
pub const RULES: &[Rule] = &[
    rule!("parameter-constraints", "Parameters", "MinValue/MaxValue/MinLength/MaxLength",
        "CloudFormation refuses a parameter value outside its MinValue..MaxValue (Number) or MinLength..MaxLength (String)",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html"),
    rule!("lambda-function-name", FUNCTION, "FunctionName",
        "a function name is 1–64 characters of letters, digits, - and _",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html"),
    rule!("lambda-timeout", FUNCTION, "Timeout", "Timeout is 1–900 seconds",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    rule!("lambda-memory", FUNCTION, "MemorySize", "MemorySize is 128–10,240 MB",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    rule!("lambda-environment-size", FUNCTION, "Environment.Variables",
        "all environment variables together are at most 4 KB",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html"),
    rule!("lambda-environment-names", FUNCTION, "Environment.Variables",
        "keys match [a-zA-Z][a-zA-Z0-9_]+ and are not reserved by the runtime (AWS_REGION, _HANDLER, AWS_LAMBDA_FUNCTION_NAME, …)",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html"),
    rule!("lambda-log-levels-need-json", FUNCTION, "LoggingConfig",
        "ApplicationLogLevel and SystemLogLevel need LogFormat JSON",
        "https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html"),
    rule!("lambda-account-concurrency", FUNCTION, "ReservedConcurrentExecutions",
        "reservations must leave at least 100 of the account's concurrency (default quota 1,000) unreserved",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"),
    rule!("lambda-reserved-on-sqs", FUNCTION, "ReservedConcurrentExecutions",
        "an SQS-triggered function is capped with ScalingConfig.MaximumConcurrency, not reserved concurrency (throttled batches count as receives)",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html", Severity::Recommended),
    rule!("esm-sqs-batch-size", FUNCTION, "Events.SQS.BatchSize",
        "BatchSize is 1–10,000 for a standard queue, 1–10 for a FIFO queue",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html"),
    rule!("esm-sqs-batching-window", FUNCTION, "Events.SQS.MaximumBatchingWindowInSeconds",
        "the batching window is 0–300 s, and a FIFO queue takes none",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html"),
    rule!("esm-sqs-batch-needs-window", FUNCTION, "Events.SQS.BatchSize",
        "a BatchSize over 10 needs MaximumBatchingWindowInSeconds of at least 1",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html"),
    rule!("esm-sqs-maximum-concurrency", FUNCTION, "Events.SQS.ScalingConfig.MaximumConcurrency",
        "MaximumConcurrency is 2–1000",
        "https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html"),
    rule!("esm-sqs-visibility-timeout", FUNCTION, "Events.SQS.Queue",
        "the queue's VisibilityTimeout is at least the function's Timeout (Lambda validates it when it creates the mapping)",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html"),
    rule!("esm-sqs-visibility-six-times", FUNCTION, "Events.SQS.Queue",
        "the queue's VisibilityTimeout should be at least 6 × the function timeout + MaximumBatchingWindowInSeconds",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html", Severity::Recommended),
    rule!("esm-stream-batch-size", FUNCTION, "Events.DynamoDB.BatchSize",
        "BatchSize is 1–10,000 and the batching window 0–300 s",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html"),
    rule!("esm-stream-retries", FUNCTION, "Events.DynamoDB.MaximumRetryAttempts",
        "MaximumRetryAttempts is -1 (infinite) or 0–10,000",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html"),
    rule!("esm-stream-starting-position", FUNCTION, "Events.DynamoDB.StartingPosition",
        "StartingPosition is required: TRIM_HORIZON or LATEST",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html"),
    rule!("schedule-expression", FUNCTION, "Events.Schedule.Schedule",
        "rate(value unit) with a positive value and a singular unit for 1 (minute/minutes, hour/hours, day/days), or cron(6 fields)",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html"),
    rule!("sqs-queue-name", "AWS::SQS::Queue", "QueueName",
        "1–80 characters of letters, digits, - and _; a FIFO queue's name ends in .fifo",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"),
    rule!("sqs-visibility-timeout", "AWS::SQS::Queue", "VisibilityTimeout", "VisibilityTimeout is 0–43,200 s",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"),
    rule!("sqs-message-retention", "AWS::SQS::Queue", "MessageRetentionPeriod",
        "MessageRetentionPeriod is 60–1,209,600 s",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"),
    rule!("sqs-attribute-ranges", "AWS::SQS::Queue", "DelaySeconds/ReceiveMessageWaitTimeSeconds/MaximumMessageSize",
        "DelaySeconds 0–900, ReceiveMessageWaitTimeSeconds 0–20, MaximumMessageSize 1,024–1,048,576",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"),
    rule!("sqs-redrive-policy", "AWS::SQS::Queue", "RedrivePolicy",
        "maxReceiveCount is 1–1000 and the dead-letter queue is of the same type (standard or FIFO)",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html"),
    rule!("sqs-dlq-retention", "AWS::SQS::Queue", "RedrivePolicy.deadLetterTargetArn",
        "a moved message keeps its enqueue time, so the dead-letter queue's retention should exceed its source's",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html", Severity::Recommended),
    rule!("sns-topic-name", "AWS::SNS::Topic", "TopicName",
        "1–256 characters of letters, digits, - and _ (a FIFO topic's ends in .fifo)",
        "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html"),
    rule!("sns-alarm-topic-kms", "AWS::SNS::Topic", "KmsMasterKeyId",
        "a topic CloudWatch alarms publish to cannot use the AWS-managed alias/aws/sns key (its policy cannot grant cloudwatch.amazonaws.com)",
        "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services", Severity::Unusable),
    rule!("sqs-service-sender-kms", "AWS::SQS::Queue", "KmsMasterKeyId",
        "a queue SNS or S3 sends to cannot use the AWS-managed alias/aws/sqs key (its policy cannot grant the service principal)",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#compatibility-with-aws-services", Severity::Unusable),
    rule!("sns-subscription-protocol", "AWS::SNS::Subscription", "Protocol",
        "Protocol is one of http, https, email, email-json, sms, sqs, application, lambda, firehose",
        "https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html"),
    rule!("s3-bucket-name", "AWS::S3::Bucket", "BucketName",
        "3–63 characters of lowercase letters, digits, . and -, beginning and ending with a letter or digit, no .., not an IP address, no xn--/sthree- prefix or -s3alias/--ol-s3 suffix",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"),
    rule!("s3-lifecycle-rule", "AWS::S3::Bucket", "LifecycleConfiguration.Rules",
        "each rule has an action; ExpirationInDays and AbortIncompleteMultipartUpload.DaysAfterInitiation are ≥ 1; Status is Enabled or Disabled",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-s3-bucket-rule.html"),
    rule!("s3-lifecycle-transition", "AWS::S3::Bucket", "LifecycleConfiguration.Rules.Transitions",
        "a transition to STANDARD_IA or ONEZONE_IA is at least 30 days after creation",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html"),
    rule!("s3-notification-filter", "AWS::S3::Bucket", "NotificationConfiguration.*.Filter.S3Key.Rules",
        "at most one prefix and one suffix rule per notification",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html"),
    rule!("kinesis-stream-mode", "AWS::Kinesis::Stream", "StreamModeDetails/ShardCount",
        "an ON_DEMAND stream takes no ShardCount; a PROVISIONED stream needs ShardCount ≥ 1",
        "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html"),
    rule!("kinesis-retention", "AWS::Kinesis::Stream", "RetentionPeriodHours", "RetentionPeriodHours is 24–8,760",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kinesis-stream.html"),
    rule!("kinesis-stream-name", "AWS::Kinesis::Stream", "Name", "1–128 characters of [a-zA-Z0-9_.-]",
        "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html"),
    rule!("kinesis-encryption", "AWS::Kinesis::Stream", "StreamEncryption",
        "EncryptionType KMS needs a KeyId",
        "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_StartStreamEncryption.html"),
    rule!("firehose-stream-name", "AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamName",
        "1–64 characters of [a-zA-Z0-9_.-]",
        "https://docs.aws.amazon.com/firehose/latest/APIReference/API_CreateDeliveryStream.html"),
    rule!("firehose-source", "AWS::KinesisFirehose::DeliveryStream", "KinesisStreamSourceConfiguration",
        "a KinesisStreamAsSource stream needs KinesisStreamSourceConfiguration (stream ARN and role)",
        "https://docs.aws.amazon.com/firehose/latest/APIReference/API_CreateDeliveryStream.html"),
    rule!("firehose-buffering", "AWS::KinesisFirehose::DeliveryStream", "BufferingHints",
        "SizeInMBs is 1–128 and IntervalInSeconds 0–900",
        "https://docs.aws.amazon.com/firehose/latest/APIReference/API_BufferingHints.html"),
    rule!("firehose-dynamic-partitioning-buffer", "AWS::KinesisFirehose::DeliveryStream", "ExtendedS3DestinationConfiguration.BufferingHints.SizeInMBs",
        "with dynamic partitioning the S3 buffer is at least 64 MB (the service's refusal; see docs/aws-contracts.md)",
        "https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning.html"),
    rule!("firehose-error-output-prefix", "AWS::KinesisFirehose::DeliveryStream", "ExtendedS3DestinationConfiguration.ErrorOutputPrefix",
        "dynamic partitioning, or a Prefix with expressions, needs an ErrorOutputPrefix containing !{firehose:error-output-type}",
        "https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html"),
    rule!("firehose-partition-keys", "AWS::KinesisFirehose::DeliveryStream", "ExtendedS3DestinationConfiguration.Prefix",
        "!{partitionKeyFromLambda:…} needs dynamic partitioning enabled and a Lambda processor",
        "https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning.html"),
    rule!("firehose-processor-parameters", "AWS::KinesisFirehose::DeliveryStream", "ProcessingConfiguration.Processors.Parameters",
        "Lambda processor: BufferSizeInMBs 0.2–3, BufferIntervalInSeconds 0–900, NumberOfRetries 0–300, and a LambdaArn",
        "https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html"),
    rule!("firehose-retry-duration", "AWS::KinesisFirehose::DeliveryStream", "DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds",
        "DurationInSeconds is 0–7,200",
        "https://docs.aws.amazon.com/firehose/latest/APIReference/API_RetryOptions.html"),
    rule!("firehose-backup", "AWS::KinesisFirehose::DeliveryStream", "ExtendedS3DestinationConfiguration.S3BackupMode",
        "S3BackupMode Enabled needs S3BackupConfiguration",
        "https://docs.aws.amazon.com/firehose/latest/APIReference/API_ExtendedS3DestinationConfiguration.html"),
    rule!("glue-recrawl-policy", "AWS::Glue::Crawler", "RecrawlPolicy.RecrawlBehavior",
        "CRAWL_NEW_FOLDERS_ONLY allows only SchemaChangePolicy UpdateBehavior LOG and DeleteBehavior LOG",
        "https://docs.aws.amazon.com/glue/latest/dg/incremental-crawls.html"),
    rule!("glue-schema-change-policy", "AWS::Glue::Crawler", "SchemaChangePolicy",
        "UpdateBehavior is LOG or UPDATE_IN_DATABASE; DeleteBehavior is LOG, DELETE_FROM_DATABASE or DEPRECATE_IN_DATABASE",
        "https://docs.aws.amazon.com/glue/latest/webapi/API_SchemaChangePolicy.html"),
    rule!("glue-crawler-name", "AWS::Glue::Crawler", "Name", "Name is 1–255 characters",
        "https://docs.aws.amazon.com/glue/latest/webapi/API_CreateCrawler.html"),
    rule!("glue-sample-size", "AWS::Glue::Crawler", "Targets.S3Targets.SampleSize", "SampleSize is 1–249",
        "https://docs.aws.amazon.com/glue/latest/webapi/API_S3Target.html"),
    rule!("glue-crawler-configuration", "AWS::Glue::Crawler", "Configuration",
        "Configuration is a JSON object with Version 1.0",
        "https://docs.aws.amazon.com/glue/latest/dg/crawler-configuration.html"),
    rule!("glue-database-name", "AWS::Glue::Database", "DatabaseInput.Name", "Name is 1–255 characters on one line",
        "https://docs.aws.amazon.com/glue/latest/webapi/API_DatabaseInput.html"),
    rule!("dynamodb-table-name", "AWS::DynamoDB::Table", "TableName", "3–255 characters of [a-zA-Z0-9_.-]",
        "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html"),
    rule!("dynamodb-key-attributes", "AWS::DynamoDB::Table", "AttributeDefinitions",
        "AttributeDefinitions lists exactly the attributes of the table's and its indexes' key schemas",
        "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html"),
    rule!("dynamodb-billing-mode", "AWS::DynamoDB::Table", "BillingMode/ProvisionedThroughput",
        "PAY_PER_REQUEST takes no ProvisionedThroughput; PROVISIONED needs it",
        "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html"),
    rule!("dynamodb-stream-view", "AWS::DynamoDB::Table", "StreamSpecification.StreamViewType",
        "StreamViewType is KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES",
        "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_StreamSpecification.html"),
    rule!("logs-group-name", "AWS::Logs::LogGroup", "LogGroupName", "1–512 characters of [.-_/#A-Za-z0-9]",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"),
    rule!("logs-retention", "AWS::Logs::LogGroup", "RetentionInDays",
        "RetentionInDays is one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html"),
    rule!("logs-stream-name", "AWS::Logs::LogStream", "LogStreamName", "1–512 characters, without : or *",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html"),
    rule!("alarm-period", "AWS::CloudWatch::Alarm", "Period", "Period is 10, 30 or a multiple of 60 seconds",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"),
    rule!("alarm-description", "AWS::CloudWatch::Alarm", "AlarmDescription/AlarmActions",
        "AlarmDescription is at most 1,024 characters; at most 5 actions per state",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"),
    rule!("athena-workgroup-name", "AWS::Athena::WorkGroup", "Name", "Name matches [a-zA-Z0-9._-]{1,128}",
        "https://docs.aws.amazon.com/athena/latest/APIReference/API_CreateWorkGroup.html"),
    rule!("iam-role-policies", "AWS::IAM::Role", "Policies/ManagedPolicyArns",
        "inline policies of a role total at most 10,240 characters (whitespace not counted); at most 10 managed policies (default quota)",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
];

/// A rule that a resource of the deployment breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static Rule,
    pub logical_id: String,
    pub kind: String,
    /// The property as it is set, e.g. `Events.Changes.BatchSize`.
    pub property: String,
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) {}: {} — rule {}: {} — {}",
            self.logical_id,
            self.kind,
            self.property,
            self.detail,
            self.rule.id,
            self.rule.rule,
            self.rule.url
        )
    }
}

/// What applying the rules found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Distinct rules that had something to apply to.
    pub rules_applied: usize,
    /// (rule, resource) pairs evaluated.
    pub checks: usize,
    /// Refused and unusable: the deploy fails.
    pub failures: Vec<Finding>,
    /// AWS's recommendations that do not hold.
    pub warnings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("AWS would refuse this deployment ({} rule(s) broken):\n  {}", .0.len(), .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n  "))]
    Broken(Vec<Finding>),
}

/// One resource as it would be deployed.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub logical_id: String,
    pub kind: String,
    /// The name property the template sets (`None`: CloudFormation generates a valid one).
    pub name: Option<String>,
    pub properties: Value,
}

/// The resources a template deploys, resolved before anything is created: resources that
/// do not exist yet answer `Ref`/`Fn::GetAtt` with the names and ARNs they will have.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub resources: Vec<Deployed>,
    /// Parameter name → (its specification, the value deployed).
    pub parameters: Vec<(String, Value, Value)>,
    /// Every placeholder Ref/attribute value → the logical id it stands for.
    by_value: HashMap<String, String>,
}

/// The property naming a resource of `kind`, if the template sets one.
fn name_property(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "AWS::SNS::Topic" => "/TopicName",
        "AWS::SQS::Queue" => "/QueueName",
        "AWS::Kinesis::Stream" | "AWS::Glue::Crawler" | "AWS::Athena::WorkGroup" => "/Name",
        "AWS::S3::Bucket" => "/BucketName",
        "AWS::DynamoDB::Table" => "/TableName",
        "AWS::Glue::Database" => "/DatabaseInput/Name",
        "AWS::KinesisFirehose::DeliveryStream" => "/DeliveryStreamName",
        FUNCTION => "/FunctionName",
        "AWS::Logs::LogGroup" => "/LogGroupName",
        "AWS::Logs::LogStream" => "/LogStreamName",
        "AWS::IAM::Role" => "/RoleName",
        "AWS::CloudWatch::Alarm" => "/AlarmName",
        _ => return None,
    })
}

/// (resource, attribute) pairs the template reads with GetAtt or `${R.A}` in Sub.
fn attribute_references(value: &Value, out: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("Fn::GetAtt", Value::Array(parts)) if parts.len() == 2 => {
                        if let (Some(r), Some(a)) = (parts[0].as_str(), parts[1].as_str()) {
                            out.insert((r.to_string(), a.to_string()));
                        }
                    }
                    ("Fn::Sub", v) => {
                        let text = match v {
                            Value::String(s) => s.as_str(),
                            Value::Array(items) => {
                                items.first().and_then(Value::as_str).unwrap_or("")
                            }
                            _ => "",
                        };
                        let mut rest = text;
                        while let Some(start) = rest.find("${") {
                            let after = &rest[start + 2..];
                            let Some(end) = after.find('}') else { break };
                            if let Some((r, a)) = after[..end].split_once('.') {
                                out.insert((r.to_string(), a.to_string()));
                            }
                            rest = &after[end + 1..];
                        }
                        attribute_references(v, out);
                    }
                    _ => attribute_references(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| attribute_references(v, out)),
        _ => {}
    }
}

fn arn(kind: &str, name: &str, region: &str, account: &str) -> String {
    match kind {
        "AWS::SQS::Queue" => format!("arn:aws:sqs:{region}:{account}:{name}"),
        "AWS::SNS::Topic" => format!("arn:aws:sns:{region}:{account}:{name}"),
        "AWS::Kinesis::Stream" => format!("arn:aws:kinesis:{region}:{account}:stream/{name}"),
        "AWS::S3::Bucket" => format!("arn:aws:s3:::{name}"),
        "AWS::DynamoDB::Table" => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
        FUNCTION => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
        "AWS::IAM::Role" => format!("arn:aws:iam::{account}:role/{name}"),
        "AWS::Logs::LogGroup" => format!("arn:aws:logs:{region}:{account}:log-group:{name}:*"),
        "AWS::KinesisFirehose::DeliveryStream" => {
            format!("arn:aws:firehose:{region}:{account}:deliverystream/{name}")
        }
        _ => format!("arn:aws:local:{region}:{account}:{name}"),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number, whether the template wrote it as a number or a parameter made it a string.
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Deployment {
    pub fn resolve(template: &Template, context: &Context) -> Result<Self, TemplateError> {
        let mut context = context.clone();
        let mut wanted = BTreeSet::new();
        for r in &template.resources {
            attribute_references(&r.properties, &mut wanted);
        }
        attribute_references(&template.function_globals, &mut wanted);
        let (region, account, stack) = (
            context.region.clone(),
            context.account.clone(),
            context.stack_name.clone(),
        );
        let mut resources = Vec::new();
        let mut by_value = HashMap::new();
        for resource in template.creation_order()? {
            if let Some(condition) = &resource.condition {
                if !context.condition(condition)? {
                    continue;
                }
            }
            let id = &resource.logical_id;
            let raw = if resource.kind == FUNCTION {
                merge(&template.function_globals, &resource.properties)
            } else {
                resource.properties.clone()
            };
            let properties = context.resolve(id, &raw)?.unwrap_or_else(|| json!({}));
            let name = name_property(&resource.kind)
                .and_then(|p| properties.pointer(p))
                .and_then(text)
                .filter(|s| !s.is_empty());
            let physical = name.clone().unwrap_or_else(|| {
                let generated = format!("{stack}-{id}");
                if resource.kind == "AWS::S3::Bucket" {
                    generated.to_lowercase()
                } else {
                    generated
                }
            });
            let resource_arn = arn(&resource.kind, &physical, &region, &account);
            let reference = match resource.kind.as_str() {
                "AWS::SNS::Topic" => resource_arn.clone(),
                "AWS::SQS::Queue" => {
                    format!("https://sqs.{region}.amazonaws.com/{account}/{physical}")
                }
                _ => physical.clone(),
            };
            let mut attributes = HashMap::new();
            for (_, attribute) in wanted.iter().filter(|(r, _)| r == id) {
                let value = match attribute.as_str() {
                    "Arn" | "TopicArn" => resource_arn.clone(),
                    "QueueName" | "TopicName" => physical.clone(),
                    "QueueUrl" => reference.clone(),
                    "StreamArn" => format!("{resource_arn}/stream/deploy-check"),
                    other => format!("{physical}.{other}"),
                };
                attributes.insert(attribute.clone(), value);
            }
            by_value.insert(reference.clone(), id.clone());
            for v in attributes.values() {
                by_value.insert(v.clone(), id.clone());
            }
            context.resources.insert(
                id.clone(),
                Physical {
                    reference,
                    attributes,
                },
            );
            resources.push(Deployed {
                logical_id: id.clone(),
                kind: resource.kind.clone(),
                name,
                properties,
            });
        }
        let parameters = template
            .parameters
            .iter()
            .map(|(name, spec)| {
                let value = context.parameters.get(name).cloned().unwrap_or(Value::Null);
                (name.clone(), spec.clone(), value)
            })
            .collect();
        Ok(Self {
            resources,
            parameters,
            by_value,
        })
    }

    pub fn get(&self, logical_id: &str) -> Option<&Deployed> {
        self.resources.iter().find(|r| r.logical_id == logical_id)
    }

    /// The resolved properties of `logical_id` (for tests that break a copy).
    pub fn properties_mut(&mut self, logical_id: &str) -> Option<&mut Value> {
        self.resources
            .iter_mut()
            .find(|r| r.logical_id == logical_id)
            .map(|r| &mut r.properties)
    }

    /// The resource a resolved Ref/ARN/URL value names.
    fn referent(&self, value: &Value) -> Option<&Deployed> {
        let id = self.by_value.get(value.as_str()?)?;
        self.get(id)
    }
}

/// Collects findings for one deployment.
struct Checker<'a> {
    deployment: &'a Deployment,
    report: Report,
}

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

impl Checker<'_> {
    fn find(&mut self, id: &str, r: &Deployed, property: &str, detail: String) {
        let rule = rule(id);
        let finding = Finding {
            rule,
            logical_id: r.logical_id.clone(),
            kind: r.kind.clone(),
            property: property.to_string(),
            detail,
        };
        if rule.severity == Severity::Recommended {
            self.report.warnings.push(finding);
        } else {
            self.report.failures.push(finding);
        }
    }

    /// `value` (when set) within `lo..=hi`, else a finding.
    fn range(
        &mut self,
        id: &str,
        r: &Deployed,
        property: &str,
        value: Option<&Value>,
        lo: f64,
        hi: f64,
    ) {
        let Some(v) = value else { return };
        match num(v) {
            Some(n) if (lo..=hi).contains(&n) => {}
            _ => self.find(id, r, property, format!("{v} is outside {lo}–{hi}")),
        }
    }
}

fn chars_ok(s: &str, extra: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Runtime-reserved environment variable keys (configuration-envvars.html).
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Lambda's default account concurrency and the part that must stay unreserved.
const ACCOUNT_CONCURRENCY: f64 = 1000.0;
const UNRESERVED_MINIMUM: f64 = 100.0;

fn is_aws_managed(key: Option<&Value>, service: &str) -> bool {
    key.and_then(Value::as_str)
        .is_some_and(|k| k.eq_ignore_ascii_case(&format!("alias/aws/{service}")))
}

fn valid_rate(expression: &str) -> bool {
    if let Some(inner) = expression
        .strip_prefix("cron(")
        .and_then(|e| e.strip_suffix(')'))
    {
        return inner.split_whitespace().count() == 6;
    }
    let Some(inner) = expression
        .strip_prefix("rate(")
        .and_then(|e| e.strip_suffix(')'))
    else {
        return false;
    };
    let mut parts = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    match value.parse::<u64>() {
        Ok(1) => matches!(unit, "minute" | "hour" | "day"),
        Ok(n) if n > 1 => matches!(unit, "minutes" | "hours" | "days"),
        _ => false,
    }
}

fn valid_bucket_name(name: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let is_ip = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
        && !name.contains("..")
        && !is_ip
        && !name.starts_with("xn--")
        && !name.starts_with("sthree-")
        && !name.ends_with("-s3alias")
        && !name.ends_with("--ol-s3")
}

/// Apply every rule to `deployment`.
pub fn check(deployment: &Deployment) -> Report {
    let mut c = Checker {
        deployment,
        report: Report::default(),
    };
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &deployment.resources {
        *kinds.entry(r.kind.as_str()).or_default() += 1;
    }
    kinds.insert("Parameters", deployment.parameters.len());
    for rule in RULES {
        let n = kinds.get(rule.kind).copied().unwrap_or(0);
        if n > 0 {
            c.report.rules_applied += 1;
            c.report.checks += n;
        }
    }
    parameters(&mut c);
    // Alarm actions and service senders: which topics and queues AWS services must use.
    let mut alarm_topics = BTreeSet::new();
    let mut service_queues: BTreeMap<String, &'static str> = BTreeMap::new();
    for r in &deployment.resources {
        let p = &r.properties;
        if r.kind == "AWS::CloudWatch::Alarm" {
            for key in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
                for action in p[key].as_array().into_iter().flatten() {
                    if let Some(t) = deployment.referent(action) {
                        alarm_topics.insert(t.logical_id.clone());
                    }
                }
            }
        }
        if r.kind == "AWS::SNS::Subscription" && p["Protocol"] == "sqs" {
            if let Some(q) = deployment.referent(&p["Endpoint"]) {
                service_queues.insert(q.logical_id.clone(), "sns.amazonaws.com");
            }
        }
        if r.kind == "AWS::S3::Bucket" {
            for q in p
                .pointer("/NotificationConfiguration/QueueConfigurations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(q) = deployment.referent(&q["Queue"]) {
                    service_queues.insert(q.logical_id.clone(), "s3.amazonaws.com");
                }
            }
        }
    }
    let mut reserved_total = 0.0;
    for r in &deployment.resources {
        let p = &r.properties;
        match r.kind.as_str() {
            FUNCTION => {
                function(&mut c, r);
                if let Some(n) = p.get("ReservedConcurrentExecutions").and_then(num) {
                    reserved_total += n;
                    if reserved_total > ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM {
                        c.find("lambda-account-concurrency", r, "ReservedConcurrentExecutions",
                            format!("reservations reach {reserved_total}, leaving less than {UNRESERVED_MINIMUM} of {ACCOUNT_CONCURRENCY} unreserved"));
                    }
                }
            }
            "AWS::SQS::Queue" => {
                queue(&mut c, r);
                if let Some(principal) = service_queues.get(&r.logical_id) {
                    if is_aws_managed(p.get("KmsMasterKeyId"), "sqs") {
                        c.find(
                            "sqs-service-sender-kms",
                            r,
                            "KmsMasterKeyId",
                            format!("alias/aws/sqs, but {principal} sends to this queue"),
                        );
                    }
                }
            }
            "AWS::SNS::Topic" => {
                if let Some(name) = &r.name {
                    let base = name.strip_suffix(".fifo").unwrap_or(name);
                    if base.is_empty() || name.len() > 256 || !chars_ok(base, "-_") {
                        c.find("sns-topic-name", r, "TopicName", format!("{name:?}"));
                    }
                }
                if alarm_topics.contains(&r.logical_id)
                    && is_aws_managed(p.get("KmsMasterKeyId"), "sns")
                {
                    c.find(
                        "sns-alarm-topic-kms",
                        r,
                        "KmsMasterKeyId",
                        "alias/aws/sns on a topic that CloudWatch alarms publish to".into(),
                    );
                }
            }
            "AWS::SNS::Subscription" => {
                let protocol = p["Protocol"].as_str().unwrap_or_default();
                if ![
                    "http",
                    "https",
                    "email",
                    "email-json",
                    "sms",
                    "sqs",
                    "application",
                    "lambda",
                    "firehose",
                ]
                .contains(&protocol)
                {
                    c.find(
                        "sns-subscription-protocol",
                        r,
                        "Protocol",
                        format!("{protocol:?}"),
                    );
                }
            }
            "AWS::S3::Bucket" => bucket(&mut c, r),
            "AWS::Kinesis::Stream" => stream(&mut c, r),
            "AWS::KinesisFirehose::DeliveryStream" => delivery_stream(&mut c, r),
            "AWS::Glue::Crawler" => crawler(&mut c, r),
            "AWS::Glue::Database" => {
                let name = p
                    .pointer("/DatabaseInput/Name")
                    .and_then(text)
                    .unwrap_or_default();
                if name.is_empty() || name.chars().count() > 255 || name.contains('\n') {
                    c.find(
                        "glue-database-name",
                        r,
                        "DatabaseInput.Name",
                        format!("{name:?}"),
                    );
                }
            }
            "AWS::DynamoDB::Table" => table(&mut c, r),
            "AWS::Logs::LogGroup" => {
                if let Some(name) = &r.name {
                    if name.len() > 512 || !chars_ok(name, ".-_/#") {
                        c.find("logs-group-name", r, "LogGroupName", format!("{name:?}"));
                    }
                }
                const DAYS: [f64; 22] = [
                    1., 3., 5., 7., 14., 30., 60., 90., 120., 150., 180., 365., 400., 545., 731.,
                    1096., 1827., 2192., 2557., 2922., 3288., 3653.,
                ];
                if let Some(v) = p.get("RetentionInDays") {
                    if !num(v).is_some_and(|d| DAYS.contains(&d)) {
                        c.find(
                            "logs-retention",
                            r,
                            "RetentionInDays",
                            format!("{v} is not an allowed value"),
                        );
                    }
                }
            }
            "AWS::Logs::LogStream" => {
                if let Some(name) = &r.name {
                    if name.len() > 512 || name.contains(':') || name.contains('*') {
                        c.find("logs-stream-name", r, "LogStreamName", format!("{name:?}"));
                    }
                }
            }
            "AWS::CloudWatch::Alarm" => {
                if let Some(v) = p.get("Period") {
                    if !num(v)
                        .is_some_and(|s| s == 10.0 || s == 30.0 || (s >= 60.0 && s % 60.0 == 0.0))
                    {
                        c.find("alarm-period", r, "Period", format!("{v}"));
                    }
                }
                let description = p["AlarmDescription"].as_str().unwrap_or_default();
                if description.chars().count() > 1024 {
                    c.find(
                        "alarm-description",
                        r,
                        "AlarmDescription",
                        format!("{} characters", description.chars().count()),
                    );
                }
                for key in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
                    let n = p[key].as_array().map_or(0, Vec::len);
                    if n > 5 {
                        c.find("alarm-description", r, key, format!("{n} actions"));
                    }
                }
            }
            "AWS::Athena::WorkGroup" => {
                let name = r.name.clone().unwrap_or_default();
                if name.is_empty() || name.len() > 128 || !chars_ok(&name, "._-") {
                    c.find("athena-workgroup-name", r, "Name", format!("{name:?}"));
                }
            }
            "AWS::IAM::Role" => {
                // IAM counts the policy's characters without whitespace.
                let size: usize = p["Policies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|policy| {
                        let mut doc = policy["PolicyDocument"].to_string();
                        doc.retain(|c| !c.is_whitespace());
                        doc.len() + policy["PolicyName"].as_str().map_or(0, str::len)
                    })
                    .sum();
                if size > 10_240 {
                    c.find(
                        "iam-role-policies",
                        r,
                        "Policies",
                        format!("{size} characters of inline policy"),
                    );
                }
                let managed = p["ManagedPolicyArns"].as_array().map_or(0, Vec::len);
                if managed > 10 {
                    c.find(
                        "iam-role-policies",
                        r,
                        "ManagedPolicyArns",
                        format!("{managed} managed policies"),
                    );
                }
            }
            _ => {}
        }
    }
    c.report
}

fn parameters(c: &mut Checker) {
    let pseudo = Deployed {
        logical_id: "Parameters".into(),
        kind: "Parameters".into(),
        name: None,
        properties: Value::Null,
    };
    for (name, spec, value) in &c.deployment.parameters {
        let at = format!("Parameters.{name}");
        match spec["Type"].as_str() {
            Some("Number") => {
                let n = num(value);
                let (lo, hi) = (
                    spec.get("MinValue").and_then(num),
                    spec.get("MaxValue").and_then(num),
                );
                if n.is_none()
                    || lo.is_some_and(|lo| n < Some(lo))
                    || hi.is_some_and(|hi| n > Some(hi))
                {
                    c.find(
                        "parameter-constraints",
                        &pseudo,
                        &at,
                        format!(
                            "{value} is not a number within {}..{}",
                            lo.map_or("".into(), |v| v.to_string()),
                            hi.map_or("".into(), |v| v.to_string())
                        ),
                    );
                }
            }
            Some("String") => {
                let len = value.as_str().map_or(0, |s| s.chars().count()) as f64;
                let (lo, hi) = (
                    spec.get("MinLength").and_then(num),
                    spec.get("MaxLength").and_then(num),
                );
                if lo.is_some_and(|lo| len < lo) || hi.is_some_and(|hi| len > hi) {
                    c.find(
                        "parameter-constraints",
                        &pseudo,
                        &at,
                        format!("{len} characters is outside MinLength..MaxLength"),
                    );
                }
            }
            _ => {}
        }
    }
}

fn function(c: &mut Checker, r: &Deployed) {
    let p = &r.properties;
    if let Some(name) = &r.name {
        if name.is_empty() || name.len() > 64 || !chars_ok(name, "-_") {
            c.find(
                "lambda-function-name",
                r,
                "FunctionName",
                format!("{name:?} ({} characters)", name.len()),
            );
        }
    }
    c.range("lambda-timeout", r, "Timeout", p.get("Timeout"), 1.0, 900.0);
    c.range(
        "lambda-memory",
        r,
        "MemorySize",
        p.get("MemorySize"),
        128.0,
        10240.0,
    );
    if let Some(vars) = p
        .pointer("/Environment/Variables")
        .and_then(Value::as_object)
    {
        // Lambda counts keys and values (as their JSON text) against the 4 KB.
        let size: usize = vars
            .iter()
            .map(|(k, v)| k.len() + text(v).map_or(0, |s| s.len()))
            .sum();
        if size > 4096 {
            c.find(
                "lambda-environment-size",
                r,
                "Environment.Variables",
                format!("{size} bytes"),
            );
        }
        for key in vars.keys() {
            let shaped = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && key.len() >= 2
                && chars_ok(key, "_");
            if !shaped || RESERVED_ENV.contains(&key.as_str()) {
                c.find(
                    "lambda-environment-names",
                    r,
                    &format!("Environment.Variables.{key}"),
                    if shaped {
                        "reserved by the Lambda runtime".into()
                    } else {
                        "not a valid key".into()
                    },
                );
            }
        }
    }
    let logging = &p["LoggingConfig"];
    if (logging.get("ApplicationLogLevel").is_some() || logging.get("SystemLogLevel").is_some())
        && logging["LogFormat"] != "JSON"
    {
        c.find(
            "lambda-log-levels-need-json",
            r,
            "LoggingConfig.LogFormat",
            format!("{} with log levels", logging["LogFormat"]),
        );
    }
    let timeout = p.get("Timeout").and_then(num).unwrap_or(3.0);
    let events = p["Events"].as_object().cloned().unwrap_or_default();
    let sqs_triggered = events.values().any(|e| e["Type"] == "SQS");
    if sqs_triggered && p.get("ReservedConcurrentExecutions").is_some() {
        c.find(
            "lambda-reserved-on-sqs",
            r,
            "ReservedConcurrentExecutions",
            "set on an SQS-triggered function".into(),
        );
    }
    for (name, event) in &events {
        let ep = &event["Properties"];
        let at = |k: &str| format!("Events.{name}.{k}");
        match event["Type"].as_str().unwrap_or_default() {
            "SQS" => {
                let queue = c.deployment.referent(&ep["Queue"]);
                let fifo = queue.is_some_and(|q| {
                    q.properties["FifoQueue"] == true || q.properties["FifoQueue"] == "true"
                });
                let batch = ep.get("BatchSize").and_then(num).unwrap_or(10.0);
                let window = ep.get("MaximumBatchingWindowInSeconds").and_then(num);
                let max_batch = if fifo { 10.0 } else { 10_000.0 };
                if !(1.0..=max_batch).contains(&batch) {
                    c.find(
                        "esm-sqs-batch-size",
                        r,
                        &at("BatchSize"),
                        format!("{batch} is outside 1–{max_batch}"),
                    );
                }
                match window {
                    Some(w) if !(0.0..=300.0).contains(&w) || (fifo && w > 0.0) => c.find(
                        "esm-sqs-batching-window",
                        r,
                        &at("MaximumBatchingWindowInSeconds"),
                        format!("{w}"),
                    ),
                    _ => {}
                }
                if batch > 10.0 && window.unwrap_or(0.0) < 1.0 {
                    c.find(
                        "esm-sqs-batch-needs-window",
                        r,
                        &at("BatchSize"),
                        format!(
                            "BatchSize {batch} with MaximumBatchingWindowInSeconds {}",
                            window.unwrap_or(0.0)
                        ),
                    );
                }
                c.range(
                    "esm-sqs-maximum-concurrency",
                    r,
                    &at("ScalingConfig.MaximumConcurrency"),
                    ep.pointer("/ScalingConfig/MaximumConcurrency"),
                    2.0,
                    1000.0,
                );
                if let Some(q) = queue {
                    let visibility = q
                        .properties
                        .get("VisibilityTimeout")
                        .and_then(num)
                        .unwrap_or(30.0);
                    if visibility < timeout {
                        c.find("esm-sqs-visibility-timeout", r, &at("Queue"),
                            format!("{} VisibilityTimeout {visibility} s < function Timeout {timeout} s", q.logical_id));
                    } else if visibility < 6.0 * timeout + window.unwrap_or(0.0) {
                        c.find(
                            "esm-sqs-visibility-six-times",
                            r,
                            &at("Queue"),
                            format!(
                                "{} VisibilityTimeout {visibility} s < 6 × {timeout} s + {} s",
                                q.logical_id,
                                window.unwrap_or(0.0)
                            ),
                        );
                    }
                }
            }
            "DynamoDB" | "Kinesis" => {
                c.range(
                    "esm-stream-batch-size",
                    r,
                    &at("BatchSize"),
                    ep.get("BatchSize"),
                    1.0,
                    10_000.0,
                );
                c.range(
                    "esm-stream-batch-size",
                    r,
                    &at("MaximumBatchingWindowInSeconds"),
                    ep.get("MaximumBatchingWindowInSeconds"),
                    0.0,
                    300.0,
                );
                c.range(
                    "esm-stream-retries",
                    r,
                    &at("MaximumRetryAttempts"),
                    ep.get("MaximumRetryAttempts"),
                    -1.0,
                    10_000.0,
                );
                let position = ep["StartingPosition"].as_str().unwrap_or_default();
                let allowed: &[&str] = if event["Type"] == "Kinesis" {
                    &["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
                } else {
                    &["TRIM_HORIZON", "LATEST"]
                };
                if !allowed.contains(&position) {
                    c.find(
                        "esm-stream-starting-position",
                        r,
                        &at("StartingPosition"),
                        format!("{position:?}"),
                    );
                }
            }
            "Schedule" => {
                let expression = ep["Schedule"].as_str().unwrap_or_default();
                if !valid_rate(expression) {
                    c.find(
                        "schedule-expression",
                        r,
                        &at("Schedule"),
                        format!("{expression:?}"),
                    );
                }
            }
            _ => {}
        }
    }
}

fn queue(c: &mut Checker, r: &Deployed) {
    let p = &r.properties;
    let fifo = p["FifoQueue"] == true || p["FifoQueue"] == "true";
    if let Some(name) = &r.name {
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        if base.is_empty()
            || name.len() > 80
            || !chars_ok(base, "-_")
            || fifo != name.ends_with(".fifo")
        {
            c.find("sqs-queue-name", r, "QueueName", format!("{name:?}"));
        }
    }
    c.range(
        "sqs-visibility-timeout",
        r,
        "VisibilityTimeout",
        p.get("VisibilityTimeout"),
        0.0,
        43_200.0,
    );
    c.range(
        "sqs-message-retention",
        r,
        "MessageRetentionPeriod",
        p.get("MessageRetentionPeriod"),
        60.0,
        1_209_600.0,
    );
    c.range(
        "sqs-attribute-ranges",
        r,
        "DelaySeconds",
        p.get("DelaySeconds"),
        0.0,
        900.0,
    );
    c.range(
        "sqs-attribute-ranges",
        r,
        "ReceiveMessageWaitTimeSeconds",
        p.get("ReceiveMessageWaitTimeSeconds"),
        0.0,
        20.0,
    );
    c.range(
        "sqs-attribute-ranges",
        r,
        "MaximumMessageSize",
        p.get("MaximumMessageSize"),
        1024.0,
        1_048_576.0,
    );
    let Some(redrive) = p.get("RedrivePolicy") else {
        return;
    };
    c.range(
        "sqs-redrive-policy",
        r,
        "RedrivePolicy.maxReceiveCount",
        redrive.get("maxReceiveCount"),
        1.0,
        1000.0,
    );
    if let Some(dlq) = c.deployment.referent(&redrive["deadLetterTargetArn"]) {
        let dlq_fifo = dlq.properties["FifoQueue"] == true || dlq.properties["FifoQueue"] == "true";
        if dlq_fifo != fifo {
            c.find(
                "sqs-redrive-policy",
                r,
                "RedrivePolicy.deadLetterTargetArn",
                format!("{} is not the same queue type", dlq.logical_id),
            );
        }
        // The default retention is 4 days (345,600 s).
        let retention = |q: &Deployed| {
            q.properties
                .get("MessageRetentionPeriod")
                .and_then(num)
                .unwrap_or(345_600.0)
        };
        if retention(dlq) <= retention(r) {
            c.find(
                "sqs-dlq-retention",
                r,
                "RedrivePolicy.deadLetterTargetArn",
                format!(
                    "{} keeps messages {} s, this queue {} s",
                    dlq.logical_id,
                    retention(dlq),
                    retention(r)
                ),
            );
        }
    }
}

fn bucket(c: &mut Checker, r: &Deployed) {
    let p = &r.properties;
    if let Some(name) = &r.name {
        if !valid_bucket_name(name) {
            c.find(
                "s3-bucket-name",
                r,
                "BucketName",
                format!("{name:?} ({} characters)", name.len()),
            );
        }
    }
    for (i, rule) in p
        .pointer("/LifecycleConfiguration/Rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("LifecycleConfiguration.Rules[{i}]");
        let actions = [
            "ExpirationInDays",
            "ExpirationDate",
            "Transitions",
            "Transition",
            "AbortIncompleteMultipartUpload",
            "NoncurrentVersionExpiration",
            "NoncurrentVersionExpirationInDays",
            "NoncurrentVersionTransitions",
            "NoncurrentVersionTransition",
            "ExpiredObjectDeleteMarker",
        ];
        if !actions.iter().any(|a| rule.get(*a).is_some()) {
            c.find("s3-lifecycle-rule", r, &at, "no action".into());
        }
        if !matches!(rule["Status"].as_str(), Some("Enabled" | "Disabled")) {
            c.find(
                "s3-lifecycle-rule",
                r,
                &format!("{at}.Status"),
                format!("{}", rule["Status"]),
            );
        }
        c.range(
            "s3-lifecycle-rule",
            r,
            &format!("{at}.ExpirationInDays"),
            rule.get("ExpirationInDays"),
            1.0,
            f64::MAX,
        );
        c.range(
            "s3-lifecycle-rule",
            r,
            &format!("{at}.AbortIncompleteMultipartUpload.DaysAfterInitiation"),
            rule.pointer("/AbortIncompleteMultipartUpload/DaysAfterInitiation"),
            1.0,
            f64::MAX,
        );
        let transitions = rule["Transitions"].as_array().cloned().unwrap_or_default();
        for t in transitions.iter().chain(rule.get("Transition")) {
            let class = t["StorageClass"].as_str().unwrap_or_default();
            if matches!(class, "STANDARD_IA" | "ONEZONE_IA") {
                c.range(
                    "s3-lifecycle-transition",
                    r,
                    &format!("{at}.Transitions.{class}.TransitionInDays"),
                    t.get("TransitionInDays"),
                    30.0,
                    f64::MAX,
                );
            }
        }
    }
    for key in [
        "QueueConfigurations",
        "TopicConfigurations",
        "LambdaConfigurations",
    ] {
        for (i, n) in p
            .pointer(&format!("/NotificationConfiguration/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let rules = n
                .pointer("/Filter/S3Key/Rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for kind in ["prefix", "suffix"] {
                let count = rules
                    .iter()
                    .filter(|x| {
                        x["Name"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(kind))
                    })
                    .count();
                if count > 1 {
                    c.find(
                        "s3-notification-filter",
                        r,
                        &format!("NotificationConfiguration.{key}[{i}].Filter"),
                        format!("{count} {kind} rules"),
                    );
                }
            }
        }
    }
}

fn stream(c: &mut Checker, r: &Deployed) {
    let p = &r.properties;
    let mode = p
        .pointer("/StreamModeDetails/StreamMode")
        .and_then(Value::as_str)
        .unwrap_or("PROVISIONED");
    match (mode, p.get("ShardCount")) {
        ("ON_DEMAND", Some(n)) => c.find(
            "kinesis-stream-mode",
            r,
            "ShardCount",
            format!("{n} on an ON_DEMAND stream"),
        ),
        ("PROVISIONED", n) if !n.and_then(num).is_some_and(|n| n >= 1.0) => c.find(
            "kinesis-stream-mode",
            r,
            "ShardCount",
            "a PROVISIONED stream needs ShardCount ≥ 1".into(),
        ),
        _ => {}
    }
    c.range(
        "kinesis-retention",
        r,
        "RetentionPeriodHours",
        p.get("RetentionPeriodHours"),
        24.0,
        8760.0,
    );
    if let Some(name) = &r.name {
        if name.is_empty() || name.len() > 128 || !chars_ok(name, "_.-") {
            c.find("kinesis-stream-name", r, "Name", format!("{name:?}"));
        }
    }
    if p.pointer("/StreamEncryption/EncryptionType") == Some(&json!("KMS"))
        && p.pointer("/StreamEncryption/KeyId")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        c.find(
            "kinesis-encryption",
            r,
            "StreamEncryption.KeyId",
            "missing".into(),
        );
    }
}

fn delivery_stream(c: &mut Checker, r: &Deployed) {
    let p = &r.properties;
    if let Some(name) = &r.name {
        if name.is_empty() || name.len() > 64 || !chars_ok(name, "_.-") {
            c.find(
                "firehose-stream-name",
                r,
                "DeliveryStreamName",
                format!("{name:?}"),
            );
        }
    }
    if p["DeliveryStreamType"] == "KinesisStreamAsSource"
        && (p
            .pointer("/KinesisStreamSourceConfiguration/KinesisStreamARN")
            .is_none()
            || p.pointer("/KinesisStreamSourceConfiguration/RoleARN")
                .is_none())
    {
        c.find(
            "firehose-source",
            r,
            "KinesisStreamSourceConfiguration",
            "missing the stream ARN or role".into(),
        );
    }
    let Some(s3) = p.get("ExtendedS3DestinationConfiguration") else {
        return;
    };
    let at = |k: &str| format!("ExtendedS3DestinationConfiguration.{k}");
    for (prefix, hints) in [
        ("", s3.get("BufferingHints")),
        (
            "S3BackupConfiguration.",
            s3.pointer("/S3BackupConfiguration/BufferingHints"),
        ),
    ] {
        let Some(hints) = hints else { continue };
        c.range(
            "firehose-buffering",
            r,
            &at(&format!("{prefix}BufferingHints.SizeInMBs")),
            hints.get("SizeInMBs"),
            1.0,
            128.0,
        );
        c.range(
            "firehose-buffering",
            r,
            &at(&format!("{prefix}BufferingHints.IntervalInSeconds")),
            hints.get("IntervalInSeconds"),
            0.0,
            900.0,
        );
    }
    let dynamic = s3
        .pointer("/DynamicPartitioningConfiguration/Enabled")
        .is_some_and(|v| v == true || v == "true");
    if dynamic {
        // The default S3 buffer is 5 MB, so leaving it out is refused too.
        let size = s3
            .pointer("/BufferingHints/SizeInMBs")
            .and_then(num)
            .unwrap_or(5.0);
        if size < 64.0 {
            c.find(
                "firehose-dynamic-partitioning-buffer",
                r,
                &at("BufferingHints.SizeInMBs"),
                format!("{size} MB with dynamic partitioning"),
            );
        }
        c.range(
            "firehose-retry-duration",
            r,
            &at("DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds"),
            s3.pointer("/DynamicPartitioningConfiguration/RetryOptions/DurationInSeconds"),
            0.0,
            7200.0,
        );
    }
    let prefix = s3["Prefix"].as_str().unwrap_or_default();
    let error_prefix = s3["ErrorOutputPrefix"].as_str().unwrap_or_default();
    if (dynamic || prefix.contains("!{")) && !error_prefix.contains("!{firehose:error-output-type}")
    {
        c.find(
            "firehose-error-output-prefix",
            r,
            &at("ErrorOutputPrefix"),
            format!("{error_prefix:?}"),
        );
    }
    let processors = s3
        .pointer("/ProcessingConfiguration/Processors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let processing = s3
        .pointer("/ProcessingConfiguration/Enabled")
        .is_some_and(|v| v == true || v == "true");
    let lambda = processing && processors.iter().any(|x| x["Type"] == "Lambda");
    if prefix.contains("!{partitionKeyFromLambda:") && !(dynamic && lambda) {
        c.find(
            "firehose-partition-keys",
            r,
            &at("Prefix"),
            "partitionKeyFromLambda without dynamic partitioning and an enabled Lambda processor"
                .into(),
        );
    }
    for processor in processors.iter().filter(|x| x["Type"] == "Lambda") {
        let params: BTreeMap<&str, &Value> = processor["Parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| Some((x["ParameterName"].as_str()?, &x["ParameterValue"])))
            .collect();
        let at = |k: &str| {
            format!(
                "ExtendedS3DestinationConfiguration.ProcessingConfiguration.Processors.Lambda.{k}"
            )
        };
        if !params.contains_key("LambdaArn") {
            c.find(
                "firehose-processor-parameters",
                r,
                &at("LambdaArn"),
                "missing".into(),
            );
        }
        c.range(
            "firehose-processor-parameters",
            r,
            &at("BufferSizeInMBs"),
            params.get("BufferSizeInMBs").copied(),
            0.2,
            3.0,
        );
        c.range(
            "firehose-processor-parameters",
            r,
            &at("BufferIntervalInSeconds"),
            params.get("BufferIntervalInSeconds").copied(),
            0.0,
            900.0,
        );
        c.range(
            "firehose-processor-parameters",
            r,
            &at("NumberOfRetries"),
            params.get("NumberOfRetries").copied(),
            0.0,
            300.0,
        );
    }
    if s3["S3BackupMode"] == "Enabled" && s3.get("S3BackupConfiguration").is_none() {
        c.find(
            "firehose-backup",
            r,
            &at("S3BackupConfiguration"),
            "missing with S3BackupMode Enabled".into(),
        );
    }
}

fn crawler(c: &mut Checker, r: &Deployed) {
    let p = &r.properties;
    let recrawl = p
        .pointer("/RecrawlPolicy/RecrawlBehavior")
        .and_then(Value::as_str)
        .unwrap_or("CRAWL_EVERYTHING");
    // The service's defaults when SchemaChangePolicy leaves them out.
    let update = p
        .pointer("/SchemaChangePolicy/UpdateBehavior")
        .and_then(Value::as_str)
        .unwrap_or("UPDATE_IN_DATABASE");
    let delete = p
        .pointer("/SchemaChangePolicy/DeleteBehavior")
        .and_then(Value::as_str)
        .unwrap_or("DEPRECATE_IN_DATABASE");
    if recrawl == "CRAWL_NEW_FOLDERS_ONLY" && (update != "LOG" || delete != "LOG") {
        c.find(
            "glue-recrawl-policy",
            r,
            "RecrawlPolicy.RecrawlBehavior",
            format!("CRAWL_NEW_FOLDERS_ONLY with UpdateBehavior {update}, DeleteBehavior {delete}"),
        );
    }
    if !["LOG", "UPDATE_IN_DATABASE"].contains(&update)
        || !["LOG", "DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE"].contains(&delete)
    {
        c.find(
            "glue-schema-change-policy",
            r,
            "SchemaChangePolicy",
            format!("UpdateBehavior {update}, DeleteBehavior {delete}"),
        );
    }
    let name = r.name.clone().unwrap_or_default();
    if name.is_empty() || name.chars().count() > 255 {
        c.find(
            "glue-crawler-name",
            r,
            "Name",
            format!("{} characters", name.chars().count()),
        );
    }
    for (i, t) in p
        .pointer("/Targets/S3Targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        c.range(
            "glue-sample-size",
            r,
            &format!("Targets.S3Targets[{i}].SampleSize"),
            t.get("SampleSize"),
            1.0,
            249.0,
        );
    }
    if let Some(configuration) = p.get("Configuration") {
        let parsed = configuration
            .as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok());
        if !parsed
            .as_ref()
            .is_some_and(|v| v.get("Version").and_then(num) == Some(1.0))
        {
            c.find(
                "glue-crawler-configuration",
                r,
                "Configuration",
                "not a JSON object with Version 1.0".into(),
            );
        }
    }
}

fn table(c: &mut Checker, r: &Deployed) {
    let p = &r.properties;
    if let Some(name) = &r.name {
        if !(3..=255).contains(&name.len()) || !chars_ok(name, "_.-") {
            c.find("dynamodb-table-name", r, "TableName", format!("{name:?}"));
        }
    }
    let names = |v: &Value, key: &str| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x[key].as_str().map(String::from))
            .collect()
    };
    let defined = names(&p["AttributeDefinitions"], "AttributeName");
    let mut keys = names(&p["KeySchema"], "AttributeName");
    for index in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        for i in p[index].as_array().into_iter().flatten() {
            keys.extend(names(&i["KeySchema"], "AttributeName"));
        }
    }
    if defined != keys {
        c.find(
            "dynamodb-key-attributes",
            r,
            "AttributeDefinitions",
            format!("defines {defined:?}, the key schemas use {keys:?}"),
        );
    }
    let mode = p["BillingMode"].as_str().unwrap_or("PROVISIONED");
    let throughput = p.get("ProvisionedThroughput").is_some();
    if (mode == "PAY_PER_REQUEST") == throughput {
        c.find(
            "dynamodb-billing-mode",
            r,
            "BillingMode",
            format!(
                "{mode} {} ProvisionedThroughput",
                if throughput { "with" } else { "without" }
            ),
        );
    }
    if let Some(view) = p.pointer("/StreamSpecification/StreamViewType") {
        if !["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]
            .iter()
            .any(|v| view == v)
        {
            c.find(
                "dynamodb-stream-view",
                r,
                "StreamSpecification.StreamViewType",
                format!("{view}"),
            );
        }
    }
}

/// Resolve `template` as `context` deploys it and apply every rule: an error listing each
/// rule AWS would refuse it by, or the report (with the recommendations that do not hold).
pub fn apply(template: &Template, context: &Context) -> Result<Report, RulesError> {
    let report = check(&Deployment::resolve(template, context)?);
    if report.failures.is_empty() {
        Ok(report)
    } else {
        Err(RulesError::Broken(report.failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace_root;

    const STACK: &str = "ferrolake-demo";

    /// template.yaml resolved as the demo deploys it (with `overrides`).
    fn deployment_as(stack: &str, overrides: &[(&str, &str)]) -> Deployment {
        let template = Template::load(&workspace_root().join("template.yaml")).unwrap();
        let overrides: HashMap<String, String> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let context =
            Context::new(&template, stack, "us-east-1", "123456789012", &overrides).unwrap();
        Deployment::resolve(&template, &context).unwrap()
    }

    fn deployment() -> Deployment {
        deployment_as(STACK, &[])
    }

    /// Set (or with `Value::Null`, remove) the property at `pointer` of `id`, creating
    /// objects on the way; the deployed name follows its name property.
    fn set(d: &mut Deployment, id: &str, pointer: &str, value: Value) {
        let r = d
            .resources
            .iter_mut()
            .find(|r| r.logical_id == id)
            .unwrap_or_else(|| panic!("no resource {id}"));
        let mut at = &mut r.properties;
        let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            if let Ok(n) = part.parse::<usize>() {
                let items = at
                    .as_array_mut()
                    .unwrap_or_else(|| panic!("{id}{pointer}: not an array"));
                if last {
                    if n < items.len() {
                        items[n] = value.clone();
                    } else {
                        items.push(value.clone());
                    }
                    break;
                }
                at = &mut items[n];
                continue;
            }
            let object = at
                .as_object_mut()
                .unwrap_or_else(|| panic!("{id}{pointer}: not an object"));
            if last {
                if value.is_null() {
                    object.remove(*part);
                } else {
                    object.insert(part.to_string(), value.clone());
                }
                break;
            }
            at = object.entry(part.to_string()).or_insert_with(|| json!({}));
        }
        r.name = name_property(&r.kind)
            .and_then(|p| r.properties.pointer(p))
            .and_then(text)
            .filter(|s| !s.is_empty());
    }

    fn ids(findings: &[Finding]) -> BTreeSet<&'static str> {
        findings.iter().map(|f| f.rule.id).collect()
    }

    #[test]
    fn the_real_template_passes_every_rule() {
        for overrides in [
            vec![],
            // The demo's own overrides, and the other parameter branches.
            vec![
                ("CatalogAuth", "api-key"),
                (
                    "CatalogSecretArn",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
                ),
                ("MinCrawlIntervalSeconds", "3"),
            ],
            vec![
                ("StreamMode", "PROVISIONED"),
                ("StreamShardCount", "2"),
                ("CatalogTopicKmsKeyId", ""),
                ("CatalogBatchSize", "10000"),
                ("CatalogBatchWindowSeconds", "300"),
            ],
        ] {
            let report = check(&deployment_as(STACK, &overrides));
            assert!(
                report.failures.is_empty(),
                "{overrides:?}: {:#?}",
                report
                    .failures
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
            assert!(
                report.warnings.is_empty(),
                "{overrides:?}: {:#?}",
                report
                    .warnings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                report.rules_applied,
                RULES.len(),
                "every rule has a resource to apply to"
            );
            assert!(report.checks > RULES.len());
        }
    }

    #[test]
    fn every_rule_fires_on_a_broken_copy() {
        type Breakage = Box<dyn Fn(&mut Deployment)>;
        let s = |id: &'static str, pointer: &'static str, value: Value| -> Breakage {
            Box::new(move |d: &mut Deployment| set(d, id, pointer, value.clone()))
        };
        let long = |n: usize| Value::String("a".repeat(n));
        let breakages: Vec<(&str, Breakage)> = vec![
            ("parameter-constraints", Box::new(|d: &mut Deployment| {
                let p = d.parameters.iter_mut().find(|(n, _, _)| n == "CatalogBatchWindowSeconds").unwrap();
                p.2 = json!("0");
            })),
            ("lambda-function-name", s("CatalogFetchFunction", "/FunctionName", long(65))),
            ("lambda-timeout", s("CatalogFetchFunction", "/Timeout", json!(901))),
            ("lambda-memory", s("AthenaUdfFunction", "/MemorySize", json!(64))),
            ("lambda-environment-size", s("CrawlerTriggerFunction", "/Environment/Variables/CRAWLER_ROUTES", long(4100))),
            ("lambda-environment-names", s("FirehoseFlattenFunction", "/Environment/Variables/AWS_REGION", json!("us-east-1"))),
            ("lambda-log-levels-need-json", s("CatalogFetchFunction", "/LoggingConfig/LogFormat", json!("Text"))),
            ("lambda-account-concurrency", Box::new(|d: &mut Deployment| {
                set(d, "AthenaUdfFunction", "/ReservedConcurrentExecutions", json!(500));
                set(d, "FirehoseFlattenFunction", "/ReservedConcurrentExecutions", json!(401));
            })),
            ("lambda-reserved-on-sqs", s("CatalogFetchFunction", "/ReservedConcurrentExecutions", json!(20))),
            ("esm-sqs-batch-size", s("CatalogFetchFunction", "/Events/Changes/Properties/BatchSize", json!(10001))),
            ("esm-sqs-batching-window", s("CatalogFetchFunction", "/Events/Changes/Properties/MaximumBatchingWindowInSeconds", json!(301))),
            ("esm-sqs-batch-needs-window", s("CrawlerTriggerFunction", "/Events/ObjectsCreated/Properties/MaximumBatchingWindowInSeconds", json!(0))),
            ("esm-sqs-maximum-concurrency", s("CrawlerTriggerFunction", "/Events/ObjectsCreated/Properties/ScalingConfig/MaximumConcurrency", json!(1))),
            ("esm-sqs-visibility-timeout", s("CrawlerQueue", "/VisibilityTimeout", json!(30))),
            ("esm-sqs-visibility-six-times", s("CrawlerQueue", "/VisibilityTimeout", json!(300))),
            ("esm-stream-batch-size", s("RedshiftConfigFunction", "/Events/ConfigChanges/Properties/BatchSize", json!(0))),
            ("esm-stream-retries", s("RedshiftConfigFunction", "/Events/ConfigChanges/Properties/MaximumRetryAttempts", json!(-2))),
            ("esm-stream-starting-position", s("RedshiftConfigFunction", "/Events/ConfigChanges/Properties/StartingPosition", json!("AT_TIMESTAMP"))),
            ("schedule-expression", s("RedshiftConfigFunction", "/Events/DriftRepair/Properties/Schedule", json!("rate(1 hours)"))),
            ("sqs-queue-name", s("CatalogDeadLetterQueue", "/QueueName", long(81))),
            ("sqs-visibility-timeout", s("CatalogDeadLetterQueue", "/VisibilityTimeout", json!(43_201))),
            ("sqs-message-retention", s("CatalogDeadLetterQueue", "/MessageRetentionPeriod", json!(59))),
            ("sqs-attribute-ranges", s("CatalogQueue", "/DelaySeconds", json!(901))),
            ("sqs-redrive-policy", s("CatalogQueue", "/RedrivePolicy/maxReceiveCount", json!(0))),
            ("sqs-dlq-retention", s("CatalogQueue", "/MessageRetentionPeriod", json!(1_209_600))),
            ("sns-topic-name", s("AlarmTopic", "/TopicName", json!("alarm topic"))),
            ("sns-alarm-topic-kms", s("AlarmTopic", "/KmsMasterKeyId", json!("alias/aws/sns"))),
            ("sqs-service-sender-kms", s("CrawlerQueue", "/KmsMasterKeyId", json!("alias/aws/sqs"))),
            ("sns-subscription-protocol", s("CatalogSubscription", "/Protocol", json!("smtp"))),
            ("s3-bucket-name", s("TransformedBucket", "/BucketName", json!("Ferrolake_Transformed"))),
            ("s3-lifecycle-rule", s("AccessLogsBucket", "/LifecycleConfiguration/Rules/0/ExpirationInDays", json!(0))),
            ("s3-lifecycle-transition", s("TransformedBucket", "/LifecycleConfiguration/Rules/1/Transitions/0/TransitionInDays", json!(7))),
            ("s3-notification-filter", s("TransformedBucket", "/NotificationConfiguration/QueueConfigurations/0/Filter/S3Key/Rules",
                json!([{"Name": "prefix", "Value": "events/"}, {"Name": "prefix", "Value": "errors/"}]))),
            ("kinesis-stream-mode", s("CatalogStream", "/ShardCount", json!(2))),
            ("kinesis-retention", s("CatalogStream", "/RetentionPeriodHours", json!(12))),
            ("kinesis-stream-name", s("CatalogStream", "/Name", json!("catalog stream"))),
            ("kinesis-encryption", s("CatalogStream", "/StreamEncryption/KeyId", Value::Null)),
            ("firehose-stream-name", s("DeliveryStream", "/DeliveryStreamName", long(65))),
            ("firehose-source", s("DeliveryStream", "/KinesisStreamSourceConfiguration", Value::Null)),
            ("firehose-buffering", s("DeliveryStream", "/ExtendedS3DestinationConfiguration/BufferingHints/IntervalInSeconds", json!(901))),
            ("firehose-dynamic-partitioning-buffer", s("DeliveryStream", "/ExtendedS3DestinationConfiguration/BufferingHints/SizeInMBs", json!(32))),
            ("firehose-error-output-prefix", s("DeliveryStream", "/ExtendedS3DestinationConfiguration/ErrorOutputPrefix", Value::Null)),
            ("firehose-partition-keys", s("DeliveryStream", "/ExtendedS3DestinationConfiguration/ProcessingConfiguration/Enabled", json!(false))),
            ("firehose-processor-parameters", s("DeliveryStream", "/ExtendedS3DestinationConfiguration/ProcessingConfiguration/Processors/0/Parameters/1/ParameterValue", json!("0.1"))),
            ("firehose-retry-duration", s("DeliveryStream", "/ExtendedS3DestinationConfiguration/DynamicPartitioningConfiguration/RetryOptions/DurationInSeconds", json!(7201))),
            ("firehose-backup", s("DeliveryStream", "/ExtendedS3DestinationConfiguration/S3BackupConfiguration", Value::Null)),
            ("glue-recrawl-policy", s("EventsCrawler", "/RecrawlPolicy/RecrawlBehavior", json!("CRAWL_NEW_FOLDERS_ONLY"))),
            ("glue-schema-change-policy", s("EventsCrawler", "/SchemaChangePolicy/UpdateBehavior", json!("MERGE"))),
            ("glue-crawler-name", s("EventsCrawler", "/Name", long(256))),
            ("glue-sample-size", s("EventsCrawler", "/Targets/S3Targets/0/SampleSize", json!(250))),
            ("glue-crawler-configuration", s("EventsCrawler", "/Configuration", json!("{\"Version\": 2.0}"))),
            ("glue-database-name", s("GlueDatabase", "/DatabaseInput/Name", long(256))),
            ("dynamodb-table-name", s("RedshiftConfigTable", "/TableName", json!("ab"))),
            ("dynamodb-key-attributes", s("RedshiftConfigTable", "/AttributeDefinitions/2", json!({"AttributeName": "extra", "AttributeType": "S"}))),
            ("dynamodb-billing-mode", s("RedshiftConfigTable", "/ProvisionedThroughput", json!({"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}))),
            ("dynamodb-stream-view", s("RedshiftConfigTable", "/StreamSpecification/StreamViewType", json!("ALL"))),
            ("logs-group-name", s("CatalogFetchLogGroup", "/LogGroupName", json!("/aws/lambda/catalog fetch"))),
            ("logs-retention", s("CatalogFetchLogGroup", "/RetentionInDays", json!(31))),
            ("logs-stream-name", s("DeliveryLogStream", "/LogStreamName", json!("S3:Delivery"))),
            ("alarm-period", s("CatalogFetchErrorsAlarm", "/Period", json!(45))),
            ("alarm-description", s("CatalogFetchErrorsAlarm", "/AlarmDescription", long(1025))),
            ("athena-workgroup-name", s("AthenaWorkGroup", "/Name", json!("work group"))),
            ("iam-role-policies", s("CrawlerRole", "/ManagedPolicyArns", json!(vec!["arn:aws:iam::aws:policy/P"; 11]))),
        ];
        let mut fired = BTreeSet::new();
        for (id, breakage) in &breakages {
            let mut d = deployment();
            breakage(&mut d);
            let report = check(&d);
            let all: Vec<&Finding> = report.failures.iter().chain(&report.warnings).collect();
            let finding = all.iter().find(|f| f.rule.id == *id).unwrap_or_else(|| {
                panic!(
                    "breaking {id} was not detected: {:?}",
                    all.iter().map(ToString::to_string).collect::<Vec<_>>()
                )
            });
            let warning = rule(id).severity == Severity::Recommended;
            assert_eq!(
                report.warnings.iter().any(|f| f.rule.id == *id),
                warning,
                "{id}: a recommendation only warns"
            );
            let message = finding.to_string();
            assert!(
                message.contains(rule(id).url)
                    && message.contains(&finding.logical_id)
                    && message.contains(id),
                "{message}"
            );
            fired.insert(*id);
        }
        let all: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
        assert_eq!(fired, all, "every rule has a breakage that fires it");
    }

    #[test]
    fn parameter_overrides_are_checked_as_deployed() {
        // A batch over 10 with no window: refused by the parameter's MinValue and, on the
        // resolved event, by Lambda's own rule.
        let report = check(&deployment_as(
            STACK,
            &[
                ("CatalogBatchSize", "100"),
                ("CatalogBatchWindowSeconds", "0"),
            ],
        ));
        assert_eq!(
            ids(&report.failures),
            BTreeSet::from(["parameter-constraints", "esm-sqs-batch-needs-window"])
        );
        let report = check(&deployment_as(
            STACK,
            &[("RedshiftDriftSchedule", "rate(1 hours)")],
        ));
        assert_eq!(
            ids(&report.failures),
            BTreeSet::from(["schedule-expression"])
        );
        // A ShardCount on an ON_DEMAND stream cannot come from the template: the condition
        // drops it, so only the explicit break above fires kinesis-stream-mode.
        let report = check(&deployment_as(STACK, &[("StreamShardCount", "4")]));
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }

    #[test]
    fn a_long_stack_name_breaks_the_derived_names() {
        // docs/aws-contracts.md open item: TransformedBucket and the function names derive
        // from the stack name. In us-east-1, 29 characters break the bucket name (63); in
        // the longest Region names, 24 do.
        let report = check(&deployment_as("ferrolake-staging-eu-abcdefgh", &[]));
        assert_eq!(
            ids(&report.failures),
            BTreeSet::from(["s3-bucket-name"]),
            "{:?}",
            report.failures
        );
        let report = check(&deployment_as(&"f".repeat(48), &[]));
        assert_eq!(
            ids(&report.failures),
            BTreeSet::from(["s3-bucket-name", "lambda-function-name"])
        );
        let report = check(&deployment_as("Ferrolake", &[]));
        assert_eq!(
            ids(&report.failures),
            BTreeSet::from(["s3-bucket-name"]),
            "uppercase in a bucket name"
        );
    }

    #[test]
    fn apply_names_resource_property_rule_and_documentation() {
        let template = Template::load(&workspace_root().join("template.yaml")).unwrap();
        let overrides = [(
            "RedshiftDriftSchedule".to_string(),
            "rate(0 minutes)".to_string(),
        )]
        .into();
        let context =
            Context::new(&template, STACK, "us-east-1", "123456789012", &overrides).unwrap();
        let err = apply(&template, &context).unwrap_err().to_string();
        assert!(
            err.starts_with("AWS would refuse this deployment (1 rule(s) broken):"),
            "{err}"
        );
        assert!(err.contains("RedshiftConfigFunction (AWS::Serverless::Function) Events.DriftRepair.Schedule: \"rate(0 minutes)\""), "{err}");
        assert!(
            err.contains(
                "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html"
            ),
            "{err}"
        );
        let context = Context::new(
            &template,
            STACK,
            "us-east-1",
            "123456789012",
            &HashMap::new(),
        )
        .unwrap();
        let report = apply(&template, &context).unwrap();
        assert_eq!(report.rules_applied, RULES.len());
    }
}
