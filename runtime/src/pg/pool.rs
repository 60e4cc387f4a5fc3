//! Pooled Postgres connections for guests: one deadpool pool per distinct
//! address (a guest names its database by connection string, as on Spin),
//! bounded in size and in how long a guest waits for a free connection.
//!
//! A guest `connection` resource holds one [`Lease`] for its whole life, so
//! `BEGIN` … `COMMIT` across calls runs on one server session. When the lease
//! ends, a connection the guest used is reset before anyone else gets it:
//! any open or failed transaction is rolled back and session state
//! (`SET`, `set_config(.., false)`, role, temp tables, advisory locks,
//! LISTEN) is discarded, in one round trip off the request path. The
//! `ROLLBACK` is sent only when the guest may have left a transaction block
//! open ([`block_after`]): on a session that is not in one it is a WARNING
//! that Postgres writes to its log, once per request otherwise. A
//! connection whose reset fails is closed instead of returned, and so is one
//! whose session a call saw lost ([`Lease::discard`]) — without a reset
//! round trip and without relying on its connection task having noticed.
//! Idle connections that died with the server (restart, crash) are noticed
//! on checkout and replaced, so the pool recovers by itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, QueueMode, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// What a returned connection runs before reuse: session state back to the
/// pool's defaults.
const RESET_SQL: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
                         UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// [`RESET_SQL`] after ending the guest's transaction block, for a session
/// that may be in one (the rest must run outside it).
const ROLLBACK_AND_RESET_SQL: &str = "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
                                      UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// Whether the session may be inside a transaction block after `statement`
/// ran (successfully) on it, given whether it may have been before. Only
/// BEGIN and START open a block, and one statement is one command in the
/// extended protocol, so a guest cannot open one any other way; the plain
/// COMMIT / END / ROLLBACK / ABORT forms end it. Any other transaction
/// control (AND CHAIN, savepoints, PREPARE TRANSACTION) and any statement
/// starting with a comment count as "may be open": a ROLLBACK too many is
/// only a warning, one too few would hand a transaction to the next guest.
pub fn block_after(may_be_open: bool, statement: &str) -> bool {
    let statement = statement.trim();
    let statement = statement.strip_suffix(';').unwrap_or(statement).trim_end();
    if statement.starts_with("--") || statement.starts_with("/*") {
        return true;
    }
    let keyword = &statement[..statement.bytes().take_while(u8::is_ascii_alphabetic).count()];
    let is = |word: &str| keyword.eq_ignore_ascii_case(word);
    if is("commit") || is("end") || is("rollback") || is("abort") {
        // open unless the whole statement is the keyword, optionally with WORK or TRANSACTION
        let mut rest = statement[keyword.len()..].split_ascii_whitespace();
        let plain = match (rest.next(), rest.next()) {
            (None, _) => keyword.len() == statement.len(),
            (Some(word), None) => word.eq_ignore_ascii_case("work") || word.eq_ignore_ascii_case("transaction"),
            _ => false,
        };
        return !plain;
    }
    if is("begin") || is("start") || is("savepoint") || is("release") || is("prepare") {
        return true;
    }
    may_be_open
}

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
            // The connection returned last goes out first: a server session
            // that just ran is hot in the CPU's caches, and a light load
            // keeps reusing one or two sessions instead of cycling through
            // all of them (FIFO made each request run on a session idle for
            // the longest: twice the server's CPU per callback at 1 client).
            .queue_mode(QueueMode::Lifo)
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
        Ok(Lease {
            object: Some(object),
            used: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            in_block: AtomicBool::new(false),
        })
    }
}

/// One pooled connection lent to one guest `connection` resource.
pub struct Lease {
    /// Always `Some` until the lease is dropped.
    object: Option<Object>,
    used: AtomicBool,
    lost: AtomicBool,
    /// The guest may have left a transaction block open ([`block_after`]).
    in_block: AtomicBool,
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

    /// Note that `statement` is about to run: a statement that may open a
    /// transaction block marks the session before it is sent.
    pub fn before(&self, statement: &str) {
        if block_after(false, statement) {
            self.in_block.store(true, Ordering::Relaxed);
        }
    }

    /// Note that `statement` ran successfully (a plain COMMIT ends the block).
    pub fn after(&self, statement: &str) {
        let was = self.in_block.load(Ordering::Relaxed);
        self.in_block.store(block_after(was, statement), Ordering::Relaxed);
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
                let reset = if self.in_block.load(Ordering::Relaxed) { ROLLBACK_AND_RESET_SQL } else { RESET_SQL };
                runtime.spawn(async move {
                    if object.batch_execute(reset).await.is_err() {
                        drop(Object::take(object));
                    }
                });
            }
            Err(_) => drop(Object::take(object)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::block_after;

    #[test]
    fn only_a_plain_end_of_the_block_skips_the_rollback() {
        for opens in ["begin", "BEGIN;", " Begin isolation level serializable", "start transaction", "savepoint a",
                      "release a", "prepare transaction 'x'", "commit and chain", "END AND CHAIN", "rollback to a",
                      "rollback to savepoint a", "-- c\ncommit", "/* c */ commit", "rollback prepared 'x'"] {
            assert!(block_after(false, opens), "{opens:?} may leave a block open");
        }
        for closes in ["commit", "COMMIT;", "  end ", "rollback", "abort", "commit work", "rollback transaction",
                       "end transaction", "commit and no chain"] {
            let expected = closes.contains("no chain");
            assert_eq!(block_after(true, closes), expected, "{closes:?}");
        }
        for neutral in ["select 1", "insert into t values (1)", "do $$ begin perform 1; end $$", "call p()",
                        "set local role x", "beginning", "committed"] {
            assert!(!block_after(false, neutral), "{neutral:?}");
            assert!(block_after(true, neutral), "{neutral:?}");
        }
    }
}
