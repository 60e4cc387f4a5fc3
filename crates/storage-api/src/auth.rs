//! Who is calling: the bearer token of a request, verified with the project's
//! JWT crate, reduced to what the database needs to apply row-level security.
//!
//! As supabase/storage's jwt plugin (`src/http/plugins/jwt.ts`): a refused
//! token is `AccessDenied` (statusCode 403, error "Unauthorized"); a missing
//! `Authorization` header is a request-shape error, as fastify's header schema
//! reports it. Only the three API roles are accepted: our pool connects as a
//! superuser, which could switch to any role the token named.

use axum::http::{header, HeaderMap};

use crate::error::StorageError;

const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The Postgres role the request runs as.
    pub role: String,
    /// The user id (`sub`), absent on anon and service keys.
    pub sub: Option<String>,
    /// All claims, as JSON, for `request.jwt.claims`.
    pub claims_json: String,
}

impl Caller {
    /// The `owner` column: the user id when it is a UUID (supabase's `isUuid`), else null.
    /// `owner_id` keeps `sub` as text either way.
    pub fn owner_uuid(&self) -> Option<&str> {
        self.sub.as_deref().filter(|sub| sub.len() == 36 && uuid::Uuid::parse_str(sub).is_ok())
    }
}

/// Seconds since the epoch, the clock tokens are checked against.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The token of the `Authorization` header: what follows `Bearer` and
/// whitespace (case-insensitive), or the whole value without that prefix, as
/// supabase's `authorization.replace(/^Bearer\s+/i, '')` does.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match (value.get(..6), value.get(6..)) {
        (Some(scheme), Some(rest))
            if scheme.eq_ignore_ascii_case("bearer") && (rest.is_empty() || rest.starts_with(char::is_whitespace)) =>
        {
            rest.trim_start()
        }
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

/// The caller of a route that needs a valid token.
pub fn require(headers: &HeaderMap, secret: &[u8]) -> Result<Caller, StorageError> {
    let token = bearer(headers)
        .ok_or_else(|| StorageError::InvalidRequest("headers must have required property 'authorization'".into()))?;
    let claims = ourvidz_jwt::verify(token, secret, now_seconds())
        .map_err(|err| StorageError::AccessDenied(err.to_string()))?;
    if !API_ROLES.contains(&claims.role.as_str()) {
        return Err(StorageError::AccessDenied("Access denied: Invalid role".into()));
    }
    Ok(Caller { claims_json: claims.to_json(), role: claims.role, sub: claims.sub })
}

/// The caller of a route that also serves anonymous requests (supabase's
/// `allowInvalidJwt`): no token or a refused one means "not authenticated".
pub fn optional(headers: &HeaderMap, secret: &[u8]) -> Option<Caller> {
    bearer(headers)?;
    require(headers, secret).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &[u8] = b"test-secret-with-at-least-32-characters!";

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
        let caller = require(&headers(&format!("bearer  {}", token("authenticated", Some(sub)))), SECRET).unwrap();
        assert_eq!(caller.role, "authenticated");
        assert_eq!(caller.owner_uuid(), Some(sub));
        assert!(caller.claims_json.contains(sub));
    }

    #[test]
    fn non_uuid_sub_has_no_owner_uuid() {
        let caller = require(&headers(&format!("Bearer {}", token("authenticated", Some("worker-1")))), SECRET).unwrap();
        assert_eq!(caller.sub.as_deref(), Some("worker-1"));
        assert_eq!(caller.owner_uuid(), None);
    }

    #[test]
    fn missing_header_is_a_request_error() {
        assert!(matches!(require(&HeaderMap::new(), SECRET), Err(StorageError::InvalidRequest(_))));
        assert!(matches!(require(&headers("Bearer "), SECRET), Err(StorageError::InvalidRequest(_))));
    }

    #[test]
    fn bad_tokens_and_foreign_roles_are_denied() {
        assert!(matches!(require(&headers("Bearer nope"), SECRET), Err(StorageError::AccessDenied(_))));
        let forged = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("service_role", None, now_seconds(), 60), b"x");
        assert!(matches!(require(&headers(&format!("Bearer {forged}")), SECRET), Err(StorageError::AccessDenied(_))));
        let superuser = token("postgres", None);
        assert!(matches!(require(&headers(&format!("Bearer {superuser}")), SECRET), Err(StorageError::AccessDenied(_))));
    }

    #[test]
    fn optional_auth_treats_refused_tokens_as_anonymous() {
        assert!(optional(&HeaderMap::new(), SECRET).is_none());
        assert!(optional(&headers("Bearer nope"), SECRET).is_none());
        assert!(optional(&headers(&format!("Bearer {}", token("anon", None))), SECRET).is_some());
    }
}
