//! The state file of a running stack (`<home>/runtime.json`): written by
//! `up` once it serves, removed when it stops, read by `status` and `stop`.

use std::path::{Path, PathBuf};

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
}

pub fn path(home: &Path) -> PathBuf {
    home.join("runtime.json")
}

impl StackState {
    pub fn write(&self, home: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(home)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path(home), text)
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
