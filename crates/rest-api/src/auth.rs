//! Who is calling: the access token of a request, verified with the project's
//! [`ourvidz_jwt::Verifier`], reduced to the role and claims the transaction runs with.
//!
//! The token is the `Authorization: Bearer` one, else the `apikey` header (as
//! Supabase's gateway hands the key on); no token at all is `anon`, as
//! PostgREST's `db-anon-role`. A token that does not verify is PGRST301
//! (401), with `"JWT expired"` for an expired one as PostgREST words it. The
//! pool connects as a superuser, which could become any role, so only the
//! three API roles are accepted; another role is refused as Postgres refuses
//! `authenticator` a role it is not granted.

use axum::http::{header, HeaderMap};

use crate::error::RestError;

const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The Postgres role the request runs as.
    pub role: String,
    /// The claims as JSON, for `request.jwt.claims` (`{"role": "anon"}` without a token).
    pub claims: String,
}

/// Seconds since the epoch, the clock tokens are checked against.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(ourvidz_jwt::bearer_token);
    bearer.or_else(|| headers.get("apikey").and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty()))
}

/// The caller of a request.
pub fn caller(headers: &HeaderMap, verifier: &ourvidz_jwt::Verifier, now: i64) -> Result<Caller, RestError> {
    let Some(token) = token(headers) else {
        return Ok(Caller { role: "anon".into(), claims: r#"{"role":"anon"}"#.into() });
    };
    let claims = verifier.verify(token, now).map_err(|err| match err {
        ourvidz_jwt::JwtError::Expired => RestError::JwtInvalid("JWT expired".into()),
        other => RestError::JwtInvalid(other.to_string()),
    })?;
    if !API_ROLES.contains(&claims.role.as_str()) {
        return Err(RestError::sql("42501", format!("permission denied to set role \"{}\"", claims.role)));
    }
    Ok(Caller { claims: claims.to_json(), role: claims.role })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &[u8] = b"rest-api-unit-secret-with-at-least-32-characters";

    fn token(role: &str, sub: Option<&str>, ttl: i64) -> String {
        ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims(role, sub, now_seconds(), ttl), SECRET)
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn verifier() -> ourvidz_jwt::Verifier {
        ourvidz_jwt::Verifier::hs256(SECRET)
    }

    #[test]
    fn no_token_is_anon() {
        let caller = caller(&HeaderMap::new(), &verifier(), now_seconds()).unwrap();
        assert_eq!(caller.role, "anon");
    }

    #[test]
    fn bearer_wins_over_apikey() {
        let user = token("authenticated", Some("6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001"), 60);
        let found = caller(
            &headers(&[("apikey", token("anon", None, 60)), ("authorization", format!("Bearer {user}"))]),
            &verifier(),
            now_seconds(),
        )
        .unwrap();
        assert_eq!(found.role, "authenticated");
        assert!(found.claims.contains("6f1c7c33"));
    }

    #[test]
    fn the_apikey_alone_is_the_token() {
        let found = caller(&headers(&[("apikey", token("service_role", None, 60))]), &verifier(), now_seconds()).unwrap();
        assert_eq!(found.role, "service_role");
    }

    #[test]
    fn bad_and_expired_tokens_are_pgrst301() {
        let err = caller(&headers(&[("authorization", "Bearer nope".into())]), &verifier(), now_seconds()).unwrap_err();
        assert_eq!(err.body()["code"], "PGRST301");
        let expired = token("authenticated", Some("u"), -3600);
        let err = caller(&headers(&[("authorization", format!("Bearer {expired}"))]), &verifier(), now_seconds()).unwrap_err();
        assert_eq!(err.body()["message"], "JWT expired");
    }

    #[test]
    fn roles_beyond_the_api_roles_are_refused() {
        let superuser = token("postgres", None, 60);
        let err = caller(&headers(&[("authorization", format!("Bearer {superuser}"))]), &verifier(), now_seconds()).unwrap_err();
        assert_eq!(err.body()["code"], "42501");
        assert_eq!(err.status(), axum::http::StatusCode::FORBIDDEN);
    }
}
