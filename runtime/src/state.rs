//! The state file of a running stack (`<home>/runtime.json`): written by
//! `up` once it serves and again whenever a process it supervises changes
//! (started, exited, restarted), removed when it stops, read by `status` and
//! `stop`. Each write replaces the file atomically, so a reader never sees
//! half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What `status` and `stop` need to know about a running `up`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackState {
    pub pid: u32,
    pub api_url: String,
    pub functions_url: String,
    pub storage_url: String,
    pub db_url: String,
    /// Whether `up` started the database (and so stops it).
    pub db_managed: bool,
    /// The processes `up` runs and restarts (the reference worker), by name.
    #[serde(default)]
    pub processes: BTreeMap<String, ProcessState>,
}

/// A supervised process, as its supervisor last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessState {
    /// `running`, `restarting` (waiting out its backoff) or `stopped`.
    pub status: String,
    /// The running process, if there is one.
    pub pid: Option<u32>,
    /// How often it was restarted after exiting.
    pub restarts: u32,
    /// How it last ended (`exit status: 1`, `signal: 9 (SIGKILL)`), and when
    /// (RFC 3339).
    pub last_exit: Option<String>,
    pub last_exit_at: Option<String>,
}

pub fn path(home: &Path) -> PathBuf {
    home.join("runtime.json")
}

impl StackState {
    /// Write the file: into a temporary beside it, then renamed over it.
    pub fn write(&self, home: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(home)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let temporary = home.join("runtime.json.tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path(home))
    }

    /// The state file, if there is a readable one.
    pub fn read(home: &Path) -> Option<StackState> {
        let text = std::fs::read_to_string(path(home)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn remove(home: &Path) {
        let _ = std::fs::remove_file(path(home));
    }

    /// Is the process that wrote this file still alive?
    pub fn is_running(&self) -> bool {
        pid_alive(self.pid)
    }
}

/// The state of the running stack, shared by the tasks that change it; each
/// change is written through to the file.
pub struct StateFile {
    home: PathBuf,
    state: Mutex<StackState>,
}

impl StateFile {
    /// Write `state` for `home` and keep it for later changes.
    pub fn create(home: &Path, state: StackState) -> std::io::Result<StateFile> {
        state.write(home)?;
        Ok(StateFile { home: home.to_owned(), state: Mutex::new(state) })
    }

    /// Change the state of process `name` and write the file. A failed write
    /// is reported, not fatal: the stack serves on without `status` detail.
    pub fn update_process(&self, name: &str, change: impl FnOnce(&mut ProcessState)) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(state.processes.entry(name.to_owned()).or_default());
        if let Err(error) = state.write(&self.home) {
            eprintln!("warning: cannot write {}: {error}", path(&self.home).display());
        }
    }
}

pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // Signal 0 checks that the process exists and may be signalled.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Ask a process to shut down gracefully.
pub fn terminate(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    unsafe { libc::kill(pid, libc::SIGTERM) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StackState {
        StackState {
            pid: std::process::id(),
            api_url: "http://127.0.0.1:1".into(),
            functions_url: "http://127.0.0.1:1/functions/v1".into(),
            storage_url: "http://127.0.0.1:1/storage/v1".into(),
            db_url: "postgresql://x".into(),
            db_managed: false,
            processes: BTreeMap::new(),
        }
    }

    #[test]
    fn process_changes_are_written_through_to_the_file() {
        let home = std::env::temp_dir().join(format!("ourvidz-state-{}", std::process::id()));
        let file = StateFile::create(&home, state()).unwrap();
        assert!(StackState::read(&home).unwrap().processes.is_empty());
        file.update_process("worker", |p| {
            p.status = "running".into();
            p.pid = Some(42);
        });
        file.update_process("worker", |p| p.restarts += 1);
        let read = StackState::read(&home).unwrap();
        let worker = &read.processes["worker"];
        assert_eq!((worker.status.as_str(), worker.pid, worker.restarts), ("running", Some(42), 1));
        assert!(!home.join("runtime.json.tmp").exists(), "the temporary is renamed, not left");
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn a_state_file_without_processes_still_reads() {
        let home = std::env::temp_dir().join(format!("ourvidz-state-old-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let mut old = serde_json::to_value(state()).unwrap();
        old.as_object_mut().unwrap().remove("processes");
        std::fs::write(path(&home), old.to_string()).unwrap();
        assert!(StackState::read(&home).unwrap().processes.is_empty());
        let _ = std::fs::remove_dir_all(&home);
    }
}
