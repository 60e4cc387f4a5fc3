//! `POST /object/list/{bucket}` `{prefix, limit?, offset?, sortBy?, search?}`:
//! one page of a folder, as supabase's listObjects (`storage.search()`), over
//! the rows the caller's RLS lets it see. Folders are entries with a null `id`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::Order;
use crate::auth;
use crate::db::{self, Deletes, SortColumn};
use crate::error::StorageError;
use crate::extract::{JsonBody, PathParams};
use crate::key::BucketId;
use crate::App;

const DEFAULT_LIMIT: i64 = 100;
/// `storage.search()` never answers more rows than this.
const MAX_LIMIT: i64 = 1500;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    prefix: String,
    limit: Option<i64>,
    offset: Option<i64>,
    sort_by: Option<SortBy>,
    search: Option<String>,
}

#[derive(Deserialize)]
pub struct SortBy {
    column: Column,
    #[serde(default)]
    order: Order,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Column {
    Name,
    UpdatedAt,
    CreatedAt,
    LastAccessedAt,
}

pub async fn list(
    State(app): State<Arc<App>>,
    PathParams(bucket): PathParams<String>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<ListRequest>,
) -> Result<Json<Vec<Value>>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let bucket = BucketId::parse(&bucket)?;
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    let offset = request.offset.unwrap_or(0);
    if limit < 1 {
        return Err(StorageError::InvalidRequest("body/limit must be >= 1".into()));
    }
    if offset < 0 {
        return Err(StorageError::InvalidRequest("body/offset must be >= 0".into()));
    }
    // Supabase treats the prefix as a folder.
    let mut prefix = request.prefix;
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let sort = match request.sort_by {
        Some(SortBy { column, order }) => (
            match column {
                Column::Name => SortColumn::Name,
                Column::UpdatedAt => SortColumn::UpdatedAt,
                Column::CreatedAt => SortColumn::CreatedAt,
                Column::LastAccessedAt => SortColumn::LastAccessedAt,
            },
            order.ascending(),
        ),
        None => (SortColumn::Name, true),
    };
    let search = request.search.unwrap_or_default();
    let mut client = app.pool.get().await?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    let entries = db::search_objects(&tx, &bucket, &prefix, &search, (limit.min(MAX_LIMIT), offset), sort).await?;
    tx.commit().await?;
    Ok(Json(entries))
}
