//! Who is calling: the `Authorization: Bearer <jwt>` header verified with the
//! project's keys (an `ourvidz_jwt::Verifier`: the HS256 secret and the JWKS's
//! ES256/RS256 keys) and reduced to the two identities the functions act for —
//! a signed-in user or the service role. Only these two role names ever reach `set_config('role', ...)`: a
//! validly signed token naming any other role (`postgres`, `supabase_admin`)
//! is refused here, so a leaked secret cannot become a superuser session.

use crate::error::EdgeError;
use ourvidz_jwt::{Claims, Verifier};
use uuid::Uuid;

/// A signed-in end user (`role = authenticated`, `sub` = their id).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    /// The access token, forwarded to the Storage API so its policies apply.
    pub token: String,
    claims_json: String,
}

/// A worker or maintenance job holding the service role key.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRole {
    claims_json: String,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// The anon key: a valid token that identifies nobody.
    Anon,
    User(User),
    ServiceRole(ServiceRole),
}

/// The Postgres session a caller's SQL runs under, as PostgREST sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbSession<'a> {
    pub role: &'static str,
    pub claims_json: &'a str,
}

impl User {
    pub fn session(&self) -> DbSession<'_> {
        DbSession { role: "authenticated", claims_json: &self.claims_json }
    }
}

impl ServiceRole {
    pub fn session(&self) -> DbSession<'_> {
        DbSession { role: "service_role", claims_json: &self.claims_json }
    }
}

impl Caller {
    /// The caller as a signed-in user, or 401 (anon) / 403 (service role).
    pub fn into_user(self) -> Result<User, EdgeError> {
        match self {
            Caller::User(user) => Ok(user),
            Caller::Anon => Err(EdgeError::unauthorized("this endpoint requires a signed-in user")),
            Caller::ServiceRole(_) => {
                Err(EdgeError::forbidden("this endpoint acts for a signed-in user, not the service role"))
            }
        }
    }

    /// The caller as the service role, or 403.
    pub fn into_service_role(self) -> Result<ServiceRole, EdgeError> {
        match self {
            Caller::ServiceRole(service) => Ok(service),
            Caller::Anon | Caller::User(_) => {
                Err(EdgeError::forbidden("this endpoint is reserved for the service role"))
            }
        }
    }
}

/// Verify the `Authorization` header value at time `now` (seconds since the
/// epoch) and classify the caller. Every refusal is a 401 except a validly
/// signed token naming a role the functions never act as (403).
pub fn authenticate(authorization: Option<&str>, verifier: &Verifier, now: i64) -> Result<Caller, EdgeError> {
    let header = authorization.ok_or_else(|| EdgeError::unauthorized("Missing authorization header"))?;
    let token = ourvidz_jwt::bearer_token(header)
        .ok_or_else(|| EdgeError::unauthorized("authorization header must be `Bearer <token>`"))?;
    let claims = verifier.verify(token, now).map_err(|error| EdgeError::unauthorized(format!("Invalid JWT: {error}")))?;
    classify(claims, token)
}

fn classify(claims: Claims, token: &str) -> Result<Caller, EdgeError> {
    match claims.role.as_str() {
        "anon" => Ok(Caller::Anon),
        "service_role" => Ok(Caller::ServiceRole(ServiceRole { claims_json: claims.to_json() })),
        "authenticated" => {
            if !audience_is_authenticated(&claims) {
                return Err(EdgeError::unauthorized("Invalid JWT: token audience is not `authenticated`"));
            }
            // The JWT crate only lets a UUID `sub` through; a user token must have one.
            let id = claims
                .sub
                .as_deref()
                .and_then(|sub| Uuid::parse_str(sub).ok())
                .ok_or_else(|| EdgeError::unauthorized("Invalid JWT: token has no user id (`sub`)"))?;
            Ok(Caller::User(User { id, token: token.to_owned(), claims_json: claims.to_json() }))
        }
        _ => Err(EdgeError::forbidden("token role is not accepted by this function")),
    }
}

/// Supabase access tokens carry `aud: "authenticated"` (a string, or a list
/// in some issuers); a user token minted for another audience is refused.
fn audience_is_authenticated(claims: &Claims) -> bool {
    match claims.raw.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == "authenticated",
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|aud| aud == "authenticated"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::{Map, Value};

    const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
    const NOW: i64 = 1_800_000_000;

    fn authenticate(authorization: Option<&str>, secret: &[u8], now: i64) -> Result<Caller, EdgeError> {
        super::authenticate(authorization, &Verifier::hs256(secret), now)
    }
    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    fn bearer(claims: &Map<String, Value>) -> String {
        format!("Bearer {}", ourvidz_jwt::sign(claims, SECRET))
    }

    fn user_claims() -> Map<String, Value> {
        ourvidz_jwt::access_token_claims("authenticated", Some(USER), NOW, 3600)
    }

    fn encode(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn kind(result: Result<Caller, EdgeError>) -> ErrorKind {
        result.unwrap_err().kind
    }

    #[test]
    fn user_token_yields_the_user_and_its_claims() {
        let caller = authenticate(Some(&bearer(&user_claims())), SECRET, NOW).unwrap();
        let user = caller.into_user().unwrap();
        assert_eq!(user.id.to_string(), USER);
        let session = user.session();
        assert_eq!(session.role, "authenticated");
        let claims: Value = serde_json::from_str(session.claims_json).unwrap();
        assert_eq!(claims["sub"], USER);
    }

    #[test]
    fn service_role_key_yields_the_service_role() {
        let claims = ourvidz_jwt::access_token_claims("service_role", None, NOW, 3600);
        let caller = authenticate(Some(&bearer(&claims)), SECRET, NOW).unwrap();
        assert_eq!(caller.into_service_role().unwrap().session().role, "service_role");
    }

    #[test]
    fn missing_or_non_bearer_header_is_unauthorized() {
        assert_eq!(kind(authenticate(None, SECRET, NOW)), ErrorKind::Unauthorized);
        let token = ourvidz_jwt::sign(&user_claims(), SECRET);
        for header in [token.clone(), format!("Basic {token}"), "Bearer ".into(), "Bearer".into()] {
            assert_eq!(kind(authenticate(Some(&header), SECRET, NOW)), ErrorKind::Unauthorized, "{header}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let header = format!("bearer {}", ourvidz_jwt::sign(&user_claims(), SECRET));
        assert!(authenticate(Some(&header), SECRET, NOW).is_ok());
    }

    #[test]
    fn token_signed_with_another_secret_is_unauthorized() {
        let header = format!("Bearer {}", ourvidz_jwt::sign(&user_claims(), b"not-the-project-secret"));
        assert_eq!(kind(authenticate(Some(&header), SECRET, NOW)), ErrorKind::Unauthorized);
    }

    #[test]
    fn forged_alg_none_service_token_is_unauthorized() {
        let header = format!(
            "Bearer {}.{}.",
            encode(br#"{"alg":"none","typ":"JWT"}"#),
            encode(br#"{"role":"service_role","exp":9999999999}"#)
        );
        assert_eq!(kind(authenticate(Some(&header), SECRET, NOW)), ErrorKind::Unauthorized);
    }

    #[test]
    fn tampered_role_claim_is_unauthorized() {
        let token = ourvidz_jwt::sign(&user_claims(), SECRET);
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged_claims = user_claims();
        forged_claims.insert("role".into(), Value::from("service_role"));
        let forged_payload = encode(serde_json::to_string(&forged_claims).unwrap().as_bytes());
        let header = format!("Bearer {}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(kind(authenticate(Some(&header), SECRET, NOW)), ErrorKind::Unauthorized);
    }

    #[test]
    fn expired_token_is_unauthorized() {
        let claims = ourvidz_jwt::access_token_claims("authenticated", Some(USER), NOW - 7200, 3600);
        let error = authenticate(Some(&bearer(&claims)), SECRET, NOW).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unauthorized);
        assert!(error.message.contains("expired"), "{}", error.message);
    }

    #[test]
    fn user_token_without_uuid_subject_is_unauthorized() {
        let mut claims = user_claims();
        claims.insert("sub".into(), Value::from("not-a-uuid"));
        assert_eq!(kind(authenticate(Some(&bearer(&claims)), SECRET, NOW)), ErrorKind::Unauthorized);
        claims.remove("sub");
        assert_eq!(kind(authenticate(Some(&bearer(&claims)), SECRET, NOW)), ErrorKind::Unauthorized);
    }

    #[test]
    fn user_token_for_another_audience_is_unauthorized() {
        let mut claims = user_claims();
        claims.insert("aud".into(), Value::from("some-other-api"));
        assert_eq!(kind(authenticate(Some(&bearer(&claims)), SECRET, NOW)), ErrorKind::Unauthorized);
        claims.insert("aud".into(), serde_json::json!(["some-other-api", "authenticated"]));
        assert!(authenticate(Some(&bearer(&claims)), SECRET, NOW).is_ok());
    }

    #[test]
    fn privileged_database_roles_are_forbidden() {
        for role in ["postgres", "supabase_admin", "authenticator", ""] {
            let claims = ourvidz_jwt::access_token_claims(role, Some(USER), NOW, 3600);
            let result = authenticate(Some(&bearer(&claims)), SECRET, NOW);
            assert!(result.is_err(), "{role}");
        }
        let claims = ourvidz_jwt::access_token_claims("postgres", None, NOW, 3600);
        assert_eq!(kind(authenticate(Some(&bearer(&claims)), SECRET, NOW)), ErrorKind::Forbidden);
    }

    #[test]
    fn user_endpoints_refuse_anon_with_401_and_service_role_with_403() {
        let anon = ourvidz_jwt::access_token_claims("anon", None, NOW, 3600);
        let caller = authenticate(Some(&bearer(&anon)), SECRET, NOW).unwrap();
        assert_eq!(caller.into_user().unwrap_err().kind, ErrorKind::Unauthorized);

        let service = ourvidz_jwt::access_token_claims("service_role", None, NOW, 3600);
        let caller = authenticate(Some(&bearer(&service)), SECRET, NOW).unwrap();
        assert_eq!(caller.into_user().unwrap_err().kind, ErrorKind::Forbidden);
    }

    #[test]
    fn service_endpoints_refuse_users_and_anon_with_403() {
        let caller = authenticate(Some(&bearer(&user_claims())), SECRET, NOW).unwrap();
        assert_eq!(caller.into_service_role().unwrap_err().kind, ErrorKind::Forbidden);
        let anon = ourvidz_jwt::access_token_claims("anon", None, NOW, 3600);
        let caller = authenticate(Some(&bearer(&anon)), SECRET, NOW).unwrap();
        assert_eq!(caller.into_service_role().unwrap_err().kind, ErrorKind::Forbidden);
    }
}
