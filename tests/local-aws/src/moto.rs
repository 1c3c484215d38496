//! moto in server mode, from the project virtualenv (`make setup` pins its version).

use super::process::{free_port, remove_stale_scratch, spawn_supervised};
use super::{http_request, venv, StackError};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct MotoServer {
    endpoint: String,
    log: PathBuf,
}

const SCRATCH_PREFIX: &str = "ferrolake-moto-";

impl MotoServer {
    pub(super) fn start() -> Result<Self, StackError> {
        let binary = venv().join("bin/moto_server");
        if !binary.exists() {
            return Err(StackError::MotoMissing {
                path: binary.display().to_string(),
            });
        }
        remove_stale_scratch(SCRATCH_PREFIX);
        let scratch = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|source| StackError::Io {
            action: format!("create {}", scratch.display()),
            source,
        })?;
        let log = scratch.join("moto.log");
        let io_err = |action: &str| {
            let action = action.to_string();
            move |source| StackError::Io { action, source }
        };
        let port = free_port().map_err(io_err("pick a free port for moto"))?;
        let log_file = std::fs::File::create(&log).map_err(io_err("create the moto log"))?;
        let mut command = Command::new(&binary);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(&scratch)
            // AWS managed policies (template roles attach AWSGlueServiceRole) exist in moto
            // only when loaded; the demo's strict moto loads them too.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(io_err("open the moto log"))?)
            .stderr(log_file);
        spawn_supervised(command, libc::SIGKILL, libc::SIGTERM, Some(scratch))
            .map_err(io_err("start moto_server"))?;

        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(Duration::from_secs(60))?;
        // Crawlers in moto stay RUNNING forever unless their state machine is time-based.
        server.set_transition("glue::crawl", r#"{"progression":"time","seconds":1}"#);
        Ok(server)
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), StackError> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(r) = http_request(
                "GET",
                &format!("{}/moto-api/data.json", self.endpoint),
                None,
            ) {
                if r.status == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(StackError::NotReady {
            server: "moto",
            seconds: limit.as_secs(),
            log: std::fs::read_to_string(&self.log).unwrap_or_default(),
        })
    }

    /// `http://127.0.0.1:<port>`: use as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Wipe every service's state (global: only for tests that run alone).
    pub fn reset(&self) {
        let r = http_request("POST", &format!("{}/moto-api/reset", self.endpoint), None)
            .expect("moto reset");
        assert_eq!(r.status, 200, "moto reset: {}", r.body);
    }

    /// Configure one of moto's state machines (e.g. `glue::crawl`).
    pub fn set_transition(&self, model: &str, transition_json: &str) {
        let body = format!(r#"{{"model_name":"{model}","transition":{transition_json}}}"#);
        let url = format!("{}/moto-api/state-manager/set-transition", self.endpoint);
        let r = http_request("POST", &url, Some(&body)).expect("moto set-transition");
        assert!(
            r.status < 300,
            "moto set-transition {model}: {} {}",
            r.status,
            r.body
        );
    }
}
