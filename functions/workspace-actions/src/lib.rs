//! workspace-actions: the caller's workspace — list it, save to the library,
//! dismiss and restore, discard, clear.
//!
//! - `GET ?page_size&before_created_at&before_job_id` (and the filters
//!   `search`, `asset_type`, `model`, `created_after`, `created_before`,
//!   `include_dismissed`) → `list_workspace`, then ONE batch-sign request
//!   (user's token, workspace-temp) for every asset and thumbnail of the
//!   page; each asset gains `url` and `thumbnail_url`.
//! - `POST {"action": "save", ...}`: `prepare_workspace_save` (allocates
//!   library ids and records a save intent) → Storage copy workspace-temp →
//!   user-library per asset with the user's token (a failed copy puts the
//!   asset in `failed`) → `save_workspace_assets` for the copied ones. The
//!   library row commits only after its object exists, and the temp object
//!   is deleted later through the outbox, so no step can lose an asset; a
//!   copy whose row never commits is removed by the save intent. Each saved
//!   item is answered as the library lists it, with `url` and
//!   `thumbnail_url` (one batch-sign request, user-library).
//! - `dismiss` / `restore` / `clear` → `dismiss_workspace_items` /
//!   `restore_workspace_items` / `clear_workspace` (hide, unhide, hide all:
//!   nothing is deleted); `discard` → `discard_workspace_assets` (rows now,
//!   objects through the outbox, which the storage-drain function empties).

use futures::future::join_all;
use ourvidz_edge::auth::User;
use ourvidz_edge::bodies::{parse_list_query, parse_workspace_action, Target, WorkspaceAction, WorkspaceActionBody};
use ourvidz_edge::host::{send_storage, serve, Context, Db, SpinResponse};
use ourvidz_edge::request::methods;
use ourvidz_edge::paths::{LIBRARY_BUCKET, WORKSPACE_BUCKET};
use ourvidz_edge::library;
use ourvidz_edge::response::{self, ApiResponse};
use ourvidz_edge::storage::{self, StorageFailure, SIGNED_URL_SECONDS};
use ourvidz_edge::workspace::{self, CopyItem};
use ourvidz_edge::{sql, EdgeError};
use serde_json::Value;
use spin_sdk::http::{Method, Request};
use std::collections::HashMap;
use uuid::Uuid;

#[spin_sdk::http_service]
async fn handle(req: Request) -> SpinResponse {
    serve(req, methods::WORKSPACE_ACTIONS, workspace_actions).await
}

async fn workspace_actions(ctx: Context) -> Result<ApiResponse, EdgeError> {
    let caller = ctx.caller()?;
    if ctx.method == Method::GET {
        return list(&ctx, caller.into_user()?).await;
    }
    match parse_workspace_action(ctx.json::<WorkspaceActionBody>()?)? {
        WorkspaceAction::Save { target, collection_id, custom_title, tags } => {
            let save = Save { collection_id, custom_title, tags };
            save.run(&ctx, caller.into_user()?, target).await
        }
        WorkspaceAction::Dismiss { target } => answer(&ctx, caller.into_user()?, sql::dismiss_workspace_items(&target)).await,
        WorkspaceAction::Restore { target } => answer(&ctx, caller.into_user()?, sql::restore_workspace_items(&target)).await,
        WorkspaceAction::Discard { target } => answer(&ctx, caller.into_user()?, sql::discard_workspace_assets(&target)).await,
        WorkspaceAction::Clear => answer(&ctx, caller.into_user()?, sql::clear_workspace()).await,
    }
}

/// An action that is one SQL call, answered as the SQL answers.
async fn answer(ctx: &Context, user: User, call: sql::SqlCall) -> Result<ApiResponse, EdgeError> {
    let answer = ctx.db().await?.call(user.session(), call).await?;
    Ok(response::json(200, &answer))
}

async fn list(ctx: &Context, user: User) -> Result<ApiResponse, EdgeError> {
    let query = parse_list_query(&ctx.query_pairs()?)?;
    let mut page = ctx.db().await?.call(user.session(), sql::list_workspace(&query)).await?;
    let urls = sign(ctx, &user, WORKSPACE_BUCKET, workspace::names_to_sign(&page)).await?;
    workspace::attach_urls(&mut page, &urls);
    Ok(response::json(200, &page))
}

/// Signed URLs for `names` of `bucket`, from one batch request with the user's token.
async fn sign(ctx: &Context, user: &User, bucket: &str, names: Vec<String>) -> Result<HashMap<String, String>, EdgeError> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let client = ctx.storage();
    let request = client.sign_batch(ctx.user_credential(user), bucket, &names, SIGNED_URL_SECONDS);
    let (status, body) = send_storage(request).await?;
    Ok(storage::read_sign_batch(&client, status, &body)?)
}

struct Save {
    collection_id: Option<Uuid>,
    custom_title: Option<String>,
    tags: Option<Vec<String>>,
}

impl Save {
    async fn run(self, ctx: &Context, user: User, target: Target) -> Result<ApiResponse, EdgeError> {
        let db = ctx.db().await?;
        let prepare = sql::prepare_workspace_save(&target, self.collection_id, self.custom_title.as_deref(), self.tags.as_deref());
        let answer = db.call(user.session(), prepare).await?;
        let prepared = workspace::read_prepared(answer, user.id)?;

        let outcomes = join_all(prepared.to_copy.iter().map(|item| copy(ctx, &user, item))).await;
        let mut copied = Vec::new();
        let mut copy_failures = Vec::new();
        for (item, outcome) in prepared.to_copy.iter().zip(outcomes) {
            match outcome {
                Ok(()) => copied.push(item),
                Err(failure) => {
                    eprintln!("copy of asset {} failed: HTTP {}: {}", item.asset_id, failure.status, failure.message);
                    copy_failures.push(workspace::copy_failure(item));
                }
            }
        }
        let saved = self.commit(&db, &user, &copied).await?;
        let mut answer = workspace::save_answer(prepared, copy_failures, saved);
        let urls = sign(ctx, &user, LIBRARY_BUCKET, library::names_to_sign(&answer)).await?;
        library::attach_urls(&mut answer, &urls);
        Ok(response::json(200, &answer))
    }

    /// Step 3 for the copied assets; nothing to commit when every copy failed.
    async fn commit(&self, db: &Db, user: &User, copied: &[&CopyItem]) -> Result<Option<Value>, EdgeError> {
        if copied.is_empty() {
            return Ok(None);
        }
        let call = sql::save_workspace_assets(
            &workspace::save_items(copied),
            self.collection_id,
            self.custom_title.as_deref(),
            self.tags.as_deref(),
        );
        Ok(Some(db.call(user.session(), call).await?))
    }
}

/// Copy an asset (then its thumbnail) into the library, overwriting a copy a
/// previous attempt may have left.
async fn copy(ctx: &Context, user: &User, item: &CopyItem) -> Result<(), StorageFailure> {
    let client = ctx.storage();
    let credential = ctx.user_credential(user);
    let thumbnail = item.thumbnail.as_ref().map(|(source, destination)| (source.as_str(), destination.as_str()));
    for (source, destination) in std::iter::once((item.source_path.as_str(), item.destination_path.as_str())).chain(thumbnail) {
        let request = client.copy(credential, WORKSPACE_BUCKET, source, LIBRARY_BUCKET, destination);
        let (status, body) = send_storage(request).await?;
        storage::read_copy(status, &body)?;
    }
    Ok(())
}
