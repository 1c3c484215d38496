//! `ferrolake-local-lambda`: function binaries behind the local Lambda Runtime API
//! (`demo::runtime::LocalLambda`), reachable through Lambda's Invoke API on loopback, for
//! clients that are not Rust (the Java conformance harness under `tests/java/`).
//!
//! ```text
//! ferrolake-local-lambda --function NAME=BINARY [--function ...] [--moto] [--env K=V ...]
//!     [--memory MB] [--timeout SECONDS] [--log-dir DIR] [--ready-file PATH]
//!     [--exit-on-stdin-eof]
//! ```
//!
//! `POST /2015-03-31/functions/{NAME}/invocations` answers the way Lambda's synchronous
//! invoke does: the function's response body with status 200; a function error with
//! status 200, `X-Amz-Function-Error: Unhandled` and the error JSON
//! (`{"errorType","errorMessage"}`); a payload over 6 MB with 413
//! `RequestEntityTooLargeException`, one that is not JSON with 400
//! `InvalidRequestContentException`; a response over Lambda's limit, a timeout or a failed
//! init as the function errors Lambda reports for them; an unknown name with 404
//! `ResourceNotFoundException`.
//!
//! When everything listens, one JSON line goes to stdout (and to `--ready-file`):
//! `{"invoke":"http://127.0.0.1:PORT","moto":"http://127.0.0.1:PORT"|null,"logs":"DIR"}`.
//! `--moto` starts moto (the project venv's `moto_server`) and points the functions at it
//! (`AWS_ENDPOINT_URL`, dummy credentials, us-east-1). The process runs until SIGTERM or
//! SIGINT, or until stdin closes with `--exit-on-stdin-eof` (so a parent that dies takes
//! it down); then it stops the functions and moto.

use ferrolake_local_aws::demo::runtime::{LocalLambda, Outcome, RuntimeError};
use ferrolake_local_aws::{HttpStub, StubRequest, StubResponse, TEST_ACCOUNT, TEST_REGION};
use serde_json::json;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str =
    "usage: ferrolake-local-lambda --function NAME=BINARY [--function NAME=BINARY ...]
    [--moto] [--env KEY=VALUE ...] [--memory MB] [--timeout SECONDS] [--log-dir DIR]
    [--ready-file PATH] [--exit-on-stdin-eof]
  --function NAME=BINARY  serve BINARY as the function NAME (repeatable)
  --moto                  start moto and point the functions at it (AWS_ENDPOINT_URL)
  --env KEY=VALUE         environment for every function (repeatable)
  --memory MB             AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
  --timeout SECONDS       function timeout (default 60)
  --log-dir DIR           function logs, DIR/NAME.log (default a new temp dir)
  --ready-file PATH       also write the ready line to PATH
  --exit-on-stdin-eof     exit when stdin closes (the parent went away)";

/// Lambda's synchronous invoke limits (bytes).
const MAX_REQUEST_BYTES: usize = 6_291_456;
const MAX_RESPONSE_BYTES: usize = 6_291_556;

#[derive(Debug)]
struct Options {
    functions: Vec<(String, PathBuf)>,
    moto: bool,
    environment: Vec<(String, String)>,
    memory_mb: u64,
    timeout: Duration,
    log_dir: Option<PathBuf>,
    ready_file: Option<PathBuf>,
    exit_on_stdin_eof: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        functions: Vec::new(),
        moto: false,
        environment: Vec::new(),
        memory_mb: 128,
        timeout: Duration::from_secs(60),
        log_dir: None,
        ready_file: None,
        exit_on_stdin_eof: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let pair = |name: &str, v: &str| {
            v.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{name}: {v:?} is not KEY=VALUE"))
        };
        let number = |name: &str, v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name}: {v:?} is not a positive whole number"))
        };
        match arg.as_str() {
            "--function" => {
                let (name, binary) = pair("--function", value("--function")?)?;
                options.functions.push((name, PathBuf::from(binary)));
            }
            "--env" => options.environment.push(pair("--env", value("--env")?)?),
            "--memory" => options.memory_mb = number("--memory", value("--memory")?)?,
            "--timeout" => {
                options.timeout = Duration::from_secs(number("--timeout", value("--timeout")?)?)
            }
            "--log-dir" => options.log_dir = Some(PathBuf::from(value("--log-dir")?)),
            "--ready-file" => options.ready_file = Some(PathBuf::from(value("--ready-file")?)),
            "--moto" => options.moto = true,
            "--exit-on-stdin-eof" => options.exit_on_stdin_eof = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.functions.is_empty() {
        return Err("at least one --function NAME=BINARY is needed".into());
    }
    Ok(options)
}

/// A Lambda service error (not a function error): status, `x-amzn-ErrorType`, message.
fn service_error(status: u16, kind: &str, message: String) -> StubResponse {
    let mut response = StubResponse::json(status, &json!({"Type": "User", "message": message}));
    response
        .headers
        .push(("x-amzn-errortype".into(), format!("{kind}:")));
    response
}

/// A function error as Lambda returns it to a synchronous caller.
fn function_error(body: &serde_json::Value) -> StubResponse {
    let mut response = StubResponse::json(200, body);
    response.headers.extend([
        ("x-amz-function-error".into(), "Unhandled".into()),
        ("x-amz-executed-version".into(), "$LATEST".into()),
    ]);
    response
}

async fn invoke(functions: &HashMap<String, LocalLambda>, request: StubRequest) -> StubResponse {
    let path = request.path.split('?').next().unwrap_or_default();
    let name = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/invocations"));
    let (Some(name), "POST") = (name, request.method.as_str()) else {
        return service_error(
            404,
            "UnknownOperationException",
            format!("{} {} is not an Invoke call", request.method, request.path),
        );
    };
    // A function ARN or a qualified name invokes the same function locally.
    let name = name.rsplit(':').find(|part| functions.contains_key(*part));
    let Some(lambda) = name.and_then(|n| functions.get(n)) else {
        return service_error(
            404,
            "ResourceNotFoundException",
            format!("Function not found: {}", request.path),
        );
    };
    if request.body.len() > MAX_REQUEST_BYTES {
        return service_error(
            413,
            "RequestEntityTooLargeException",
            format!("Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"),
        );
    }
    // Lambda refuses a payload that is not JSON before any function sees it.
    if serde_json::from_slice::<serde_json::Value>(&request.body).is_err() {
        return service_error(
            400,
            "InvalidRequestContentException",
            "Could not parse request body into json: the payload is not valid JSON".into(),
        );
    }
    match lambda.invoke(request.body).await {
        Ok(Outcome::Response(body)) if body.len() > MAX_RESPONSE_BYTES => function_error(&json!({
            "errorMessage": format!("Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).", body.len()),
            "errorType": "Function.ResponseSizeTooLarge",
        })),
        Ok(Outcome::Response(body)) => {
            let mut response = StubResponse::new(200, body);
            response.headers.extend([
                ("content-type".into(), "application/json".into()),
                ("x-amz-executed-version".into(), "$LATEST".into()),
            ]);
            response
        }
        Ok(Outcome::FunctionError(body)) => function_error(&body),
        Err(e @ RuntimeError::Timeout { .. }) => function_error(&json!({
            "errorType": "Sandbox.Timedout",
            "errorMessage": e.to_string(),
        })),
        Err(e) => function_error(&json!({
            "errorType": "Runtime.ExitError",
            "errorMessage": e.to_string(),
        })),
    }
}

/// Resolves when the process should stop: SIGTERM, SIGINT, or stdin closing.
async fn stop_requested(watch_stdin: bool) {
    let (tx, mut stdin_closed) = tokio::sync::mpsc::channel::<()>(1);
    if watch_stdin {
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.blocking_send(());
        });
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferrolake-local-lambda: cannot watch SIGTERM: {e}");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = stdin_closed.recv() => {}
    }
}

async fn run(options: Options) -> Result<(), String> {
    let log_dir = match &options.log_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("ferrolake-local-lambda-{}", std::process::id())),
    };
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let mut environment = options.environment.clone();
    let moto = if options.moto {
        let endpoint = ferrolake_local_aws::moto().endpoint().to_string();
        environment.extend([
            ("AWS_ENDPOINT_URL".to_string(), endpoint.clone()),
            ("AWS_REGION".into(), TEST_REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ]);
        Some(endpoint)
    } else {
        None
    };
    let mut functions = HashMap::new();
    for (name, binary) in &options.functions {
        let arn = format!("arn:aws:lambda:{TEST_REGION}:{TEST_ACCOUNT}:function:{name}");
        let lambda = LocalLambda::start(
            name,
            &arn,
            binary,
            environment.clone(),
            options.memory_mb,
            options.timeout,
            &log_dir,
        )
        .await
        .map_err(|e| e.to_string())?;
        functions.insert(name.clone(), lambda);
    }
    let functions = Arc::new(functions);
    let served = functions.clone();
    let server = HttpStub::start(move |request| {
        let functions = served.clone();
        async move { invoke(&functions, request).await }
    })
    .await
    .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let ready = json!({
        "invoke": server.url(),
        "moto": moto,
        "logs": log_dir.display().to_string(),
    })
    .to_string();
    if let Some(path) = &options.ready_file {
        std::fs::write(path, format!("{ready}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("{ready}");
    stop_requested(options.exit_on_stdin_eof).await;
    for lambda in functions.values() {
        lambda.stop();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("ferrolake-local-lambda: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        // A normal exit: the atexit hook stops moto and removes its scratch directory.
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferrolake-local-lambda: {message}");
            ExitCode::FAILURE
        }
    }
}
