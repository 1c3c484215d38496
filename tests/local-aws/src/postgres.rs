//! A throwaway PostgreSQL 15: initdb into a scratch directory, loopback only, a free port.
//! As root it runs as the unprivileged `postgres` user (the server refuses to run as root).

use super::process::{free_port, remove_stale_scratch, spawn_supervised};
use super::StackError;
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct PgServer {
    port: u16,
    data_dir: PathBuf,
}

const SCRATCH_PREFIX: &str = "ferrolake-pg-";

/// `local` and the `postgres` superuser trust; every other TCP login needs its md5
/// password, as Redshift users would. Members of `ferrolake_iam` also trust: they stand in
/// for Redshift's `IAM:` logins, whose temporary passwords (from moto's
/// GetClusterCredentials) PostgreSQL cannot know.
const PG_HBA: &str = "\
local all all trust
host all postgres 127.0.0.1/32 trust
host all +ferrolake_iam 127.0.0.1/32 trust
host all all 127.0.0.1/32 md5
";

/// The role whose members log in without a password (see `PG_HBA`).
pub const IAM_LOGIN_ROLE: &str = "ferrolake_iam";

fn bin_dir() -> Result<PathBuf, StackError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("FERROLAKE_PG_BIN") {
        candidates.push(dir.into());
    }
    candidates.push("/usr/lib/postgresql/15/bin".into());
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        candidates.push(String::from_utf8_lossy(&out.stdout).trim().into());
    }
    candidates
        .iter()
        .find(|dir| dir.join("postgres").exists() && dir.join("initdb").exists())
        .cloned()
        .ok_or_else(|| StackError::PostgresMissing {
            looked_in: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The uid/gid to run as: the `postgres` user when we are root, else ourselves.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: plain libc calls; getpwnam's result is copied before any other call.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let name = CString::new("postgres").ok()?;
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return None;
        }
        Some(((*pw).pw_uid, (*pw).pw_gid))
    }
}

fn as_server_user(command: &mut Command, ids: Option<(u32, u32)>) {
    if let Some((uid, gid)) = ids {
        // std drops supplementary groups itself when root switches uid.
        command.uid(uid).gid(gid);
    }
}

impl PgServer {
    pub(super) fn start() -> Result<Self, StackError> {
        let bin = bin_dir()?;
        let ids = run_as();
        remove_stale_scratch(SCRATCH_PREFIX);
        let scratch = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        let data_dir = scratch.join("data");
        let io = |action: String| move |source| StackError::Io { action, source };
        std::fs::create_dir_all(&scratch).map_err(io(format!("create {}", scratch.display())))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&scratch, Some(uid), Some(gid))
                .map_err(io(format!("chown {} to postgres", scratch.display())))?;
        }

        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D"])
            .arg(&data_dir)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(&scratch);
        as_server_user(&mut initdb, ids);
        let out = initdb.output().map_err(io("run initdb".into()))?;
        if !out.status.success() {
            return Err(StackError::Command {
                action: "initdb".into(),
                status: out.status,
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        std::fs::write(data_dir.join("pg_hba.conf"), PG_HBA)
            .map_err(io("write pg_hba.conf".into()))?;

        let port = free_port().map_err(io("pick a free port for PostgreSQL".into()))?;
        let log = scratch.join("postgres.log");
        let log_file =
            std::fs::File::create(&log).map_err(io("create the PostgreSQL log".into()))?;
        if let Some((uid, gid)) = ids {
            let _ = std::os::unix::fs::chown(&log, Some(uid), Some(gid));
        }
        let mut server = Command::new(bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data_dir)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&scratch)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                "-c",
                "password_encryption=md5",
            ])
            .current_dir(&scratch)
            .stdin(Stdio::null())
            .stdout(
                log_file
                    .try_clone()
                    .map_err(io("open the PostgreSQL log".into()))?,
            )
            .stderr(log_file);
        as_server_user(&mut server, ids);
        // SIGQUIT is PostgreSQL's immediate shutdown (the postmaster takes its backends with
        // it); SIGINT is the fast, clean shutdown used at a normal exit.
        spawn_supervised(server, libc::SIGQUIT, libc::SIGINT, Some(scratch.clone()))
            .map_err(io("start postgres".into()))?;

        let server = Self { port, data_dir };
        server.wait_ready(&bin, &log, Duration::from_secs(60))?;
        Ok(server)
    }

    fn wait_ready(&self, bin: &Path, log: &Path, limit: Duration) -> Result<(), StackError> {
        let started = Instant::now();
        while started.elapsed() < limit {
            let ready = Command::new(bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-q",
                ])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(StackError::NotReady {
            server: "postgres",
            seconds: limit.as_secs(),
            log: std::fs::read_to_string(log).unwrap_or_default(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A libpq-style connection string for `user` on `database` (no password: superuser trust).
    pub fn connection_string(&self, user: &str, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname={database}",
            self.port
        )
    }

    /// Connect as the superuser `postgres`; the connection task runs on the current runtime.
    pub async fn connect(
        &self,
        database: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(
            &self.connection_string("postgres", database),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// A superuser `name` that logs in without a password, like a Redshift `IAM:` login
    /// with temporary credentials (see `PG_HBA`).
    pub async fn create_iam_superuser(&self, name: &str) -> Result<(), tokio_postgres::Error> {
        let admin = self.connect("postgres").await?;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN CREATE ROLE {IAM_LOGIN_ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
                 DO $$ BEGIN CREATE ROLE {quoted} LOGIN SUPERUSER IN ROLE {IAM_LOGIN_ROLE}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
            ))
            .await
    }

    /// A fresh, empty database for one test.
    pub async fn create_database(&self, name: &str) -> Result<(), tokio_postgres::Error> {
        let admin = self.connect("postgres").await?;
        // `name` comes from the test itself; still quote it.
        admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{}\"",
                name.replace('"', "\"\"")
            ))
            .await
    }
}
