//! Read-only bucket routes: `GET /bucket` (with supabase's `limit`, `offset`,
//! `sortColumn`, `sortOrder`, `search` query options) and `GET /bucket/{id}`.
//! Buckets are created by SQL; RLS on `storage.buckets` decides which ones a
//! caller sees (without policies, only `service_role` sees any).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::Order;
use crate::auth;
use crate::db::{self, BucketSort, Deletes};
use crate::error::StorageError;
use crate::extract::{PathParams, QueryParams};
use crate::App;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    sort_column: Option<Column>,
    sort_order: Option<Order>,
    search: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Column {
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Vec<Value>>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    if query.limit.is_some_and(|limit| limit < 1) || query.offset.is_some_and(|offset| offset < 0) {
        return Err(StorageError::InvalidRequest("querystring/limit must be >= 1 and offset >= 0".into()));
    }
    let column = match query.sort_column.unwrap_or(Column::Id) {
        Column::Id => BucketSort::Id,
        Column::Name => BucketSort::Name,
        Column::CreatedAt => BucketSort::CreatedAt,
        Column::UpdatedAt => BucketSort::UpdatedAt,
    };
    let order = query.sort_order.unwrap_or_default().ascending();
    let search = query.search.as_deref().filter(|s| !s.is_empty());
    let mut client = app.pool.get().await?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    let buckets = db::list_buckets(&tx, search, (column, order), (query.limit, query.offset.unwrap_or(0))).await?;
    tx.commit().await?;
    Ok(Json(buckets))
}

pub async fn get(
    State(app): State<Arc<App>>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StorageError> {
    let caller = auth::require(&headers, &app.verifier)?;
    let mut client = app.pool.get().await?;
    let tx = db::begin_as(&mut client, &caller, Deletes::Forbidden).await?;
    let bucket = db::get_bucket(&tx, &id).await?.ok_or(StorageError::NoSuchBucket)?;
    tx.commit().await?;
    Ok(Json(bucket))
}
