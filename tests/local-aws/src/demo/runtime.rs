//! A local Lambda: the real function binary as a child process, polling a Lambda Runtime
//! API (2018-06-01) served here. One process is one execution environment, so invocations
//! of a function run one at a time, as in one Lambda instance. A process that dies is
//! started again on the next invocation (counted), like Lambda replacing a crashed
//! environment.

use crate::{HttpStub, StubRequest, StubResponse};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "{function}: binary {path} not found — build the functions first (cargo build --bins)"
    )]
    MissingBinary { function: String, path: String },
    #[error("{function}: cannot start {path}: {source}")]
    Spawn {
        function: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{function}: could not start the Runtime API server: {source}")]
    Server {
        function: String,
        source: std::io::Error,
    },
    #[error("{function}: no answer within {seconds}s (timeout){exited}; log: {log}")]
    Timeout {
        function: String,
        seconds: u64,
        exited: String,
        log: String,
    },
    #[error("{function}: initialization failed: {body}; log: {log}")]
    Init {
        function: String,
        body: String,
        log: String,
    },
}

/// What an invocation returned.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Vec<u8>),
    /// The function reported an error (`/error`): its JSON body (`errorType`, `errorMessage`).
    FunctionError(serde_json::Value),
}

/// The answer, and the time from the event handed over (the reply to the function's poll)
/// to the function's answer arriving.
pub type Answer = (Outcome, Duration);

struct Invocation {
    payload: Vec<u8>,
    deadline_ms: u128,
    reply: oneshot::Sender<Answer>,
}

struct ApiState {
    function_arn: String,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, (oneshot::Sender<Answer>, Instant)>>,
    init_error: Mutex<Option<String>>,
    first_poll: Mutex<Option<Instant>>,
    next_id: AtomicU64,
}

async fn serve(state: Arc<ApiState>, request: StubRequest) -> StubResponse {
    let path = request
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let rest = path.trim_start_matches("/2018-06-01/runtime/");
    if request.method == "GET" && rest == "invocation/next" {
        state
            .first_poll
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(Instant::now);
        let Some(invocation) = state.queue.lock().await.recv().await else {
            return StubResponse::new(500, "runtime shutting down");
        };
        let id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            state.next_id.fetch_add(1, Ordering::SeqCst)
        );
        state
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), (invocation.reply, Instant::now()));
        let mut response = StubResponse::new(200, invocation.payload);
        response.headers = vec![
            ("content-type".into(), "application/json".into()),
            ("lambda-runtime-aws-request-id".into(), id.clone()),
            (
                "lambda-runtime-deadline-ms".into(),
                invocation.deadline_ms.to_string(),
            ),
            (
                "lambda-runtime-invoked-function-arn".into(),
                state.function_arn.clone(),
            ),
            (
                "lambda-runtime-trace-id".into(),
                format!("Root=1-00000000-{id}"),
            ),
        ];
        return response;
    }
    if request.method == "POST" && rest == "init/error" {
        *state.init_error.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(String::from_utf8_lossy(&request.body).to_string());
        return StubResponse::new(202, r#"{"status":"OK"}"#);
    }
    if request.method == "POST" {
        if let Some((id, kind)) = rest
            .strip_prefix("invocation/")
            .and_then(|r| r.split_once('/'))
        {
            let reply = state
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            let Some((reply, handed_over)) = reply else {
                return StubResponse::new(400, format!("unknown request id {id}"));
            };
            let outcome = match kind {
                "response" => Outcome::Response(request.body),
                _ => Outcome::FunctionError(serde_json::from_slice(&request.body).unwrap_or_else(
                    |_| {
                        serde_json::json!({"errorType": "Unknown",
                            "errorMessage": String::from_utf8_lossy(&request.body)})
                    },
                )),
            };
            let _ = reply.send((outcome, handed_over.elapsed()));
            return StubResponse::new(202, r#"{"status":"OK"}"#);
        }
    }
    StubResponse::new(404, format!("not a Runtime API path: {}", request.path))
}

/// Where a function process's stdout and stderr go.
enum Output {
    /// Appended to this file.
    File(PathBuf),
    /// This process's stderr.
    Stderr,
}

/// One function: its Runtime API and its process.
pub struct LocalLambda {
    pub name: String,
    pub log: PathBuf,
    output: Output,
    binary: PathBuf,
    args: Vec<String>,
    /// Lambda's variables added and PATH kept (`start`), or exactly `environment`
    /// (`start_command`).
    lambda_environment: bool,
    environment: Vec<(String, String)>,
    timeout: Duration,
    api_address: String,
    state: Arc<ApiState>,
    sender: mpsc::Sender<Invocation>,
    child: Mutex<Option<Child>>,
    spawned_at: Mutex<Instant>,
    pub restarts: AtomicU64,
    pub invocations: AtomicU64,
    pub errors: AtomicU64,
}

impl LocalLambda {
    /// Start `binary` with `environment` plus what Lambda sets for a function.
    pub async fn start(
        name: &str,
        arn: &str,
        binary: &Path,
        environment: Vec<(String, String)>,
        memory_mb: u64,
        timeout: Duration,
        log_dir: &Path,
    ) -> Result<Self, RuntimeError> {
        if !binary.exists() {
            return Err(RuntimeError::MissingBinary {
                function: name.into(),
                path: binary.display().to_string(),
            });
        }
        let mut environment = environment;
        environment.extend([
            ("AWS_LAMBDA_FUNCTION_NAME".to_string(), name.to_string()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME".into(),
                format!("/aws/lambda/{name}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "local".into()),
            (
                "AWS_LAMBDA_FUNCTION_TIMEOUT".into(),
                timeout.as_secs().to_string(),
            ),
        ]);
        let log = log_dir.join(format!("{name}.log"));
        Self::launch(
            name,
            arn,
            binary.to_path_buf(),
            Vec::new(),
            true,
            environment,
            timeout,
            Output::File(log),
        )
        .await
    }

    /// Start `command` (program and arguments) with exactly `environment` (no PATH or
    /// Lambda variables added; `AWS_LAMBDA_RUNTIME_API` is set) and its output appended to
    /// `log`, or sent to this process's stderr without one: how bench/run.py starts a
    /// function or a peer (`ferrolake-runtime-probe`).
    pub async fn start_command(
        name: &str,
        command: &[String],
        environment: Vec<(String, String)>,
        timeout: Duration,
        log: Option<&Path>,
    ) -> Result<Self, RuntimeError> {
        let Some((program, args)) = command.split_first() else {
            return Err(RuntimeError::MissingBinary {
                function: name.into(),
                path: String::new(),
            });
        };
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
        let output = log.map_or(Output::Stderr, |l| Output::File(l.to_path_buf()));
        Self::launch(
            name,
            &arn,
            PathBuf::from(program),
            args.to_vec(),
            false,
            environment,
            timeout,
            output,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn launch(
        name: &str,
        arn: &str,
        binary: PathBuf,
        args: Vec<String>,
        lambda_environment: bool,
        environment: Vec<(String, String)>,
        timeout: Duration,
        output: Output,
    ) -> Result<Self, RuntimeError> {
        let (sender, receiver) = mpsc::channel(64);
        let state = Arc::new(ApiState {
            function_arn: arn.to_string(),
            queue: tokio::sync::Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            first_poll: Mutex::new(None),
            next_id: AtomicU64::new(1),
        });
        let server_state = state.clone();
        let stub = HttpStub::start(move |request| serve(server_state.clone(), request))
            .await
            .map_err(|source| RuntimeError::Server {
                function: name.into(),
                source,
            })?;
        let lambda = Self {
            name: name.to_string(),
            log: match &output {
                Output::File(path) => path.clone(),
                Output::Stderr => PathBuf::from("/dev/stderr"),
            },
            output,
            binary,
            args,
            lambda_environment,
            environment,
            timeout,
            api_address: stub.url().trim_start_matches("http://").to_string(),
            state,
            sender,
            child: Mutex::new(None),
            spawned_at: Mutex::new(Instant::now()),
            restarts: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        };
        lambda.spawn()?;
        Ok(lambda)
    }

    fn spawn(&self) -> Result<(), RuntimeError> {
        let err = |source| RuntimeError::Spawn {
            function: self.name.clone(),
            path: self.binary.display().to_string(),
            source,
        };
        let (stdout, stderr): (Stdio, Stdio) = match &self.output {
            Output::File(path) => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(err)?;
                (log.try_clone().map_err(err)?.into(), log.into())
            }
            Output::Stderr => {
                use std::os::fd::AsFd;
                let fd = std::io::stderr()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(err)?;
                (fd.try_clone().map_err(err)?.into(), fd.into())
            }
        };
        let mut command = Command::new(&self.binary);
        command.args(&self.args).env_clear();
        if self.lambda_environment {
            command.env("PATH", std::env::var("PATH").unwrap_or_default());
        }
        command
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", &self.api_address)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        *self.spawned_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let child =
            crate::spawn_supervised(command, libc::SIGKILL, libc::SIGKILL, None).map_err(err)?;
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }

    /// Exit status if the process has ended.
    fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The current process id (for memory samples).
    pub fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.id())
    }

    /// Resident set size of the current process, from /proc (Linux), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// Peak resident set (VmHWM) of the current process, from /proc (Linux), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
    }

    /// Wait (up to `within`) for the first poll of `/invocation/next`; the cold start. Fails
    /// early when the function reports an init error or exits first.
    pub async fn first_poll(&self, within: Duration) -> Result<Duration, RuntimeError> {
        let started = Instant::now();
        loop {
            if let Some(cold) = self.cold_start() {
                return Ok(cold);
            }
            if let Some(err) = self.init_failure() {
                return Err(err);
            }
            let exited = self.exited();
            if exited.is_some() || started.elapsed() >= within {
                return Err(RuntimeError::Timeout {
                    function: self.name.clone(),
                    seconds: within.as_secs(),
                    exited: exited
                        .map(|s| format!(" (process exited before its first poll: {s})"))
                        .unwrap_or_default(),
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Time from spawn to the first poll of `/invocation/next` (the cold start), once seen.
    pub fn cold_start(&self) -> Option<Duration> {
        let first = (*self
            .state
            .first_poll
            .lock()
            .unwrap_or_else(|p| p.into_inner()))?;
        let spawned = *self.spawned_at.lock().unwrap_or_else(|p| p.into_inner());
        Some(first.saturating_duration_since(spawned))
    }

    /// The function's reported init error, if it posted one.
    fn init_failure(&self) -> Option<RuntimeError> {
        let body = self
            .state
            .init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(RuntimeError::Init {
            function: self.name.clone(),
            body,
            log: self.log_tail(),
        })
    }

    fn log_tail(&self) -> String {
        if matches!(self.output, Output::Stderr) {
            return "this process's stderr".into();
        }
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        format!(
            "{} (last lines: {})",
            self.log.display(),
            lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )
    }

    /// Invoke synchronously (RequestResponse) and wait for the function's answer.
    pub async fn invoke(&self, payload: Vec<u8>) -> Result<Outcome, RuntimeError> {
        self.invoke_timed(payload).await.map(|(outcome, _)| outcome)
    }

    /// [`invoke`](Self::invoke), with the time from the event handed over (the reply to the
    /// function's poll) to its answer arriving.
    pub async fn invoke_timed(&self, payload: Vec<u8>) -> Result<Answer, RuntimeError> {
        if let Some(err) = self.init_failure() {
            return Err(err);
        }
        if self.exited().is_some() {
            self.restarts.fetch_add(1, Ordering::SeqCst);
            self.spawn()?;
        }
        self.invocations.fetch_add(1, Ordering::SeqCst);
        let deadline = SystemTime::now() + self.timeout;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let (reply, answer) = oneshot::channel();
        let timed_out = |exited: String| RuntimeError::Timeout {
            function: self.name.clone(),
            seconds: self.timeout.as_secs(),
            exited,
            log: self.log_tail(),
        };
        if self
            .sender
            .send(Invocation {
                payload,
                deadline_ms,
                reply,
            })
            .await
            .is_err()
        {
            return Err(timed_out(String::new()));
        }
        // A little beyond the function's own timeout: it is expected to answer by then.
        match tokio::time::timeout(self.timeout + Duration::from_secs(2), answer).await {
            Ok(Ok((outcome, took))) => {
                if matches!(outcome, Outcome::FunctionError(_)) {
                    self.errors.fetch_add(1, Ordering::SeqCst);
                }
                Ok((outcome, took))
            }
            _ => {
                self.errors.fetch_add(1, Ordering::SeqCst);
                let exited = self
                    .exited()
                    .map(|s| format!(" (process exited: {s})"))
                    .unwrap_or_default();
                Err(timed_out(exited))
            }
        }
    }

    /// Stop the process (SIGTERM, as Lambda does at shutdown).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(2) {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LocalLambda {
    fn drop(&mut self) {
        self.stop();
    }
}
