//! The processes the stack runs beside itself, supervised: today the
//! reference GPU worker (crate `worker/`, binary `ourvidz-worker`), started
//! once the API serves with the standard Supabase environment — the project
//! URL and keys, no database URL: the worker speaks only HTTP.
//!
//! A supervised process that exits, crashes or is killed is started again
//! after a backoff that doubles from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`]
//! and starts over once a run lasted [`STABLE_AFTER`]: a process that dies at
//! once does not spin, one that dies now and then comes back quickly. Every
//! start and exit is a JSON log line (`process started` / `process exited`)
//! and is recorded in the state file, where `ourvidz status` shows it. On
//! shutdown the process gets SIGTERM and the grace period, then SIGKILL.
//!
//! The worker binary is looked up next to `ourvidz` itself (same cargo target
//! directory); when it has not been built, `up` says so and runs without it.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::server::log;
use crate::state::StateFile;

/// The wait before the first restart.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

/// What the worker is told about the stack.
pub struct WorkerEnv<'a> {
    pub supabase_url: &'a str,
    pub anon_key: &'a str,
    pub service_role_key: &'a str,
}

/// A process to run: its program and environment.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub name: &'static str,
    pub program: PathBuf,
    pub env: Vec<(&'static str, String)>,
}

impl ProcessSpec {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.envs(self.env.iter().map(|(name, value)| (*name, value))).kill_on_drop(true);
        command
    }
}

/// The reference worker, or `None` (with a note) when it is not built.
pub fn reference_worker(env: &WorkerEnv<'_>) -> Option<ProcessSpec> {
    let program = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("ourvidz-worker")));
    let Some(program) = program.filter(|path| path.is_file()) else {
        eprintln!("note: reference worker not started: ourvidz-worker is not built (cargo build -p ourvidz-worker)");
        return None;
    };
    Some(ProcessSpec {
        name: "worker",
        program,
        env: vec![
            ("SUPABASE_URL", env.supabase_url.to_owned()),
            ("SUPABASE_ANON_KEY", env.anon_key.to_owned()),
            ("SUPABASE_SERVICE_ROLE_KEY", env.service_role_key.to_owned()),
        ],
    })
}

/// A process kept running until [`Supervisor::stop`].
pub struct Supervisor {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Supervisor {
    /// Start `spec` and keep it running; its state goes to `state`.
    pub fn start(spec: ProcessSpec, state: Arc<StateFile>, grace: Duration) -> Supervisor {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(spec, state, stopped, grace));
        Supervisor { stop, task }
    }

    /// Stop the process (SIGTERM, SIGKILL after the grace period) and the
    /// supervision.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// `exit status: 1`, `signal: 9 (SIGKILL)`.
fn describe(status: &ExitStatus) -> String {
    match status.signal() {
        Some(signal) => format!("signal: {signal} ({})", signal_name(signal)),
        None => status.to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGINT => "SIGINT",
        libc::SIGBUS => "SIGBUS",
        _ => "other",
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The wait before restarting a process that ran for `ran`, given the wait
/// before its last start (`None` for the first start).
fn restart_wait(previous: Option<Duration>, ran: Duration) -> Duration {
    match previous {
        Some(previous) if ran < STABLE_AFTER => (previous * 2).min(MAX_BACKOFF),
        _ => FIRST_BACKOFF,
    }
}

async fn supervise(spec: ProcessSpec, state: Arc<StateFile>, mut stop: watch::Receiver<bool>, grace: Duration) {
    let name = spec.name;
    let mut backoff = None;
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let exit = match spec.command().spawn() {
            Ok(mut child) => {
                let pid = child.id();
                log("info", "process started", serde_json::json!({"process": name, "pid": pid, "restarts": restarts}));
                state.update_process(name, |p| {
                    p.status = "running".into();
                    p.pid = pid;
                });
                tokio::select! {
                    status = child.wait() => match status {
                        Ok(status) => describe(&status),
                        Err(error) => format!("lost track of it: {error}"),
                    },
                    _ = stop.changed() => {
                        terminate(child, grace).await;
                        state.update_process(name, |p| {
                            p.status = "stopped".into();
                            p.pid = None;
                        });
                        return;
                    }
                }
            }
            Err(error) => format!("could not be started: {error}"),
        };
        let wait = restart_wait(backoff, started.elapsed());
        backoff = Some(wait);
        restarts += 1;
        log(
            "warn",
            "process exited",
            serde_json::json!({
                "process": name,
                "exit": exit,
                "ran_ms": started.elapsed().as_millis() as u64,
                "restart_in_ms": wait.as_millis() as u64,
                "restarts": restarts,
            }),
        );
        state.update_process(name, |p| {
            p.status = "restarting".into();
            p.pid = None;
            p.restarts = restarts;
            p.last_exit = Some(exit);
            p.last_exit_at = Some(now());
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {
                state.update_process(name, |p| p.status = "stopped".into());
                return;
            }
        }
    }
}

/// Ask `child` to stop (SIGTERM), killing it if it has not within `grace`.
async fn terminate(mut child: Child, grace: Duration) {
    if let Some(pid) = child.id() {
        crate::state::terminate(pid);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StackState;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ourvidz-supervise-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn state_file(home: &std::path::Path) -> Arc<StateFile> {
        let state = StackState {
            pid: std::process::id(),
            api_url: String::new(),
            functions_url: String::new(),
            storage_url: String::new(),
            db_url: String::new(),
            db_managed: false,
            processes: Default::default(),
        };
        Arc::new(StateFile::create(home, state).unwrap())
    }

    /// A shell script as the supervised program: it appends its pid to
    /// `runs` and then runs `body`.
    fn script(home: &std::path::Path, body: &str) -> ProcessSpec {
        let program = home.join("child.sh");
        let runs = home.join("runs");
        std::fs::write(&program, format!("#!/bin/sh\necho $$ >> {}\n{body}\n", runs.display())).unwrap();
        std::fs::set_permissions(&program, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        ProcessSpec { name: "probe", program, env: vec![] }
    }

    fn runs(home: &std::path::Path) -> Vec<u32> {
        std::fs::read_to_string(home.join("runs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_killed_process_is_restarted_and_recorded() {
        let home = scratch("killed");
        let supervisor = Supervisor::start(script(&home, "exec sleep 60"), state_file(&home), Duration::from_secs(5));
        until("the first run", || runs(&home).len() == 1).await;
        let first = runs(&home)[0];
        unsafe { libc::kill(first as i32, libc::SIGKILL) };
        until("a second run", || runs(&home).len() == 2).await;
        let second = runs(&home)[1];
        assert_ne!(first, second);
        until("the restart recorded", || {
            StackState::read(&home).is_some_and(|s| s.processes.get("probe").is_some_and(|p| p.pid == Some(second)))
        })
        .await;
        let probe = StackState::read(&home).unwrap().processes["probe"].clone();
        assert_eq!((probe.status.as_str(), probe.restarts), ("running", 1));
        assert_eq!(probe.last_exit.as_deref(), Some("signal: 9 (SIGKILL)"));
        assert!(probe.last_exit_at.is_some());

        supervisor.stop().await;
        assert!(!crate::state::pid_alive(second), "stop ends the process");
        let probe = StackState::read(&home).unwrap().processes["probe"].clone();
        assert_eq!((probe.status.as_str(), probe.pid), ("stopped", None));
        assert_eq!(runs(&home).len(), 2, "a stopped process is not restarted");
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn restarts_back_off_doubling_to_a_cap_and_start_over_after_a_stable_run() {
        let quick = Duration::from_millis(50);
        let mut previous = None;
        let mut waits = Vec::new();
        for _ in 0..7 {
            let wait = restart_wait(previous, quick);
            waits.push(wait.as_secs());
            previous = Some(wait);
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(restart_wait(previous, STABLE_AFTER), FIRST_BACKOFF);
    }

    #[tokio::test]
    async fn a_process_that_keeps_dying_keeps_being_restarted() {
        let home = scratch("dying");
        let supervisor = Supervisor::start(script(&home, "exit 3"), state_file(&home), Duration::from_secs(5));
        until("a third run", || runs(&home).len() >= 3).await;
        until("the exits recorded", || {
            StackState::read(&home).is_some_and(|s| s.processes.get("probe").is_some_and(|p| p.restarts >= 3))
        })
        .await;
        let probe = StackState::read(&home).unwrap().processes["probe"].clone();
        assert_eq!(probe.last_exit.as_deref(), Some("exit status: 3"));
        supervisor.stop().await;
        let _ = std::fs::remove_dir_all(&home);
    }
}
