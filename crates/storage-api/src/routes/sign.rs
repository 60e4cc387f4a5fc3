//! Signing: `POST /object/sign/{bucket}/{*path}` `{expiresIn}` answers
//! `{"signedURL"}` for one object the caller can see; `POST /object/sign/{bucket}`
//! `{expiresIn, paths}` answers `[{error, path, signedURL}]`, checking every path
//! against RLS in one query, as supabase's getSignedURL(s). The URLs are
//! relative to `/storage/v1`; [`crate::signing`] describes the token.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth;
use crate::db::{self, Deletes};
use crate::error::StorageError;
use crate::extract::{JsonBody, PathParams};
use crate::key::{BucketId, ObjectKey};
use crate::signing::UrlSigner;
use crate::App;

/// Supabase's `MAX_OBJECTS_PER_REQUEST`.
const MAX_PATHS: usize = 1000;
const NOT_ACCESSIBLE: &str = "Either the object does not exist or you do not have access to it";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignOne {
    expires_in: i64,
}

pub async fn sign_one(
    State(app): State<Arc<App>>,
    PathParams((bucket, name)): PathParams<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignOne>,
) -> Result<Json<Value>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let now = auth::now_seconds();
    UrlSigner::check_expires_in(body.expires_in, now)?;
    let bucket = BucketId::parse(&bucket)?;
    let key = ObjectKey::parse(&name)?;
    let mut client = app.pool.get().await?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    db::find_object(&tx, &bucket, &key).await?.ok_or(StorageError::NoSuchKey)?;
    tx.commit().await?;
    let url = app.signer.signed_url(bucket.as_str(), key.as_str(), body.expires_in, now);
    Ok(Json(json!({"signedURL": url})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignMany {
    expires_in: i64,
    paths: Vec<String>,
}

pub async fn sign_many(
    State(app): State<Arc<App>>,
    PathParams(bucket): PathParams<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignMany>,
) -> Result<Json<Vec<Value>>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let now = auth::now_seconds();
    UrlSigner::check_expires_in(body.expires_in, now)?;
    if body.paths.is_empty() || body.paths.len() > MAX_PATHS {
        return Err(StorageError::InvalidRequest(format!("body/paths must have between 1 and {MAX_PATHS} items")));
    }
    let bucket = BucketId::parse(&bucket)?;
    let mut client = app.pool.get().await?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    let visible = db::visible_names(&tx, &bucket, &body.paths).await?;
    tx.commit().await?;
    let items = body
        .paths
        .into_iter()
        .map(|path| {
            // Only valid keys are signed: the download route would refuse the others anyway.
            if visible.contains(&path) && ObjectKey::parse(&path).is_ok() {
                let url = app.signer.signed_url(bucket.as_str(), &path, body.expires_in, now);
                json!({"error": null, "path": path, "signedURL": url})
            } else {
                json!({"error": NOT_ACCESSIBLE, "path": path, "signedURL": null})
            }
        })
        .collect();
    Ok(Json(items))
}
