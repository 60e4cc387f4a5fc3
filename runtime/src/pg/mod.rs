//! The host side of `spin:postgres/postgres@4.2.0`, on tokio-postgres with
//! pooled connections ([`pool`]) and Spin's value mapping ([`types`]).
//!
//! Both the blocking-style functions (`open`, `query`, `execute`, `build`)
//! and the async ones spin-sdk 7 calls (`open-async`, `query-async`,
//! `execute-async`, `build-async`) are served. Every address is checked
//! against the component's `allowed_outbound_hosts` (scheme `postgres`)
//! before a connection is made. Failures reach the guest as the WIT `error`:
//! pool exhaustion, an unreachable database and a session lost mid-request
//! (the server closed it, the socket failed) as `connection-failed`, so a
//! guest can tell an outage from a bad statement; Postgres errors as a
//! structured `db-error` (SQLSTATE, severity, message, detail and the other
//! fields as `extras`). A lease whose session was lost is discarded, never
//! handed to another guest. Rows of `query-async` are read fully on the host,
//! then streamed to the guest.

// The WIT `error` is the interface's own error type, returned as is.
#![allow(clippy::result_large_err)]

pub mod pool;
pub mod types;

use std::sync::Arc;

use tokio_postgres::types::ToSql;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use crate::bindings::spin::postgres::postgres::{
    self as wit, Column, DbError, Error, ParameterValue, QueryError, RowSet,
};
use crate::outbound::AllowedHosts;
use pool::{Lease, PgPools, RunError};

/// The guest's `connection` resource: one pooled session.
pub struct PgConnection(Arc<Lease>);

/// The guest's `connection-builder` resource.
pub struct PgConnectionBuilder {
    address: String,
}

/// Per-request Postgres state of one store.
pub struct PgState {
    pools: Arc<PgPools>,
    allowed: Arc<AllowedHosts>,
    table: ResourceTable,
}

impl PgState {
    pub fn new(pools: Arc<PgPools>, allowed: Arc<AllowedHosts>) -> PgState {
        PgState { pools, allowed, table: ResourceTable::new() }
    }

    fn lease(&self, connection: &Resource<PgConnection>) -> Result<Arc<Lease>, Error> {
        self.table
            .get(connection)
            .map(|c| c.0.clone())
            .map_err(|e| Error::Other(format!("unknown connection handle: {e}")))
    }

    fn insert(&mut self, lease: Lease) -> wasmtime::Result<Resource<PgConnection>> {
        Ok(self.table.push(PgConnection(Arc::new(lease)))?)
    }
}

/// `HasData` marker for linking `spin:postgres` against a store's [`PgState`].
pub struct Postgres;

impl HasData for Postgres {
    type Data<'a> = &'a mut PgState;
}

/// Refuse addresses outside `allowed_outbound_hosts`, as Spin does: every
/// TCP host of the connection string must be allowed on its port.
fn check_address(allowed: &AllowedHosts, address: &str) -> Result<(), Error> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e: tokio_postgres::Error| Error::ConnectionFailed(format!("invalid connection string: {e}")))?;
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        let host = match host {
            tokio_postgres::config::Host::Tcp(host) => host,
            tokio_postgres::config::Host::Unix(_) => {
                return Err(Error::ConnectionFailed("Unix sockets are not supported on WebAssembly".into()))
            }
        };
        let port = ports
            .get(i)
            .or(if ports.len() == 1 { ports.first() } else { None })
            .copied()
            .unwrap_or(5432);
        if !allowed.allows("postgres", host, port) {
            return Err(Error::ConnectionFailed(format!("address postgres://{host}:{port} is not permitted")));
        }
    }
    Ok(())
}

async fn connect(pools: &PgPools, allowed: &AllowedHosts, address: &str) -> Result<Lease, Error> {
    check_address(allowed, address)?;
    pools.checkout(address).await.map_err(|e| Error::ConnectionFailed(e.to_string()))
}

/// Whether `e` ended the session: the server closed it or the socket failed
/// (no SQLSTATE: Postgres never answered), or the server ended it with a
/// FATAL or PANIC error.
fn session_lost(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => matches!(db.severity(), "FATAL" | "PANIC"),
        None => e.is_closed() || std::error::Error::source(e).is_some_and(|source| source.is::<std::io::Error>()),
    }
}

/// The guest's error for a failed call on `lease`; a lost session is
/// discarded with the lease.
fn query_failed(lease: &Lease, e: tokio_postgres::Error) -> Error {
    let lost = session_lost(&e);
    if lost {
        lease.discard();
    }
    let Some(db) = e.as_db_error() else {
        return if lost {
            Error::ConnectionFailed(format!("the database connection was lost: {e}"))
        } else {
            Error::QueryFailed(QueryError::Text(e.to_string()))
        };
    };
    let mut extras = Vec::new();
    let mut extra = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            extras.push((name.to_owned(), value));
        }
    };
    extra("hint", db.hint().map(str::to_owned));
    extra("schema", db.schema().map(str::to_owned));
    extra("table", db.table().map(str::to_owned));
    extra("column", db.column().map(str::to_owned));
    extra("datatype", db.datatype().map(str::to_owned));
    extra("constraint", db.constraint().map(str::to_owned));
    extra("where", db.where_().map(str::to_owned));
    extra("routine", db.routine().map(str::to_owned));
    Error::QueryFailed(QueryError::DbError(DbError {
        as_text: e.to_string(),
        severity: db.severity().to_owned(),
        code: db.code().code().to_owned(),
        message: db.message().to_owned(),
        detail: db.detail().map(str::to_owned),
        extras,
    }))
}

fn sql_params(params: &[ParameterValue]) -> Result<Vec<types::SqlParam>, Error> {
    params.iter().map(types::to_sql).collect::<Result<_, _>>().map_err(Error::BadParameter)
}

fn param_refs(params: &[types::SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// The guest's error for a failed [`Lease::run`]: a session that could not
/// be reset for it (it is discarded) is an outage to the guest, nothing it
/// did.
fn run_failed(lease: &Lease, e: RunError) -> Error {
    match e {
        RunError::Reset(e) => Error::ConnectionFailed(format!("the pooled database session could not be reset: {e}")),
        RunError::Statement(e) => query_failed(lease, e),
    }
}

async fn execute(lease: &Lease, statement: &str, params: &[ParameterValue]) -> Result<u64, Error> {
    let params = sql_params(params)?;
    // Every API call starts with a plain BEGIN: it goes out with the next statement.
    if params.is_empty() && lease.defer_begin(statement) {
        return Ok(0);
    }
    let refs = param_refs(&params);
    lease.before(statement);
    let count = lease
        .run(statement, |prepared| async move { lease.client().execute(&prepared, &refs).await })
        .await
        .map_err(|e| run_failed(lease, e))?;
    lease.after(statement);
    Ok(count)
}

async fn query(lease: &Lease, statement: &str, params: &[ParameterValue]) -> Result<RowSet, Error> {
    let params = sql_params(params)?;
    let refs = param_refs(&params);
    lease.before(statement);
    let (prepared, rows) = lease
        .run(statement, |prepared| async move {
            let rows = lease.client().query(&prepared, &refs).await?;
            Ok((prepared, rows))
        })
        .await
        .map_err(|e| run_failed(lease, e))?;
    lease.after(statement);
    let columns = prepared
        .columns()
        .iter()
        .map(|c| Column { name: c.name().to_owned(), data_type: types::data_type(c.type_()) })
        .collect();
    let rows = rows
        .iter()
        .map(|row| (0..row.len()).map(|i| types::value(row, i)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::ValueConversionFailed)?;
    Ok(RowSet { columns, rows })
}

impl wit::Host for PgState {}

impl wit::HostConnection for PgState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        match connect(&self.pools, &self.allowed, &address).await {
            Ok(lease) => Ok(Ok(self.insert(lease)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        Ok(match self.lease(&connection) {
            Ok(lease) => query(&lease, &statement, &params).await,
            Err(e) => Err(e),
        })
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(match self.lease(&connection) {
            Ok(lease) => execute(&lease, &statement, &params).await,
            Err(e) => Err(e),
        })
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl wit::HostConnectionBuilder for PgState {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<PgConnectionBuilder>> {
        Ok(self.table.push(PgConnectionBuilder { address })?)
    }

    async fn set_ca_root(
        &mut self,
        _builder: Resource<PgConnectionBuilder>,
        _certificate: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(Error::Other("custom CA roots are not supported: the local runtime connects without TLS".into())))
    }

    async fn build(&mut self, builder: Resource<PgConnectionBuilder>) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let address = self.table.get(&builder)?.address.clone();
        wit::HostConnection::open(self, address).await
    }

    async fn drop(&mut self, builder: Resource<PgConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

/// Open a connection without holding the store across the network wait.
async fn open_with_store<T>(
    accessor: &Accessor<T, Postgres>,
    address: String,
) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
    let (pools, allowed) = accessor.with(|mut access| {
        let state = access.get();
        (state.pools.clone(), state.allowed.clone())
    });
    match connect(&pools, &allowed, &address).await {
        Ok(lease) => accessor.with(|mut access| access.get().insert(lease)).map(Ok),
        Err(e) => Ok(Err(e)),
    }
}

impl<T> wit::HostConnectionWithStore<T> for Postgres {
    async fn open_async(accessor: &Accessor<T, Self>, address: String) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        open_with_store(accessor, address).await
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<(Vec<Column>, StreamReader<Vec<wit::DbValue>>, FutureReader<Result<(), Error>>), Error>> {
        let lease = match accessor.with(|mut access| access.get().lease(&connection)) {
            Ok(lease) => lease,
            Err(e) => return Ok(Err(e)),
        };
        let RowSet { columns, rows } = match query(&lease, &statement, &params).await {
            Ok(set) => set,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows)?;
            let done = FutureReader::new(&mut access, async { Ok::<_, wasmtime::Error>(Ok::<(), Error>(())) })?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let lease = match accessor.with(|mut access| access.get().lease(&connection)) {
            Ok(lease) => lease,
            Err(e) => return Ok(Err(e)),
        };
        Ok(execute(&lease, &statement, &params).await)
    }
}

impl<T> wit::HostConnectionBuilderWithStore<T> for Postgres {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let address = accessor.with(|mut access| access.get().table.get(&builder).map(|b| b.address.clone()))?;
        open_with_store(accessor, address).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_against_the_allow_list() {
        let allowed = AllowedHosts::parse("c", &["postgres://127.0.0.1:54322".to_owned()]).unwrap();
        assert!(check_address(&allowed, "postgresql://postgres:pw@127.0.0.1:54322/postgres").is_ok());
        assert!(check_address(&allowed, "host=127.0.0.1 port=54322 user=postgres").is_ok());
        for denied in [
            "postgresql://postgres@127.0.0.1/postgres",
            "postgresql://postgres@localhost:54322/postgres",
            "host=/var/run/postgresql user=postgres",
            "not a connection string ===",
        ] {
            assert!(matches!(check_address(&allowed, denied), Err(Error::ConnectionFailed(_))), "{denied}");
        }
    }
}
