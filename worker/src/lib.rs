//! The reference ourvidz worker: what a GPU worker does, minus the GPU.
//!
//! It speaks only HTTP, with the project URL and the service role key: it
//! claims jobs through RPC (`claim_jobs` at `/rest/v1/rpc`, polling with
//! backoff while the queue is empty), renders deterministic placeholders — PNG images,
//! H.264-in-MP4 videos with a JPEG thumbnail — at the job's aspect ratio,
//! uploads them to `workspace-temp/{user_id}/{job_id}/` through the Storage
//! API, heartbeats its lease and reports through the job-callback function.
//! Deleting files is not GPU work: the storage-deletion outbox is drained by
//! the storage-drain function on a schedule. `PROTOCOL.md` beside this crate
//! is the contract a real worker implements.
//!
//! [`run`] is the whole loop, usable from tests (`--once` form) as well as
//! from the binary.

pub mod api;
pub mod error;
pub mod h264;
pub mod job;
pub mod mp4;
pub mod options;
pub mod queue;
pub mod render;
pub mod worker;

pub use error::WorkerError;
pub use options::Options;
pub use worker::{run, Summary};
