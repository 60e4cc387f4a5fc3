//! Uploads: `POST /object/{bucket}/{*path}` creates an object (or, with
//! `x-upsert: true`, creates or overwrites it) and `PUT` always upserts, as
//! supabase's createObject/updateObject. The raw body is the content,
//! `content-type` its mime type, `cache-control` its caching (multipart form
//! uploads, which supabase also takes, are refused).
//!
//! Everything that can refuse the upload is checked before a byte is read:
//! the bucket's mime types and size (against `content-length`), the path on
//! disk, and the row-level security policies, by writing the row in a
//! transaction that is rolled back (supabase's `canUpload`). The body is then
//! streamed to a temp file under the size cap, and [`publish`] writes the row
//! for real and puts the file in place atomically.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header as h, HeaderMap};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::{check_mime, creation_error, header, publish, size_limit, to_completion, wants_upsert, Answer};
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
    let caller = auth::require(&headers, &app.jwt_secret)?;
    let bucket = BucketId::parse(&bucket)?;
    let key = ObjectKey::parse(&name)?;
    let mimetype = header(&headers, h::CONTENT_TYPE).unwrap_or("application/octet-stream").to_owned();
    // Supabase also accepts multipart forms; this API takes the raw file only,
    // and refuses forms rather than storing their envelope as the object.
    if mimetype.starts_with("multipart/form-data") {
        return Err(StorageError::InvalidRequest("multipart uploads are not supported: send the file as the raw body".into()));
    }
    let cache_control = header(&headers, h::CACHE_CONTROL).unwrap_or("no-cache").to_owned();
    let declared_length = header(&headers, h::CONTENT_LENGTH).and_then(|len| len.parse::<u64>().ok());

    let mut client = app.pool.get().await?;
    let settings = db::find_bucket(&client, &bucket).await?.ok_or(StorageError::NoSuchBucket)?;
    check_mime(&mimetype, &settings, &key)?;
    let limit = size_limit(&settings, &key, app.max_upload_bytes);
    if declared_length.is_some_and(|length| length > limit) {
        return Err(StorageError::EntityTooLarge);
    }
    let path = app.store.object_path(&bucket, &key)?;
    app.store.check_placeable(&path, &key).await?;

    let mut object =
        ObjectWrite::new(bucket, key, &caller, json!({"mimetype": mimetype, "contentLength": declared_length}), None);
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    db::write_object(&tx, &object, upsert).await.map_err(creation_error)?;
    tx.rollback().await?;
    // The connection goes back to the pool while the body streams in.
    drop(client);

    let content = app.store.receive(body, limit).await?;
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
