//! The HTTP side of an incoming request, before any field is looked at:
//! method dispatch (CORS preflight, 405), body size (413), content type (415),
//! JSON syntax versus shape (both 400, with serde's sentence naming the field),
//! header and query-string access. Plain `http` types, so the whole pipeline
//! is tested natively; the Spin adapter only converts to and from them.
//!
//! CORS preflight is the function's own answer, as on Supabase: the gateway
//! forwards `OPTIONS` to the function without checking a token (Supabase's
//! edge runtime skips `verify_jwt` for it), and [`dispatch`] answers it with
//! the methods that function serves ([`methods`]).

use crate::error::{EdgeError, ErrorKind};
use crate::response::{self, ApiResponse};
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

/// Largest request body accepted. The largest legal body (a callback with
/// 100 assets, or a 4000-character prompt with settings) is well under it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The methods each function serves. `OPTIONS`, its CORS preflight, is
/// answered for every function by [`dispatch`], naming these.
pub mod methods {
    use http::Method;

    pub const QUEUE_JOB: &[Method] = &[Method::POST];
    pub const JOB_CALLBACK: &[Method] = &[Method::POST];
    pub const WORKSPACE_ACTIONS: &[Method] = &[Method::GET, Method::POST];
    pub const LIBRARY_ACTIONS: &[Method] = &[Method::GET, Method::POST];
    pub const DELETE_WORKSPACE_ITEM: &[Method] = &[Method::POST, Method::DELETE];
    pub const STORAGE_DRAIN: &[Method] = &[Method::POST];
}

/// Answer `OPTIONS` (CORS preflight) and methods the function does not
/// serve; `None` means the request goes on to the handler.
pub fn dispatch(method: &Method, allowed: &[Method]) -> Option<ApiResponse> {
    if method == Method::OPTIONS {
        return Some(response::preflight(allowed));
    }
    if allowed.contains(method) {
        return None;
    }
    let error = EdgeError::new(ErrorKind::MethodNotAllowed, format!("method {method} is not allowed here"));
    Some(response::method_not_allowed(&error, allowed))
}

/// Refuse a body over [`MAX_BODY_BYTES`] from its declared length, before
/// reading it.
pub fn check_declared_length(headers: &HeaderMap) -> Result<(), EdgeError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => Err(too_large()),
        _ => Ok(()),
    }
}

/// The 413 for a body that grew past the limit while being read.
pub fn too_large() -> EdgeError {
    EdgeError::new(ErrorKind::PayloadTooLarge, format!("request body is larger than {MAX_BODY_BYTES} bytes"))
}

/// Parse a JSON body: the content type must be `application/json` (415),
/// the bytes valid JSON (400) of the expected shape (400).
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, EdgeError> {
    require_json_content_type(headers)?;
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| EdgeError::invalid(format!("request body is not valid JSON: {error}")))?;
    // serde would also accept a struct written as an array of its fields.
    if !value.is_object() {
        return Err(EdgeError::invalid("request body must be a JSON object"));
    }
    T::deserialize(value).map_err(|error| EdgeError::invalid(format!("invalid request body: {error}")))
}

fn require_json_content_type(headers: &HeaderMap) -> Result<(), EdgeError> {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(EdgeError::new(ErrorKind::UnsupportedMediaType, "request body must be application/json"))
    }
}

/// A header's value as visible ASCII, or `None` when absent.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, EdgeError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| EdgeError::invalid(format!("header {name} must be visible ASCII"))),
    }
}

/// The query string as decoded `(name, value)` pairs. Unlike HTML forms,
/// `+` is kept as `+`, so a timestamp offset survives unescaped.
pub fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, EdgeError> {
    let Some(query) = query else { return Ok(Vec::new()) };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, EdgeError> {
    let malformed = || EdgeError::invalid("query string is not properly percent-encoded");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(malformed)?;
            let hex = std::str::from_utf8(hex).map_err(|_| malformed())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| malformed())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        id: u32,
    }

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        headers
    }

    #[test]
    fn preflight_is_answered_without_reaching_the_handler() {
        let response = dispatch(&Method::OPTIONS, &[Method::POST]).unwrap();
        assert!(response.status().is_success());
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }

    #[test]
    fn each_function_answers_preflight_with_exactly_the_methods_it_serves() {
        for (function, allowed, expected) in [
            ("queue-job", methods::QUEUE_JOB, "POST, OPTIONS"),
            ("job-callback", methods::JOB_CALLBACK, "POST, OPTIONS"),
            ("workspace-actions", methods::WORKSPACE_ACTIONS, "GET, POST, OPTIONS"),
            ("library-actions", methods::LIBRARY_ACTIONS, "GET, POST, OPTIONS"),
            ("delete-workspace-item", methods::DELETE_WORKSPACE_ITEM, "POST, DELETE, OPTIONS"),
            ("storage-drain", methods::STORAGE_DRAIN, "POST, OPTIONS"),
        ] {
            let preflight = dispatch(&Method::OPTIONS, allowed).unwrap();
            assert_eq!(preflight.status(), 204, "{function}");
            assert_eq!(preflight.headers()["access-control-allow-methods"], expected, "{function}");
            assert_eq!(preflight.headers()["access-control-allow-origin"], "*", "{function}");
            assert_eq!(
                preflight.headers()["access-control-allow-headers"],
                "authorization, x-client-info, apikey, content-type",
                "{function}"
            );
            // What the preflight names is what the function serves: every
            // listed method reaches the handler, every other one is a 405.
            for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
                let served = dispatch(&method, allowed).is_none();
                assert_eq!(served, expected.split(", ").any(|m| m == method.as_str()), "{function} {method}");
            }
        }
    }

    #[test]
    fn unsupported_method_is_a_json_405_naming_the_allowed_ones() {
        let response = dispatch(&Method::PUT, &[Method::GET, Method::POST]).unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, POST, OPTIONS");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    #[test]
    fn allowed_method_goes_on_to_the_handler() {
        assert!(dispatch(&Method::POST, &[Method::POST]).is_none());
    }

    #[test]
    fn wrong_or_missing_content_type_is_415() {
        let mut headers = HeaderMap::new();
        assert_eq!(json_body::<Probe>(&headers, br#"{"id":1}"#).unwrap_err().status(), 415);
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(json_body::<Probe>(&headers, br#"{"id":1}"#).unwrap_err().status(), 415);
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("Application/JSON"));
        assert_eq!(json_body::<Probe>(&headers, br#"{"id":1}"#).unwrap().id, 1);
    }

    #[test]
    fn malformed_json_is_400() {
        for body in [&b"{"[..], b"", b"not json", b"{\"id\":1,}"] {
            let error = json_body::<Probe>(&json_headers(), body).unwrap_err();
            assert_eq!(error.status(), 400);
            assert!(error.message.starts_with("request body is not valid JSON"), "{}", error.message);
        }
    }

    #[test]
    fn wrong_shape_is_400_naming_the_problem() {
        let error = json_body::<Probe>(&json_headers(), br#"{"id":1,"extra":2}"#).unwrap_err();
        assert_eq!(error.status(), 400);
        assert!(error.message.contains("unknown field `extra`"), "{}", error.message);
        let error = json_body::<Probe>(&json_headers(), br#"{"id":"1"}"#).unwrap_err();
        assert!(error.message.contains("invalid type"), "{}", error.message);
        let error = json_body::<Probe>(&json_headers(), br#"[1]"#).unwrap_err();
        assert_eq!(error.message, "request body must be a JSON object");
    }

    #[test]
    fn oversized_body_is_413_by_declaration_or_size() {
        let mut headers = json_headers();
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(MAX_BODY_BYTES + 1));
        assert_eq!(check_declared_length(&headers).unwrap_err().status(), 413);
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(json_body::<Probe>(&json_headers(), &body).unwrap_err().status(), 413);
    }

    #[test]
    fn query_pairs_are_percent_decoded_keeping_plus() {
        let pairs = query_pairs(Some("a=1&before_created_at=2025-08-30T10:00:00%2B00:00&b=x+y&flag")).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("before_created_at".into(), "2025-08-30T10:00:00+00:00".into()),
                ("b".into(), "x+y".into()),
                ("flag".into(), "".into()),
            ]
        );
        assert_eq!(query_pairs(Some("a=%zz")).unwrap_err().status(), 400);
        assert_eq!(query_pairs(Some("a=%e9")).unwrap_err().status(), 400);
        assert!(query_pairs(None).unwrap().is_empty());
    }
}
