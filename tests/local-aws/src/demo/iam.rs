//! IAM as template.yaml defines it, enforced locally.
//!
//! The demo runs against its own moto ([`strict_moto`], started by `tests/moto_strict.py`)
//! with IAM authorization on and request resources resolved to ARNs, so a statement
//! narrowed to the wrong resource fails as on AWS (the shared moto of the other tests keeps
//! IAM off). The provisioner creates each `AWS::IAM::Role` of the resolved template
//! ([`create_role`]); every function process runs with credentials of its own role, and
//! the Firehose and crawler stand-ins with the delivery and crawler roles ([`assume_role`],
//! as the AWS service would). The harness itself (provisioning, publishing, reading back)
//! signs as an admin user the launcher creates before serving. After the run, every denial
//! moto recorded and every AccessDenied in a function log becomes a failed check naming the
//! function, the action and the resource ([`checks`]).

use super::provision::Clients;
use super::report::Check;
use super::template::Physical;
use super::Stage;
use crate::{http_request, remove_stale_scratch, spawn_supervised, venv};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("strict moto: {action} failed: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("strict moto did not start within {seconds} s; its log: {log}")]
    NotReady { seconds: u64, log: String },
    #[error("strict moto: {0}")]
    Start(String),
    #[error("{service} {action}: HTTP {status}: {body}")]
    Aws {
        service: String,
        action: String,
        status: u16,
        body: String,
    },
    #[error("{service} {action}: {source}")]
    Http {
        service: String,
        action: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{service} {action}: the response has no <{field}>: {body}")]
    Response {
        service: String,
        action: String,
        field: &'static str,
        body: String,
    },
    #[error("{logical_id}: {problem}")]
    Invalid { logical_id: String, problem: String },
}

/// AWS credentials a client signs with.
#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Keys {
    /// The dummy keys of the shared moto (IAM off: any signature passes).
    pub fn dummy() -> Self {
        Self {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        }
    }

    pub fn credentials(&self) -> aws_sdk_sqs::config::Credentials {
        aws_sdk_sqs::config::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "ferrolake-demo",
        )
    }

    /// The variables Lambda sets for a function's execution role.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), self.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                self.secret_access_key.clone(),
            ),
        ];
        if let Some(token) = &self.session_token {
            out.push(("AWS_SESSION_TOKEN".into(), token.clone()));
        }
        out
    }
}

// ---------------------------------------------------------------- SigV4

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// SigV4 headers (`x-amz-date`, `x-amz-security-token`, `authorization`) for a POST to
/// `endpoint`/ with `headers` and `body`: moto with IAM on recomputes the signature, so the
/// provisioner's raw JSON and query calls must be signed like the SDK's.
pub fn sign(
    keys: &Keys,
    region: &str,
    service: &str,
    endpoint: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<(String, String)> {
    let host = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let time = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    let amz_date = time.format("%Y%m%dT%H%M%SZ").to_string();
    let date = time.format("%Y%m%d").to_string();
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    signed.push(("host".into(), host.to_string()));
    signed.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(token) = &keys.session_token {
        signed.push(("x-amz-security-token".into(), token.clone()));
    }
    signed.sort();
    let names: Vec<&str> = signed.iter().map(|(k, _)| k.as_str()).collect();
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{}\n{}",
        names.join(";"),
        hex(&Sha256::digest(body))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{}", keys.secret_access_key).as_bytes(), &date);
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex(&hmac(&key, &to_sign));
    let mut out = vec![("x-amz-date".to_string(), amz_date)];
    if let Some(token) = &keys.session_token {
        out.push(("x-amz-security-token".into(), token.clone()));
    }
    out.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            keys.access_key_id,
            names.join(";")
        ),
    ));
    out
}

fn form_encode(params: &[(&str, &str)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One signed call of an AWS query-protocol API (IAM, STS); returns the XML body.
async fn query_call(
    clients: &Clients,
    service: &str,
    params: &[(&str, &str)],
    extra_headers: &[(&str, &str)],
) -> Result<String, IamError> {
    let action = params
        .iter()
        .find(|(k, _)| *k == "Action")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let body = form_encode(params);
    let content_type = "application/x-www-form-urlencoded; charset=utf-8".to_string();
    let mut request = clients
        .http
        .post(format!("{}/", clients.endpoint))
        .header("content-type", &content_type)
        .body(body.clone());
    for (k, v) in sign(
        &clients.keys,
        &clients.region,
        service,
        &clients.endpoint,
        &[("content-type", content_type.clone())],
        body.as_bytes(),
    ) {
        request = request.header(k, v);
    }
    for (k, v) in extra_headers {
        request = request.header(*k, *v);
    }
    let http = |source| IamError::Http {
        service: service.into(),
        action: action.clone(),
        source,
    };
    let response = request.send().await.map_err(http)?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(http)?;
    if !(200..300).contains(&status) {
        return Err(IamError::Aws {
            service: service.into(),
            action,
            status,
            body: text,
        });
    }
    Ok(text)
}

fn xml_field(xml: &str, field: &str) -> Option<String> {
    let start = xml.find(&format!("<{field}>"))? + field.len() + 2;
    let end = xml[start..].find(&format!("</{field}>"))? + start;
    Some(xml[start..end].to_string())
}

// ---------------------------------------------------------------- roles

/// Create `AWS::IAM::Role` `logical_id` from its resolved properties: the role with its
/// trust policy, each inline policy (PutRolePolicy) and each managed policy
/// (AttachRolePolicy), as CloudFormation does.
pub async fn create_role(
    clients: &Clients,
    logical_id: &str,
    props: &Value,
    generated: &str,
) -> Result<(String, Physical), IamError> {
    let invalid = |problem: String| IamError::Invalid {
        logical_id: logical_id.to_string(),
        problem,
    };
    let mut name = props["RoleName"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| generated.to_string());
    // CloudFormation's generated role names stay within IAM's 64 characters.
    name.truncate(64);
    let trust = props
        .get("AssumeRolePolicyDocument")
        .filter(|d| d.is_object())
        .ok_or_else(|| invalid("AssumeRolePolicyDocument is missing".into()))?
        .to_string();
    let path = props["Path"].as_str().unwrap_or("/").to_string();
    let created = query_call(
        clients,
        "iam",
        &[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", &name),
            ("Path", &path),
            ("AssumeRolePolicyDocument", &trust),
        ],
        &[],
    )
    .await?;
    let field = |f: &'static str| {
        xml_field(&created, f).ok_or_else(|| IamError::Response {
            service: "iam".into(),
            action: "CreateRole".into(),
            field: f,
            body: created.clone(),
        })
    };
    let arn = field("Arn")?;
    let role_id = field("RoleId")?;
    for policy in props["Policies"].as_array().into_iter().flatten() {
        let policy_name = policy["PolicyName"]
            .as_str()
            .ok_or_else(|| invalid("a policy of Policies has no PolicyName".into()))?;
        let document = policy
            .get("PolicyDocument")
            .filter(|d| d.is_object())
            .ok_or_else(|| invalid(format!("policy {policy_name} has no PolicyDocument")))?
            .to_string();
        query_call(
            clients,
            "iam",
            &[
                ("Action", "PutRolePolicy"),
                ("Version", "2010-05-08"),
                ("RoleName", &name),
                ("PolicyName", policy_name),
                ("PolicyDocument", &document),
            ],
            &[],
        )
        .await?;
    }
    for managed in props["ManagedPolicyArns"].as_array().into_iter().flatten() {
        let policy_arn = managed
            .as_str()
            .ok_or_else(|| invalid(format!("ManagedPolicyArns entry {managed} is not an ARN")))?;
        query_call(
            clients,
            "iam",
            &[
                ("Action", "AttachRolePolicy"),
                ("Version", "2010-05-08"),
                ("RoleName", &name),
                ("PolicyArn", policy_arn),
            ],
            &[],
        )
        .await?;
    }
    Ok((
        name.clone(),
        Physical {
            reference: name,
            attributes: [("Arn".to_string(), arn), ("RoleId".to_string(), role_id)].into(),
        },
    ))
}

/// Credentials of `role_arn` as the AWS service `service` obtains them (STS AssumeRole in
/// moto, the harness playing that service principal: the role's trust policy must admit
/// it). `session` names the principal in every denial (`assumed-role/<role>/<session>`).
pub async fn assume_role(
    clients: &Clients,
    role_arn: &str,
    session: &str,
    service: &str,
    external_id: Option<&str>,
) -> Result<Keys, IamError> {
    let mut params = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session),
    ];
    if let Some(id) = external_id {
        params.push(("ExternalId", id));
    }
    let xml = query_call(
        clients,
        "sts",
        &params,
        &[("x-ferrolake-service-principal", service)],
    )
    .await?;
    let field = |f: &'static str| {
        xml_field(&xml, f).ok_or_else(|| IamError::Response {
            service: "sts".into(),
            action: "AssumeRole".into(),
            field: f,
            body: xml.clone(),
        })
    };
    Ok(Keys {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
    })
}

/// An SDK config for moto at `endpoint` signing as `keys` (a role's or the admin's).
pub async fn config_for(endpoint: &str, region: &str, keys: &Keys) -> aws_config::SdkConfig {
    ferrolake_shared::aws::config_loader()
        .expect("the shared TLS configuration")
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(keys.credentials())
        .load()
        .await
}

/// The provisioner's clients (SDK and raw calls) signing as `keys`.
pub async fn clients_for(endpoint: &str, region: &str, keys: &Keys) -> Clients {
    let mut clients = Clients::new(&config_for(endpoint, region, keys).await, endpoint);
    clients.keys = keys.clone();
    clients
}

// ---------------------------------------------------------------- the strict moto

/// moto with IAM on (tests/moto_strict.py) and the harness's admin keys.
#[derive(Debug)]
pub struct StrictMoto {
    pub endpoint: String,
    pub admin: Keys,
    pub admin_arn: String,
    pub log: PathBuf,
}

const SCRATCH_PREFIX: &str = "ferrolake-moto-strict-";
static STRICT: OnceLock<Result<StrictMoto, String>> = OnceLock::new();

/// The strict moto of this process, started on first use (blocking: call it from
/// `spawn_blocking`). Separate from `crate::moto()`, whose tests run with IAM off.
pub fn strict_moto() -> Result<&'static StrictMoto, IamError> {
    STRICT
        .get_or_init(|| StrictMoto::start().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| IamError::Start(e.clone()))
}

impl StrictMoto {
    fn start() -> Result<Self, IamError> {
        let io = |action: &str| {
            let action = action.to_string();
            move |source| IamError::Io { action, source }
        };
        let python = venv().join("bin/python");
        let script = crate::workspace_root().join("tests/moto_strict.py");
        if !python.exists() {
            return Err(IamError::Start(format!(
                "{} not found: run `make setup`",
                python.display()
            )));
        }
        remove_stale_scratch(SCRATCH_PREFIX);
        let scratch = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(io("create the strict moto scratch dir"))?;
        let log = scratch.join("moto.log");
        let keys_file = scratch.join("admin-keys.json");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io("pick a free port"))?
            .port();
        let log_file = std::fs::File::create(&log).map_err(io("create the strict moto log"))?;
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string(), "--admin-keys"])
            .arg(&keys_file)
            .current_dir(&scratch)
            .stdin(Stdio::null())
            .stdout(
                log_file
                    .try_clone()
                    .map_err(io("open the strict moto log"))?,
            )
            .stderr(log_file);
        spawn_supervised(command, libc::SIGKILL, libc::SIGTERM, Some(scratch))
            .map_err(io("start tests/moto_strict.py"))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let limit = Duration::from_secs(60);
        let ready = loop {
            let keys_written = keys_file.exists();
            let serving = http_request("GET", &format!("{endpoint}/moto-api/data.json"), None)
                .is_ok_and(|r| r.status == 200);
            if keys_written && serving {
                break true;
            }
            if started.elapsed() > limit {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if !ready {
            return Err(IamError::NotReady {
                seconds: limit.as_secs(),
                log: std::fs::read_to_string(&log).unwrap_or_default(),
            });
        }
        let keys: Value = read_json(&keys_file)?;
        let text = |k: &str| keys[k].as_str().unwrap_or_default().to_string();
        // Crawlers in moto stay RUNNING forever unless their state machine is time-based.
        let body =
            r#"{"model_name":"glue::crawl","transition":{"progression":"time","seconds":1}}"#;
        let r = http_request(
            "POST",
            &format!("{endpoint}/moto-api/state-manager/set-transition"),
            Some(body),
        )
        .map_err(|e| IamError::Start(format!("set-transition glue::crawl: {e}")))?;
        if r.status >= 300 {
            return Err(IamError::Start(format!(
                "set-transition glue::crawl: {} {}",
                r.status, r.body
            )));
        }
        Ok(Self {
            endpoint,
            admin: Keys {
                access_key_id: text("AccessKeyId"),
                secret_access_key: text("SecretAccessKey"),
                session_token: None,
            },
            admin_arn: text("Arn"),
            log,
        })
    }
}

fn read_json(path: &Path) -> Result<Value, IamError> {
    let text = std::fs::read_to_string(path).map_err(|source| IamError::Io {
        action: format!("read {}", path.display()),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| IamError::Start(format!("{}: {e}", path.display())))
}

// ---------------------------------------------------------------- what IAM decided

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Denial {
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>` (or a user ARN).
    pub principal: String,
    pub action: String,
    pub resource: String,
}

impl Denial {
    /// The session name: the function binary, or the stand-in (`firehose`, `glue-crawler`).
    pub fn session(&self) -> &str {
        self.principal.rsplit('/').next().unwrap_or_default()
    }

    pub fn role(&self) -> &str {
        self.principal.split('/').nth(1).unwrap_or_default()
    }
}

/// IAM during one demo run: what moto's evaluation saw and what the function logs say.
#[derive(Debug, Clone, Default)]
pub struct IamReport {
    pub roles: usize,
    pub inline_policies: usize,
    pub managed_policies: usize,
    /// Role sessions the run used: (session, role name).
    pub principals: Vec<(String, String)>,
    /// Authorization decisions of this run (one per resource of a request) and the
    /// policies evaluated for them.
    pub decisions: u64,
    pub policies_evaluated: u64,
    /// Actions whose resource ARN the strict moto resolves (the rest are checked against `*`).
    pub resolved_actions: usize,
    pub denied: Vec<Denial>,
    /// (function, line) of function log lines reporting an AccessDenied.
    pub log_denials: Vec<(String, String)>,
}

/// The launcher's decisions so far: (decisions, policies evaluated, resolved actions, denials).
pub async fn decisions(
    http: &reqwest::Client,
    endpoint: &str,
) -> Result<(u64, u64, usize, Vec<Denial>), IamError> {
    let fail = |source| IamError::Http {
        service: "moto".into(),
        action: "GET /ferrolake-iam/report".into(),
        source,
    };
    let text = http
        .get(format!("{endpoint}/ferrolake-iam/report"))
        .send()
        .await
        .map_err(fail)?
        .text()
        .await
        .map_err(fail)?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| IamError::Start(format!("GET /ferrolake-iam/report: {e}: {text}")))?;
    let denied = v["denied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| Denial {
            principal: d["principal"].as_str().unwrap_or_default().into(),
            action: d["action"].as_str().unwrap_or_default().into(),
            resource: d["resource"].as_str().unwrap_or_default().into(),
        })
        .collect();
    Ok((
        v["requests_checked"].as_u64().unwrap_or(0),
        v["policies_evaluated"].as_u64().unwrap_or(0),
        v["resolved_actions"].as_array().map_or(0, Vec::len),
        denied,
    ))
}

/// Denials of the sessions in `principals` only: one moto serves every run of the process.
pub fn ours<'a>(
    denied: &'a [Denial],
    principals: &'a [(String, String)],
) -> impl Iterator<Item = &'a Denial> + 'a {
    denied.iter().filter(move |d| {
        principals
            .iter()
            .any(|(session, role)| d.session() == session && d.role() == role)
    })
}

/// Lines of a function log that report an AccessDenied (the functions log AWS errors with
/// their cause chain, which carries the service's message).
pub fn log_denials(function: &str, log: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("AccessDenied") || l.contains("is not authorized to perform"))
        .map(|l| (function.to_string(), clip(l, 600)))
        .collect()
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The stage a session belongs to.
fn stage_of(session: &str) -> Stage {
    match session {
        "firehose" => Stage::FirehoseFlatten,
        "glue-crawler" => Stage::CrawlerTrigger,
        other => Stage::of_function(other),
    }
}

/// One failed check per principal that was denied (naming the action and the resource),
/// one per function whose log reports a denial moto's record does not explain, else one
/// passed check.
pub fn checks(report: &IamReport) -> Vec<Check> {
    let mut out = Vec::new();
    let denied: Vec<&Denial> = ours(&report.denied, &report.principals).collect();
    let mut by_session: HashMap<&str, Vec<&Denial>> = HashMap::new();
    for d in &denied {
        by_session.entry(d.session()).or_default().push(d);
    }
    let mut sessions: Vec<_> = by_session.into_iter().collect();
    sessions.sort();
    for (session, list) in sessions {
        let mut seen: Vec<(&str, &str)> = list
            .iter()
            .map(|d| (d.action.as_str(), d.resource.as_str()))
            .collect();
        seen.sort();
        seen.dedup();
        let what: Vec<String> = seen
            .iter()
            .map(|(action, resource)| format!("{action} on {resource}"))
            .collect();
        out.push(Check {
            stage: stage_of(session),
            name: format!("IAM: {session} is allowed every call it makes"),
            passed: false,
            detail: format!(
                "{session} (role {}) was denied {} ({} requests); the role in template.yaml lacks the permission",
                list[0].role(),
                what.join(", "),
                list.len()
            ),
        });
    }
    for (function, line) in &report.log_denials {
        if denied.iter().any(|d| d.session() == function) {
            continue;
        }
        out.push(Check {
            stage: stage_of(function),
            name: format!("IAM: {function} logs no AccessDenied"),
            passed: false,
            detail: line.clone(),
        });
    }
    if out.is_empty() {
        out.push(Check {
            stage: Stage::Functions,
            name: "IAM: every principal allowed every call it made".into(),
            passed: true,
            detail: report.line(),
        });
    }
    out
}

impl IamReport {
    /// The summary's IAM line.
    pub fn line(&self) -> String {
        format!(
            "IAM enforced (strict moto): {} roles created with {} inline + {} managed policies; {} principals ({}); {} authorization decisions evaluating {} policies, resources resolved for {} actions; {} denied",
            self.roles,
            self.inline_policies,
            self.managed_policies,
            self.principals.len(),
            self.principals
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.decisions,
            self.policies_evaluated,
            self.resolved_actions,
            ours(&self.denied, &self.principals).count()
        )
    }
}
