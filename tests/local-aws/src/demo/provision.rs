//! Creates template.yaml's resources in moto, in dependency order, from the resolved
//! properties: what CloudFormation would do, for the resource types the pipeline uses.
//! Functions are not created in moto; they become [`FunctionSpec`]s that the local runner
//! starts as real processes. IAM roles are created (with their policies) in the demo's
//! strict moto, which enforces them (tests/local-aws/src/demo/iam.rs). Types that only matter in AWS (log
//! groups, alarms, bucket and queue policies, Lambda permissions) are listed with the reason
//! they are skipped; a
//! type this module does not know is an error, so the template cannot outgrow the demo
//! silently.

use super::template::{merge, Context, Physical, Resource, Template, TemplateError};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{logical_id} ({kind}): the local stack does not know this resource type; teach tests/local-aws/src/demo/provision.rs to create it or say why it is not needed locally")]
    UnknownType { logical_id: String, kind: String },
    #[error("{logical_id}: {action} failed: {source}")]
    Aws {
        logical_id: String,
        action: &'static str,
        source: BoxError,
    },
    #[error("{logical_id}: {problem}")]
    Invalid { logical_id: String, problem: String },
    /// A create-time rule AWS applies and moto does not (tests/local-aws/src/demo/rules.rs).
    #[error(transparent)]
    Rules(#[from] super::rules::RulesError),
}

/// A function of the template, ready for the local runner.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// `Metadata.BuildProperties.Binary` (cargo-lambda's binary name).
    pub binary: String,
    pub timeout_seconds: u64,
    pub memory_mb: u64,
    /// `Role` (resolved): the execution role whose credentials the process runs with.
    pub role: String,
    pub environment: Vec<(String, String)>,
    /// `Events` with resolved properties: (name, type, properties).
    pub events: Vec<(String, String, Value)>,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub logical_id: String,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Skipped {
    pub logical_id: String,
    pub kind: String,
    pub reason: String,
}

/// The template, created.
#[derive(Debug)]
pub struct Stack {
    pub context: Context,
    pub created: Vec<Created>,
    pub skipped: Vec<Skipped>,
    pub functions: Vec<FunctionSpec>,
    /// Resolved properties of every created resource, by logical id.
    pub properties: HashMap<String, Value>,
    pub kinds: HashMap<String, String>,
    /// AWS's create-time rules, applied to the resolved template before anything was created.
    pub deploy_rules: super::rules::Report,
}

impl Stack {
    pub fn function(&self, binary: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.binary == binary)
    }

    /// Logical ids of created resources of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.created
            .iter()
            .filter(move |c| c.kind == kind)
            .map(|c| c.logical_id.as_str())
    }

    pub fn physical(&self, logical_id: &str) -> Option<&Physical> {
        self.context.resources.get(logical_id)
    }

    pub fn attribute(&self, logical_id: &str, attribute: &str) -> Option<String> {
        self.physical(logical_id)
            .and_then(|p| p.attributes.get(attribute))
            .cloned()
    }
}

/// Types that exist only for AWS itself, with why the local stack does without them.
fn not_needed_locally(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "AWS::Logs::LogGroup" | "AWS::Logs::LogStream" => {
            "function logs go to files under the demo's scratch directory"
        }
        "AWS::SQS::QueuePolicy" | "AWS::S3::BucketPolicy" | "AWS::SNS::TopicPolicy" => {
            "resource policies are not enforced by moto"
        }
        "AWS::CloudWatch::Alarm" => "no CloudWatch alarms locally",
        "AWS::Lambda::Permission" => "the local driver invokes functions directly",
        _ => return None,
    })
}

/// The SDK clients and raw JSON-protocol access the provisioner uses.
#[derive(Clone)]
pub struct Clients {
    pub endpoint: String,
    pub region: String,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub http: reqwest::Client,
    /// What `json_call` signs with (the strict moto checks signatures).
    pub keys: super::iam::Keys,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            region: config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            s3: ferrolake_shared::aws::s3_client(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            http: reqwest::Client::new(),
            keys: super::iam::Keys::dummy(),
        }
    }

    /// One call of an AWS JSON-protocol API (DynamoDB, Glue, Firehose, Athena) with the
    /// template's property shapes, which are the APIs' request shapes, signed with `keys`
    /// (moto routes by the credential scope's service; the strict moto checks the signature).
    pub async fn json_call(
        &self,
        service: &str,
        target: &str,
        json_version: &str,
        body: &Value,
    ) -> Result<Value, BoxError> {
        let content_type = format!("application/x-amz-json-{json_version}");
        let body = body.to_string();
        let mut request = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("content-type", &content_type)
            .header("x-amz-target", target);
        for (k, v) in super::iam::sign(
            &self.keys,
            &self.region,
            service,
            &self.endpoint,
            &[
                ("content-type", content_type.clone()),
                ("x-amz-target", target.to_string()),
            ],
            body.as_bytes(),
        ) {
            request = request.header(k, v);
        }
        let response = request.body(body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{target}: HTTP {status}: {text}").into());
        }
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn number(v: &Value, default: u64) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(default),
        Value::String(s) => s.parse().unwrap_or(default),
        _ => default,
    }
}

/// Create every resource of `template` in moto.
pub async fn create_stack(
    template: &Template,
    mut context: Context,
    clients: &Clients,
) -> Result<Stack, ProvisionError> {
    let mut stack_created = Vec::new();
    let mut skipped = Vec::new();
    let mut functions = Vec::new();
    let mut properties = HashMap::new();
    let mut kinds = HashMap::new();
    let (region, account, stack) = (
        context.region.clone(),
        context.account.clone(),
        context.stack_name.clone(),
    );
    // AWS refuses some property values moto accepts: check them all on the values being
    // deployed before creating anything, as a failed CloudFormation deploy creates nothing.
    let deploy_rules = super::rules::apply(template, &context)?;
    for resource in template.creation_order()? {
        let id = resource.logical_id.clone();
        let kind = resource.kind.clone();
        if let Some(condition) = &resource.condition {
            if !context.condition(condition)? {
                skipped.push(Skipped {
                    logical_id: id.clone(),
                    kind: kind.clone(),
                    reason: format!("condition {condition} is false"),
                });
                continue;
            }
        }
        let raw = if kind == "AWS::Serverless::Function" {
            merge(&template.function_globals, &resource.properties)
        } else {
            resource.properties.clone()
        };
        let generated = format!("{stack}-{id}");
        if let Some(reason) = not_needed_locally(&kind) {
            // Still answer Ref/GetAtt: other resources name these in their properties.
            let name = match kind.as_str() {
                "AWS::Logs::LogGroup" => context
                    .resolve(&id, &raw["LogGroupName"])?
                    .map(|v| text(&v))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("/aws/{generated}")),
                _ => generated.clone(),
            };
            let arn = match kind.as_str() {
                "AWS::Logs::LogGroup" => {
                    format!("arn:aws:logs:{region}:{account}:log-group:{name}:*")
                }
                _ => format!("arn:aws:local:{region}:{account}:{name}"),
            };
            context.resources.insert(
                id.clone(),
                Physical {
                    reference: name,
                    attributes: [("Arn".to_string(), arn)].into(),
                },
            );
            skipped.push(Skipped {
                logical_id: id,
                kind,
                reason: reason.to_string(),
            });
            continue;
        }
        let props = context
            .resolve(&id, &raw)?
            .unwrap_or_else(|| Value::Object(Map::new()));
        let aws = |action: &'static str| {
            let logical_id = id.clone();
            move |source: BoxError| ProvisionError::Aws {
                logical_id,
                action,
                source,
            }
        };
        let named = |key: &str| {
            let v = text(&props[key]);
            if v.is_empty() {
                None
            } else {
                Some(v)
            }
        };
        let (name, physical) = match kind.as_str() {
            "AWS::SNS::Topic" => {
                let name = named("TopicName").unwrap_or_else(|| generated.clone());
                let arn = clients
                    .sns
                    .create_topic()
                    .name(&name)
                    .send()
                    .await
                    .map_err(|e| aws("CreateTopic")(e.into()))?
                    .topic_arn
                    .unwrap_or_default();
                let physical = Physical {
                    reference: arn.clone(),
                    attributes: [("TopicArn".into(), arn), ("TopicName".into(), name.clone())]
                        .into(),
                };
                (name, physical)
            }
            "AWS::SNS::Subscription" => {
                let mut request = clients
                    .sns
                    .subscribe()
                    .topic_arn(text(&props["TopicArn"]))
                    .protocol(text(&props["Protocol"]))
                    .endpoint(text(&props["Endpoint"]))
                    .return_subscription_arn(true);
                for key in ["RawMessageDelivery", "FilterPolicy", "RedrivePolicy"] {
                    if let Some(v) = props.get(key) {
                        let v = if v.is_object() {
                            v.to_string()
                        } else {
                            text(v)
                        };
                        request = request.attributes(key, v);
                    }
                }
                let arn = request
                    .send()
                    .await
                    .map_err(|e| aws("Subscribe")(e.into()))?
                    .subscription_arn
                    .unwrap_or_default();
                (
                    arn.clone(),
                    Physical {
                        reference: arn,
                        attributes: HashMap::new(),
                    },
                )
            }
            "AWS::SQS::Queue" => {
                let name = named("QueueName").unwrap_or_else(|| generated.clone());
                let mut request = clients.sqs.create_queue().queue_name(&name);
                for (key, value) in props.as_object().into_iter().flatten() {
                    if matches!(key.as_str(), "QueueName" | "Tags") {
                        continue;
                    }
                    let value = if value.is_object() {
                        value.to_string()
                    } else {
                        text(value)
                    };
                    request = request.attributes(QueueAttributeName::from(key.as_str()), value);
                }
                let url = request
                    .send()
                    .await
                    .map_err(|e| aws("CreateQueue")(e.into()))?
                    .queue_url
                    .unwrap_or_default();
                let arn = format!("arn:aws:sqs:{region}:{account}:{name}");
                let physical = Physical {
                    reference: url.clone(),
                    attributes: [
                        ("Arn".into(), arn),
                        ("QueueName".into(), name.clone()),
                        ("QueueUrl".into(), url),
                    ]
                    .into(),
                };
                (name, physical)
            }
            "AWS::Kinesis::Stream" => {
                let name = named("Name").unwrap_or_else(|| generated.clone());
                let mut request = clients.kinesis.create_stream().stream_name(&name);
                match props
                    .pointer("/StreamModeDetails/StreamMode")
                    .map(text)
                    .as_deref()
                {
                    Some("ON_DEMAND") => {
                        request = request.stream_mode_details(
                            aws_sdk_kinesis::types::StreamModeDetails::builder()
                                .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
                                .build()
                                .map_err(|e| aws("CreateStream")(e.into()))?,
                        )
                    }
                    _ => request = request.shard_count(number(&props["ShardCount"], 1) as i32),
                }
                request
                    .send()
                    .await
                    .map_err(|e| aws("CreateStream")(e.into()))?;
                let arn = format!("arn:aws:kinesis:{region}:{account}:stream/{name}");
                (
                    name.clone(),
                    Physical {
                        reference: name,
                        attributes: [("Arn".into(), arn)].into(),
                    },
                )
            }
            "AWS::S3::Bucket" => {
                let name = named("BucketName").unwrap_or_else(|| generated.to_lowercase());
                clients
                    .s3
                    .create_bucket()
                    .bucket(&name)
                    .send()
                    .await
                    .map_err(|e| aws("CreateBucket")(e.into()))?;
                if let Some(queues) = props
                    .pointer("/NotificationConfiguration/QueueConfigurations")
                    .and_then(Value::as_array)
                {
                    let mut configuration = NotificationConfiguration::builder();
                    for q in queues {
                        let mut queue = QueueConfiguration::builder()
                            .queue_arn(text(&q["Queue"]))
                            .events(Event::from(text(&q["Event"]).as_str()));
                        if let Some(rules) =
                            q.pointer("/Filter/S3Key/Rules").and_then(Value::as_array)
                        {
                            let mut key = S3KeyFilter::builder();
                            for rule in rules {
                                key = key.filter_rules(
                                    FilterRule::builder()
                                        .name(FilterRuleName::from(text(&rule["Name"]).as_str()))
                                        .value(text(&rule["Value"]))
                                        .build(),
                                );
                            }
                            queue = queue.filter(
                                NotificationConfigurationFilter::builder()
                                    .key(key.build())
                                    .build(),
                            );
                        }
                        configuration =
                            configuration.queue_configurations(queue.build().map_err(|e| {
                                aws("PutBucketNotificationConfiguration")(e.into())
                            })?);
                    }
                    clients
                        .s3
                        .put_bucket_notification_configuration()
                        .bucket(&name)
                        .notification_configuration(configuration.build())
                        .send()
                        .await
                        .map_err(|e| aws("PutBucketNotificationConfiguration")(e.into()))?;
                }
                let physical = Physical {
                    reference: name.clone(),
                    attributes: [
                        ("Arn".into(), format!("arn:aws:s3:::{name}")),
                        ("DomainName".into(), format!("{name}.s3.amazonaws.com")),
                    ]
                    .into(),
                };
                (name, physical)
            }
            "AWS::DynamoDB::Table" => {
                let name = named("TableName").unwrap_or_else(|| generated.clone());
                let mut body = Map::new();
                body.insert("TableName".into(), name.clone().into());
                for key in [
                    "AttributeDefinitions",
                    "KeySchema",
                    "BillingMode",
                    "StreamSpecification",
                    "SSESpecification",
                    "ProvisionedThroughput",
                    "GlobalSecondaryIndexes",
                    "LocalSecondaryIndexes",
                ] {
                    if let Some(v) = props.get(key) {
                        body.insert(key.into(), v.clone());
                    }
                }
                if let Some(spec) = body.get_mut("StreamSpecification") {
                    spec["StreamEnabled"] = true.into();
                }
                let out = clients
                    .json_call(
                        "dynamodb",
                        "DynamoDB_20120810.CreateTable",
                        "1.0",
                        &Value::Object(body),
                    )
                    .await
                    .map_err(aws("CreateTable"))?;
                let mut attributes: HashMap<String, String> = [(
                    "Arn".to_string(),
                    format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
                )]
                .into();
                if let Some(stream) = out
                    .pointer("/TableDescription/LatestStreamArn")
                    .and_then(Value::as_str)
                {
                    attributes.insert("StreamArn".into(), stream.to_string());
                }
                (
                    name.clone(),
                    Physical {
                        reference: name,
                        attributes,
                    },
                )
            }
            "AWS::Glue::Database" => {
                let name = text(&props["DatabaseInput"]["Name"]);
                clients
                    .json_call("glue", "AWSGlue.CreateDatabase", "1.1", &props)
                    .await
                    .map_err(aws("CreateDatabase"))?;
                (
                    name.clone(),
                    Physical {
                        reference: name,
                        attributes: HashMap::new(),
                    },
                )
            }
            "AWS::Glue::Crawler" => {
                let name = named("Name").unwrap_or_else(|| generated.clone());
                let mut body = props.clone();
                body["Name"] = name.clone().into();
                clients
                    .json_call("glue", "AWSGlue.CreateCrawler", "1.1", &body)
                    .await
                    .map_err(aws("CreateCrawler"))?;
                (
                    name.clone(),
                    Physical {
                        reference: name,
                        attributes: HashMap::new(),
                    },
                )
            }
            "AWS::KinesisFirehose::DeliveryStream" => {
                let name = named("DeliveryStreamName").unwrap_or_else(|| generated.clone());
                let mut body = props.clone();
                body["DeliveryStreamName"] = name.clone().into();
                clients
                    .json_call(
                        "firehose",
                        "Firehose_20150804.CreateDeliveryStream",
                        "1.1",
                        &body,
                    )
                    .await
                    .map_err(aws("CreateDeliveryStream"))?;
                let arn = format!("arn:aws:firehose:{region}:{account}:deliverystream/{name}");
                (
                    name.clone(),
                    Physical {
                        reference: name,
                        attributes: [("Arn".into(), arn)].into(),
                    },
                )
            }
            "AWS::Athena::WorkGroup" => {
                let name = text(&props["Name"]);
                let mut body = json!({"Name": name});
                if let Some(c) = props.get("WorkGroupConfiguration") {
                    body["Configuration"] = c.clone();
                }
                if let Some(d) = props.get("Description") {
                    body["Description"] = d.clone();
                }
                clients
                    .json_call("athena", "AmazonAthena.CreateWorkGroup", "1.1", &body)
                    .await
                    .map_err(aws("CreateWorkGroup"))?;
                (
                    name.clone(),
                    Physical {
                        reference: name,
                        attributes: HashMap::new(),
                    },
                )
            }
            "AWS::IAM::Role" => super::iam::create_role(clients, &id, &props, &generated)
                .await
                .map_err(|e| aws("CreateRole")(e.into()))?,
            "AWS::Serverless::Function" => {
                let function = function_spec(resource, &props, &generated, &region, &account)?;
                let physical = Physical {
                    reference: function.name.clone(),
                    attributes: [("Arn".into(), function.arn.clone())].into(),
                };
                let name = function.name.clone();
                functions.push(function);
                (name, physical)
            }
            _ => {
                return Err(ProvisionError::UnknownType {
                    logical_id: id,
                    kind,
                })
            }
        };
        context.resources.insert(id.clone(), physical);
        properties.insert(id.clone(), props);
        kinds.insert(id.clone(), kind.clone());
        stack_created.push(Created {
            logical_id: id,
            kind,
            name,
        });
    }
    // Function events may name resources created after the function (none do today, but
    // the order is by references and Events is part of the function's properties anyway).
    Ok(Stack {
        context,
        created: stack_created,
        skipped,
        functions,
        properties,
        kinds,
        deploy_rules,
    })
}

fn function_spec(
    resource: &Resource,
    props: &Value,
    generated: &str,
    region: &str,
    account: &str,
) -> Result<FunctionSpec, ProvisionError> {
    let id = &resource.logical_id;
    let binary = resource
        .metadata
        .pointer("/BuildProperties/Binary")
        .and_then(Value::as_str)
        .ok_or_else(|| ProvisionError::Invalid {
            logical_id: id.clone(),
            problem: "Metadata.BuildProperties.Binary (the cargo-lambda binary) is missing".into(),
        })?
        .to_string();
    let name = match text(&props["FunctionName"]) {
        n if n.is_empty() => generated.to_string(),
        n => n,
    };
    let mut environment: Vec<(String, String)> = props
        .pointer("/Environment/Variables")
        .and_then(Value::as_object)
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    // Lambda exports LoggingConfig.ApplicationLogLevel to the function as AWS_LAMBDA_LOG_LEVEL.
    if let Some(level) = props
        .pointer("/LoggingConfig/ApplicationLogLevel")
        .and_then(Value::as_str)
    {
        environment.push(("AWS_LAMBDA_LOG_LEVEL".into(), level.to_string()));
    }
    let events = props
        .get("Events")
        .and_then(Value::as_object)
        .map(|events| {
            events
                .iter()
                .map(|(name, e)| {
                    (
                        name.clone(),
                        text(&e["Type"]),
                        e.get("Properties").cloned().unwrap_or(Value::Null),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(FunctionSpec {
        logical_id: id.clone(),
        arn: format!("arn:aws:lambda:{region}:{account}:function:{name}"),
        name,
        binary,
        timeout_seconds: number(&props["Timeout"], 3),
        memory_mb: number(&props["MemorySize"], 128),
        role: text(&props["Role"]),
        environment,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_resource_type_is_an_error_naming_it() {
        let template = Template::parse("Resources:\n  Thing:\n    Type: AWS::Foo::Bar\n").unwrap();
        let context =
            Context::new(&template, "s", "us-east-1", "123456789012", &HashMap::new()).unwrap();
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let clients = Clients::new(&config, "http://127.0.0.1:9");
        let err = create_stack(&template, context, &clients)
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Thing (AWS::Foo::Bar): the local stack does not know this resource type"
            ),
            "{err}"
        );
    }
}
