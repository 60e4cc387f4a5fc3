//! Supabase's gateway rules in front of the functions: `verify_jwt` per
//! function from `supabase/config.toml`, and the JSON error answers the host
//! itself gives.
//!
//! CORS is the function's business, as on Supabase: a preflight (`OPTIONS`)
//! is forwarded to the function without a token check — Supabase's edge
//! runtime skips `verify_jwt` for `OPTIONS` (supabase/cli,
//! `functions/serve/templates/main.ts`) — and the function's answers pass
//! through untouched. (The Supabase CLI's local Kong additionally runs its
//! `cors` plugin on `/functions/v1/`, which answers a browser preflight itself
//! with every method allowed; hosted projects do not, so a function that
//! forgets `OPTIONS` works under `supabase start` and fails in production.
//! This gateway follows the hosted behaviour.) Only the gateway's own error
//! answers carry `access-control-allow-origin: *`, so a browser can read why
//! it was refused.
//!
//! The Supabase services behind the gateway get CORS as Supabase's Kong gives
//! it to them ([`service_cors`]): supabase/storage leaves CORS to Kong ("kong
//! should take care of cors", `src/app.ts`), and so do Realtime and Auth.
//! `/rest/v1` answers CORS itself, as PostgREST does (crates/rest-api).
//!
//! Tokens are checked with the project's `ourvidz_jwt::Verifier` (the HS256
//! secret and the JWKS's ES256/RS256 keys) and read with the project's one
//! Bearer parser, `ourvidz_jwt::bearer_token`.
//!
//! Every host-made error is JSON, never HTML, in the shape Supabase's gateway
//! uses for its own 401s: `{"code": <HTTP status>, "message": "<sentence>"}`.
//! The statuses: 401 missing/invalid JWT, 404 no function at that path,
//! 408 the body did not arrive within the request timeout, 413 body over the
//! limit, 400 unreadable body, 500 guest trapped or returned no response,
//! 503 no instance could be started (instance pool full or the component
//! failed to start; with `Retry-After`), 504 the function ran past the
//! request timeout.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use ourvidz_jwt::Verifier;
use serde::Deserialize;
use tokio::time::Instant;
use tower_http::cors::{self, AllowHeaders, CorsLayer};

/// Why `supabase/config.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid: {source}")]
    Parse { path: String, source: toml::de::Error },
}

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    functions: BTreeMap<String, RawFunction>,
}

#[derive(Deserialize)]
struct RawFunction {
    verify_jwt: Option<bool>,
}

/// The gateway rules per function.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    verify_jwt: BTreeMap<String, bool>,
}

impl GatewayConfig {
    /// Read the `[functions.<name>]` tables; other sections are Supabase's
    /// and are not interpreted here.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let raw: RawConfig =
            toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.display().to_string(), source })?;
        Ok(GatewayConfig {
            verify_jwt: raw.functions.into_iter().filter_map(|(name, f)| f.verify_jwt.map(|v| (name, v))).collect(),
        })
    }

    /// Supabase verifies JWTs unless the function opts out.
    pub fn verify_jwt(&self, function: &str) -> bool {
        self.verify_jwt.get(function).copied().unwrap_or(true)
    }
}

/// Check the `Authorization: Bearer <jwt>` of a request to a function with
/// `verify_jwt` on.
pub fn authorize(headers: &HeaderMap, verifier: &Verifier, now: i64) -> Result<(), GatewayError> {
    let value = headers.get(header::AUTHORIZATION).ok_or(GatewayError::MissingAuthorization)?;
    let token = value.to_str().ok().and_then(ourvidz_jwt::bearer_token).ok_or(GatewayError::InvalidJwt)?;
    verifier.verify(token, now).map(drop).map_err(|_| GatewayError::InvalidJwt)
}

/// Read a function request's body: at most `limit` bytes (413), complete by
/// `deadline` (408), so a client trickling bytes holds no instance and no
/// connection past the request timeout. Errors carry a detail for the log.
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
    deadline: Instant,
    timeout: Duration,
) -> Result<Bytes, (GatewayError, String)> {
    match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, limit)).await {
        Err(_) => {
            let error = GatewayError::RequestTimeout { after: timeout };
            let detail = error.to_string();
            Err((error, detail))
        }
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => {
            let too_large =
                std::error::Error::source(&error).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                let error = GatewayError::PayloadTooLarge { limit };
                let detail = error.to_string();
                Err((error, detail))
            } else {
                Err((GatewayError::UnreadableBody, error.to_string()))
            }
        }
    }
}

/// Kong's `cors` plugin with its default configuration, as supabase/cli's
/// `kong.yml` puts it in front of Storage, Realtime and Auth: any origin;
/// a preflight answered here, allowing Kong's default methods and the
/// headers the browser asked for; `access-control-allow-origin: *` on every
/// other answer.
pub fn service_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(cors::Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
            Method::OPTIONS,
            Method::TRACE,
            Method::CONNECT,
        ])
        .allow_headers(AllowHeaders::mirror_request())
}

/// Seconds a client is asked to wait before retrying a 503: an instance
/// frees up as soon as a request in flight ends.
const RETRY_AFTER_SECONDS: u32 = 1;

/// An answer the host gives instead of a function's.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("Missing authorization header")]
    MissingAuthorization,
    #[error("Invalid JWT")]
    InvalidJwt,
    #[error("Requested function was not found")]
    NotFound,
    #[error("Request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("Request body could not be read")]
    UnreadableBody,
    #[error("Request body was not received within {} ms", .after.as_millis())]
    RequestTimeout { after: Duration },
    #[error("Function failed (please check logs)")]
    FunctionFailed,
    #[error("Function could not be started (please check logs)")]
    Unavailable,
    #[error("Function did not answer within {} ms", .after.as_millis())]
    Timeout { after: Duration },
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::MissingAuthorization | GatewayError::InvalidJwt => StatusCode::UNAUTHORIZED,
            GatewayError::NotFound => StatusCode::NOT_FOUND,
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UnreadableBody => StatusCode::BAD_REQUEST,
            GatewayError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            GatewayError::FunctionFailed => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({"code": status.as_u16(), "message": self.to_string()});
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    fn verifier() -> Verifier {
        Verifier::hs256(SECRET)
    }

    #[test]
    fn bearer_token_must_verify() {
        let token = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("anon", None, 1000, 3600), SECRET);
        assert!(authorize(&headers(Some(&format!("Bearer {token}"))), &verifier(), 1000).is_ok());
        assert!(authorize(&headers(Some(&format!("bearer\t{token}"))), &verifier(), 1000).is_ok());
        assert!(matches!(authorize(&headers(None), &verifier(), 1000), Err(GatewayError::MissingAuthorization)));
        assert!(matches!(authorize(&headers(Some(&token)), &verifier(), 1000), Err(GatewayError::InvalidJwt)));
        let other = Verifier::hs256(b"other");
        assert!(matches!(authorize(&headers(Some(&format!("Bearer {token}"))), &other, 1000), Err(GatewayError::InvalidJwt)));
        assert!(matches!(authorize(&headers(Some(&format!("Bearer {token}"))), &verifier(), 99_999), Err(GatewayError::InvalidJwt)));
    }

    #[test]
    fn hostile_claims_are_an_invalid_jwt() {
        let claims = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
            let mut claims = ourvidz_jwt::access_token_claims("authenticated", Some("6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001"), 1000, 3600);
            edit(&mut claims);
            format!("Bearer {}", ourvidz_jwt::sign(&claims, SECRET))
        };
        let hostile = [
            claims(&|c| {
                c.insert("exp".into(), serde_json::json!(i64::MAX));
            }),
            claims(&|c| {
                c.insert("exp".into(), serde_json::json!(1e300));
            }),
            claims(&|c| {
                c.insert("sub".into(), serde_json::json!("not-a-uuid"));
            }),
        ];
        for authorization in hostile {
            assert!(matches!(authorize(&headers(Some(&authorization)), &verifier(), 1000), Err(GatewayError::InvalidJwt)));
        }
    }

    #[test]
    fn jwks_tokens_verify_at_the_gateway() {
        let home = std::env::temp_dir().join(format!("ourvidz-gw-keys-{}", std::process::id()));
        let key = crate::keys::load_or_create(&home).unwrap();
        let verifier = verifier().with_jwks(&crate::keys::jwks(&[&key])).unwrap();
        let token = key.sign(&ourvidz_jwt::access_token_claims("anon", None, 1000, 3600));
        assert!(authorize(&headers(Some(&format!("Bearer {token}"))), &verifier, 1000).is_ok());
        assert!(matches!(authorize(&headers(Some(&format!("Bearer {token}"))), &self::verifier(), 1000), Err(GatewayError::InvalidJwt)));
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_by_the_deadline_is_a_408() {
        let (mut sender, body) = http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(1);
        sender.send_data(Bytes::from_static(b"{")).await.unwrap();
        let timeout = Duration::from_millis(200);
        let result = read_body(axum::body::Body::new(body), 1024, Instant::now() + timeout, timeout).await;
        assert!(matches!(result, Err((GatewayError::RequestTimeout { .. }, _))), "{result:?}");
        assert_eq!(GatewayError::RequestTimeout { after: timeout }.status(), StatusCode::REQUEST_TIMEOUT);
        drop(sender);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_413() {
        let body = axum::body::Body::from(vec![b'x'; 2048]);
        let result = read_body(body, 1024, Instant::now() + Duration::from_secs(5), Duration::from_secs(5)).await;
        assert!(matches!(result, Err((GatewayError::PayloadTooLarge { limit: 1024 }, _))), "{result:?}");
    }

    #[test]
    fn host_errors_can_be_read_by_a_browser_and_a_503_says_when_to_retry() {
        let refused = GatewayError::InvalidJwt.into_response();
        assert_eq!(refused.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(refused.headers().get(header::RETRY_AFTER).is_none());
        let busy = GatewayError::Unavailable.into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn functions_verify_jwt_unless_configured_off() {
        let path = std::env::temp_dir().join(format!("ourvidz-gw-{}.toml", std::process::id()));
        std::fs::write(&path, "[api]\nport = 1\n[functions.open]\nverify_jwt = false\n[functions.closed]\nverify_jwt = true\n").unwrap();
        let config = GatewayConfig::load(&path).unwrap();
        assert!(!config.verify_jwt("open"));
        assert!(config.verify_jwt("closed"));
        assert!(config.verify_jwt("unlisted"));
    }
}
