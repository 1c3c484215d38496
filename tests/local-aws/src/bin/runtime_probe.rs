//! `ferrolake-runtime-probe`: one command under the local Lambda Runtime API
//! (`demo::runtime::LocalLambda`), timed — what bench/run.py measures cold starts,
//! invocations and peak memory with.
//!
//! ```text
//! ferrolake-runtime-probe [--log FILE] [--timeout SECONDS] [--event FILE ...] [--stdin]
//!     -- COMMAND [ARG ...]
//! ```
//!
//! COMMAND runs with exactly this process's environment plus `AWS_LAMBDA_RUNTIME_API`;
//! its stdout and stderr go to FILE (appended), or to this process's stderr. One JSON line
//! per step goes to stdout:
//!
//! - `{"cold_start_s": S, "pid": N}`: spawn → the first `GET /invocation/next` arriving.
//! - per event, in order: `{"kind": "response"|"error"|"init-error", "seconds": S,
//!   "body": TEXT}` (`"body_b64"` instead when the body is not UTF-8); `seconds` runs from
//!   the event handed over (the reply to the poll) to the answer arriving.
//! - last: `{"peak_rss_mib": M, "restarts": N}` (VmHWM from /proc/PID/status).
//!
//! Events are the `--event` files, then with `--stdin` one file path per stdin line; a
//! stdin line `peak-rss` prints the peak-RSS line without stopping. The process stops
//! (SIGTERM) after the last event, or at stdin's end. A function that does not poll within
//! 30 s, or that does not answer within the timeout (default 300 s), ends the probe with
//! status 1 and the reason on stderr.

use base64::Engine;
use ferrolake_local_aws::demo::runtime::{LocalLambda, Outcome, RuntimeError};
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: ferrolake-runtime-probe [--log FILE] [--timeout SECONDS] \
[--event FILE ...] [--stdin] -- COMMAND [ARG ...]";

/// How long a function may take to poll for the first time.
const FIRST_POLL: Duration = Duration::from_secs(30);

struct Options {
    log: Option<PathBuf>,
    timeout: Duration,
    events: Vec<PathBuf>,
    stdin: bool,
    command: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        log: None,
        timeout: Duration::from_secs(300),
        events: Vec::new(),
        stdin: false,
        command: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--log" => options.log = Some(value("--log")?.into()),
            "--timeout" => {
                let seconds = value("--timeout")?;
                options.timeout = Duration::from_secs(
                    seconds
                        .parse()
                        .map_err(|_| format!("--timeout {seconds}: not a number of seconds"))?,
                );
            }
            "--event" => options.events.push(value("--event")?.into()),
            "--stdin" => options.stdin = true,
            "--" => {
                options.command = it.cloned().collect();
                break;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.command.is_empty() {
        return Err("no COMMAND after --".into());
    }
    Ok(options)
}

fn emit(line: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn invoke(lambda: &LocalLambda, event: &PathBuf) -> Result<(), String> {
    let payload =
        std::fs::read(event).map_err(|e| format!("cannot read {}: {e}", event.display()))?;
    let (kind, seconds, body) = match lambda.invoke_timed(payload).await {
        Ok((Outcome::Response(body), took)) => ("response", took.as_secs_f64(), body),
        Ok((Outcome::FunctionError(error), took)) => {
            ("error", took.as_secs_f64(), error.to_string().into_bytes())
        }
        Err(RuntimeError::Init { body, .. }) => ("init-error", 0.0, body.into_bytes()),
        Err(e) => return Err(e.to_string()),
    };
    let mut line = json!({"kind": kind, "seconds": seconds});
    match String::from_utf8(body) {
        Ok(text) => line["body"] = text.into(),
        Err(e) => {
            line["body_b64"] = base64::engine::general_purpose::STANDARD
                .encode(e.into_bytes())
                .into()
        }
    }
    emit(line);
    Ok(())
}

fn peak(lambda: &LocalLambda) {
    emit(json!({
        "peak_rss_mib": lambda.peak_rss_mib().unwrap_or(f64::NAN),
        "restarts": lambda.restarts.load(std::sync::atomic::Ordering::SeqCst),
    }));
}

async fn run(options: Options) -> Result<(), String> {
    let name = std::path::Path::new(&options.command[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "probe".into());
    let lambda = LocalLambda::start_command(
        &name,
        &options.command,
        std::env::vars().collect(),
        options.timeout,
        options.log.as_deref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let cold = lambda
        .first_poll(FIRST_POLL)
        .await
        .map_err(|e| e.to_string())?;
    emit(json!({"cold_start_s": cold.as_secs_f64(), "pid": lambda.pid()}));
    for event in &options.events {
        invoke(&lambda, event).await?;
    }
    if options.stdin {
        let (lines, mut receive) = tokio::sync::mpsc::channel::<String>(1);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if lines.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = receive.recv().await {
            match line.trim() {
                "" => {}
                "peak-rss" => peak(&lambda),
                path => invoke(&lambda, &PathBuf::from(path)).await?,
            }
        }
    }
    peak(&lambda);
    lambda.stop();
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("ferrolake-runtime-probe: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferrolake-runtime-probe: {message}");
            ExitCode::FAILURE
        }
    }
}
