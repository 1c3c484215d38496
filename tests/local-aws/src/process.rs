//! Child processes that cannot outlive the test process.
//!
//! Children are spawned from one long-lived supervisor thread with a parent-death signal
//! (Linux `PR_SET_PDEATHSIG` fires when the *spawning thread* exits, so spawning from a
//! short-lived test thread would kill the server after that test). An `atexit` hook stops
//! them gracefully on a normal exit and removes their scratch directories.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Supervised {
    pid: i32,
    stop_signal: i32,
    scratch: Option<PathBuf>,
}

static SUPERVISED: Mutex<Vec<Supervised>> = Mutex::new(Vec::new());

type SpawnRequest = (Command, i32, mpsc::Sender<std::io::Result<Child>>);
static SUPERVISOR: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();

fn supervisor() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    SUPERVISOR.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("ferrolake-stack-supervisor".into())
            .spawn(move || {
                for (mut command, death_signal, reply) in rx {
                    // SAFETY: prctl is async-signal-safe; this runs between fork and exec.
                    unsafe {
                        command.pre_exec(move || {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal as libc::c_ulong)
                                != 0
                            {
                                return Err(std::io::Error::last_os_error());
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
                // The channel never closes: the sender lives in a static. Park forever so
                // the children's parent-death signal only fires when the process ends.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the stack supervisor thread");
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe {
            libc::atexit(stop_all_at_exit);
        }
        Mutex::new(tx)
    })
}

/// Spawn `command`; it receives `death_signal` if this process dies, and `stop_signal` at a
/// normal exit, after which `scratch` (if any) is removed.
pub fn spawn_supervised(
    command: Command,
    death_signal: i32,
    stop_signal: i32,
    scratch: Option<PathBuf>,
) -> std::io::Result<Child> {
    let (reply_tx, reply_rx) = mpsc::channel();
    supervisor()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, death_signal, reply_tx))
        .map_err(|_| std::io::Error::other("stack supervisor thread is gone"))?;
    let child = reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("stack supervisor thread is gone"))??;
    SUPERVISED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Supervised {
            pid: child.id() as i32,
            stop_signal,
            scratch,
        });
    Ok(child)
}

extern "C" fn stop_all_at_exit() {
    let supervised = std::mem::take(&mut *SUPERVISED.lock().unwrap_or_else(|p| p.into_inner()));
    for s in &supervised {
        // SAFETY: plain syscalls on pids we spawned.
        unsafe {
            libc::kill(s.pid, s.stop_signal);
        }
    }
    for s in &supervised {
        let started = Instant::now();
        loop {
            let mut status = 0;
            // SAFETY: reaping our own child.
            let done = unsafe { libc::waitpid(s.pid, &mut status, libc::WNOHANG) };
            if done != 0 {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                unsafe {
                    libc::kill(s.pid, libc::SIGKILL);
                    libc::waitpid(s.pid, &mut status, 0);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(dir) = &s.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Remove scratch directories `<temp>/<prefix><pid>*` left by processes that no longer run
/// (a test binary killed with SIGKILL cannot clean up after itself).
pub fn remove_stale_scratch(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let pid: i32 = rest
            .split('-')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        // SAFETY: signal 0 only checks for existence.
        let alive = pid > 0 && unsafe { libc::kill(pid, 0) } == 0;
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A free loopback TCP port (bound, then released for the server to take).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
