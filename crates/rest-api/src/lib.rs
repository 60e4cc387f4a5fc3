//! A PostgREST 12-compatible REST API for the exposed schema (`public`), for
//! the local stack: hosted Supabase serves `/rest/v1` with PostgREST itself,
//! which cannot be installed here, so this crate answers the same requests
//! the same way — the query grammar, headers, status codes and error bodies
//! of PostgREST's source — and supabase-js and postgrest-rs work unchanged.
//!
//! The local runtime mounts [`router`] at `/rest/v1`. A request is parsed
//! ([`params`], [`prefer`], [`range`]), resolved against the schema cache
//! ([`schema`], [`plan`]) so that every identifier is one the catalog knows,
//! turned into one statement with every value a bound parameter ([`sql`]),
//! and run in one transaction as the caller's role with their JWT claims
//! ([`auth`], [`db`]): row-level security decides what anyone sees or
//! changes. Errors have PostgREST's shape and statuses ([`error`]).

mod auth;
mod cors;
mod db;
mod error;
mod openapi;
mod params;
mod plan;
mod prefer;
mod range;
mod routes;
mod schema;
mod sql;

use std::sync::{Arc, RwLock};

pub use error::RestError;

/// How the REST API is set up by the runtime.
#[derive(Clone)]
pub struct RestConfig {
    /// A superuser (or `postgres`) URL; requests switch to the caller's role inside their transaction.
    pub database_url: String,
    /// The project's token verifier (the one every service shares).
    pub verifier: ourvidz_jwt::Verifier,
    /// The schema exposed (PostgREST's `db-schemas`; Supabase exposes `public`).
    pub schema: String,
    /// Most rows a read answers with (PostgREST's `db-max-rows`), `None` for no cap.
    pub max_rows: Option<i64>,
    /// Connections in the pool (PostgREST's `db-pool`).
    pub pool_size: usize,
}

impl RestConfig {
    /// Supabase's defaults: schema `public`, no row cap, a pool of 10.
    pub fn new(database_url: impl Into<String>, verifier: ourvidz_jwt::Verifier) -> RestConfig {
        RestConfig { database_url: database_url.into(), verifier, schema: "public".into(), max_rows: None, pool_size: 10 }
    }
}

/// What every handler shares.
pub(crate) struct App {
    pub pool: deadpool_postgres::Pool,
    pub verifier: ourvidz_jwt::Verifier,
    pub max_rows: Option<i64>,
    cache: schema::SharedCache,
    /// Dropping the API stops the schema listener.
    _listener: tokio::sync::oneshot::Sender<()>,
}

impl App {
    /// The current schema cache.
    pub fn cache(&self) -> Arc<schema::SchemaCache> {
        self.cache.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Build the REST API. Routes are relative to `/rest/v1` (the caller nests them).
///
/// Reads the schema cache first, so the runtime refuses to start with a
/// reason when the database is unreachable; then keeps it fresh on
/// `NOTIFY pgrst, 'reload schema'`.
pub async fn router(config: RestConfig) -> Result<axum::Router, RestError> {
    let pg_config: tokio_postgres::Config =
        config.database_url.parse().map_err(|e| RestError::Startup(format!("invalid database_url: {e}")))?;
    let first = schema::initial(&pg_config, &config.schema).await?;
    let cache: schema::SharedCache = Arc::new(RwLock::new(Arc::new(first)));
    let pool = db::pool(pg_config.clone(), config.pool_size)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(schema::listen(pg_config, cache.clone(), pool.clone(), stopped));
    let app = App { pool, verifier: config.verifier, max_rows: config.max_rows, cache, _listener: stop };
    Ok(routes::build(Arc::new(app)))
}
