//! Postgres: the pool and the one transaction of each request.
//!
//! A request's transaction starts as PostgREST's does (`Query.hs`,
//! `setPgLocals`): `BEGIN` (read-only for reads and non-volatile calls), then
//! `set_config` of `search_path`, `role`, `request.jwt.claims`,
//! `request.method`, `request.path`, `request.headers` and `request.cookies`,
//! all local to the transaction, so row-level security decides what the
//! statement sees and changes. Statements are prepared once per connection
//! (cached by their text; values are always parameters, so a query shape is
//! prepared once), and the begin, scope and statement go to the server in one
//! pipelined round trip (a read's commit with them).

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};
use tokio_postgres::{NoTls, Row};

use crate::error::RestError;
use crate::sql::Sql;

/// Prepared statements kept per connection before the cache is emptied (query
/// shapes come from clients, so their number is not bounded otherwise).
const STATEMENT_CACHE_LIMIT: usize = 512;

/// The scope statement: PostgREST's `setPgLocals`, one parameter per setting.
const SCOPE: &str = "select set_config('search_path', $1, true), set_config('role', $2, true), \
     set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true), \
     set_config('request.path', $5, true), set_config('request.headers', $6, true), \
     set_config('request.cookies', $7, true)";

/// A parameter sent as text with its type left to Postgres (PostgREST's `unknown` encoder).
#[derive(Debug)]
struct Untyped<'a>(Option<&'a str>);

impl ToSql for Untyped<'_> {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// Build the pool. Connecting is lazy; startup reads the schema cache first, which proves the database is there.
pub fn pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, RestError> {
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| RestError::Startup(format!("database pool: {e}")))
}

/// Who the transaction runs as, and the request settings PostgREST exposes to SQL.
pub struct Scope {
    pub search_path: String,
    pub role: String,
    pub claims: String,
    pub method: String,
    pub path: String,
    pub headers: String,
    pub cookies: String,
}

/// Whether the transaction may write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// What a statement answered, and the planned row count when it was asked for.
pub struct Answer {
    pub row: Row,
    pub planned: Option<i64>,
}

fn params(sql: &Sql) -> Vec<Untyped<'_>> {
    sql.params.iter().map(|p| Untyped(p.as_deref())).collect()
}

fn refs<'a>(params: &'a [Untyped<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// Run `statement` in one transaction scoped to the caller. `check` sees the
/// answer before the transaction ends and may refuse it (the transaction then
/// rolls back, as PostgREST's `condemn`). `explain` is run after the
/// statement when a planned count is wanted.
///
/// The work runs on its own task: a client hanging up must not leave a
/// connection in the pool in the middle of a transaction.
pub async fn run(
    pool: Pool,
    scope: Scope,
    access: Access,
    statement: Sql,
    explain: Option<Sql>,
    check: impl FnOnce(&Row) -> Result<(), RestError> + Send + 'static,
) -> Result<Answer, RestError> {
    tokio::spawn(async move { transaction(&pool, &scope, access, &statement, explain.as_ref(), check).await })
        .await
        .map_err(|e| RestError::internal("request task", &e))?
}

async fn transaction(
    pool: &Pool,
    scope: &Scope,
    access: Access,
    statement: &Sql,
    explain: Option<&Sql>,
    check: impl FnOnce(&Row) -> Result<(), RestError>,
) -> Result<Answer, RestError> {
    let authenticated = scope.role != "anon";
    let db = |e: tokio_postgres::Error| RestError::from_db(e, authenticated);
    let client: Object = pool.get().await.map_err(RestError::from_pool)?;
    if client.statement_cache.size() > STATEMENT_CACHE_LIMIT {
        client.statement_cache.clear();
    }
    let scope_statement = client.prepare_cached(SCOPE).await.map_err(db)?;
    let main = client.prepare_cached(&statement.text).await.map_err(db)?;
    let scope_params = [
        &scope.search_path,
        &scope.role,
        &scope.claims,
        &scope.method,
        &scope.path,
        &scope.headers,
        &scope.cookies,
    ];
    let scope_params: Vec<&(dyn ToSql + Sync)> = scope_params.iter().map(|p| *p as &(dyn ToSql + Sync)).collect();
    let main_params = params(statement);
    let main_refs = refs(&main_params);
    let begin = match access {
        Access::ReadOnly => "begin isolation level read committed read only",
        Access::ReadWrite => "begin isolation level read committed",
    };
    // A read-only transaction ends the same whether it commits or rolls back,
    // so without a planned count its COMMIT joins the pipeline too: one round trip.
    if access == Access::ReadOnly && explain.is_none() {
        let (begun, scoped, answered, committed) = tokio::join!(
            client.batch_execute(begin),
            client.execute(&scope_statement, &scope_params),
            client.query_one(&main, &main_refs),
            client.batch_execute("commit")
        );
        begun.map_err(db)?;
        scoped.map_err(db)?;
        let row = answered.map_err(db)?;
        committed.map_err(db)?;
        check(&row)?;
        return Ok(Answer { row, planned: None });
    }
    // One round trip: the three are queued on the connection in this order.
    let (begun, scoped, answered) =
        tokio::join!(client.batch_execute(begin), client.execute(&scope_statement, &scope_params), client.query_one(&main, &main_refs));
    let outcome = async {
        begun.map_err(db)?;
        scoped.map_err(db)?;
        let row = answered.map_err(db)?;
        let planned = match explain {
            Some(explain) => {
                let explain_params = params(explain);
                let plan = client.query_one(explain.text.as_str(), &refs(&explain_params)).await.map_err(db)?;
                let plan: serde_json::Value = plan.try_get(0).map_err(db)?;
                plan[0]["Plan"]["Plan Rows"].as_f64().map(|rows| rows as i64)
            }
            None => None,
        };
        check(&row)?;
        Ok(Answer { row, planned })
    }
    .await;
    match outcome {
        Ok(answer) => {
            client.batch_execute("commit").await.map_err(db)?;
            Ok(answer)
        }
        Err(err) => {
            if let Err(rollback) = client.batch_execute("rollback").await {
                tracing::warn!("rest api: rollback failed: {rollback}");
            }
            Err(err)
        }
    }
}
