//! Downloads: `GET /object/authenticated/{bucket}/{*path}` (a token is
//! required), `GET /object/{bucket}/{*path}` (a token is optional: without a
//! valid one only public buckets answer), and `GET /object/sign/{bucket}/{*path}?token=`
//! (the signed URL is the credential). `HEAD` on the same paths answers the
//! headers alone (axum serves HEAD from the GET route and drops the body).
//!
//! As supabase's getObject: a missing bucket, or a private bucket without
//! credentials, is "Bucket not found"; in a private bucket the caller's RLS
//! decides whether the row, and so the object, exists; public buckets and
//! signed URLs read the row as the service itself.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header as h, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::io::ReaderStream;

use crate::auth::{self, Caller};
use crate::db::{self, Deletes};
use crate::error::StorageError;
use crate::extract::{PathParams, QueryParams};
use crate::files;
use crate::key::{BucketId, ObjectKey};
use crate::App;

pub async fn authenticated(
    State(app): State<Arc<App>>,
    PathParams((bucket, name)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    serve(&app, Some(caller), &bucket, &name).await
}

pub async fn optional(
    State(app): State<Arc<App>>,
    PathParams((bucket, name)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, StorageError> {
    let caller = auth::optional(&headers, &app.verifier);
    serve(&app, caller, &bucket, &name).await
}

#[derive(Deserialize)]
pub struct SignedQuery {
    token: String,
}

pub async fn signed(
    State(app): State<Arc<App>>,
    PathParams((bucket, name)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<SignedQuery>,
) -> Result<Response, StorageError> {
    let exp = app.signer.verify(&query.token, &bucket, &name, auth::now_seconds())?;
    let bucket = BucketId::parse(&bucket)?;
    let key = ObjectKey::parse(&name)?;
    let mut client = app.pool.get().await?;
    let tx = client.transaction().await?;
    let (metadata, _) = db::find_object(&tx, &bucket, &key).await?.ok_or(StorageError::NoSuchKey)?;
    tx.commit().await?;
    drop(client);
    let expires = Utc.timestamp_opt(exp, 0).single();
    respond(app.store.object_path(&bucket, &key)?, metadata, expires).await
}

async fn serve(app: &App, caller: Option<Caller>, bucket: &str, name: &str) -> Result<Response, StorageError> {
    let bucket = BucketId::parse(bucket)?;
    let key = ObjectKey::parse(name)?;
    let mut client = app.pool.get().await?;
    let settings = db::find_bucket(&client, &bucket).await?.ok_or(StorageError::NoSuchBucket)?;
    let tx = match (&caller, settings.public) {
        (_, true) => client.transaction().await?,
        (Some(caller), false) => db::begin_as(&mut client, caller, Deletes::Forbidden).await?,
        (None, false) => return Err(StorageError::NoSuchBucket),
    };
    let (metadata, _) = db::find_object(&tx, &bucket, &key).await?.ok_or(StorageError::NoSuchKey)?;
    tx.commit().await?;
    drop(client);
    respond(app.store.object_path(&bucket, &key)?, metadata, None).await
}

/// Stream the file with supabase's asset headers. Length and modification
/// time come from the file itself, type, tag and caching from the row.
/// A signed URL answers with `Expires` instead of `Cache-Control`.
async fn respond(path: PathBuf, metadata: Option<Value>, expires: Option<DateTime<Utc>>) -> Result<Response, StorageError> {
    let file = files::open_object(&path).await?;
    let stat = file.metadata().await.map_err(|e| StorageError::internal("stat object", &e))?;
    if !stat.is_file() {
        return Err(StorageError::NoSuchKey);
    }
    let field = |name: &str| -> Option<HeaderValue> {
        metadata.as_ref()?.get(name)?.as_str().and_then(|value| HeaderValue::from_str(value).ok())
    };
    let mut response = Body::from_stream(ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        h::CONTENT_TYPE,
        field("mimetype").unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(h::CONTENT_LENGTH, HeaderValue::from(stat.len()));
    if let Some(etag) = field("eTag") {
        headers.insert(h::ETAG, etag);
    }
    if let Ok(modified) = stat.modified() {
        headers.insert(h::LAST_MODIFIED, http_date(DateTime::<Utc>::from(modified)));
    }
    match expires {
        Some(expires) => {
            headers.insert(h::EXPIRES, http_date(expires));
        }
        None => {
            headers.insert(h::CACHE_CONTROL, field("cacheControl").unwrap_or(HeaderValue::from_static("no-cache")));
        }
    }
    headers.insert("x-robots-tag", HeaderValue::from_static("none"));
    // The stored mime type is what the uploader claimed; a browser must not
    // second-guess it into HTML or script.
    headers.insert(h::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// RFC 7231 date, what JavaScript's `toUTCString()` prints.
fn http_date(time: DateTime<Utc>) -> HeaderValue {
    let text = time.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}
