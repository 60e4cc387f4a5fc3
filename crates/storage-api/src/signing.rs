//! Signed download URLs: `/object/sign/<bucket>/<name>?token=<jwt>`.
//!
//! The token is an HS256 JWT, made and checked with the project's JWT crate,
//! whose claims are supabase's (`url` = `<bucket>/<name>`, `scope` = `download`,
//! `iat`, `exp`; see `signObjectUrl` in supabase/storage `src/storage/object.ts`).
//! It is signed with a key derived from the project secret rather than the
//! secret itself, so a signed-URL token can never pass as an API access token
//! anywhere else, nor an access token as a signed URL. The `role` claim is
//! `anon` only because the JWT crate requires one: under the derived key no
//! verifier of access tokens accepts these tokens. Expiry is checked exactly
//! (the crate allows clock skew for access tokens; a link must die on time).

use hmac::{Hmac, Mac};
use ourvidz_jwt::{JwtError, SigningKey, Verifier};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::error::StorageError;

const SCOPE_DOWNLOAD: &str = "download";
/// The latest `exp` a token may carry (the JWT crate refuses later ones;
/// supabase's own cap, a safe integer of milliseconds, is later still).
const MAX_ABSOLUTE_EXP: i64 = ourvidz_jwt::MAX_TIME;
const KEY_LABEL: &[u8] = b"ourvidz storage signed-url key v1";

/// Makes and checks signed-URL tokens.
pub struct UrlSigner {
    signing: SigningKey,
    verifier: Verifier,
}

impl UrlSigner {
    /// Derive the URL-signing key: HMAC-SHA256(project secret, label).
    pub fn new(jwt_secret: &[u8]) -> Result<Self, StorageError> {
        if jwt_secret.is_empty() {
            return Err(StorageError::Startup("jwt_secret is empty".into()));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(jwt_secret)
            .map_err(|e| StorageError::Startup(format!("jwt_secret: {e}")))?;
        mac.update(KEY_LABEL);
        let key = mac.finalize().into_bytes();
        let signing = SigningKey::hs256(&key).map_err(|e| StorageError::Startup(format!("signed-URL key: {e}")))?;
        Ok(UrlSigner { signing, verifier: Verifier::hs256(&key) })
    }

    /// Supabase's `assertValidNumericJWTExpiration`: at least one second, and `exp` representable.
    pub fn check_expires_in(expires_in: i64, now: i64) -> Result<(), StorageError> {
        if expires_in < 1 || expires_in > MAX_ABSOLUTE_EXP - now {
            return Err(StorageError::InvalidParameter("expiresIn"));
        }
        Ok(())
    }

    /// The URL, relative to the Storage API as supabase answers it, for `<bucket>/<name>`.
    pub fn signed_url(&self, bucket: &str, name: &str, expires_in: i64, now: i64) -> String {
        let url = format!("{bucket}/{name}");
        let mut claims = Map::new();
        claims.insert("url".into(), Value::from(url.as_str()));
        claims.insert("scope".into(), Value::from(SCOPE_DOWNLOAD));
        claims.insert("role".into(), Value::from("anon"));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + expires_in));
        let token = self.signing.sign(&claims);
        format!("/object/sign/{url}?token={token}")
    }

    /// Check `token` for downloading `<bucket>/<name>` at `now`; answers its `exp`.
    /// Errors as supabase's `verifyObjectSignature`: a token that does not
    /// verify is `InvalidJWT`, one for another object or action is `InvalidSignature`.
    pub fn verify(&self, token: &str, bucket: &str, name: &str, now: i64) -> Result<i64, StorageError> {
        let claims = self.verifier.verify(token, now).map_err(|err| match err {
            JwtError::Expired => StorageError::ExpiredToken,
            other => StorageError::InvalidJwt(other.to_string()),
        })?;
        if claims.raw.get("scope").and_then(Value::as_str) != Some(SCOPE_DOWNLOAD) {
            return Err(StorageError::InvalidSignature(format!("Token is not scoped for {SCOPE_DOWNLOAD}")));
        }
        if claims.raw.get("url").and_then(Value::as_str) != Some(format!("{bucket}/{name}").as_str()) {
            return Err(StorageError::InvalidSignature("Invalid signature".into()));
        }
        match claims.exp {
            Some(exp) if exp >= now => Ok(exp),
            _ => Err(StorageError::ExpiredToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn token_of(url: &str) -> &str {
        url.split_once("?token=").unwrap().1
    }

    #[test]
    fn signed_url_verifies_for_its_object_until_it_expires() {
        let signer = UrlSigner::new(b"secret").unwrap();
        let url = signer.signed_url("b", "u/x.png", 60, NOW);
        assert!(url.starts_with("/object/sign/b/u/x.png?token="));
        let token = token_of(&url);
        assert_eq!(signer.verify(token, "b", "u/x.png", NOW + 60).unwrap(), NOW + 60);
        assert!(matches!(signer.verify(token, "b", "u/x.png", NOW + 61), Err(StorageError::ExpiredToken)));
        assert!(matches!(signer.verify(token, "b", "u/y.png", NOW), Err(StorageError::InvalidSignature(_))));
        assert!(matches!(signer.verify(token, "c", "u/x.png", NOW), Err(StorageError::InvalidSignature(_))));
    }

    #[test]
    fn tokens_of_another_secret_or_access_tokens_do_not_verify() {
        let signer = UrlSigner::new(b"secret").unwrap();
        let other = UrlSigner::new(b"other").unwrap();
        let url = other.signed_url("b", "x", 60, NOW);
        assert!(matches!(signer.verify(token_of(&url), "b", "x", NOW), Err(StorageError::InvalidJwt(_))));
        let access = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("service_role", None, NOW, 60), b"secret");
        assert!(matches!(signer.verify(&access, "b", "x", NOW), Err(StorageError::InvalidJwt(_))));
    }

    #[test]
    fn signed_url_tokens_are_not_access_tokens() {
        let signer = UrlSigner::new(b"secret").unwrap();
        let url = signer.signed_url("b", "x", 60, NOW);
        assert!(Verifier::hs256(b"secret").verify(token_of(&url), NOW).is_err());
    }

    #[test]
    fn expires_in_must_be_positive_and_bounded() {
        assert!(UrlSigner::check_expires_in(1, NOW).is_ok());
        assert!(UrlSigner::check_expires_in(0, NOW).is_err());
        assert!(UrlSigner::check_expires_in(-5, NOW).is_err());
        assert!(UrlSigner::check_expires_in(i64::MAX, NOW).is_err());
        assert!(UrlSigner::check_expires_in(ourvidz_jwt::MAX_TIME - NOW, NOW).is_ok());
        assert!(UrlSigner::check_expires_in(ourvidz_jwt::MAX_TIME - NOW + 1, NOW).is_err());
    }
}
