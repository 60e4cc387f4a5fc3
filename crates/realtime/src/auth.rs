//! Access tokens as Realtime judges them: verified by the project's
//! [`ourvidz_jwt::Verifier`], then required to carry `role` and `exp` and to
//! be unexpired *now* (no leeway: a channel lives exactly as long as its token,
//! as supabase/realtime's confirm_token decides). The error texts are
//! supabase/realtime's, with and without their log code.

use std::sync::Arc;

use ourvidz_jwt::{JwtError, Verifier};
use serde_json::Value;

/// A verified token: who the subscriber is, for as long as `exp`.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: String,
    pub role: String,
    /// Every claim, as the database sees them in `request.jwt.claims`.
    pub claims: Arc<Value>,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    Expired { seconds_ago: Option<i64> },
    MissingClaims,
    Malformed,
    Signature,
    Invalid(String),
}

impl AuthError {
    /// The message, as a channel is shut down with it (system message).
    pub fn message(&self) -> String {
        match self {
            AuthError::Expired { seconds_ago: Some(ago) } => format!("Token has expired {ago} seconds ago"),
            AuthError::Expired { seconds_ago: None } => "Token has expired".into(),
            AuthError::MissingClaims => "Fields `role` and `exp` are required in JWT".into(),
            AuthError::Malformed => "The token provided is not a valid JWT".into(),
            AuthError::Signature => "Failed to validate JWT signature".into(),
            AuthError::Invalid(reason) => reason.clone(),
        }
    }

    /// The reason a join is refused with: the message behind its log code.
    pub fn join_reason(&self) -> String {
        let code = match self {
            AuthError::Expired { .. } | AuthError::MissingClaims | AuthError::Invalid(_) => "InvalidJWTToken",
            AuthError::Malformed => "MalformedJWT",
            AuthError::Signature => "JwtSignatureError",
        };
        format!("{code}: {}", self.message())
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Verify `token` at `now`.
pub fn authorize(verifier: &Verifier, token: &str, now: i64) -> Result<Access, AuthError> {
    let claims = verifier.verify(token, now).map_err(|error| match error {
        JwtError::Expired => AuthError::Expired { seconds_ago: None },
        JwtError::Malformed => AuthError::Malformed,
        JwtError::BadSignature | JwtError::UnsupportedAlgorithm(_) => AuthError::Signature,
        JwtError::MissingClaim(_) => AuthError::MissingClaims,
        other => AuthError::Invalid(other.to_string()),
    })?;
    let exp = claims.exp.ok_or(AuthError::MissingClaims)?;
    if exp <= now {
        return Err(AuthError::Expired { seconds_ago: Some(now - exp) });
    }
    Ok(Access { token: token.to_owned(), role: claims.role.clone(), claims: Arc::new(Value::Object(claims.raw)), exp })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"realtime-unit-test-secret-with-at-least-32-characters";
    const NOW: i64 = 1_800_000_000;
    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    fn token(ttl: i64) -> String {
        ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("authenticated", Some(USER), NOW, ttl), SECRET)
    }

    #[test]
    fn valid_token_gives_role_claims_and_expiry() {
        let access = authorize(&Verifier::hs256(SECRET), &token(60), NOW).unwrap();
        assert_eq!((access.role.as_str(), access.exp), ("authenticated", NOW + 60));
        assert_eq!(access.claims["sub"], USER);
    }

    #[test]
    fn token_past_exp_is_expired_without_leeway() {
        let error = authorize(&Verifier::hs256(SECRET), &token(60), NOW + 70).unwrap_err();
        assert_eq!(error.join_reason(), "InvalidJWTToken: Token has expired 10 seconds ago");
        let error = authorize(&Verifier::hs256(SECRET), &token(60), NOW + 3600).unwrap_err();
        assert_eq!(error.message(), "Token has expired");
    }

    #[test]
    fn token_without_exp_is_refused() {
        let mut claims = ourvidz_jwt::access_token_claims("authenticated", Some(USER), NOW, 60);
        claims.remove("exp");
        let error = authorize(&Verifier::hs256(SECRET), &ourvidz_jwt::sign(&claims, SECRET), NOW).unwrap_err();
        assert_eq!(error.join_reason(), "InvalidJWTToken: Fields `role` and `exp` are required in JWT");
    }

    #[test]
    fn forged_and_garbage_tokens_are_refused_with_realtimes_codes() {
        let forged = authorize(&Verifier::hs256(b"another-secret"), &token(60), NOW).unwrap_err();
        assert_eq!(forged.join_reason(), "JwtSignatureError: Failed to validate JWT signature");
        let garbage = authorize(&Verifier::hs256(SECRET), "not-a-jwt", NOW).unwrap_err();
        assert_eq!(garbage.join_reason(), "MalformedJWT: The token provided is not a valid JWT");
    }
}
