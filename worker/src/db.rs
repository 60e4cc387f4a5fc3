//! The worker's Postgres side: `claim_jobs` and `heartbeat_job`, each in its
//! own transaction as `service_role` (`set_config('role', 'service_role',
//! true)`, as PostgREST would), plus the `LISTEN ourvidz_jobs` wake-up.
//!
//! One connection carries the calls; a mutex keeps concurrent jobs'
//! transactions from interleaving on it, and a dropped connection is
//! reopened on the next call. Results are read as `::text` JSON, the same
//! convention the edge functions use.

use crate::error::WorkerError;
use crate::job::ClaimedJob;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use uuid::Uuid;

/// The channel `enqueue_job` notifies.
pub const JOBS_CHANNEL: &str = "ourvidz_jobs";

const SERVICE_SESSION: &str =
    "select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true)";

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heartbeat {
    Extended,
    /// Canceled, finished elsewhere, or re-leased to another worker
    /// (`PT409`/`PT404`): stop working on it.
    Lost,
}

pub struct Db {
    url: String,
    client: Mutex<Option<Client>>,
}

impl Db {
    /// Connect now, so a wrong URL fails at start-up rather than at the first job.
    pub async fn connect(url: &str) -> Result<Db, WorkerError> {
        let client = open(url).await?;
        Ok(Db { url: url.to_owned(), client: Mutex::new(Some(client)) })
    }

    pub async fn claim_jobs(&self, worker_id: &str, max_jobs: u32, lease_seconds: u32) -> Result<Vec<ClaimedJob>, WorkerError> {
        #[derive(Deserialize)]
        struct Claimed {
            #[serde(default)]
            jobs: Vec<ClaimedJob>,
        }
        let max_jobs = i32::try_from(max_jobs).unwrap_or(i32::MAX);
        let lease_seconds = i32::try_from(lease_seconds).unwrap_or(i32::MAX);
        let answer = self
            .call("select public.claim_jobs($1::text, $2::int, $3::int)::text", &[&worker_id, &max_jobs, &lease_seconds])
            .await?;
        let claimed: Claimed = serde_json::from_value(answer)
            .map_err(|error| WorkerError::Database { sqlstate: None, message: format!("claim_jobs answer: {error}") })?;
        Ok(claimed.jobs)
    }

    pub async fn heartbeat(&self, job_id: Uuid, worker_id: &str, lease_seconds: u32) -> Result<Heartbeat, WorkerError> {
        let job_id = job_id.to_string();
        let lease_seconds = i32::try_from(lease_seconds).unwrap_or(i32::MAX);
        let statement = "select public.heartbeat_job($1::text::uuid, $2::text, $3::int)::text";
        match self.call(statement, &[&job_id, &worker_id, &lease_seconds]).await {
            Ok(_) => Ok(Heartbeat::Extended),
            Err(error) if matches!(error.sqlstate(), Some("PT409" | "PT404")) => Ok(Heartbeat::Lost),
            Err(error) => Err(error),
        }
    }

    async fn call(&self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Value, WorkerError> {
        let mut slot = self.client.lock().await;
        let client = match slot.take() {
            Some(client) if !client.is_closed() => slot.insert(client),
            _ => slot.insert(open(&self.url).await?),
        };
        let transaction = client.transaction().await?;
        transaction.execute(SERVICE_SESSION, &[]).await?;
        let row = transaction.query_one(statement, params).await?;
        let text: Option<String> = row.try_get(0)?;
        transaction.commit().await?;
        match text {
            None => Ok(Value::Null),
            Some(text) => serde_json::from_str(&text)
                .map_err(|error| WorkerError::Database { sqlstate: None, message: format!("answer is not JSON: {error}") }),
        }
    }
}

async fn open(url: &str) -> Result<Client, WorkerError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("worker: database connection closed: {error}");
        }
    });
    Ok(client)
}

/// Wake `wake` on every `NOTIFY ourvidz_jobs` until the task is dropped;
/// reconnects after `retry` when the connection is lost (the poll interval
/// covers the gap).
pub async fn listen(url: String, wake: Arc<Notify>, retry: Duration) {
    loop {
        if let Err(error) = listen_once(&url, &wake).await {
            eprintln!("worker: LISTEN {JOBS_CHANNEL} lost ({error}); polling until it is back");
        }
        tokio::time::sleep(retry).await;
    }
}

async fn listen_once(url: &str, wake: &Notify) -> Result<(), WorkerError> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("listen {JOBS_CHANNEL}");
    let subscribe = client.batch_execute(&statement);
    tokio::pin!(subscribe);
    // The connection must be polled for the LISTEN itself to complete.
    loop {
        tokio::select! {
            done = &mut subscribe => { done?; break; }
            message = messages.next() => match message {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            },
        }
    }
    wake.notify_one();
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(_) = message? {
            wake.notify_one();
        }
    }
    Ok(())
}
