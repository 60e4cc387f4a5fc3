//! The hook that runs the reference GPU worker (crate `worker/`, binary
//! `ourvidz-worker`) beside the stack: `up` starts it once the API serves,
//! with the standard Supabase environment — the project URL and keys, no
//! database URL: the worker speaks only HTTP — and stops it on shutdown. The
//! binary is looked up next to `ourvidz` itself (same cargo target
//! directory); when it has not been built, `up` says so and runs without it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::{Child, Command};

/// What the worker is told about the stack.
pub struct WorkerEnv<'a> {
    pub supabase_url: &'a str,
    pub anon_key: &'a str,
    pub service_role_key: &'a str,
}

fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("ourvidz-worker");
    path.is_file().then_some(path)
}

/// Start the reference worker, or explain why it is not started.
pub fn start_reference_worker(env: &WorkerEnv<'_>) -> std::io::Result<Option<Child>> {
    let Some(path) = binary() else {
        eprintln!("note: reference worker not started: ourvidz-worker is not built (cargo build -p ourvidz-worker)");
        return Ok(None);
    };
    Command::new(path)
        .env("SUPABASE_URL", env.supabase_url)
        .env("SUPABASE_ANON_KEY", env.anon_key)
        .env("SUPABASE_SERVICE_ROLE_KEY", env.service_role_key)
        .kill_on_drop(true)
        .spawn()
        .map(Some)
}

/// Ask the worker to stop (SIGTERM), killing it if it has not within `grace`.
pub async fn stop(mut child: Child, grace: Duration) {
    if let Some(pid) = child.id() {
        crate::state::terminate(pid);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}
