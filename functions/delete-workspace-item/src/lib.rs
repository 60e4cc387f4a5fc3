//! delete-workspace-item: a signed-in user deletes one workspace asset or a
//! whole job's.
//!
//! `POST`/`DELETE {"asset_id"}` or `{"job_id"}` → `delete_workspace_items` →
//! `200 {"deleted": [ids]}`; nothing of the caller's matched → 404 (raised by
//! the SQL function). The objects and thumbnails go to the storage-deletion
//! outbox in the same transaction; the drainer removes them from Storage.

use ourvidz_edge::bodies::{parse_delete_item, DeleteItem, DeleteItemBody};
use ourvidz_edge::host::{serve, Context, SpinResponse};
use ourvidz_edge::request::methods;
use ourvidz_edge::response::{self, ApiResponse};
use ourvidz_edge::{sql, EdgeError};
use spin_sdk::http::Request;

#[spin_sdk::http_service]
async fn handle(req: Request) -> SpinResponse {
    serve(req, methods::DELETE_WORKSPACE_ITEM, delete_item).await
}

async fn delete_item(ctx: Context) -> Result<ApiResponse, EdgeError> {
    let user = ctx.caller()?.into_user()?;
    let call = match parse_delete_item(ctx.json::<DeleteItemBody>()?)? {
        DeleteItem::Asset(asset_id) => sql::delete_workspace_items(Some(asset_id), None),
        DeleteItem::Job(job_id) => sql::delete_workspace_items(None, Some(job_id)),
    };
    let answer = ctx.db().await?.call(user.session(), call).await?;
    Ok(response::json(200, &answer))
}
