//! The change reader: one database session that owns a temporary wal2json
//! replication slot (gone with the session, so a stopped or crashed stack
//! never leaves WAL retained behind it) and consumes it continuously, with
//! listeners or without, so the slot never holds WAL back for long.
//!
//! Like supabase/realtime's ReplicationPoller it reads the slot with
//! `pg_logical_slot_get_changes` rather than streaming: between reads it only
//! asks for the flushed WAL position (a cheap query every `poll_interval`)
//! and reads when that moved, since logical decoding never returns WAL that
//! is not flushed yet. Each batch of changes goes to `realtime.apply_rls`
//! together with the bindings on the tables it touches; the database answers
//! which bindings may see which change, and in what shape, and the events go
//! out in commit order. If the session breaks, it is reopened with a new slot
//! (changes committed in between are not delivered, as on Supabase).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Statement};

use crate::hub::Listener;
use crate::protocol;
use crate::{RealtimeConfig, RealtimeError, Shared};

/// Whether the slot exists yet. Creating a logical slot waits for the
/// transactions open in the cluster at that moment to end, however long they
/// take; until then a subscription is not confirmed.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotState {
    Creating,
    Ready,
    Failed(String),
}

/// How long `start` waits for the slot before serving anyway.
const SLOT_WAIT: Duration = Duration::from_secs(5);

struct Session {
    client: Client,
    probe: Statement,
    take: Statement,
    apply: Statement,
}

impl Session {
    async fn connect(config: &RealtimeConfig) -> Result<Session, RealtimeError> {
        let (client, connection) = tokio_postgres::connect(&config.database_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| RealtimeError::Connect(e.to_string()))?;
        tokio::spawn(connection);
        let prepare = |sql: &'static str| client.prepare(sql);
        let probe = prepare("select pg_current_wal_flush_lsn()::text").await;
        let take = prepare("select realtime.take_changes($1, $2, $3)").await;
        let apply = prepare(
            "select change_index, subscription_ids, payload::text from realtime.apply_rls($1::text::jsonb, $2::text::jsonb, $3)",
        )
        .await;
        match (probe, take, apply) {
            (Ok(probe), Ok(take), Ok(apply)) => Ok(Session { client, probe, take, apply }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(RealtimeError::Schema(db_message(&e))),
        }
    }

    /// Create the temporary slot, owned by this session; why not, as the database says.
    async fn take_slot(&self, config: &RealtimeConfig) -> Result<(), String> {
        self.client
            .execute("select 1 from pg_create_logical_replication_slot($1, 'wal2json', true)", &[&config.slot_name])
            .await
            .map(drop)
            .map_err(|e| db_message(&e))
    }

    async fn open(config: &RealtimeConfig) -> Result<Session, RealtimeError> {
        let session = Session::connect(config).await?;
        session.take_slot(config).await.map_err(RealtimeError::Slot)?;
        Ok(session)
    }
}

fn db_message(error: &tokio_postgres::Error) -> String {
    error.as_db_error().map(|db| db.message().to_owned()).unwrap_or_else(|| error.to_string())
}

/// Connect, then create the slot and read in the background until shutdown.
/// Fails when the slot cannot be made (no wal2json, wal_level too low);
/// returns without it after `SLOT_WAIT` when open transactions hold it up.
pub async fn start(shared: Arc<Shared>) -> Result<JoinHandle<()>, RealtimeError> {
    let session = Session::connect(&shared.config).await?;
    let mut state = shared.slot.subscribe();
    let reader = tokio::spawn(run(shared.clone(), session));
    match tokio::time::timeout(SLOT_WAIT, state.wait_for(|s| *s != SlotState::Creating)).await {
        Ok(Ok(state)) => {
            if let SlotState::Failed(reason) = &*state {
                reader.abort();
                return Err(RealtimeError::Slot(reason.clone()));
            }
        }
        Ok(Err(_)) => unreachable!("the slot state lives as long as Shared"),
        Err(_) => tracing::warn!(
            "realtime: the replication slot waits for the transactions open in the database to end; \
             subscriptions are confirmed from then on"
        ),
    }
    Ok(reader)
}

async fn run(shared: Arc<Shared>, mut session: Session) {
    if let Err(reason) = session.take_slot(&shared.config).await {
        shared.slot.send_replace(SlotState::Failed(reason));
        return;
    }
    shared.slot.send_replace(SlotState::Ready);
    loop {
        // `read` owns the session: it is closed (and its slot released) before a new one is opened.
        match read(&shared, session).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "realtime: the change reader lost its session; reopening"),
        }
        let mut backoff = Duration::from_millis(100);
        session = loop {
            tokio::select! {
                () = shared.shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            match Session::open(&shared.config).await {
                Ok(session) => break session,
                Err(error) => {
                    tracing::warn!(%error, "realtime: cannot reopen the change reader");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
    }
}

async fn read(shared: &Shared, session: Session) -> Result<(), tokio_postgres::Error> {
    let config = &shared.config;
    let mut read_up_to = String::new();
    loop {
        if shared.shutdown.is_cancelled() {
            return Ok(());
        }
        let flushed: String = session.client.query_one(&session.probe, &[]).await?.get(0);
        if flushed == read_up_to {
            tokio::select! {
                () = shared.shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(config.limits.poll_interval) => continue,
            }
        }
        let rows = session
            .client
            .query(&session.take, &[&config.slot_name, &config.publication, &config.limits.max_changes_per_poll])
            .await?;
        if rows.len() < config.limits.max_changes_per_poll as usize {
            read_up_to = flushed;
        }
        if rows.is_empty() {
            continue;
        }
        let changes: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        match dispatch(shared, &session, &changes).await {
            Err(error) if error.as_db_error().is_some() => {
                tracing::error!(%error, changes = changes.len(), "realtime: checking a batch of changes failed; it is dropped")
            }
            other => other?,
        }
    }
}

#[derive(Deserialize)]
struct Head {
    schema: String,
    table: String,
}

/// Ask the database who sees `changes` and send them the events.
async fn dispatch(shared: &Shared, session: &Session, changes: &[String]) -> Result<(), tokio_postgres::Error> {
    let tables: HashSet<(String, String)> = changes
        .iter()
        .filter_map(|change| serde_json::from_str::<Head>(change).ok())
        .map(|head| (head.schema, head.table))
        .collect();
    let listeners = shared.hub.listeners();

    // Identical (role, claims, table, event, filters) are checked once; each
    // such subscription maps back to the (listener, binding id) pairs behind it.
    let mut subscriptions: Vec<Value> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut targets: Vec<Vec<(usize, u32)>> = Vec::new();
    for (at, listener) in listeners.iter().enumerate() {
        for binding in listener.bindings.iter().filter(|b| tables.contains(&(b.schema.clone(), b.table.clone()))) {
            let spec = json!({
                "role": listener.role,
                "claims": *listener.claims,
                "schema": binding.schema,
                "table": binding.table,
                "event": binding.event,
                "filters": binding.filters,
            });
            let id = *index.entry(spec.to_string()).or_insert_with(|| {
                let mut spec = spec;
                spec["id"] = Value::from(subscriptions.len());
                subscriptions.push(spec);
                targets.push(Vec::new());
                subscriptions.len() - 1
            });
            targets[id].push((at, binding.id));
        }
    }
    if subscriptions.is_empty() {
        return Ok(());
    }
    let rows = session
        .client
        .query(
            &session.apply,
            &[&format!("[{}]", changes.join(",")), &Value::Array(subscriptions).to_string(), &shared.config.limits.max_record_bytes],
        )
        .await?;
    for row in rows {
        let ids: Vec<i32> = row.get(1);
        let payload: String = row.get(2);
        let mut per_listener: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for id in ids {
            for &(at, binding) in targets.get(id as usize).into_iter().flatten() {
                per_listener.entry(at).or_default().push(binding);
            }
        }
        for (at, mut bindings) in per_listener {
            bindings.sort_unstable();
            bindings.dedup();
            send(&listeners[at], &bindings, &payload);
        }
    }
    Ok(())
}

fn send(listener: &Listener, bindings: &[u32], payload: &str) {
    let body = format!(r#"{{"ids":{},"data":{payload}}}"#, json!(bindings));
    listener.outbox.send(protocol::broadcast_raw(listener.vsn, &listener.topic, "postgres_changes", &body));
}
