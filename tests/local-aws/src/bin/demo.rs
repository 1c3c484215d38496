//! `make demo`: run the whole pipeline locally and print what happened.
//!
//! ferrolake-demo [--events N] [--keep] [--timeout SECONDS]

use ferrolake_local_aws::demo::{self, Options};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: ferrolake-demo [--events N] [--keep] [--timeout SECONDS]
  --events N         catalog changes to publish (default 50; 3 malformed ones are added)
  --keep             leave the stack running and print endpoints and aws commands
  --timeout SECONDS  how long the pipeline may take to settle (default 120)";

fn parse(args: &[String]) -> Result<(Options, bool), String> {
    let mut options = Options::new(50);
    let mut keep = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .and_then(|v| {
                    v.parse::<u64>()
                        .map_err(|_| format!("{name}: {v:?} is not a whole number"))
                })
        };
        match arg.as_str() {
            "--events" => {
                let n = value("--events")?;
                if n == 0 || n > 100_000 {
                    return Err(format!("--events: {n} is outside 1..=100000"));
                }
                options.events = n as usize;
            }
            "--timeout" => options.timeout = Duration::from_secs(value("--timeout")?),
            "--keep" => keep = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((options, keep))
}

fn keep_instructions(d: &demo::Demo) -> String {
    let aws = format!("aws --endpoint-url {}", d.endpoint);
    let mut lines = vec![
        format!(
            "\nThe stack stays up (Ctrl-C stops everything). moto: {}   PostgreSQL: 127.0.0.1:{}",
            d.endpoint, d.pg_port
        ),
        format!("Function logs: {}", d.scratch.display()),
        "In another shell:".to_string(),
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1"
            .to_string(),
    ];
    let name = |kind: &str| -> Vec<(String, String)> {
        d.stack
            .of_kind(kind)
            .filter_map(|id| Some((id.to_string(), d.stack.physical(id)?.reference.clone())))
            .collect()
    };
    for (id, bucket) in name("AWS::S3::Bucket") {
        lines.push(format!(
            "  {aws} s3 ls s3://{bucket}/ --recursive      # {id}"
        ));
    }
    for (id, url) in name("AWS::SQS::Queue") {
        lines.push(format!(
            "  {aws} sqs receive-message --queue-url {url} --attribute-names All      # {id}"
        ));
    }
    for (id, stream) in name("AWS::Kinesis::Stream") {
        lines.push(format!(
            "  {aws} kinesis describe-stream-summary --stream-name {stream}      # {id}"
        ));
    }
    for (id, crawler) in name("AWS::Glue::Crawler") {
        lines.push(format!(
            "  {aws} glue get-crawler --name {crawler}      # {id}"
        ));
    }
    for (id, table) in name("AWS::DynamoDB::Table") {
        lines.push(format!(
            "  {aws} dynamodb scan --table-name {table}      # {id}"
        ));
    }
    if let Some(r) = &d.summary.redshift {
        lines.push(format!(
            "  {aws} secretsmanager get-secret-value --secret-id {}",
            r.rotated_secret
        ));
    }
    lines.push(format!(
        "  psql \"host=127.0.0.1 port={} user=postgres dbname=dev\"",
        d.pg_port
    ));
    lines.join("\n")
}

/// Ctrl-C or SIGTERM. Returning from `main` (rather than dying of the signal) lets the
/// local stack's exit hook stop moto and PostgreSQL and remove their scratch directories.
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, keep) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("ferrolake-demo: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = tokio::select! {
        outcome = demo::run(&options) => outcome,
        _ = interrupted() => {
            eprintln!("\nferrolake-demo: interrupted; stopping the stack");
            return ExitCode::from(130);
        }
    };
    let demo = match outcome {
        Ok(demo) => demo,
        Err(e) => {
            eprintln!("\nferrolake-demo FAILED — {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", demo.summary);
    let failed = demo.failed_stage();
    match &failed {
        None => println!(
            "\nferrolake-demo: all stages passed in {:.1} s",
            demo.summary.total.as_secs_f64()
        ),
        Some((stage, problem)) => eprintln!(
            "\nferrolake-demo FAILED at stage {stage}: {problem}\nfunction logs: {}",
            demo.scratch.display()
        ),
    }
    if keep {
        println!("{}", keep_instructions(&demo));
        interrupted().await;
        eprintln!("\nferrolake-demo: stopping the stack");
    }
    let code = if failed.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    demo.finish(failed.is_some());
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_bad_flags() {
        let (o, keep) = parse(&args(&["--events", "7", "--keep"])).unwrap();
        assert_eq!(o.events, 7);
        assert!(keep);
        assert!(parse(&args(&["--events"]))
            .unwrap_err()
            .contains("--events needs a value"));
        assert!(parse(&args(&["--events", "x"]))
            .unwrap_err()
            .contains("\"x\" is not a whole number"));
        assert!(parse(&args(&["--events", "0"]))
            .unwrap_err()
            .contains("outside 1..=100000"));
        assert!(parse(&args(&["--nope"]))
            .unwrap_err()
            .contains("unknown argument \"--nope\""));
    }
}
