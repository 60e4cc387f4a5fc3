//! A local re-implementation of supabase/storage's HTTP API: objects live in a
//! directory, their metadata in `storage.objects`, and the Postgres row-level
//! security policies on that table decide who may do what, as on Supabase.
//!
//! The local runtime mounts [`router`] at `/storage/v1`. Requests carry a
//! Supabase access token (`Authorization: Bearer <jwt>`); each one runs its
//! metadata work in one transaction scoped to the token's role and claims
//! ([`db`]), and changes files only while that transaction holds the rows, with
//! a way back until it commits ([`files`]). JSON shapes and errors follow
//! supabase/storage; where this API differs, the route module says so.

mod auth;
mod db;
mod error;
mod extract;
mod files;
mod key;
mod routes;
mod signing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ourvidz_jwt::Verifier;

pub use error::StorageError;

/// How the Storage API is set up by the runtime. Not `Debug`: it holds the JWT secret.
#[derive(Clone)]
pub struct StorageConfig {
    /// Objects live at `root/<bucket_id>/<object name>`; `root/.tmp` holds files in flight.
    pub root: PathBuf,
    /// A superuser (or `postgres`) URL; requests switch to the caller's role inside their transaction.
    pub database_url: String,
    /// What access tokens are verified with (the project's HS256 secret and JWKS).
    pub verifier: Verifier,
    /// The project's HS256 JWT secret, from which the signed-URL key is derived.
    pub jwt_secret: Vec<u8>,
    /// Largest upload accepted, whatever a bucket's `file_size_limit` says.
    pub max_upload_bytes: u64,
    /// Longest pause allowed between two chunks of a request body (408 after).
    pub body_idle_timeout: Duration,
}

/// What every handler shares.
pub(crate) struct App {
    pub pool: deadpool_postgres::Pool,
    pub store: files::Store,
    pub verifier: Verifier,
    pub signer: signing::UrlSigner,
    pub max_upload_bytes: u64,
}

/// Build the Storage API. Routes are relative to `/storage/v1` (the caller nests them).
///
/// Fails when the database is unreachable or lacks the storage schema, or the
/// root cannot be created, so the runtime can refuse to start with a reason.
pub async fn router(config: StorageConfig) -> Result<axum::Router, StorageError> {
    let pool = db::connect(&config.database_url)?;
    db::check_schema(&pool).await?;
    let store = files::Store::open(config.root).await?;
    let signer = signing::UrlSigner::new(&config.jwt_secret)?;
    let app = App { pool, store, verifier: config.verifier, signer, max_upload_bytes: config.max_upload_bytes };
    Ok(routes::build(Arc::new(app), config.body_idle_timeout))
}
