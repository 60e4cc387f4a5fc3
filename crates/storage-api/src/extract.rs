//! Request extractors that fail with the Storage API's error body instead of
//! axum's plain-text rejections: a malformed JSON body, path or query string
//! is an `InvalidRequest`, like a fastify schema-validation failure.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::error::StorageError;

/// A JSON request body.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(StorageError))]
pub struct JsonBody<T>(pub T);

/// Percent-decoded path parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(StorageError))]
pub struct PathParams<T>(pub T);

/// Query-string parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(StorageError))]
pub struct QueryParams<T>(pub T);

impl From<JsonRejection> for StorageError {
    fn from(rejection: JsonRejection) -> Self {
        StorageError::InvalidRequest(rejection.body_text())
    }
}

impl From<PathRejection> for StorageError {
    fn from(rejection: PathRejection) -> Self {
        StorageError::InvalidRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for StorageError {
    fn from(rejection: QueryRejection) -> Self {
        StorageError::InvalidRequest(rejection.body_text())
    }
}
