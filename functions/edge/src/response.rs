//! Every response the functions send: JSON with `content-type:
//! application/json` and Supabase's CORS headers, errors as
//! `{"error": {"code", "message"}}`. Built as plain `http::Response<Vec<u8>>`
//! so the shape is unit-tested natively; the Spin adapter only moves the
//! bytes.

use crate::error::{EdgeError, ErrorKind};
use http::{HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

/// A finished response, ready for the Spin adapter.
pub type ApiResponse = http::Response<Vec<u8>>;

/// Supabase's CORS headers for functions (the ones `supabase-js` clients
/// expect from `corsHeaders`).
pub const ALLOW_ORIGIN: &str = "*";
pub const ALLOW_HEADERS: &str = "authorization, x-client-info, apikey, content-type";

/// A JSON response with `status`.
pub fn json(status: u16, body: &Value) -> ApiResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = http::Response::new(body.to_string().into_bytes());
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_cors(response)
}

/// Seconds a client is asked to wait before retrying a 503 (`Retry-After`):
/// long enough for a pooled connection to be replaced after a database restart.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The error body for `error`, with its status; a 503 (a dependency is
/// unavailable) also says when to retry.
pub fn error(error: &EdgeError) -> ApiResponse {
    let mut response = json(error.status(), &json!({"error": {"code": error.code(), "message": error.message}}));
    if error.kind == ErrorKind::Unavailable {
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

/// A 405 that also names the methods served (`Allow`).
pub fn method_not_allowed(error: &EdgeError, allowed: &[Method]) -> ApiResponse {
    let mut response = self::error(error);
    if let Ok(value) = HeaderValue::from_str(&method_list(allowed)) {
        response.headers_mut().insert(http::header::ALLOW, value);
    }
    response
}

/// The answer to a CORS preflight (`OPTIONS`): no body, the CORS headers and
/// the methods served.
pub fn preflight(allowed: &[Method]) -> ApiResponse {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(value) = HeaderValue::from_str(&method_list(allowed)) {
        response.headers_mut().insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    with_cors(response)
}

fn with_cors(mut response: ApiResponse) -> ApiResponse {
    let headers = response.headers_mut();
    headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static(ALLOW_ORIGIN));
    headers.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
    response
}

fn method_list(allowed: &[Method]) -> String {
    allowed.iter().map(Method::as_str).chain(["OPTIONS"]).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_responses_carry_content_type_and_cors() {
        let response = json(202, &json!({"job": {"id": "x"}}));
        assert_eq!(response.status(), 202);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert_eq!(response.headers()["access-control-allow-headers"], ALLOW_HEADERS);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["job"]["id"], "x");
    }

    #[test]
    fn errors_render_as_code_and_message() {
        let response = error(&EdgeError::new(ErrorKind::RateLimited, "too many active jobs"));
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body, json!({"error": {"code": "rate_limited", "message": "too many active jobs"}}));
    }

    #[test]
    fn an_unavailable_dependency_is_a_503_that_says_when_to_retry() {
        let response = error(&EdgeError::unavailable("the database", "connection refused"));
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(error(&EdgeError::new(ErrorKind::RateLimited, "x")).headers().get("retry-after").is_none());
    }

    #[test]
    fn preflight_names_the_methods_and_the_supabase_headers() {
        let response = preflight(&[Method::GET, Method::POST]);
        assert_eq!(response.status(), 204);
        assert_eq!(response.headers()["access-control-allow-methods"], "GET, POST, OPTIONS");
        assert_eq!(
            response.headers()["access-control-allow-headers"],
            "authorization, x-client-info, apikey, content-type"
        );
        assert!(response.body().is_empty());
    }
}
