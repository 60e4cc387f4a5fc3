//! Pooled Postgres connections for guests: one deadpool pool per distinct
//! address (a guest names its database by connection string, as on Spin),
//! bounded in size and in how long a guest waits for a free connection.
//!
//! A guest `connection` resource holds one [`Lease`] for its whole life, so
//! `BEGIN` … `COMMIT` across calls runs on one server session. A session a
//! guest used is reset before the next guest's first statement reaches it:
//! session state (`SET`, `set_config(.., false)`, role, temp tables,
//! advisory locks, LISTEN) is discarded by [`RESET_SQL`] — as on Spin, whose
//! pool (deadpool-postgres' `Clean` recycling) resets on checkout too.
//!
//! Round trips are what a guest waits for, so two kinds of statement do not
//! cost one of their own. A plain `BEGIN` ([`is_deferrable_begin`]; every API
//! call starts with one) is answered at once and sent in the same write as
//! the guest's next statement, as pgjdbc does: a plain BEGIN cannot fail
//! where that statement would succeed, and what that statement does runs
//! inside the block. And a statement that opens a block is sent right behind
//! the reset the session owes without waiting for it: if the reset fails, the
//! connection is closed, and the block with it. The connection goes back to
//! the pool the moment its lease ends, and the next request takes that same
//! session, hot in the CPU's caches. (Resetting on return, off the request
//! path, kept it out of the pool just long enough for a client's next
//! request to take another session: alternating between two, plus the reset's
//! own round trip, cost job-callback a fifth to a third of its throughput.)
//! A guest that may have left a transaction block open ([`block_after`])
//! gets its `ROLLBACK` and the reset as soon as the lease ends instead: its
//! locks must not wait for the next guest. (`ROLLBACK` only then: on a
//! session that is not in a block it is a WARNING Postgres writes to its
//! log.) A connection whose reset fails is closed, and the guest that needed
//! it gets `connection-failed`; so is one whose session a call saw lost
//! ([`Lease::discard`]) — without relying on its connection task having
//! noticed. Idle connections that died with the server (restart, crash) are
//! noticed on checkout and replaced, so the pool recovers by itself.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, PoolError, QueueMode, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// What a used session runs before the next guest's first statement: session
/// state back to the pool's defaults.
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
    let keyword = first_keyword(statement);
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

/// One pooled server session.
pub struct Session {
    client: ClientWrapper,
    /// A guest used it since its last reset.
    needs_reset: AtomicBool,
}

impl Deref for Session {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

/// deadpool-postgres' manager (connect; on checkout, a connection whose task
/// saw it close is replaced) for [`Session`]s.
pub struct SessionManager(Manager);

impl managed::Manager for SessionManager {
    type Type = Session;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<Session, tokio_postgres::Error> {
        Ok(Session { client: self.0.create().await?, needs_reset: AtomicBool::new(false) })
    }

    async fn recycle(&self, session: &mut Session, metrics: &Metrics) -> RecycleResult<tokio_postgres::Error> {
        self.0.recycle(&mut session.client, metrics).await
    }

    fn detach(&self, session: &mut Session) {
        self.0.detach(&mut session.client);
    }
}

type Pool = managed::Pool<SessionManager>;
type Object = managed::Object<SessionManager>;

/// Whether `statement` only opens a transaction block (BEGIN or START
/// TRANSACTION, with or without modes): it reads and changes nothing, so it
/// may run on a session whose reset is still in flight.
pub fn is_plain_begin(statement: &str) -> bool {
    let keyword = first_keyword(statement.trim_start());
    keyword.eq_ignore_ascii_case("begin") || keyword.eq_ignore_ascii_case("start")
}

/// Whether `statement` is BEGIN without modes (`BEGIN`, `BEGIN WORK`, `BEGIN
/// TRANSACTION`, `START TRANSACTION`): on a session outside a block it can
/// only fail when the session is lost, so it may wait for the guest's next
/// statement. (A mode can fail on its own: `READ WRITE` on a standby.)
pub fn is_deferrable_begin(statement: &str) -> bool {
    let statement = statement.trim();
    let statement = statement.strip_suffix(';').unwrap_or(statement);
    let mut words = statement.split_ascii_whitespace().map(str::to_ascii_lowercase);
    matches!(
        (words.next().as_deref(), words.next().as_deref(), words.next()),
        (Some("begin"), None | Some("work" | "transaction"), None) | (Some("start"), Some("transaction"), None)
    )
}

/// The letters `statement` starts with (empty when it starts otherwise,
/// e.g. with a comment).
fn first_keyword(statement: &str) -> &str {
    &statement[..statement.bytes().take_while(u8::is_ascii_alphabetic).count()]
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
        let pool = Pool::builder(SessionManager(manager))
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
            begin_deferred: AtomicBool::new(false),
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
    /// The guest ran a plain BEGIN that has not been sent yet
    /// ([`Lease::defer_begin`]).
    begin_deferred: AtomicBool,
}

/// Why [`Lease::run`] failed.
pub enum RunError {
    /// The reset the session owed failed: the session is discarded.
    Reset(tokio_postgres::Error),
    /// The statement (or the deferred BEGIN sent with it) failed.
    Statement(tokio_postgres::Error),
}

impl Lease {
    /// The client, marking the session as needing a reset before reuse.
    pub fn client(&self) -> &tokio_postgres::Client {
        self.used.store(true, Ordering::Relaxed);
        self.object()
    }

    /// `statement` prepared on this session, reused from earlier leases of
    /// the same connection when they ran the same text: a guest's call is one
    /// round trip (bind, execute) instead of two. Prepared statements survive
    /// the reset between leases and hold no data; the server re-plans them
    /// when a session's search_path or the schema differs. A guest that keeps
    /// sending new texts empties the cache rather than growing it.
    pub async fn prepare(&self, statement: &str) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        let object = self.object();
        self.used.store(true, Ordering::Relaxed);
        if object.statement_cache.size() >= MAX_CACHED_STATEMENTS {
            object.statement_cache.clear();
        }
        object.prepare_cached(statement).await
    }

    fn object(&self) -> &Object {
        self.object.as_ref().expect("a lease holds its connection until dropped")
    }

    /// Take a plain BEGIN ([`is_deferrable_begin`]) without sending it: it
    /// goes out with the guest's next statement ([`Lease::run`]). Not when the
    /// session may already be in a block, where the guest's BEGIN is sent as
    /// it is.
    pub fn defer_begin(&self, statement: &str) -> bool {
        if !is_deferrable_begin(statement)
            || self.in_block.load(Ordering::Relaxed)
            || self.begin_deferred.swap(true, Ordering::Relaxed)
        {
            return false;
        }
        true
    }

    /// `call` with `statement` prepared on this session, after what must
    /// reach the session first: the reset it owes from its previous lease and
    /// the guest's deferred BEGIN. Those are sent in the same write as the
    /// statement when it runs inside a block they open (the deferred BEGIN,
    /// or the statement is itself a BEGIN, [`is_plain_begin`]): the server
    /// runs them in order, and if the reset or the BEGIN fails the session is
    /// closed, rolling back whatever the statement did. Any other statement
    /// waits for the reset's answer. (Requests reach the server in the order
    /// they are first polled: a tokio-postgres call sends its request then,
    /// and `join!` is biased to its order.)
    pub async fn run<T, F, Fut>(&self, statement: &str, call: F) -> Result<T, RunError>
    where
        F: FnOnce(tokio_postgres::Statement) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let object = self.object();
        let begin = self.begin_deferred.swap(false, Ordering::Relaxed);
        let reset = object.needs_reset.load(Ordering::Relaxed);
        let statement_call = async {
            let prepared = self.prepare(statement).await?;
            call(prepared).await
        };
        // sent behind the reset and the deferred BEGIN without waiting for them
        let pipelined = begin || (reset && is_plain_begin(statement));
        if !pipelined {
            if reset {
                self.used.store(true, Ordering::Relaxed);
                self.finish_reset(object.batch_execute(RESET_SQL).await)?;
            }
            return statement_call.await.map_err(RunError::Statement);
        }
        self.used.store(true, Ordering::Relaxed);
        if begin {
            self.before("begin");
        }
        let (reset_result, begin_result, result) = tokio::join!(
            biased;
            async { if reset { object.batch_execute(RESET_SQL).await } else { Ok(()) } },
            async { if begin { object.batch_execute("BEGIN").await } else { Ok(()) } },
            statement_call,
        );
        self.finish_reset(reset_result)?;
        if let Err(e) = begin_result {
            self.discard();
            return Err(RunError::Statement(e));
        }
        result.map_err(RunError::Statement)
    }

    /// The session reset (or discarded, when the reset failed).
    fn finish_reset(&self, reset: Result<(), tokio_postgres::Error>) -> Result<(), RunError> {
        match reset {
            Ok(()) => {
                self.object().needs_reset.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.discard();
                Err(RunError::Reset(e))
            }
        }
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
        if !self.in_block.load(Ordering::Relaxed) {
            // back to the pool now; reset before the next guest's first statement
            object.needs_reset.store(true, Ordering::Relaxed);
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if object.batch_execute(ROLLBACK_AND_RESET_SQL).await.is_err() {
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
    use super::{block_after, is_deferrable_begin, is_plain_begin};

    #[test]
    fn only_begin_without_modes_waits_for_the_next_statement() {
        for begin in ["begin", "BEGIN;", "  Begin work ", "begin transaction;", "START TRANSACTION", "begin\n"] {
            assert!(is_deferrable_begin(begin), "{begin:?}");
        }
        for other in ["begin isolation level serializable", "start transaction read write", "begin read only",
                      "start", "begin work work", "beginning", "commit", "-- c\nbegin", "/* c */ begin", "",
                      "begin; select 1", "do $$ begin end $$"] {
            assert!(!is_deferrable_begin(other), "{other:?}");
        }
    }

    #[test]
    fn only_begin_and_start_go_out_with_a_pending_reset() {
        for begin in ["begin", "BEGIN;", "  Begin isolation level serializable", "start transaction read only"] {
            assert!(is_plain_begin(begin), "{begin:?}");
        }
        for other in ["select 1", "beginning", "commit", "-- c\nbegin", "/* c */ begin", "set role x", "", "do $$ begin end $$"] {
            assert!(!is_plain_begin(other), "{other:?}");
        }
    }

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
