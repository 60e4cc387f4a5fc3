//! The reference ourvidz worker: what a GPU worker does, minus the GPU.
//!
//! It claims jobs from Postgres (`claim_jobs` as service_role, woken by
//! `NOTIFY ourvidz_jobs`), renders deterministic placeholders — PNG images,
//! H.264-in-MP4 videos with a JPEG thumbnail — at the job's aspect ratio,
//! uploads them to `workspace-temp/{user_id}/{job_id}/` through the Storage
//! API, heartbeats its lease, reports through the job-callback function, and
//! periodically drains the storage-deletion outbox. `PROTOCOL.md` beside this
//! crate is the contract a real worker implements.
//!
//! [`run`] is the whole loop, usable from tests (`--once` form) as well as
//! from the binary.

pub mod api;
pub mod db;
pub mod error;
pub mod h264;
pub mod job;
pub mod mp4;
pub mod options;
pub mod render;
pub mod worker;

pub use error::WorkerError;
pub use options::Options;
pub use worker::{run, Summary};
