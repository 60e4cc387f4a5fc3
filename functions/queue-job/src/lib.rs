//! queue-job: a signed-in user queues a generation job.
//!
//! `POST` the queue-job body (see `ourvidz_edge::bodies::QueueJobBody`),
//! optionally with an `Idempotency-Key` header (the same key returns the same
//! job) → `enqueue_job` → `202 {"job": {...}}`. The SQL function enforces the
//! per-user cap on active jobs (429) and wakes workers (`ourvidz_jobs`).

use ourvidz_edge::bodies::{parse_idempotency_key, parse_queue_job, QueueJobBody};
use ourvidz_edge::host::{serve, Context, SpinResponse};
use ourvidz_edge::response::{self, ApiResponse};
use ourvidz_edge::{sql, EdgeError};
use serde_json::json;
use spin_sdk::http::{Method, Request};

#[spin_sdk::http_service]
async fn handle(req: Request) -> SpinResponse {
    serve(req, &[Method::POST], queue_job).await
}

async fn queue_job(ctx: Context) -> Result<ApiResponse, EdgeError> {
    let user = ctx.caller()?.into_user()?;
    let job = parse_queue_job(ctx.json::<QueueJobBody>()?, user.id)?;
    let idempotency_key = parse_idempotency_key(ctx.header("idempotency-key")?)?;
    let answer = ctx.db().await?.call(user.session(), sql::enqueue_job(&job.to_json(), idempotency_key)).await?;
    let job = answer.get("job").ok_or_else(|| EdgeError::internal("enqueue_job answered without a job"))?;
    Ok(response::json(202, &json!({"job": job})))
}
