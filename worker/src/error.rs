//! The worker's one error type. Every failure says what it was doing; the
//! loop decides per kind whether to retry (transport, 5xx, 429), report the
//! job as failed (render, upload), or let the lease expire (lease lost).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerError {
    /// Bad flags or environment.
    Config(String),
    /// The request never got an answer.
    Transport(String),
    /// The API answered with a non-success status.
    Api { what: String, status: u16, body: String },
    /// A picture or video could not be encoded.
    Render(String),
    /// The job's reference image cannot be had (gone since the job was queued).
    Reference(String),
    /// The job is no longer ours (canceled, or the lease went to another worker).
    LeaseLost,
}

impl WorkerError {
    /// Worth trying again after a pause.
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkerError::Transport(_) => true,
            WorkerError::Api { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Config(message) => write!(f, "configuration: {message}"),
            WorkerError::Transport(message) => write!(f, "transport: {message}"),
            WorkerError::Api { what, status, body } => write!(f, "{what}: HTTP {status}: {body}"),
            WorkerError::Render(message) => write!(f, "render: {message}"),
            WorkerError::Reference(message) => write!(f, "reference image: {message}"),
            WorkerError::LeaseLost => f.write_str("the job's lease is no longer ours"),
        }
    }
}

impl std::error::Error for WorkerError {}

impl From<reqwest::Error> for WorkerError {
    fn from(error: reqwest::Error) -> Self {
        WorkerError::Transport(error.to_string())
    }
}
