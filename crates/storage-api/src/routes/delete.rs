//! Deletes: `DELETE /object/{bucket}` with `{"prefixes": [names…]}` (at most
//! 1000) answers the deleted rows, as supabase's deleteObjects; names the
//! caller may not delete, or that do not exist, are simply not in the answer.
//! `DELETE /object/{bucket}/{*path}` deletes one object.
//!
//! Where this differs from supabase: deleting one object that exists but that
//! RLS does not let the caller delete answers "Object not found", not
//! supabase's "Access denied" — existence must not leak (project rule).
//!
//! Rows go in a transaction allowed to delete (`storage.allow_delete_query`);
//! their files are moved aside while the rows are locked, dropped after the
//! commit, and put back if it fails.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::to_completion;
use crate::auth;
use crate::db::{self, CommitOutcome, Deletes};
use crate::error::StorageError;
use crate::extract::{JsonBody, PathParams};
use crate::files::Trashed;
use crate::key::{BucketId, ObjectKey};
use crate::App;

/// Supabase's `MAX_OBJECTS_PER_REQUEST`.
const MAX_PREFIXES: usize = 1000;

pub async fn one(
    State(app): State<Arc<App>>,
    PathParams((bucket, name)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let bucket = BucketId::parse(&bucket)?;
    let key = ObjectKey::parse(&name)?;
    let path = app.store.object_path(&bucket, &key)?;
    to_completion(async move {
        let mut client = app.pool.get().await?;
        let tx = db::begin_as(&mut client, &caller, Deletes::Allowed).await?;
        let Some(id) = db::delete_object(&tx, &bucket, &key).await? else {
            return Err(StorageError::NoSuchKey);
        };
        let trashed = app.store.trash(&path).await?;
        commit_deletion(&app, tx, vec![id], trashed.into_iter().collect()).await
    })
    .await?;
    Ok(Json(json!({"message": "Successfully deleted"})))
}

#[derive(Deserialize)]
pub struct DeleteMany {
    prefixes: Vec<String>,
}

pub async fn many(
    State(app): State<Arc<App>>,
    PathParams(bucket): PathParams<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DeleteMany>,
) -> Result<Json<Vec<Value>>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    if body.prefixes.is_empty() {
        return Err(StorageError::InvalidRequest("body/prefixes must NOT have fewer than 1 items".into()));
    }
    if body.prefixes.len() > MAX_PREFIXES {
        return Err(StorageError::InvalidRequest(format!(
            "Bulk object requests are limited to {MAX_PREFIXES} objects per request."
        )));
    }
    let bucket = BucketId::parse(&bucket)?;
    let deleted = to_completion(async move {
        let mut client = app.pool.get().await?;
        let tx = db::begin_as(&mut client, &caller, Deletes::Allowed).await?;
        let rows = db::delete_objects(&tx, &bucket, &body.prefixes).await?;
        let mut trashed = Vec::with_capacity(rows.len());
        for (name, _) in &rows {
            // A name that is not a valid key was never written by this API, so it has no file.
            let Ok(key) = ObjectKey::parse(name) else { continue };
            let moved = match app.store.object_path(&bucket, &key) {
                Ok(path) => app.store.trash(&path).await,
                Err(err) => Err(err),
            };
            match moved {
                Ok(file) => trashed.extend(file),
                Err(err) => {
                    for file in trashed {
                        file.restore().await;
                    }
                    return Err(err);
                }
            }
        }
        let ids = rows.iter().filter_map(|(_, row)| row.get("id").and_then(Value::as_str).map(str::to_owned)).collect();
        commit_deletion(&app, tx, ids, trashed).await?;
        Ok(rows.into_iter().map(|(_, row)| row).collect())
    })
    .await?;
    Ok(Json(deleted))
}

/// Commit the deletion of the rows `ids`; then the files are gone for good,
/// or back in place if the commit failed (a commit whose answer was lost is
/// first read back; when that stays unknown the files go back, since a file
/// without its row is recoverable and a row without its file is not).
async fn commit_deletion(
    app: &App,
    tx: deadpool_postgres::Transaction<'_>,
    ids: Vec<String>,
    trashed: Vec<Trashed>,
) -> Result<(), StorageError> {
    let outcome = match tx.commit().await {
        Ok(()) => Ok(()),
        Err(err) => match db::commit_outcome(&app.pool, &err, db::DELETED_ROWS, &[&ids]).await {
            CommitOutcome::Committed => Ok(()),
            CommitOutcome::RolledBack | CommitOutcome::Unknown => Err(err),
        },
    };
    match outcome {
        Ok(()) => {
            for file in trashed {
                file.purge().await;
            }
            Ok(())
        }
        Err(err) => {
            for file in trashed {
                file.restore().await;
            }
            Err(err.into())
        }
    }
}
