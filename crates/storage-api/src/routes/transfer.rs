//! Move and copy: `POST /object/move` and `POST /object/copy` with
//! `{bucketId, sourceKey, destinationKey, destinationBucket?}`, across buckets
//! too, as supabase's moveObject/copyObject.
//!
//! Move renames the row under the caller's RLS (it must see and update the
//! source, and the renamed row must pass the policies' checks; the caller
//! becomes the owner) and renames the file while the row is locked. It answers
//! `{"message", "Id", "Key": <destinationKey>}`. An existing destination is a
//! duplicate.
//!
//! Copy needs read permission on the source and insert (with `x-upsert: true`,
//! insert-or-update) permission on the destination, both checked before the
//! content is copied; it answers `{"Id", "Key": "<bucket>/<key>", ...row}`.
//! `copyMetadata: false` keeps the source's metadata but lets `metadata`
//! override `cacheControl` and `mimetype`, and drops user metadata.
//!
//! Row-level security is asked before the disk: a destination in another
//! user's folder is refused alike whether something is there or not (a blocked
//! path on disk surfaces only for destinations the caller may write).
//!
//! Where this differs from supabase: content entering another bucket must meet
//! that bucket's mime types and size limit (supabase checks them on upload only).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio_postgres::types::ToSql;

use super::{check_mime, creation_error, publish, size_limit, to_completion, wants_upsert, Answer};
use crate::auth;
use crate::db::{self, CommitOutcome, Deletes, ObjectWrite};
use crate::error::StorageError;
use crate::extract::JsonBody;
use crate::key::{BucketId, ObjectKey};
use crate::App;

/// The body both routes take; `metadata` and `copyMetadata` are copy's only.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    bucket_id: String,
    source_key: String,
    destination_key: String,
    destination_bucket: Option<String>,
    metadata: Option<FileMetadata>,
    copy_metadata: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileMetadata {
    cache_control: Option<String>,
    mimetype: Option<String>,
}

/// Parsed `(source bucket, source key, destination bucket, destination key)`.
fn endpoints(body: &Transfer) -> Result<(BucketId, ObjectKey, BucketId, ObjectKey), StorageError> {
    let destination_bucket = body.destination_bucket.as_deref().unwrap_or(&body.bucket_id);
    Ok((
        BucketId::parse(&body.bucket_id)?,
        ObjectKey::parse(&body.source_key)?,
        BucketId::parse(destination_bucket)?,
        ObjectKey::parse(&body.destination_key)?,
    ))
}

fn mimetype_of(metadata: &Map<String, Value>) -> &str {
    metadata.get("mimetype").and_then(Value::as_str).unwrap_or("application/octet-stream")
}

pub async fn move_object(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Transfer>,
) -> Result<Json<Value>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let (from_bucket, from_key, to_bucket, to_key) = endpoints(&body)?;
    let from_path = app.store.object_path(&from_bucket, &from_key)?;
    let to_path = app.store.object_path(&to_bucket, &to_key)?;
    let same_place = from_path == to_path;
    let destination_key = to_key.to_string();
    let id = to_completion(async move {
        let mut client = app.pool.get().await?;
        let destination = match from_bucket == to_bucket {
            true => None,
            false => Some(db::find_bucket(&client, &to_bucket).await?.ok_or(StorageError::NoSuchBucket)?),
        };
        let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
        let (id, metadata) = db::move_object(&tx, (&from_bucket, &from_key), (&to_bucket, &to_key), &caller)
            .await?
            .ok_or(StorageError::NoSuchKey)?;
        if let Some(destination) = destination {
            let metadata = metadata.and_then(|m| m.as_object().cloned()).unwrap_or_default();
            check_mime(mimetype_of(&metadata), &destination, &to_key)?;
            let size = metadata.get("size").and_then(Value::as_u64).unwrap_or(0);
            if size > size_limit(&destination, &to_key, app.max_upload_bytes) {
                return Err(StorageError::EntityTooLarge);
            }
        }
        if same_place {
            tx.commit().await?;
            return Ok(id);
        }
        let placed = app.store.place(&from_path, &to_path, &to_key).await?;
        let Err(err) = tx.commit().await else {
            placed.settle().await;
            return Ok(id);
        };
        let moved = [&id.as_str() as &(dyn ToSql + Sync), &to_bucket.as_str(), &to_key.as_str()];
        match db::commit_outcome(&app.pool, &err, db::MOVED_ROW, &moved).await {
            CommitOutcome::Committed => {
                placed.settle().await;
                Ok(id)
            }
            // Unknown: the file goes back with the row it had before; a
            // committed move would find it there when retried.
            CommitOutcome::RolledBack | CommitOutcome::Unknown => {
                placed.undo().await;
                Err(err.into())
            }
        }
    })
    .await?;
    Ok(Json(json!({"message": "Successfully moved", "Id": id, "Key": destination_key})))
}

pub async fn copy_object(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Transfer>,
) -> Result<Json<Value>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let upsert = wants_upsert(&headers);
    let (from_bucket, from_key, to_bucket, to_key) = endpoints(&body)?;
    let from_path = app.store.object_path(&from_bucket, &from_key)?;
    let to_path = app.store.object_path(&to_bucket, &to_key)?;

    let mut client = app.pool.get().await?;
    let destination = db::find_bucket(&client, &to_bucket).await?.ok_or(StorageError::NoSuchBucket)?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    let (source_metadata, source_user_metadata) =
        db::find_object(&tx, &from_bucket, &from_key).await?.ok_or(StorageError::NoSuchKey)?;
    let mut metadata = source_metadata.and_then(|m| m.as_object().cloned()).unwrap_or_default();
    let copy_metadata = body.copy_metadata.unwrap_or(true);
    if let (false, Some(overrides)) = (copy_metadata, body.metadata) {
        if let Some(cache_control) = overrides.cache_control {
            metadata.insert("cacheControl".into(), Value::from(cache_control));
        }
        if let Some(mimetype) = overrides.mimetype {
            metadata.insert("mimetype".into(), Value::from(mimetype));
        }
    }
    check_mime(mimetype_of(&metadata), &destination, &to_key)?;
    let user_metadata = if copy_metadata { source_user_metadata } else { None };
    let mut object = ObjectWrite::new(to_bucket, to_key, &caller, Value::Object(metadata.clone()), user_metadata);
    db::write_object(&tx, &object, upsert).await.map_err(creation_error)?;
    tx.rollback().await?;
    drop(client);
    // After row-level security, as for uploads: the disk must not tell
    // another user's folder's contents.
    app.store.check_placeable(&to_path, &object.key).await?;

    let content = app.store.copy_to_temp(&from_path, size_limit(&destination, &object.key, app.max_upload_bytes)).await?;
    metadata.insert("eTag".into(), Value::from(content.etag.as_str()));
    metadata.insert("size".into(), Value::from(content.size));
    metadata.insert("contentLength".into(), Value::from(content.size));
    metadata.insert(
        "lastModified".into(),
        Value::from(DateTime::<Utc>::from(content.modified).to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    object.metadata = Value::Object(metadata);
    let location = format!("{}/{}", object.bucket, object.key);
    let row = to_completion(publish(app.clone(), caller, object, upsert, content, to_path, Answer::Row)).await?;
    let mut answer = Map::new();
    answer.insert("Id".into(), row.get("id").cloned().unwrap_or(Value::Null));
    answer.insert("Key".into(), Value::from(location));
    if let Value::Object(fields) = row {
        answer.extend(fields);
    }
    Ok(Json(Value::Object(answer)))
}
