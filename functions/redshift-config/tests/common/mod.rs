//! Shared fixture for the redshift-config integration tests: real parts: the config in moto's DynamoDB, admin logins from
//! moto's GetClusterCredentials (the `IAM:` user trusted by the throwaway PostgreSQL 15 that
//! stands in for Redshift), managed passwords in moto's Secrets Manager, and every
//! statement run by PostgreSQL (dialect `postgres`).
#![allow(dead_code)]

pub mod data_api_fake;
pub mod redshift_session;

/// The handler over the Redshift profile ([`Fixture::profile_function`]).
pub type ProfileFunction =
    RedshiftConfig<DynamoConfig, redshift_session::ProfileConnector<AnyConnector>, SecretsManager>;
/// The Redshift statements a profile function applied, as the dialect wrote them.
pub type Applied = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use ferrolake_local_aws::{postgres, TestEnv};
use ferrolake_shared::aws::LazyClient;
use ferrolake_shared::secrets::SecretsManager;
use redshift_config::desired::SslMode;
use redshift_config::desired::{from_items, DesiredState};
use redshift_config::executor::any::AnyConnector;
use redshift_config::executor::data_api::DataApiConnector;
use redshift_config::executor::direct::{Aws, DirectConnector};
use redshift_config::handler::RedshiftConfig;
use redshift_config::reconcile::{reconcile, Mode, Report};
use redshift_config::secrets::RedshiftSecret;
use redshift_config::store::{ConfigSource, DynamoConfig};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Fixture {
    pub env: TestEnv,
    /// Prefix for every principal and schema (PostgreSQL roles are cluster-wide).
    pub p: String,
    pub database: String,
    pub table: String,
    pub cluster: String,
    pub aws: Aws,
    /// The SDK client, to arrange and inspect secrets as Secrets Manager and RotateSecret would.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Fixture {
    pub async fn new(test: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let env = TestEnv::new(test).await;
        let p = format!(
            "{test}_{}_{}",
            std::process::id() % 10_000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let pg = postgres();
        let database = format!("{p}_db");
        pg.create_database(&database).await?;
        pg.create_iam_superuser(&format!("IAM:{p}_admin")).await?;
        let config = env.sdk_config();
        let redshift = aws_sdk_redshift::Client::new(config);
        let cluster = env.name("warehouse");
        redshift
            .create_cluster()
            .cluster_identifier(&cluster)
            .node_type("ra3.xlplus")
            .master_username("awsuser")
            .master_user_password("Passw0rd!Passw0rd")
            .send()
            .await?;
        let ddb = aws_sdk_dynamodb::Client::new(config);
        let table = env.name("redshift-config");
        ddb.create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("target")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("target")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Range)
                    .build()?,
            )
            .send()
            .await?;
        let secrets = aws_sdk_secretsmanager::Client::new(config);
        let aws = Aws {
            redshift: LazyClient::ready(redshift),
            serverless: LazyClient::new(config, aws_sdk_redshiftserverless::Client::new),
            secrets: SecretsManager::new(secrets.clone()),
        };
        Ok(Self {
            env,
            p,
            database,
            table,
            cluster,
            aws,
            secrets,
        })
    }

    pub fn n(&self, base: &str) -> String {
        format!("{}_{base}", self.p)
    }

    pub fn target(&self) -> String {
        self.n("target")
    }

    /// The analytics example of the README, with this fixture's names.
    pub fn items(&self) -> Vec<Value> {
        let t = self.target();
        let n = |b: &str| self.n(b);
        vec![
            json!({"target": t, "id": "TARGET", "dialect": "postgres", "databases": [self.database],
                   "host": "127.0.0.1", "port": postgres().port(), "admin_user": n("admin"),
                   "cluster_identifier": self.cluster, "sslmode": "disable", "reassign_owner": n("etl")}),
            json!({"target": t, "id": format!("GROUP#{}", n("analysts"))}),
            json!({"target": t, "id": format!("GROUP#{}", n("loaders"))}),
            json!({"target": t, "id": format!("ROLE#{}", n("pii"))}),
            json!({"target": t, "id": format!("USER#{}", n("etl")), "groups": [n("loaders")], "password": {"managed": true}}),
            json!({"target": t, "id": format!("USER#{}", n("jane")), "groups": [n("analysts")], "roles": [n("pii")],
                   "connection_limit": 10, "password": {"managed": true}}),
            json!({"target": t, "id": format!("USER#{}", n("bi")), "groups": [n("analysts")], "valid_until": "2031-12-31"}),
            json!({"target": t, "id": format!("SCHEMA#{}", n("marts")), "owner": n("etl"),
                   "grants": [{"to": format!("group:{}", n("analysts")), "privileges": ["USAGE"]},
                              {"to": format!("group:{}", n("loaders")), "privileges": ["USAGE", "CREATE"]}],
                   "table_grants": [{"to": format!("group:{}", n("analysts")), "privileges": ["SELECT"]}],
                   "default_privileges": [{"owner": n("etl"), "object_type": "tables",
                                           "to": format!("group:{}", n("analysts")), "privileges": ["SELECT"]}]}),
            json!({"target": t, "id": format!("DATABASE#{}", self.database),
                   "grants": [{"to": format!("group:{}", n("loaders")), "privileges": ["TEMP"]}]}),
        ]
    }

    pub async fn put(&self, items: &[Value]) -> TestResult {
        let ddb = aws_sdk_dynamodb::Client::new(self.env.sdk_config());
        for item in items {
            ddb.put_item()
                .table_name(&self.table)
                .set_item(Some(
                    serde_json::from_value::<serde_json::Map<String, Value>>(item.clone())?
                        .into_iter()
                        .map(|(k, v)| (k, to_attribute(&v)))
                        .collect(),
                ))
                .send()
                .await?;
        }
        Ok(())
    }

    pub async fn config(&self) -> Result<DesiredState, Box<dyn std::error::Error>> {
        let source = DynamoConfig {
            client: aws_sdk_dynamodb::Client::new(self.env.sdk_config()),
            table: self.table.clone(),
        };
        let items = source.items(&self.target()).await?;
        Ok(from_items(&self.target(), &items)?)
    }

    pub async fn run(&self, mode: Mode) -> Result<Report, Box<dyn std::error::Error>> {
        let config = self.config().await?;
        let connector = DirectConnector {
            aws: self.aws.clone(),
            connect_timeout: Duration::from_secs(5),
        };
        Ok(reconcile(&connector, &self.aws.secrets, &config, mode).await?)
    }

    /// The Lambda's handler, wired to this fixture's moto and PostgreSQL (and a Data API
    /// endpoint: moto's by default, which never finishes a statement).
    pub fn function(&self) -> RedshiftConfig<DynamoConfig, AnyConnector, SecretsManager> {
        self.function_with_data_api(self.env.endpoint())
    }

    pub fn function_with_data_api(
        &self,
        data_api_url: &str,
    ) -> RedshiftConfig<DynamoConfig, AnyConnector, SecretsManager> {
        let data_api = aws_sdk_redshiftdata::Client::from_conf(
            aws_sdk_redshiftdata::config::Builder::from(self.env.sdk_config())
                .endpoint_url(data_api_url)
                .build(),
        );
        RedshiftConfig {
            source: DynamoConfig {
                client: aws_sdk_dynamodb::Client::new(self.env.sdk_config()),
                table: self.table.clone(),
            },
            connector: AnyConnector {
                direct: DirectConnector {
                    aws: self.aws.clone(),
                    connect_timeout: Duration::from_secs(5),
                },
                data_api: DataApiConnector {
                    client: LazyClient::ready(data_api),
                    timeout: Duration::from_secs(20),
                },
            },
            secrets: self.aws.secrets.clone(),
            default_sslmode: SslMode::Disable,
        }
    }

    /// [`Self::function_with_data_api`] whose sessions run the Redshift dialect on the
    /// Redshift profile ([`redshift_session`]); the Redshift statements applied are recorded.
    pub fn profile_function(&self, data_api_url: &str) -> (ProfileFunction, Applied) {
        let base = self.function_with_data_api(data_api_url);
        let applied = std::sync::Arc::default();
        let function = RedshiftConfig {
            source: base.source,
            connector: redshift_session::ProfileConnector {
                inner: base.connector,
                applied: std::sync::Arc::clone(&applied),
            },
            secrets: base.secrets,
            default_sslmode: base.default_sslmode,
        };
        (function, applied)
    }

    /// A user logging in with `password`, and a secret in AWS's Redshift format for it that
    /// names no ferrolake target (the single-user rotation strategy); the secret's name.
    pub async fn single_user_secret(
        &self,
        user: &str,
        password: &str,
    ) -> Result<String, Box<dyn std::error::Error>> {
        self.query(&format!("CREATE USER \"{user}\" PASSWORD '{password}'"))
            .await?;
        let secret = format!("{user}-secret");
        let value = json!({"engine": "redshift", "host": "127.0.0.1", "port": pg_port().to_string(),
                           "username": user, "password": password, "dbname": self.database});
        self.secrets
            .create_secret()
            .name(&secret)
            .secret_string(value.to_string())
            .send()
            .await?;
        Ok(secret)
    }

    /// What RotateSecret does before it calls the function: rotation on, and a new
    /// AWSPENDING version id (moto's RotateSecret cannot invoke a Rust Lambda, so the test
    /// does its bookkeeping; like moto, the pending version starts as a copy).
    pub async fn start_rotation(&self, secret: &str) -> Result<String, Box<dyn std::error::Error>> {
        self.secrets
            .rotate_secret()
            .secret_id(secret)
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .rotate_immediately(false)
            .send()
            .await?;
        let current = self
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .version_stage("AWSCURRENT")
            .send()
            .await?;
        let token = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        self.secrets
            .put_secret_value()
            .secret_id(secret)
            .client_request_token(&token)
            .secret_string(current.secret_string().unwrap_or_default())
            .version_stages("AWSPENDING")
            .send()
            .await?;
        Ok(token)
    }

    pub async fn stages(
        &self,
        secret: &str,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, Box<dyn std::error::Error>> {
        Ok(self
            .secrets
            .describe_secret()
            .secret_id(secret)
            .send()
            .await?
            .version_ids_to_stages
            .unwrap_or_default())
    }

    pub async fn value(
        &self,
        secret: &str,
        stage: &str,
    ) -> Result<RedshiftSecret, Box<dyn std::error::Error>> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .version_stage(stage)
            .send()
            .await?;
        Ok(RedshiftSecret::parse(
            secret,
            out.secret_string().unwrap_or_default(),
        )?)
    }

    /// Rows of `sql` as the PostgreSQL superuser, every column as text.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<String>>, Box<dyn std::error::Error>> {
        let client = postgres().connect(&self.database).await?;
        let rows = client.simple_query(sql).await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_string())
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// Prepare this fixture's database as a Redshift profile (tests/common/redshift_profile.sql):
    /// Redshift's system views, its refused boolean casts, and `roles` marked as Redshift
    /// roles. New sessions search the profile's views before pg_catalog.
    pub async fn redshift_profile(&self, roles: &[String]) -> TestResult {
        let client = postgres().connect(&self.database).await?;
        client
            .batch_execute(include_str!("redshift_profile.sql"))
            .await?;
        for role in roles {
            client
                .execute(
                    "INSERT INTO redshift_profile.role_names VALUES ($1)",
                    &[role],
                )
                .await?;
        }
        client
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" SET search_path = redshift_profile, pg_catalog, public",
                self.database
            ))
            .await?;
        Ok(())
    }

    pub async fn one(&self, sql: &str) -> Result<String, Box<dyn std::error::Error>> {
        Ok(self
            .query(sql)
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or_default())
    }

    pub async fn secret(&self, user: &str) -> Result<RedshiftSecret, Box<dyn std::error::Error>> {
        let name = format!("redshift/{}/{}", self.target(), self.n(user));
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(&name)
            .version_stage("AWSCURRENT")
            .send()
            .await?;
        Ok(RedshiftSecret::parse(
            &name,
            out.secret_string().unwrap_or_default(),
        )?)
    }

    /// Log in as `user` with `password` (md5 authentication, as a Redshift user would).
    pub async fn login(&self, user: &str, password: &str) -> Result<String, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(postgres().port())
            .user(user)
            .password(password)
            .dbname(&self.database)
            .connect(tokio_postgres::NoTls)
            .await?;
        tokio::spawn(connection);
        let row = client.query_one("SELECT current_user::text", &[]).await?;
        Ok(row.get(0))
    }
}

fn to_attribute(v: &Value) -> aws_sdk_dynamodb::types::AttributeValue {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match v {
        Value::String(s) => A::S(s.clone()),
        Value::Number(n) => A::N(n.to_string()),
        Value::Bool(b) => A::Bool(*b),
        Value::Null => A::Null(true),
        Value::Array(a) => A::L(a.iter().map(to_attribute).collect()),
        Value::Object(o) => A::M(
            o.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// The throwaway PostgreSQL's port.
pub fn pg_port() -> u16 {
    postgres().port()
}

pub fn sql(report: &Report) -> Vec<String> {
    report.statements.iter().map(|s| s.sql.clone()).collect()
}
