//! library-actions: the caller's library — list and search it, organise it.
//!
//! - `GET ?page_size&search&sort&collection_id&in_collection&asset_type&model&is_favorite&visibility&tags_all&tags_any&created_after&created_before&after_created_at&after_id&after_rank&after_match`
//!   → `list_library`, then ONE batch-sign request (user's token,
//!   user-library) for every item file and thumbnail of the page; each item
//!   gains `url` and `thumbnail_url`.
//! - `GET ?view=collections` → `list_collections`, covers signed the same way;
//!   `GET ?view=statistics` → `asset_statistics`.
//! - `POST {"action": "update" | "delete" | "create_collection" |
//!   "update_collection" | "delete_collection", ...}` → the one SQL function
//!   of the action, answered as it answers (per item for batches). Deleted
//!   items' files go to the deletion outbox, which storage-drain empties.

use ourvidz_edge::auth::User;
use ourvidz_edge::host::{send_storage, serve, Context, SpinResponse};
use ourvidz_edge::library::{self, LibraryAction, LibraryView};
use ourvidz_edge::paths::LIBRARY_BUCKET;
use ourvidz_edge::request::methods;
use ourvidz_edge::response::{self, ApiResponse};
use ourvidz_edge::storage::{self, SIGNED_URL_SECONDS};
use ourvidz_edge::EdgeError;
use serde_json::Value;
use spin_sdk::http::{Method, Request};
use std::collections::HashMap;

#[spin_sdk::http_service]
async fn handle(req: Request) -> SpinResponse {
    serve(req, methods::LIBRARY_ACTIONS, library_actions).await
}

async fn library_actions(ctx: Context) -> Result<ApiResponse, EdgeError> {
    let user = ctx.caller()?.into_user()?;
    if ctx.method == Method::GET {
        let call = match library::parse_library_query(&ctx.query_pairs()?)? {
            LibraryView::Items(query) => library::list_library(&query),
            LibraryView::Collections => library::list_collections(),
            LibraryView::Statistics => library::asset_statistics(),
        };
        let mut answer = ctx.db().await?.call(user.session(), call).await?;
        sign(&ctx, &user, &mut answer).await?;
        return Ok(response::json(200, &answer));
    }
    let action = ctx.json::<LibraryAction>()?;
    let answer = ctx.db().await?.call(user.session(), library::action_call(&action)).await?;
    Ok(response::json(200, &answer))
}

/// Sign every file the answer shows in one batch request, with the user's token.
async fn sign(ctx: &Context, user: &User, answer: &mut Value) -> Result<(), EdgeError> {
    let names = library::names_to_sign(answer);
    let urls = if names.is_empty() {
        HashMap::new()
    } else {
        let client = ctx.storage();
        let request = client.sign_batch(ctx.user_credential(user), LIBRARY_BUCKET, &names, SIGNED_URL_SECONDS);
        let (status, body) = send_storage(request).await?;
        storage::read_sign_batch(&client, status, &body)?
    };
    library::attach_urls(answer, &urls);
    Ok(())
}
