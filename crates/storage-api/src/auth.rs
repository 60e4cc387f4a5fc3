//! Who is calling: the bearer token of a request, verified with the project's
//! keys (an `ourvidz_jwt::Verifier`: HS256 secret and JWKS), reduced to what
//! the database needs to apply row-level security.
//!
//! As supabase/storage's jwt plugin (`src/http/plugins/jwt.ts`): a refused
//! token — bad signature, unknown key, expired, a `sub` that is not a UUID,
//! an `Authorization` value that is not `Bearer <token>` — is `AccessDenied`
//! (statusCode 403, error "Unauthorized"); a missing `Authorization` header is
//! a request-shape error, as fastify's header schema reports it. Only the three
//! API roles are accepted: our pool connects as a superuser, which could
//! switch to any role the token named.

use axum::http::{header, HeaderMap};
use ourvidz_jwt::Verifier;

use crate::error::StorageError;

const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The Postgres role the request runs as.
    pub role: String,
    /// The user id (`sub`, always a UUID), absent on anon and service keys;
    /// it becomes the `owner` and `owner_id` of what the caller writes.
    pub sub: Option<String>,
    /// All claims, as JSON, for `request.jwt.claims`.
    pub claims_json: String,
}

/// Seconds since the epoch, the clock tokens are checked against.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}

/// The caller of a route that needs a valid token.
pub fn require(headers: &HeaderMap, verifier: &Verifier) -> Result<Caller, StorageError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| StorageError::InvalidRequest("headers must have required property 'authorization'".into()))?;
    let token = value
        .to_str()
        .ok()
        .and_then(ourvidz_jwt::bearer_token)
        .ok_or_else(|| StorageError::AccessDenied("Invalid JWT: authorization must be `Bearer <token>`".into()))?;
    let claims = verifier.verify(token, now_seconds()).map_err(|err| StorageError::AccessDenied(err.to_string()))?;
    if !API_ROLES.contains(&claims.role.as_str()) {
        return Err(StorageError::AccessDenied("Access denied: Invalid role".into()));
    }
    Ok(Caller { claims_json: claims.to_json(), role: claims.role, sub: claims.sub })
}

/// The caller of a route that also serves anonymous requests (supabase's
/// `allowInvalidJwt`): no token or a refused one means "not authenticated".
pub fn optional(headers: &HeaderMap, verifier: &Verifier) -> Option<Caller> {
    require(headers, verifier).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &[u8] = b"test-secret-with-at-least-32-characters!";

    fn verifier() -> Verifier {
        Verifier::hs256(SECRET)
    }

    fn headers(auth: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        headers
    }

    fn token(role: &str, sub: Option<&str>) -> String {
        ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims(role, sub, now_seconds(), 60), SECRET)
    }

    #[test]
    fn user_token_gives_role_sub_and_claims() {
        let sub = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";
        let caller = require(&headers(&format!("bearer  {}", token("authenticated", Some(sub)))), &verifier()).unwrap();
        assert_eq!(caller.role, "authenticated");
        assert_eq!(caller.sub.as_deref(), Some(sub));
        assert!(caller.claims_json.contains(sub));
    }

    #[test]
    fn non_uuid_sub_is_denied() {
        let result = require(&headers(&format!("Bearer {}", token("authenticated", Some("worker-1")))), &verifier());
        assert!(matches!(result, Err(StorageError::AccessDenied(_))), "{result:?}");
    }

    #[test]
    fn missing_header_is_a_request_error_and_a_non_bearer_one_is_denied() {
        assert!(matches!(require(&HeaderMap::new(), &verifier()), Err(StorageError::InvalidRequest(_))));
        for value in ["Bearer ", "Basic abc", &token("anon", None)] {
            assert!(matches!(require(&headers(value), &verifier()), Err(StorageError::AccessDenied(_))), "{value}");
        }
    }

    #[test]
    fn bad_tokens_and_foreign_roles_are_denied() {
        assert!(matches!(require(&headers("Bearer nope"), &verifier()), Err(StorageError::AccessDenied(_))));
        let forged = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("service_role", None, now_seconds(), 60), b"x");
        assert!(matches!(require(&headers(&format!("Bearer {forged}")), &verifier()), Err(StorageError::AccessDenied(_))));
        let superuser = token("postgres", None);
        assert!(matches!(require(&headers(&format!("Bearer {superuser}")), &verifier()), Err(StorageError::AccessDenied(_))));
    }

    #[test]
    fn optional_auth_treats_refused_tokens_as_anonymous() {
        assert!(optional(&HeaderMap::new(), &verifier()).is_none());
        assert!(optional(&headers("Bearer nope"), &verifier()).is_none());
        assert!(optional(&headers(&format!("Bearer {}", token("anon", None))), &verifier()).is_some());
    }
}
