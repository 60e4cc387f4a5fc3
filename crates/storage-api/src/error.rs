//! The Storage API's one error type, and its mapping to HTTP.
//!
//! Every failure a handler can meet is a variant here, rendered once by
//! [`IntoResponse`] into supabase/storage's error body
//! `{"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object not found"}`.
//! The values come from `ERRORS` in supabase/storage `src/internal/errors/codes.ts`;
//! like its error handler (`src/http/error-handler.ts`), the HTTP status is 400
//! for every client error (the real status travels in `statusCode`) and 500 for
//! server errors. Postgres errors are classified as in `src/storage/database/errors.ts`,
//! except that a database which cannot be reached — refused or lost connection,
//! a server shutting down or starting up, no free connection — is an outage,
//! not a fault: HTTP 503 with `Retry-After`, at whatever point of the request
//! it happens (before, during, or at commit).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why a request failed. Messages are safe to show to clients; causes that
/// are not (database and I/O details) are logged, not rendered.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("Bucket not found")]
    NoSuchBucket,
    #[error("Object not found")]
    NoSuchKey,
    #[error("Invalid key: {0}")]
    InvalidKey(String),
    #[error("Bucket name invalid")]
    InvalidBucketName,
    /// A create (upload or copy without `x-upsert`) hit an existing name.
    #[error("The resource already exists")]
    KeyAlreadyExists,
    /// Any other unique violation, e.g. a move onto an existing name.
    #[error("The resource already exists")]
    ResourceAlreadyExists,
    /// Missing or refused credentials, or a row-level security `WITH CHECK` refusal.
    #[error("{0}")]
    AccessDenied(String),
    /// The token of a signed URL did not verify.
    #[error("{0}")]
    InvalidJwt(String),
    /// The token of a signed URL verified but is not for this object or action.
    #[error("{0}")]
    InvalidSignature(String),
    #[error("The provided token has expired.")]
    ExpiredToken,
    #[error("The object exceeded the maximum allowed size")]
    EntityTooLarge,
    #[error("mime type {0} is not supported")]
    InvalidMimeType(String),
    /// The request does not have the shape the route expects (what fastify's schema validation rejects).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("Invalid Parameter {0}")]
    InvalidParameter(&'static str),
    /// A foreign key pointed nowhere, e.g. a move or copy into a bucket that does not exist.
    #[error("The related resource does not exist")]
    RelatedResourceNotFound,
    #[error("Route {method}:{uri} not found")]
    RouteNotFound { method: String, uri: String },
    /// The request body stalled for longer than the API waits between two chunks.
    #[error("The request body was not received in time")]
    RequestTimeout,
    /// Postgres failed in a way the client cannot fix; `code` is the SQLSTATE when there is one.
    #[error("database error, code: {code}")]
    Database { code: String },
    /// The database cannot be reached right now; the request may be retried.
    #[error("The database is unavailable, try again later")]
    DatabaseUnavailable,
    /// The filesystem or the runtime failed.
    #[error("Internal server error")]
    Internal,
    /// `router()` could not start: bad configuration, unreachable database, unwritable root.
    #[error("storage API cannot start: {0}")]
    Startup(String),
}

impl StorageError {
    /// `(statusCode, code, error)` of supabase's error body.
    fn parts(&self) -> (u16, &'static str, &'static str) {
        use StorageError::*;
        match self {
            NoSuchBucket => (404, "NoSuchBucket", "Bucket not found"),
            NoSuchKey => (404, "NoSuchKey", "not_found"),
            InvalidKey(_) => (400, "InvalidKey", "InvalidKey"),
            InvalidBucketName => (400, "InvalidBucketName", "Invalid Input"),
            KeyAlreadyExists => (409, "KeyAlreadyExists", "Duplicate"),
            ResourceAlreadyExists => (409, "ResourceAlreadyExists", "Duplicate"),
            AccessDenied(_) => (403, "AccessDenied", "Unauthorized"),
            InvalidJwt(_) => (400, "InvalidJWT", "InvalidJWT"),
            InvalidSignature(_) => (400, "InvalidSignature", "InvalidSignature"),
            ExpiredToken => (400, "ExpiredToken", "ExpiredToken"),
            EntityTooLarge => (413, "EntityTooLarge", "Payload too large"),
            InvalidMimeType(_) => (415, "InvalidMimeType", "invalid_mime_type"),
            InvalidRequest(_) => (400, "InvalidRequest", "Error"),
            InvalidParameter(_) => (400, "InvalidParameter", "InvalidParameter"),
            RelatedResourceNotFound => (404, "InvalidRequest", "InvalidRequest"),
            RouteNotFound { .. } => (404, "InvalidRequest", "Not Found"),
            RequestTimeout => (408, "RequestTimeout", "Request Timeout"),
            Database { .. } => (500, "DatabaseError", "DatabaseError"),
            DatabaseUnavailable => (503, "DatabaseError", "database_unavailable"),
            Internal | Startup(_) => (500, "InternalError", "InternalError"),
        }
    }

    /// Log `cause` (which may hold details not fit for clients) and return the generic server error.
    pub(crate) fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("storage api: {context}: {cause}");
        StorageError::Internal
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let (status_code, code, error) = self.parts();
        let http_status = match (&self, status_code) {
            // Unknown routes are a real 404, as fastify's not-found handler answers.
            (StorageError::RouteNotFound { .. }, _) => StatusCode::NOT_FOUND,
            // A client that stopped sending must see a timeout, not a verdict on its request.
            (StorageError::RequestTimeout, _) => StatusCode::REQUEST_TIMEOUT,
            (StorageError::DatabaseUnavailable, _) => StatusCode::SERVICE_UNAVAILABLE,
            (_, 500) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({
            "statusCode": status_code.to_string(),
            "code": code,
            "error": error,
            "message": self.to_string(),
        });
        let mut response = (http_status, Json(body)).into_response();
        if http_status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// Seconds a client is asked to wait before retrying a 503: long enough for
/// the pool to replace its connections after a database restart.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Whether `err` means the database cannot be reached: the connection was
/// refused, closed or broke (no SQLSTATE: the server never answered), or the
/// server said so — a connection exception (08), shutdown, crash or startup
/// (57P01/57P02/57P03), an idle session cut off (57P05), too many clients (53300).
pub(crate) fn is_unavailable(err: &tokio_postgres::Error) -> bool {
    match err.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "57P05" | "53300")
        }
        None => err.is_closed() || std::error::Error::source(err).is_some_and(|source| source.is::<std::io::Error>()),
    }
}

impl StorageError {
    /// A request body that could not be read: cut off by the idle timeout, or
    /// broken off by the client.
    pub(crate) fn unreadable_body(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause = Some(err);
        while let Some(error) = cause {
            if error.is::<tower_http::timeout::TimeoutError>() {
                return StorageError::RequestTimeout;
            }
            cause = error.source();
        }
        StorageError::InvalidRequest("Request stream closed before upload could complete".into())
    }
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(err: tokio_postgres::Error) -> Self {
        if is_unavailable(&err) {
            tracing::warn!("storage api: database unavailable: {err}");
            return StorageError::DatabaseUnavailable;
        }
        let Some(db) = err.as_db_error() else {
            tracing::error!("storage api: database client error: {err}");
            return StorageError::Database { code: "client".into() };
        };
        match db.code().code() {
            "42501" if db.message().contains("row-level security") => {
                StorageError::AccessDenied("new row violates row-level security policy".into())
            }
            "42501" => StorageError::AccessDenied(db.message().to_owned()),
            "23505" => StorageError::ResourceAlreadyExists,
            "23503" => StorageError::RelatedResourceNotFound,
            // A NUL in text (22021) or jsonb (22P05): the extractors refuse
            // those first; this keeps any path they miss a client error.
            "22021" | "22P05" => StorageError::InvalidRequest("request must not contain NUL characters".into()),
            code => {
                tracing::error!("storage api: database error {code}: {}", db.message());
                StorageError::Database { code: code.to_owned() }
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            // Any failure to connect, whatever the server said, is an outage.
            deadpool_postgres::PoolError::Backend(err) => {
                tracing::warn!("storage api: cannot connect to the database: {err}");
                StorageError::DatabaseUnavailable
            }
            deadpool_postgres::PoolError::Timeout(timeout) => {
                tracing::warn!("storage api: database pool: {timeout:?} timed out");
                StorageError::DatabaseUnavailable
            }
            other => {
                tracing::error!("storage api: database pool: {other}");
                StorageError::Database { code: "pool".into() }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rendered(err: StorageError) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn client_errors_are_http_400_with_the_real_status_in_the_body() {
        let (status, body) = rendered(StorageError::NoSuchKey).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object not found"})
        );
    }

    #[tokio::test]
    async fn duplicates_render_like_supabase() {
        let (_, body) = rendered(StorageError::KeyAlreadyExists).await;
        assert_eq!(body["statusCode"], "409");
        assert_eq!(body["error"], "Duplicate");
        assert_eq!(body["message"], "The resource already exists");
    }

    #[tokio::test]
    async fn server_errors_are_http_500_without_details() {
        let (status, body) = rendered(StorageError::Database { code: "XX000".into() }).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["statusCode"], "500");
        assert_eq!(body["message"], "database error, code: XX000");
    }

    #[tokio::test]
    async fn a_database_that_cannot_be_reached_is_a_503_that_says_when_to_retry() {
        // Nothing listens on port 1: the connection is refused.
        let refused = tokio_postgres::connect("host=127.0.0.1 port=1 user=postgres", tokio_postgres::NoTls)
            .await
            .err()
            .expect("port 1 refuses");
        let err = StorageError::from(refused);
        assert!(matches!(err, StorageError::DatabaseUnavailable), "{err:?}");
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["statusCode"], "503");
        assert_eq!(body["error"], "database_unavailable");
    }

    #[tokio::test]
    async fn unknown_routes_are_a_real_404() {
        let (status, body) =
            rendered(StorageError::RouteNotFound { method: "GET".into(), uri: "/nope".into() }).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["message"], "Route GET:/nope not found");
    }
}
