//! Shared code of the ourvidz edge functions: the five of the API (queue-job,
//! job-callback, workspace-actions, library-actions, delete-workspace-item)
//! and the maintenance one (storage-drain).
//!
//! A function is a short pipeline: [`request::dispatch`] (its own CORS
//! preflight, 405) → [`auth::authenticate`] (JWT: HS256 or JWKS, role) → a `bodies::parse_*`
//! validation → one [`sql`] call inside the caller's PostgREST-style session
//! → [`storage`] side effects → a [`response`]. Every failure on the way is
//! an [`error::EdgeError`], rendered once as status + `{"error": {"code",
//! "message"}}`.
//!
//! Everything except [`host`] is plain Rust, unit-tested natively with
//! `cargo test -p ourvidz-edge`. [`host`] exists only on wasm32: it binds the
//! pipeline to Spin (spin-sdk 7: wasi:http 0.3, spin:postgres, variables).

pub mod auth;
pub mod bodies;
pub mod config;
pub mod error;
pub mod library;
pub mod outbox;
pub mod paths;
pub mod request;
pub mod response;
pub mod sql;
pub mod storage;
pub mod workspace;

#[cfg(target_arch = "wasm32")]
pub mod host;

pub use error::{EdgeError, ErrorKind};
