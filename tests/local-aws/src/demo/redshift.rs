//! redshift-config against the local PostgreSQL 15 standing in for Redshift: infra's sample
//! configuration loaded into the template's DynamoDB table, applied (and re-applied: no
//! statements the second time), then one managed user's password rotated the way Secrets
//! Manager drives a rotation Lambda.

use super::provision::{BoxError, Clients};
use super::runtime::{LocalLambda, Outcome};
use crate::PgServer;
use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct RedshiftReport {
    pub target: String,
    pub first_apply_statements: u64,
    pub second_apply_statements: u64,
    pub secrets_created: Vec<String>,
    /// (user, groups, can log in)
    pub users: Vec<(String, String, bool)>,
    pub groups: Vec<String>,
    pub rotated_user: String,
    pub rotated_secret: String,
    pub new_password_logs_in: bool,
    pub old_password_refused: bool,
    pub failures: Vec<String>,
}

/// DynamoDB's JSON for a plain JSON value.
pub fn attribute(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({"S": s}),
        Value::Number(n) => json!({"N": n.to_string()}),
        Value::Bool(b) => json!({"BOOL": b}),
        Value::Null => json!({"NULL": true}),
        Value::Array(a) => json!({"L": a.iter().map(attribute).collect::<Vec<_>>()}),
        Value::Object(o) => {
            json!({"M": o.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<serde_json::Map<_, _>>()})
        }
    }
}

/// The sample config with its TARGET pointed at the local PostgreSQL (dialect `postgres`,
/// no TLS: the throwaway server has no certificate; direct connections).
pub fn localize(items: &mut [Value], pg: &PgServer) -> Result<String, BoxError> {
    let target = items
        .iter_mut()
        .find(|i| i["id"] == "TARGET")
        .ok_or("sample config has no TARGET item")?;
    target["host"] = "127.0.0.1".into();
    target["port"] = pg.port().into();
    target["dialect"] = "postgres".into();
    target["sslmode"] = "disable".into();
    target["executor"] = "direct".into();
    Ok(target["target"].as_str().unwrap_or_default().to_string())
}

async fn invoke(lambda: &LocalLambda, event: Value) -> Result<Value, BoxError> {
    match lambda.invoke(event.to_string().into_bytes()).await? {
        Outcome::Response(body) => Ok(serde_json::from_slice(&body)?),
        Outcome::FunctionError(e) => Err(format!("redshift-config {event}: {e}").into()),
    }
}

async fn can_login(pg: &PgServer, user: &str, password: &str, database: &str) -> bool {
    let connecting = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(pg.port())
        .user(user)
        .password(password)
        .dbname(database)
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect(tokio_postgres::NoTls)
        .await;
    match connecting {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client.simple_query("select 1").await.is_ok()
        }
        Err(_) => false,
    }
}

pub struct RedshiftStage<'a> {
    pub clients: &'a Clients,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub redshift: aws_sdk_redshift::Client,
    pub pg: &'a PgServer,
    pub table: String,
    pub cluster: String,
    pub admin_user: String,
    pub sample_config: std::path::PathBuf,
    pub rotate_user: String,
}

impl RedshiftStage<'_> {
    pub async fn run(&self, lambda: &LocalLambda) -> Result<RedshiftReport, BoxError> {
        let mut items: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&self.sample_config)?)
                .map_err(|e| format!("{}: {e}", self.sample_config.display()))?;
        let target = localize(&mut items, self.pg)?;
        let databases: Vec<String> = items
            .iter()
            .find(|i| i["id"] == "TARGET")
            .and_then(|t| t["databases"].as_array())
            .map(|d| {
                d.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        // What exists before redshift-config runs: the cluster (for GetClusterCredentials),
        // its databases, and the admin user the temporary credentials log in as.
        self.redshift
            .create_cluster()
            .cluster_identifier(&self.cluster)
            .node_type("ra3.xlplus")
            .master_username("awsuser")
            .master_user_password("Passw0rd!Passw0rd")
            .send()
            .await?;
        for database in &databases {
            self.pg.create_database(database).await?;
        }
        self.pg
            .create_iam_superuser(&format!("IAM:{}", self.admin_user))
            .await?;
        for item in &items {
            let fields = item.as_object().ok_or("config item is not an object")?;
            let body = json!({"TableName": self.table,
                "Item": fields.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<serde_json::Map<_, _>>()});
            self.clients
                .json_call("dynamodb", "DynamoDB_20120810.PutItem", "1.0", &body)
                .await?;
        }
        let mut report = RedshiftReport {
            target: target.clone(),
            ..Default::default()
        };
        let first = invoke(lambda, json!({"target": target, "mode": "apply"})).await?;
        report.first_apply_statements = first["statement_count"].as_u64().unwrap_or(0);
        report.secrets_created = first["secrets_created"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let second = invoke(lambda, json!({"target": target, "mode": "apply"})).await?;
        report.second_apply_statements = second["statement_count"].as_u64().unwrap_or(u64::MAX);
        if report.first_apply_statements == 0 {
            report
                .failures
                .push("the first apply ran no statements".into());
        }
        if report.second_apply_statements != 0 {
            report.failures.push(format!(
                "re-applying the same config ran {} statements (expected 0)",
                report.second_apply_statements
            ));
        }

        let database = databases
            .first()
            .cloned()
            .unwrap_or_else(|| "postgres".into());
        let client = self.pg.connect(&database).await?;
        let managed = |prefix: &str| -> Vec<String> {
            items
                .iter()
                .filter_map(|i| i["id"].as_str()?.strip_prefix(prefix).map(String::from))
                .collect()
        };
        for user in managed("USER#") {
            let rows = client
                .query(
                    "select r.rolcanlogin, coalesce(string_agg(g.rolname, ',' order by g.rolname), '') \
                     from pg_roles r left join pg_auth_members m on m.member = r.oid \
                     left join pg_roles g on g.oid = m.roleid where r.rolname = $1 group by r.rolcanlogin",
                    &[&user],
                )
                .await?;
            if let Some(row) = rows.first() {
                report.users.push((user, row.get(1), row.get(0)));
            }
        }
        for group in managed("GROUP#") {
            let exists = client
                .query("select 1 from pg_roles where rolname = $1", &[&group])
                .await?;
            if exists.is_empty() {
                report
                    .failures
                    .push(format!("group {group} was not created"));
            } else {
                report.groups.push(group);
            }
        }

        // Rotation, as Secrets Manager drives it: rotation on, a pending version id, then
        // the four steps. (moto's RotateSecret cannot invoke a local Rust function.)
        let secret = report
            .secrets_created
            .iter()
            .find(|s| s.ends_with(&format!("/{}", self.rotate_user)))
            .cloned()
            .ok_or_else(|| format!("no managed secret was created for {}", self.rotate_user))?;
        report.rotated_user = self.rotate_user.clone();
        report.rotated_secret = secret.clone();
        let password_of = |value: &str| -> Result<String, BoxError> {
            let v: Value = serde_json::from_str(value)?;
            Ok(v["password"].as_str().unwrap_or_default().to_string())
        };
        let old = self
            .secrets
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await?;
        let old_password = password_of(old.secret_string().unwrap_or_default())?;
        self.secrets
            .rotate_secret()
            .secret_id(&secret)
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .rotate_immediately(false)
            .send()
            .await?;
        let token = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            rand::random::<u32>()
        );
        self.secrets
            .put_secret_value()
            .secret_id(&secret)
            .client_request_token(&token)
            .secret_string(old.secret_string().unwrap_or_default())
            .version_stages("AWSPENDING")
            .send()
            .await?;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            invoke(
                lambda,
                json!({"Step": step, "SecretId": secret, "ClientRequestToken": token}),
            )
            .await?;
        }
        let new = self
            .secrets
            .get_secret_value()
            .secret_id(&secret)
            .version_stage("AWSCURRENT")
            .send()
            .await?;
        let new_password = password_of(new.secret_string().unwrap_or_default())?;
        if new.version_id() != Some(token.as_str()) {
            report.failures.push(format!(
                "AWSCURRENT of {secret} is version {:?}, not the rotation's {token}",
                new.version_id()
            ));
        }
        report.new_password_logs_in =
            can_login(self.pg, &self.rotate_user, &new_password, &database).await;
        report.old_password_refused = new_password != old_password
            && !can_login(self.pg, &self.rotate_user, &old_password, &database).await;
        if !report.new_password_logs_in {
            report.failures.push(format!(
                "{} cannot log in with the rotated password",
                self.rotate_user
            ));
        }
        if !report.old_password_refused {
            report
                .failures
                .push(format!("{}'s old password still logs in", self.rotate_user));
        }
        Ok(report)
    }
}
