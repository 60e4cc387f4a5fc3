//! The database side of Realtime apart from the change reader: the pool, the
//! `realtime` schema (sql/realtime.sql, installed at every start) and the
//! check that resolves a postgres_changes subscription to tables.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use crate::params::ChangeParams;
use crate::RealtimeError;

const SCHEMA: &str = include_str!("../sql/realtime.sql");

/// Serialises concurrent installs of the schema (`create or replace function`
/// from two sessions at once fails with "tuple concurrently updated").
const INSTALL_LOCK: i64 = 0x7265_616c_7469_6d65; // "realtime"

pub fn pool(database_url: &str) -> Result<Pool, RealtimeError> {
    let config: tokio_postgres::Config = database_url.parse().map_err(|e: tokio_postgres::Error| RealtimeError::Connect(e.to_string()))?;
    let manager = Manager::from_config(config, tokio_postgres::NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager).max_size(4).build().map_err(|e| RealtimeError::Connect(e.to_string()))
}

pub async fn install_schema(pool: &Pool) -> Result<(), RealtimeError> {
    let mut client = pool.get().await.map_err(|e| RealtimeError::Connect(e.to_string()))?;
    let tx = client.transaction().await.map_err(|e| RealtimeError::Schema(e.to_string()))?;
    tx.execute("select pg_advisory_xact_lock($1)", &[&INSTALL_LOCK]).await.map_err(|e| RealtimeError::Schema(e.to_string()))?;
    tx.batch_execute(SCHEMA).await.map_err(|e| RealtimeError::Schema(e.to_string()))?;
    tx.commit().await.map_err(|e| RealtimeError::Schema(e.to_string()))
}

/// Why a subscription cannot be made; the text is Supabase's and goes to the client.
#[derive(Debug)]
pub struct SubscribeError(pub String);

/// The published tables `params` covers for `role`, as (schema, table) pairs.
pub async fn subscription_tables(
    pool: &Pool,
    publication: &str,
    role: &str,
    params: &ChangeParams,
) -> Result<Vec<(String, String)>, SubscribeError> {
    let client = pool.get().await.map_err(|e| SubscribeError(format!("Realtime was unable to connect to the project database: {e}")))?;
    let filters = serde_json::to_string(&params.filters).expect("filters serialise");
    let rows = client
        .query(
            "select schema_name::text, table_name::text from realtime.subscription_tables($1, $2, $3, $4, $5::text::jsonb)",
            &[&publication, &role, &params.schema, &params.table, &filters],
        )
        .await
        .map_err(|e| {
            let reason = e.as_db_error().map(|db| db.message().to_owned()).unwrap_or_else(|| e.to_string());
            SubscribeError(format!(
                "Unable to subscribe to changes with given parameters. An exception happened so please check your connect parameters: [{}]. Exception: {reason}",
                params.describe()
            ))
        })?;
    if rows.is_empty() {
        return Err(SubscribeError(format!(
            "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [{}]",
            params.describe()
        )));
    }
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}
