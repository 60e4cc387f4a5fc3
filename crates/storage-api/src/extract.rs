//! Request extractors that fail with the Storage API's error body instead of
//! axum's plain-text rejections: a malformed JSON body, path or query string
//! is an `InvalidRequest`, like a fastify schema-validation failure.
//!
//! They are also where NUL characters are refused. Postgres cannot store a NUL
//! in `text` (SQLSTATE 22021) nor a `\u0000` in `jsonb` (22P05), so a NUL in any
//! string of a request — a path segment, a query value, anywhere in a JSON body,
//! a form field — is a 400 here, before the database is asked. The
//! [`refuse_nul_in_url`] layer covers paths and query strings of every route,
//! [`JsonBody`] every JSON string (keys included), and
//! [`reject_nul`] the form fields an upload reads.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::StorageError;

/// A JSON request body without NUL characters, of type `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = StorageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(request, state).await?;
        if holds_nul(&value) {
            return Err(nul_error("body"));
        }
        serde_json::from_value(value).map(JsonBody).map_err(|error| StorageError::InvalidRequest(format!("body: {error}")))
    }
}

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
        match rejection {
            JsonRejection::BytesRejection(failed) => StorageError::unreadable_body(&failed),
            other => StorageError::InvalidRequest(other.body_text()),
        }
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

/// Middleware: a request whose path or query string encodes a NUL (`%00`; a
/// raw NUL cannot be in a URI at all) is refused before any route runs.
pub async fn refuse_nul_in_url(request: Request, next: Next) -> Response {
    let uri = request.uri();
    if uri.path().contains("%00") {
        return nul_error("path").into_response();
    }
    if uri.query().is_some_and(|query| query.contains("%00")) {
        return nul_error("querystring").into_response();
    }
    next.run(request).await
}

/// A text value read from a form, refused if it holds a NUL.
pub fn reject_nul<'a>(value: &'a str, field: &str) -> Result<&'a str, StorageError> {
    if value.contains('\0') {
        return Err(nul_error(field));
    }
    Ok(value)
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.iter().any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn nul_error(field: &str) -> StorageError {
    StorageError::InvalidRequest(format!("{field} must not contain NUL characters"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_found_at_any_depth_and_in_keys() {
        assert!(!holds_nul(&json!({"prefix": "a/b", "paths": ["x", "y"], "n": 1})));
        assert!(holds_nul(&json!({"prefix": "a\u{0}b"})));
        assert!(holds_nul(&json!({"paths": ["ok", ["deep", {"x": "\u{0}"}]]})));
        assert!(holds_nul(&json!({"key\u{0}": 1})));
    }

    #[test]
    fn form_values_with_nul_are_refused() {
        assert_eq!(reject_nul("max-age=60", "cacheControl").unwrap(), "max-age=60");
        assert!(matches!(reject_nul("60\u{0}", "cacheControl"), Err(StorageError::InvalidRequest(_))));
    }
}
