//! Pooled Postgres connections for guests: one deadpool pool per distinct
//! address (a guest names its database by connection string, as on Spin),
//! bounded in size and in how long a guest waits for a free connection.
//!
//! A guest `connection` resource holds one [`Lease`] for its whole life, so
//! `BEGIN` … `COMMIT` across calls runs on one server session. When the lease
//! ends, a connection the guest used is reset before anyone else gets it:
//! any open or failed transaction is rolled back and session state
//! (`SET`, `set_config(.., false)`, role, temp tables, advisory locks,
//! LISTEN) is discarded, in one round trip off the request path. A
//! connection whose reset fails is closed instead of returned, and so is one
//! whose session a call saw lost ([`Lease::discard`]) — without a reset
//! round trip and without relying on its connection task having noticed.
//! Idle connections that died with the server (restart, crash) are noticed
//! on checkout and replaced, so the pool recovers by itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// What a returned connection runs before reuse. `ROLLBACK` first (a
/// warning only when no transaction is open), so the rest runs outside the
/// guest's transaction.
const RESET_SQL: &str = "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
                         UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// Most distinct database addresses pooled at once.
const MAX_POOLS: usize = 16;

/// Most prepared statements kept per pooled connection.
const MAX_CACHED_STATEMENTS: usize = 256;

/// Pool sizing, from the CLI.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections per address.
    pub max_size: usize,
    /// How long a guest waits for a free connection (and for a new one to
    /// connect) before `connection-failed`.
    pub wait: Duration,
}

/// Why a guest got no connection. Every variant reaches the guest as
/// `connection-failed` with this text.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("invalid connection string: {0}")]
    Address(String),
    #[error("connection pool exhausted: no free connection within {wait_ms} ms (pool size {size})")]
    Exhausted { wait_ms: u128, size: usize },
    #[error("could not connect to the database: {0}")]
    Connect(String),
    #[error("too many distinct database addresses (at most {MAX_POOLS})")]
    TooManyAddresses,
}

/// Every pool of the process.
pub struct PgPools {
    settings: PoolSettings,
    pools: Mutex<HashMap<String, Pool>>,
}

impl PgPools {
    pub fn new(settings: PoolSettings) -> PgPools {
        PgPools { settings, pools: Mutex::new(HashMap::new()) }
    }

    fn pool(&self, address: &str) -> Result<Pool, CheckoutError> {
        let mut pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        if pools.len() >= MAX_POOLS {
            return Err(CheckoutError::TooManyAddresses);
        }
        let config: tokio_postgres::Config = address.parse().map_err(|e: tokio_postgres::Error| CheckoutError::Address(e.to_string()))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(self.settings.max_size)
            .wait_timeout(Some(self.settings.wait))
            .create_timeout(Some(self.settings.wait))
            .recycle_timeout(Some(self.settings.wait))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| CheckoutError::Address(e.to_string()))?;
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }

    /// Check out a connection to `address` (already allowed by the caller).
    pub async fn checkout(&self, address: &str) -> Result<Lease, CheckoutError> {
        let pool = self.pool(address)?;
        let object = pool.get().await.map_err(|e| match e {
            PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => {
                CheckoutError::Exhausted { wait_ms: self.settings.wait.as_millis(), size: self.settings.max_size }
            }
            PoolError::Timeout(_) => CheckoutError::Connect("timed out connecting".into()),
            PoolError::Backend(e) => CheckoutError::Connect(e.to_string()),
            other => CheckoutError::Connect(other.to_string()),
        })?;
        Ok(Lease { object: Some(object), used: AtomicBool::new(false), lost: AtomicBool::new(false) })
    }
}

/// One pooled connection lent to one guest `connection` resource.
pub struct Lease {
    /// Always `Some` until the lease is dropped.
    object: Option<Object>,
    used: AtomicBool,
    lost: AtomicBool,
}

impl Lease {
    /// The client, marking the session as needing a reset on return.
    pub fn client(&self) -> &tokio_postgres::Client {
        self.used.store(true, Ordering::Relaxed);
        self.object.as_deref().expect("a lease holds its connection until dropped")
    }

    /// `statement` prepared on this session, reused from earlier leases of
    /// the same connection when they ran the same text: a guest's call is one
    /// round trip (bind, execute) instead of two. Prepared statements survive
    /// the reset between leases and hold no data; the server re-plans them
    /// when a session's search_path or the schema differs. A guest that keeps
    /// sending new texts empties the cache rather than growing it.
    pub async fn prepare(&self, statement: &str) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        let object = self.object.as_ref().expect("a lease holds its connection until dropped");
        self.used.store(true, Ordering::Relaxed);
        if object.statement_cache.size() >= MAX_CACHED_STATEMENTS {
            object.statement_cache.clear();
        }
        object.prepare_cached(statement).await
    }

    /// The session is gone: close the connection when the lease ends instead
    /// of returning it to the pool.
    pub fn discard(&self) {
        self.lost.store(true, Ordering::Relaxed);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else { return };
        if self.lost.load(Ordering::Relaxed) {
            drop(Object::take(object));
            return;
        }
        if !self.used.load(Ordering::Relaxed) || object.is_closed() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if object.batch_execute(RESET_SQL).await.is_err() {
                        drop(Object::take(object));
                    }
                });
            }
            Err(_) => drop(Object::take(object)),
        }
    }
}
