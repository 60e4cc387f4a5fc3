//! The worker loop: claim → (processing callback, heartbeat, render, upload)
//! → completed/failed callback, with up to `--concurrency` jobs in hand.
//!
//! While the queue is empty it polls with backoff: the wait starts at a tenth
//! of a second and doubles up to `--poll-interval`, and any claimed job
//! resets it. On the shutdown signal it stops claiming and gives the jobs in
//! hand `--shutdown-grace` to finish; jobs cut off then keep their lease until
//! it expires and another worker retries them. `--once` claims until the
//! queue is empty, finishes everything and returns — the form tests use
//! through [`run`].

use crate::api::{Api, CallbackOutcome};
use crate::queue::{Heartbeat, Queue};
use crate::error::WorkerError;
use crate::job::{self, ClaimedJob, RenderSettings};
use crate::options::Options;
use crate::render;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use uuid::Uuid;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Reported `completed`.
    pub completed: u32,
    /// Reported `failed` (the job cannot succeed: bad input, render error).
    pub failed: u32,
    /// Left to their lease: canceled, taken over, or a transient failure
    /// another attempt may overcome.
    pub abandoned: u32,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} completed, {} failed, {} abandoned", self.completed, self.failed, self.abandoned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobOutcome {
    Completed,
    Failed,
    Abandoned,
}

impl Summary {
    fn record(&mut self, joined: Result<JobOutcome, JoinError>) {
        match joined {
            Ok(JobOutcome::Completed) => self.completed += 1,
            Ok(JobOutcome::Failed) => self.failed += 1,
            Ok(JobOutcome::Abandoned) => self.abandoned += 1,
            Err(error) => {
                eprintln!("worker: a job task ended abnormally: {error}");
                self.abandoned += 1;
            }
        }
    }
}

/// The first wait after an empty claim; it doubles up to the poll interval.
const FIRST_IDLE_WAIT: Duration = Duration::from_millis(100);

struct Worker {
    queue: Queue,
    api: Api,
    worker_id: String,
    lease_seconds: u32,
    render: RenderSettings,
}

/// Run the worker until `shutdown` resolves (or, with `--once`, until the
/// queue is empty).
pub async fn run(options: &Options, shutdown: impl Future<Output = ()>) -> Result<Summary, WorkerError> {
    let worker = Arc::new(Worker {
        queue: Queue::new(options.api_base(), &options.service_role_key),
        api: Api::new(options.api_base(), &options.service_role_key)?,
        worker_id: options.worker_id(),
        lease_seconds: options.lease_seconds,
        render: RenderSettings::from(options),
    });
    let poll = Duration::from_secs(options.poll_interval);
    let mut idle_wait = FIRST_IDLE_WAIT;
    let mut in_flight = JoinSet::new();
    let mut summary = Summary::default();
    let mut claim_error = None;
    tokio::pin!(shutdown);

    loop {
        let free = options.concurrency.saturating_sub(in_flight.len() as u32);
        if free > 0 {
            match worker.queue.claim_jobs(&worker.worker_id, free, worker.lease_seconds).await {
                Ok(jobs) => {
                    idle_wait = if jobs.is_empty() { (idle_wait * 2).min(poll) } else { FIRST_IDLE_WAIT };
                    for job in jobs {
                        in_flight.spawn(worker.clone().process(job));
                    }
                }
                Err(error) if options.once => {
                    claim_error = Some(error);
                    break;
                }
                Err(error) => eprintln!("worker: claim_jobs failed: {error}"),
            }
        }
        if options.once && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = in_flight.join_next() => summary.record(joined),
            () = tokio::time::sleep(idle_wait), if !options.once => {}
        }
    }

    finish(&mut in_flight, &mut summary, Duration::from_secs(options.shutdown_grace)).await;
    if let Some(error) = claim_error {
        return Err(error);
    }
    Ok(summary)
}

/// Let the jobs in hand finish within `grace`; abort the rest.
async fn finish(in_flight: &mut JoinSet<JobOutcome>, summary: &mut Summary, grace: Duration) {
    if in_flight.is_empty() {
        return;
    }
    eprintln!("worker: finishing {} job(s) in hand (up to {grace:?})", in_flight.len());
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = in_flight.join_next().await {
            summary.record(joined);
        }
    })
    .await;
    if drained.is_err() {
        eprintln!("worker: {} job(s) cut off; their leases will expire and another worker retries them", in_flight.len());
        summary.abandoned += in_flight.len() as u32;
        in_flight.abort_all();
    }
}

impl Worker {
    async fn process(self: Arc<Self>, job: ClaimedJob) -> JobOutcome {
        match self.api.callback(&job::processing_callback(&job, &self.worker_id)).await {
            Ok(CallbackOutcome::Accepted(_)) => {}
            Ok(CallbackOutcome::Conflict) => {
                eprintln!("worker: job {} is no longer ours (processing callback refused)", job.id);
                return JobOutcome::Abandoned;
            }
            Err(error) => {
                eprintln!("worker: job {}: processing callback failed ({error}); leaving it to its lease", job.id);
                return JobOutcome::Abandoned;
            }
        }
        let (lost_sender, lost) = watch::channel(false);
        let heartbeat = tokio::spawn(self.clone().heartbeat(job.id, lost_sender));
        let rendered = self.render_and_upload(&job, &lost).await;
        heartbeat.abort();

        let body = match &rendered {
            Ok(entries) => job::completed_callback(&job, &self.worker_id, entries),
            Err(error) if *error == WorkerError::LeaseLost || error.is_retryable() => {
                eprintln!("worker: job {}: {error}; stopping without a final callback", job.id);
                return JobOutcome::Abandoned;
            }
            Err(error) => {
                eprintln!("worker: job {} failed: {error}", job.id);
                job::failed_callback(&job, &self.worker_id, error)
            }
        };
        match self.api.callback(&body).await {
            Ok(CallbackOutcome::Accepted(_)) if rendered.is_ok() => JobOutcome::Completed,
            Ok(CallbackOutcome::Accepted(_)) => JobOutcome::Failed,
            Ok(CallbackOutcome::Conflict) => {
                eprintln!("worker: job {}: final callback refused (409); the job is not ours any more", job.id);
                JobOutcome::Abandoned
            }
            Err(error) => {
                eprintln!("worker: job {}: final callback failed ({error}); leaving it to its lease", job.id);
                JobOutcome::Abandoned
            }
        }
    }

    /// Render and upload every asset (thumbnail after its asset), checking
    /// between assets that the lease is still ours.
    async fn render_and_upload(&self, job: &ClaimedJob, lost: &watch::Receiver<bool>) -> Result<Vec<Value>, WorkerError> {
        let reference = match job.reference_object() {
            Some((bucket, name)) => Some(render::fingerprint(&self.api.fetch_reference(bucket, name).await?)),
            None => None,
        };
        let mut entries = Vec::new();
        for index in 0..job.asset_count() {
            if *lost.borrow() {
                return Err(WorkerError::LeaseLost);
            }
            let (claimed, settings) = (job.clone(), self.render);
            let asset = tokio::task::spawn_blocking(move || job::render_asset(&claimed, index, settings, reference))
                .await
                .map_err(|error| WorkerError::Render(error.to_string()))??;
            self.api.upload(&asset.file).await?;
            if let Some(thumbnail) = &asset.thumbnail {
                self.api.upload(thumbnail).await?;
            }
            entries.push(asset.callback_entry);
        }
        if *lost.borrow() {
            return Err(WorkerError::LeaseLost);
        }
        Ok(entries)
    }

    /// Extend the lease every third of it; flag `lost` when the job is
    /// canceled or re-leased.
    async fn heartbeat(self: Arc<Self>, job_id: Uuid, lost: watch::Sender<bool>) {
        let period = Duration::from_secs(u64::from(self.lease_seconds / 3).max(1));
        loop {
            tokio::time::sleep(period).await;
            match self.queue.heartbeat(job_id, &self.worker_id, self.lease_seconds).await {
                Ok(Heartbeat::Extended) => {}
                Ok(Heartbeat::Lost) => {
                    lost.send_replace(true);
                    return;
                }
                Err(error) => eprintln!("worker: heartbeat of job {job_id} failed: {error}"),
            }
        }
    }
}
