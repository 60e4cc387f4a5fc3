//! The HTTP surface: routes relative to `/storage/v1`, and what several of
//! them share — running a write to completion, publishing new content with
//! its row, and a bucket's limits.

mod bucket;
mod delete;
mod download;
mod incoming;
mod list;
mod sign;
mod transfer;
mod upload;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::auth::Caller;
use crate::db::{self, BucketInfo, CommitOutcome, Deletes, ObjectWrite};
use crate::error::StorageError;
use crate::extract;
use crate::files::Written;
use crate::key::ObjectKey;
use crate::App;

/// The routes. A request body that stalls for `body_idle_timeout` between two
/// chunks is cut off (408): a client trickling bytes, or stopping mid-body,
/// cannot hold a connection and a temp file forever, while a slow but moving
/// upload of a large file goes on.
pub fn build(app: Arc<App>, body_idle_timeout: Duration) -> Router {
    Router::new()
        .route("/bucket", get(bucket::list))
        .route("/bucket/{id}", get(bucket::get))
        .route("/object/move", post(transfer::move_object))
        .route("/object/copy", post(transfer::copy_object))
        .route("/object/list/{bucket}", post(list::list))
        .route("/object/sign/{bucket}", post(sign::sign_many))
        .route("/object/sign/{bucket}/{*path}", post(sign::sign_one).get(download::signed))
        .route("/object/authenticated/{bucket}/{*path}", get(download::authenticated))
        .route("/object/{bucket}", delete(delete::many))
        .route(
            "/object/{bucket}/{*path}",
            post(upload::create).put(upload::update).get(download::optional).delete(delete::one),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn(extract::refuse_nul_in_url))
        .layer(RequestBodyTimeoutLayer::new(body_idle_timeout))
        .with_state(app)
}

/// Supabase's not-found handler answers unknown routes and methods alike.
async fn not_found(method: Method, uri: Uri) -> StorageError {
    StorageError::RouteNotFound { method: method.to_string(), uri: uri.to_string() }
}

/// `asc`/`desc`, as list routes accept them.
#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum Order {
    #[default]
    Asc,
    Desc,
}

impl Order {
    fn ascending(self) -> bool {
        matches!(self, Order::Asc)
    }
}

/// A header's value as text, when present and printable.
fn header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `x-upsert: true` asks a create to overwrite an existing object.
fn wants_upsert(headers: &HeaderMap) -> bool {
    header(headers, "x-upsert") == Some("true")
}

/// Run `work` on its own task, so that a client hanging up cannot cancel it
/// between moving files and learning whether the transaction committed.
async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, StorageError>> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::spawn(work).await.map_err(|e| StorageError::internal("storage task", &e))?
}

/// Creating over an existing name is supabase's `KeyAlreadyExists` (createObject), not the generic duplicate.
fn creation_error(err: StorageError) -> StorageError {
    match err {
        StorageError::ResourceAlreadyExists => StorageError::KeyAlreadyExists,
        other => other,
    }
}

/// The most bytes `bucket` takes under `key`: the bucket's and the API's caps;
/// supabase caps folder placeholders at 0 bytes.
fn size_limit(bucket: &BucketInfo, key: &ObjectKey, max_upload_bytes: u64) -> u64 {
    if key.is_empty_folder_placeholder() {
        return 0;
    }
    match bucket.file_size_limit {
        Some(limit) => u64::try_from(limit).unwrap_or(0).min(max_upload_bytes),
        None => max_upload_bytes,
    }
}

/// Supabase's `validateMimeType`: `type/subtype` must equal an allowed entry or
/// match a `type/*` one. No list means anything goes; placeholders are exempt.
fn check_mime(mimetype: &str, bucket: &BucketInfo, key: &ObjectKey) -> Result<(), StorageError> {
    if bucket.allowed_mime_types.is_empty() || key.is_empty_folder_placeholder() {
        return Ok(());
    }
    let mut requested = mimetype.split('/');
    let (Some(kind), Some(subtype)) = (requested.next(), requested.next()) else {
        return Err(StorageError::InvalidMimeType(mimetype.to_owned()));
    };
    let allowed = bucket.allowed_mime_types.iter().any(|entry| {
        let mut allowed = entry.split('/');
        allowed.next() == Some(kind) && matches!(allowed.next(), Some(sub) if sub == "*" || sub == subtype)
    });
    if allowed {
        Ok(())
    } else {
        Err(StorageError::InvalidMimeType(mimetype.to_owned()))
    }
}

/// What [`publish`] answers with.
enum Answer {
    /// The row's id (uploads: a plain insert needs no SELECT permission).
    Id,
    /// The whole row (copies answer with it, as supabase does).
    Row,
}

/// Make `content` the object `object` describes, atomically: in one transaction
/// as `caller`, write the row (RLS decides), rename the file into place while
/// the row is locked, then commit; if the commit fails the file is moved back
/// and any previous content restored (a commit whose answer was lost is first
/// read back: see [`db::commit_outcome`]). `content` removes itself when dropped,
/// so every failure leaves neither a new file nor a new row.
async fn publish(
    app: Arc<App>,
    caller: Caller,
    object: ObjectWrite,
    upsert: bool,
    content: Written,
    path: PathBuf,
    answer: Answer,
) -> Result<Value, StorageError> {
    let mut client = app.pool.get().await?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    let answer = match answer {
        Answer::Id => Value::from(db::write_object(&tx, &object, upsert).await.map_err(creation_error)?),
        Answer::Row => db::write_object_returning_row(&tx, &object, upsert).await.map_err(creation_error)?,
    };
    let placed = app.store.place(content.path(), &path, &object.key).await?;
    let Err(err) = tx.commit().await else {
        placed.settle().await;
        return Ok(answer);
    };
    let written = [&object.bucket.as_str() as &(dyn ToSql + Sync), &object.key.as_str(), &object.version()];
    match db::commit_outcome(&app.pool, &err, db::WROTE_VERSION, &written).await {
        CommitOutcome::Committed => {
            placed.settle().await;
            Ok(answer)
        }
        CommitOutcome::RolledBack => {
            placed.undo().await;
            Err(err.into())
        }
        // Keep the new content: a retry overwrites it, while moving it away
        // could leave a committed row without its file.
        CommitOutcome::Unknown => {
            placed.settle().await;
            Err(err.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(limit: Option<i64>, mimes: &[&str]) -> BucketInfo {
        BucketInfo {
            public: false,
            file_size_limit: limit,
            allowed_mime_types: mimes.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::parse(name).unwrap()
    }

    #[test]
    fn mime_types_match_exactly_or_by_wildcard() {
        let images = bucket(None, &["image/*", "video/mp4"]);
        assert!(check_mime("image/png", &images, &key("a")).is_ok());
        assert!(check_mime("video/mp4", &images, &key("a")).is_ok());
        assert!(check_mime("video/webm", &images, &key("a")).is_err());
        assert!(check_mime("text/plain", &images, &key("a")).is_err());
        assert!(check_mime("image", &images, &key("a")).is_err());
        assert!(check_mime("text/plain", &bucket(None, &[]), &key("a")).is_ok());
        assert!(check_mime("text/plain", &images, &key("f/.emptyFolderPlaceholder")).is_ok());
    }

    #[test]
    fn size_limit_is_the_smaller_cap() {
        assert_eq!(size_limit(&bucket(Some(10), &[]), &key("a"), 100), 10);
        assert_eq!(size_limit(&bucket(Some(1000), &[]), &key("a"), 100), 100);
        assert_eq!(size_limit(&bucket(None, &[]), &key("a"), 100), 100);
        assert_eq!(size_limit(&bucket(Some(-1), &[]), &key("a"), 100), 0);
        assert_eq!(size_limit(&bucket(None, &[]), &key("f/.emptyFolderPlaceholder"), 100), 0);
    }
}
