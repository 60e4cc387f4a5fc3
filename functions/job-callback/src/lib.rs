//! job-callback: a worker reports a job's progress (service role only).
//!
//! `POST {"job_id", "status", "worker_id", "assets"?, "error"?}` →
//! `record_job_result` → `200 {"job": {...}, "assets": [{"id", "asset_index"}]}`.
//! The SQL function allows legal transitions only (409 otherwise), answers a
//! repeated callback identically and outboxes objects no row references, so a
//! retried or late worker never duplicates or orphans an asset. The objects
//! themselves were uploaded by the worker before this call.

use ourvidz_edge::bodies::{parse_job_callback, JobCallbackBody};
use ourvidz_edge::host::{serve, Context, SpinResponse};
use ourvidz_edge::request::methods;
use ourvidz_edge::response::{self, ApiResponse};
use ourvidz_edge::{sql, EdgeError};
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handle(req: Request) -> SpinResponse {
    serve(req, methods::JOB_CALLBACK, job_callback).await
}

async fn job_callback(ctx: Context) -> Result<ApiResponse, EdgeError> {
    let service = ctx.caller()?.into_service_role()?;
    let callback = parse_job_callback(ctx.json::<JobCallbackBody>()?)?;
    let answer = ctx.db().await?.call(service.session(), sql::record_job_result(&callback.to_json())).await?;
    if let Some(rejection) = sql::rejected_callback(&answer) {
        return Err(rejection);
    }
    Ok(response::json(200, &answer))
}
