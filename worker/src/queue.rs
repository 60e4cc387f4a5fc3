//! The worker's queue calls, over HTTP only: `claim_jobs` and
//! `heartbeat_job` through the stack's PostgREST RPC (`POST
//! /rest/v1/rpc/<function>`) with postgrest-rs and the service role key —
//! the same endpoint hosted Supabase serves, so a GPU box needs nothing but
//! the project URL and the key. Transport errors, 5xx and 429 are retried
//! with the backoff every HTTP call of the worker uses ([`crate::api`]).

use crate::api::retry;
use crate::error::WorkerError;
use crate::job::ClaimedJob;
use postgrest::Postgrest;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heartbeat {
    Extended,
    /// Canceled, finished elsewhere, or re-leased to another worker
    /// (`PT409`/`PT404`, answered 409/404): stop working on it.
    Lost,
}

pub struct Queue {
    client: Postgrest,
    key: String,
}

impl Queue {
    /// A client of `{api_base}/rest/v1` acting with the service role key.
    pub fn new(api_base: &str, service_role_key: &str) -> Queue {
        let client = Postgrest::new(format!("{api_base}/rest/v1")).insert_header("apikey", service_role_key);
        Queue { client, key: service_role_key.to_owned() }
    }

    pub async fn claim_jobs(&self, worker_id: &str, max_jobs: u32, lease_seconds: u32) -> Result<Vec<ClaimedJob>, WorkerError> {
        #[derive(Deserialize)]
        struct Claimed {
            #[serde(default)]
            jobs: Vec<ClaimedJob>,
        }
        let args = json!({"worker_id": worker_id, "max_jobs": max_jobs, "lease_seconds": lease_seconds});
        let answer = self.call("claim_jobs", &args).await?;
        let claimed: Claimed = serde_json::from_value(answer)
            .map_err(|error| WorkerError::Api { what: "claim_jobs".into(), status: 200, body: error.to_string() })?;
        Ok(claimed.jobs)
    }

    pub async fn heartbeat(&self, job_id: Uuid, worker_id: &str, lease_seconds: u32) -> Result<Heartbeat, WorkerError> {
        let args = json!({"job_id": job_id, "worker_id": worker_id, "lease_seconds": lease_seconds});
        match self.call("heartbeat_job", &args).await {
            Ok(_) => Ok(Heartbeat::Extended),
            Err(WorkerError::Api { status: 404 | 409, .. }) => Ok(Heartbeat::Lost),
            Err(error) => Err(error),
        }
    }

    /// One RPC with named arguments; its JSON answer, or the status and body as an error.
    async fn call(&self, function: &str, args: &Value) -> Result<Value, WorkerError> {
        retry(function, || async {
            let response = self
                .client
                .rpc(function, args.to_string())
                .auth(&self.key)
                .execute()
                .await
                .map_err(|error| WorkerError::Transport(error.to_string()))?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|error| WorkerError::Transport(error.to_string()))?;
            if !(200..300).contains(&status) {
                let body = text.chars().take(500).collect();
                return Err(WorkerError::Api { what: function.to_owned(), status, body });
            }
            serde_json::from_str(&text).map_err(|error| WorkerError::Api { what: function.to_owned(), status, body: error.to_string() })
        })
        .await
    }
}
