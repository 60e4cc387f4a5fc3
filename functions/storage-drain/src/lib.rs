//! storage-drain: empties the storage-deletion outbox (service role only).
//!
//! Maintenance, not a user action: rows that own objects never delete them in
//! SQL (Supabase forbids deleting `storage.objects`); they record them in
//! `storage_deletion_outbox`, and this function removes them through the
//! Storage API. It runs on a schedule — `ourvidz up` calls it locally, pg_cron
//! + pg_net on hosted Supabase (docs/deploy.md).
//!
//! `POST {"max_items"?}` → `claim_storage_deletions` (leased, so a pass that
//! dies only delays its entries) → per bucket, Storage
//! `DELETE /object/{bucket} {"prefixes"}` (≤ 1000 names) with the service role
//! key → `complete_storage_deletions` for the batches Storage accepted (an
//! object already gone counts as deleted), `fail_storage_deletions` with the
//! reason for the others (retried later with backoff) →
//! `200 {"claimed", "deleted", "failed"}`.

use ourvidz_edge::bodies::StorageDrainBody;
use ourvidz_edge::host::{send_storage, serve, Context, SpinResponse};
use ourvidz_edge::outbox;
use ourvidz_edge::request::methods;
use ourvidz_edge::response::{self, ApiResponse};
use ourvidz_edge::storage;
use ourvidz_edge::{sql, EdgeError};
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handle(req: Request) -> SpinResponse {
    serve(req, methods::STORAGE_DRAIN, drain).await
}

async fn drain(ctx: Context) -> Result<ApiResponse, EdgeError> {
    let service = ctx.caller()?.into_service_role()?;
    let body = ctx.json::<StorageDrainBody>()?;
    let db = ctx.db().await?;
    let session = service.session();
    let batches = outbox::plan_deletions(db.call(session, sql::claim_storage_deletions(body.max_items)).await?)?;
    let claimed = batches.iter().map(|batch| batch.ids.len()).sum();
    let client = ctx.storage();
    let mut deleted_ids = Vec::new();
    let mut failures: Vec<(Vec<i64>, String)> = Vec::new();
    for batch in batches {
        let request = client.delete(ctx.service_credential()?, &batch.bucket, &batch.names);
        let outcome = match send_storage(request).await {
            Ok((status, body)) => storage::read_delete(status, &body),
            Err(failure) => Err(failure),
        };
        match outcome {
            Ok(()) => deleted_ids.extend(batch.ids),
            Err(failure) => {
                let error = format!("HTTP {}: {}", failure.status, failure.message);
                eprintln!("deleting {} objects of {} failed: {error}", batch.ids.len(), batch.bucket);
                failures.push((batch.ids, error));
            }
        }
    }
    let mut deleted = 0;
    if !deleted_ids.is_empty() {
        let answer = db.call(session, sql::complete_storage_deletions(&deleted_ids)).await?;
        deleted = answer.as_u64().unwrap_or(deleted_ids.len() as u64);
    }
    let mut failed = 0;
    for (ids, error) in failures {
        let answer = db.call(session, sql::fail_storage_deletions(&ids, &error)).await?;
        failed += answer.as_u64().unwrap_or(ids.len() as u64);
    }
    Ok(response::json(200, &outbox::drain_answer(claimed, deleted, failed)))
}
