//! Uploads: `POST /object/{bucket}/{*path}` creates an object (or, with
//! `x-upsert: true`, creates or overwrites it) and `PUT` always upserts, as
//! supabase's createObject/updateObject. The content is the raw body or the
//! file part of a `multipart/form-data` form, described as [`Incoming`] says.
//!
//! Everything that can refuse the upload is checked before the file's first
//! byte is read: the bucket's mime types and size (against a raw body's
//! `content-length`), the row-level security policies, by writing the row in a
//! transaction that is rolled back (supabase's `canUpload`), and then the path
//! on disk. Row-level security comes first, so another user's folder answers
//! the same whether or not anything is in it. The file is then streamed to a temp file under the size cap,
//! and [`publish`] writes the row for real and puts the file in place atomically.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::incoming::Incoming;
use super::{check_mime, creation_error, publish, size_limit, to_completion, wants_upsert, Answer};
use crate::auth;
use crate::db::{self, Deletes, ObjectWrite};
use crate::error::StorageError;
use crate::extract::PathParams;
use crate::key::{BucketId, ObjectKey};
use crate::App;

pub async fn create(
    State(app): State<Arc<App>>,
    PathParams((bucket, name)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, StorageError> {
    let upsert = wants_upsert(&headers);
    upload(app, headers, bucket, name, body, upsert).await
}

pub async fn update(
    State(app): State<Arc<App>>,
    PathParams((bucket, name)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, StorageError> {
    upload(app, headers, bucket, name, body, true).await
}

async fn upload(
    app: Arc<App>,
    headers: HeaderMap,
    bucket: String,
    name: String,
    body: Body,
    upsert: bool,
) -> Result<Json<Value>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let bucket = BucketId::parse(&bucket)?;
    let key = ObjectKey::parse(&name)?;
    let settings = db::find_bucket(&*app.pool.get().await?, &bucket).await?.ok_or(StorageError::NoSuchBucket)?;
    let limit = size_limit(&settings, &key, app.max_upload_bytes);
    // No database connection is held while a form's head is read from the client.
    let incoming = Incoming::read(&headers, body, limit).await?;
    check_mime(&incoming.mimetype, &settings, &key)?;
    if incoming.known_size().is_some_and(|size| size > limit) {
        return Err(StorageError::EntityTooLarge);
    }
    let path = app.store.object_path(&bucket, &key)?;

    let Incoming { mimetype, cache_control, declared_length, content } = incoming;
    let mut object =
        ObjectWrite::new(bucket, key, &caller, json!({"mimetype": mimetype, "contentLength": declared_length}), None);
    let mut client = app.pool.get().await?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    db::write_object(&tx, &object, upsert).await.map_err(creation_error)?;
    tx.rollback().await?;
    // The connection goes back to the pool while the body streams in.
    drop(client);
    // Only now, with row-level security passed, may the disk say what is
    // there: before, a blocked path in another user's folder would answer
    // differently from a free one and tell that their objects exist.
    app.store.check_placeable(&path, &object.key).await?;

    let content = app.store.receive(content.into_stream(), limit).await?;
    object.metadata = json!({
        "eTag": content.etag,
        "size": content.size,
        "mimetype": mimetype,
        "cacheControl": cache_control,
        "lastModified": DateTime::<Utc>::from(content.modified).to_rfc3339_opts(SecondsFormat::Millis, true),
        "contentLength": content.size,
        "httpStatusCode": 200,
    });
    let location = format!("{}/{}", object.bucket, object.key);
    let id = to_completion(publish(app.clone(), caller, object, upsert, content, path, Answer::Id)).await?;
    Ok(Json(json!({"Id": id, "Key": location})))
}
