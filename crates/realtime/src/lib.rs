//! Supabase Realtime for the local stack: the websocket `@supabase/realtime-js`
//! (inside supabase-js) connects to, speaking Phoenix channels the way
//! supabase/realtime does, with its two features that the app needs —
//! `postgres_changes` and `broadcast` (presence is not offered).
//!
//! Changes come from Postgres' own change stream, as on Supabase: one
//! temporary logical replication slot with the wal2json plugin, owned by this
//! service for as long as it runs ([`changes`]). Which subscriber sees which
//! change is decided in the database, with each subscriber's role and JWT
//! claims, by the SQL in `sql/realtime.sql` (schema `realtime`), so row-level
//! security and column privileges apply exactly as they do to a query.
//!
//! The runtime mounts [`Realtime::router`] at `/realtime/v1`: the socket is
//! `/realtime/v1/websocket`, and `POST /realtime/v1/api/broadcast` sends
//! broadcast messages over HTTP, as realtime-js' `httpSend` does. Resources
//! are bounded per connection ([`Limits`]).

mod auth;
mod changes;
mod db;
mod http;
mod hub;
mod params;
mod protocol;
mod socket;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How the runtime sets Realtime up. Not `Debug`: the verifier holds keys.
#[derive(Clone)]
pub struct RealtimeConfig {
    /// A superuser URL: the service creates its slot and switches to each subscriber's role to check visibility.
    pub database_url: String,
    /// The project's token verifier (access tokens on join and refresh, the `apikey` on connect).
    pub verifier: ourvidz_jwt::Verifier,
    /// The publication whose tables can be subscribed to (Supabase's is `supabase_realtime`).
    pub publication: String,
    /// The name of the temporary replication slot; unique per running service on a cluster.
    pub slot_name: String,
    pub limits: Limits,
}

/// What one connection, and the change reader, may hold at most.
///
/// A connection holds its channels (at most `max_channels_per_connection`,
/// each with at most `max_changes_per_channel` postgres_changes bindings),
/// one inbound frame at a time (at most `max_frame_bytes`) and the frames
/// queued for it (at most `max_queued_bytes`): a client that reads slower
/// than events arrive is disconnected once its queue would pass that bound,
/// instead of the server buffering without limit. With the defaults a
/// connection costs at most about 4 MiB of queue + 1 MiB of inbound frame +
/// its channels' small state.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_channels_per_connection: usize,
    pub max_changes_per_channel: usize,
    pub max_frame_bytes: usize,
    pub max_queued_bytes: usize,
    /// A connection that sends nothing (not even a heartbeat) for this long is closed, as Phoenix does.
    pub idle_timeout: Duration,
    /// How often the change reader looks for new WAL when idle.
    pub poll_interval: Duration,
    /// Changes consumed from the slot per round trip.
    pub max_changes_per_poll: i32,
    /// Larger changes have their long values left out and carry `Error 413: Payload Too Large`, as on Supabase.
    pub max_record_bytes: i32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_channels_per_connection: 100,
            max_changes_per_channel: 100,
            max_frame_bytes: 1024 * 1024,
            max_queued_bytes: 4 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(5),
            max_changes_per_poll: 1000,
            max_record_bytes: 1024 * 1024,
        }
    }
}

impl RealtimeConfig {
    /// The configuration Supabase uses: the `supabase_realtime` publication, default limits.
    pub fn new(database_url: impl Into<String>, verifier: ourvidz_jwt::Verifier) -> RealtimeConfig {
        RealtimeConfig {
            database_url: database_url.into(),
            verifier,
            publication: "supabase_realtime".into(),
            slot_name: format!("ourvidz_realtime_{}", std::process::id()),
            limits: Limits::default(),
        }
    }
}

/// Why Realtime did not start.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    #[error("the database is unreachable: {0}")]
    Connect(String),
    #[error("installing the realtime schema failed: {0}")]
    Schema(String),
    #[error("the replication slot cannot be created ({0}); the cluster needs wal_level = logical and the wal2json plugin (Debian: postgresql-15-wal2json)")]
    Slot(String),
}

/// What every connection and the change reader share.
pub(crate) struct Shared {
    pub config: RealtimeConfig,
    pub pool: deadpool_postgres::Pool,
    pub hub: hub::Hub,
    /// Whether the change reader's slot exists: subscriptions are confirmed once it does.
    pub slot: tokio::sync::watch::Sender<changes::SlotState>,
    /// Cancelled when the service stops: every connection closes.
    pub shutdown: CancellationToken,
}

/// A running Realtime service.
pub struct Realtime {
    shared: Arc<Shared>,
    reader: tokio::task::JoinHandle<()>,
}

/// Install the `realtime` schema, create the slot and start reading changes.
///
/// Returns once the slot exists, so every change committed after this returns
/// reaches the subscribers that may see it — or after a few seconds when
/// transactions left open in the database hold the slot up; subscriptions
/// are then confirmed ("Subscribed to PostgreSQL") only once it exists.
pub async fn start(config: RealtimeConfig) -> Result<Realtime, RealtimeError> {
    let pool = db::pool(&config.database_url)?;
    db::install_schema(&pool).await?;
    let shutdown = CancellationToken::new();
    let (slot, _) = tokio::sync::watch::channel(changes::SlotState::Creating);
    let shared = Arc::new(Shared { config, pool, hub: hub::Hub::default(), slot, shutdown });
    let reader = changes::start(shared.clone()).await?;
    Ok(Realtime { shared, reader })
}

impl Realtime {
    /// The routes, relative to `/realtime/v1` (the caller nests them).
    pub fn router(&self) -> axum::Router {
        http::router(self.shared.clone())
    }

    /// Close every connection (clients reconnect to the next server) and
    /// stop reading changes; the temporary slot goes with its session.
    pub async fn stop(self) {
        self.shared.shutdown.cancel();
        let _ = self.reader.await;
    }
}
