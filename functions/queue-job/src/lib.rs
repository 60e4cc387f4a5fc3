//! queue-job: a signed-in user queues a generation job.
//!
//! `POST` the queue-job body (see `ourvidz_edge::bodies::QueueJobBody`),
//! optionally with an `Idempotency-Key` header (the same key returns the same
//! job) → `enqueue_job` → `202 {"job": {...}}`. The SQL function checks every
//! value of the body and the key (400), enforces the per-user cap on active
//! jobs (429) and wakes workers (`ourvidz_jobs`).

use ourvidz_edge::bodies::QueueJobBody;
use ourvidz_edge::host::{serve, Context, SpinResponse};
use ourvidz_edge::request::methods;
use ourvidz_edge::response::{self, ApiResponse};
use ourvidz_edge::{sql, EdgeError};
use serde_json::json;
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handle(req: Request) -> SpinResponse {
    serve(req, methods::QUEUE_JOB, queue_job).await
}

async fn queue_job(ctx: Context) -> Result<ApiResponse, EdgeError> {
    let user = ctx.caller()?.into_user()?;
    let body = ctx.json::<QueueJobBody>()?;
    let idempotency_key = ctx.header("idempotency-key")?;
    let answer = ctx.db().await?.call(user.session(), sql::enqueue_job(&body.to_json(), idempotency_key)).await?;
    let job = answer.get("job").ok_or_else(|| EdgeError::internal("enqueue_job answered without a job"))?;
    Ok(response::json(202, &json!({"job": job})))
}
