//! Supabase access tokens: verified everywhere, minted for development.
//!
//! One implementation, used wherever a token is checked or made: the edge
//! functions (compiled to wasm32-wasip2), the local gateway's `verify_jwt`, the
//! Storage, REST and Realtime services, the CLI's `token` command and the tests.
//! A Supabase project signs access tokens with its legacy HS256 secret or, as new
//! projects do, with an asymmetric key (ES256, or RS256) whose public half it
//! publishes as a JWKS at `/auth/v1/.well-known/jwks.json`. A [`Verifier`] holds
//! both. The signature work is the maintained `jsonwebtoken` crate's (its
//! pure-Rust RustCrypto backend, which builds for wasm32-wasip2); the rules
//! around it are decided here, once:
//!
//! - the header's `alg` picks the key: `HS256` the secret, `ES256`/`RS256` the
//!   JWKS key its `kid` names. `none` and every other algorithm are refused before
//!   any signature is looked at, and so are a missing or unknown `kid` and a key
//!   of another kind than the algorithm names — an HS256 token is never checked
//!   against a public key, nor an ES256 one against an RSA key;
//! - claims are checked against a clock the caller passes in (deterministic
//!   tests) with checked arithmetic only: `exp` is required, and `exp`, `nbf` and
//!   `iat` must be numbers between 0 and [`MAX_TIME`]. Whatever a token holds,
//!   the answer is a [`JwtError`], never a panic;
//! - `role` must be a non-empty string and `sub`, when present, a UUID — what
//!   `auth.uid()` casts it to, so a token Postgres would fail on never gets in.

mod keys;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

pub use keys::{KeyError, SigningKey};

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 30;

/// The latest instant a time claim may name: 9999-12-31T23:59:59Z, the end of
/// what Postgres, JavaScript dates and RFC 3339 all represent.
pub const MAX_TIME: i64 = 253_402_300_799;

/// Why a token was refused. The messages are safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three dot-separated base64url parts, or a part is not JSON of the right shape.
    Malformed,
    /// The header names an algorithm this verifier does not accept (`none`,
    /// HS512, HS256 without a secret, ...).
    UnsupportedAlgorithm(String),
    /// An ES256/RS256 token without a `kid`, or with one the JWKS does not hold.
    UnknownKey,
    /// The `kid` names a key of another kind than the header's algorithm.
    KeyMismatch,
    /// The signature does not match the key.
    BadSignature,
    /// `exp` is in the past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// A claim is absent where required, of the wrong type, or out of range.
    MissingClaim(&'static str),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed => f.write_str("token is malformed"),
            JwtError::UnsupportedAlgorithm(alg) => write!(f, "token algorithm {alg:?} is not accepted"),
            JwtError::UnknownKey => f.write_str("token key id is not a known signing key"),
            JwtError::KeyMismatch => f.write_str("token algorithm does not match its signing key"),
            JwtError::BadSignature => f.write_str("token signature is invalid"),
            JwtError::Expired => f.write_str("token has expired"),
            JwtError::NotYetValid => f.write_str("token is not valid yet"),
            JwtError::MissingClaim(name) => write!(f, "token has no valid {name:?} claim"),
        }
    }
}

impl std::error::Error for JwtError {}

/// The claims of a verified token: the well-known ones typed, all of them kept
/// as JSON so they can be handed to Postgres as `request.jwt.claims` verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `role`: `anon`, `authenticated` or `service_role` on Supabase.
    pub role: String,
    /// `sub`: the user id, always a UUID; absent on anon and service-role keys.
    pub sub: Option<String>,
    /// `exp` in seconds since the epoch (always present on a verified token).
    pub exp: Option<i64>,
    /// Every claim as it appeared in the token.
    pub raw: Map<String, Value>,
}

impl Claims {
    /// The claims serialised as a JSON object, as PostgREST sets them.
    pub fn to_json(&self) -> String {
        Value::Object(self.raw.clone()).to_string()
    }
}

/// The keys a project verifies access tokens with. Every service that checks
/// tokens (gateway, functions, Storage, REST, Realtime) takes one of these, so
/// the accepted algorithms and keys are decided in one place. Cloning is cheap.
#[derive(Clone)]
pub struct Verifier {
    /// `None` for an empty secret: then no HS256 token verifies.
    secret: Option<DecodingKey>,
    keys: Arc<[keys::PublicKey]>,
}

impl Verifier {
    /// Tokens signed with the project's legacy HS256 secret.
    pub fn hs256(secret: &[u8]) -> Verifier {
        Verifier { secret: DecodingKey::from_secret(secret).ok(), keys: Arc::from([]) }
    }

    /// Also accept ES256/RS256 tokens signed by a key of `jwks`, a JWKS
    /// document (`{"keys": [...]}`) as Supabase publishes it. Keys of kinds
    /// no access token is signed with here (other curves, EdDSA, symmetric or
    /// encryption keys) are skipped; a malformed document or signing key is an error.
    pub fn with_jwks(self, jwks: &str) -> Result<Verifier, KeyError> {
        let mut keys = self.keys.to_vec();
        for key in keys::parse_jwks(jwks)? {
            if keys.iter().any(|known| known.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid));
            }
            keys.push(key);
        }
        Ok(Verifier { secret: self.secret, keys: keys.into() })
    }

    /// Verify `token` at time `now` (seconds since the epoch).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        let header = read_header(token)?;
        let (algorithm, key) = self.key_for(&header)?;
        let mut validation = Validation::new(algorithm);
        // Time and audience rules are ours (checked arithmetic, the caller's clock).
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(refusal)?;
        check_claims(data.claims, now)
    }

    fn key_for(&self, header: &Header) -> Result<(Algorithm, &DecodingKey), JwtError> {
        let algorithm = match header.alg.as_str() {
            "HS256" => {
                let secret = self.secret.as_ref().ok_or_else(|| JwtError::UnsupportedAlgorithm(header.alg.clone()))?;
                return Ok((Algorithm::HS256, secret));
            }
            "ES256" => Algorithm::ES256,
            "RS256" => Algorithm::RS256,
            other => return Err(JwtError::UnsupportedAlgorithm(other.to_owned())),
        };
        let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
        let key = self.keys.iter().find(|key| key.kid == kid).ok_or(JwtError::UnknownKey)?;
        if key.algorithm != algorithm {
            return Err(JwtError::KeyMismatch);
        }
        Ok((algorithm, &key.key))
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|key| key.kid.as_str()).collect();
        f.debug_struct("Verifier").field("hs256", &self.secret.is_some()).field("kids", &kids).finish()
    }
}

/// What the header says about how to verify; the rest of it is `jsonwebtoken`'s.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

fn read_header(token: &str) -> Result<Header, JwtError> {
    let mut parts = token.split('.');
    let header = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(_), Some(_), None) => header,
        _ => return Err(JwtError::Malformed),
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

fn refusal(error: jsonwebtoken::errors::Error) -> JwtError {
    match error.kind() {
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => JwtError::Malformed,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_) => JwtError::KeyMismatch,
        _ => JwtError::BadSignature,
    }
}

fn check_claims(raw: Map<String, Value>, now: i64) -> Result<Claims, JwtError> {
    let exp = time_claim(&raw, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
    // exp <= MAX_TIME, so the sum cannot overflow.
    if now > exp + LEEWAY_SECONDS {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = time_claim(&raw, "nbf")? {
        if now.saturating_add(LEEWAY_SECONDS) < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    time_claim(&raw, "iat")?;
    let role = match raw.get("role") {
        Some(Value::String(role)) if !role.is_empty() => role.clone(),
        _ => return Err(JwtError::MissingClaim("role")),
    };
    let sub = match raw.get("sub") {
        None | Some(Value::Null) => None,
        Some(Value::String(sub)) if is_uuid(sub) => Some(sub.clone()),
        Some(_) => return Err(JwtError::MissingClaim("sub")),
    };
    Ok(Claims { role, sub, exp: Some(exp), raw })
}

/// A NumericDate claim in whole seconds: absent (or null), or a number in
/// `0..=MAX_TIME` (fractions dropped); anything else refuses the token.
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    let seconds = match claims.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_i64().or_else(|| {
            number.as_f64().filter(|f| f.is_finite() && (0.0..=MAX_TIME as f64).contains(f)).map(|f| f as i64)
        }),
        Some(_) => None,
    };
    seconds.filter(|s| (0..=MAX_TIME).contains(s)).map(Some).ok_or(JwtError::MissingClaim(name))
}

/// The hyphenated form `auth.uid()` and storage paths use.
fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

/// The token of an `Authorization` header value: what follows the `Bearer`
/// scheme (any case) and its whitespace, as supabase/storage's
/// `authorization.replace(/^Bearer\s+/i, '')` and the functions gateway read
/// it. `None` for another scheme or an empty token. The one parser of the
/// project: gateway, functions, Storage, REST and Realtime all use it.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, rest) = authorization.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

/// Sign `claims` with HS256 and `secret`. Used by the CLI and tests to mint
/// dev tokens. Panics on an empty secret, which no project has.
pub fn sign(claims: &Map<String, Value>, secret: &[u8]) -> String {
    SigningKey::hs256(secret).expect("an HS256 secret is not empty").sign(claims)
}

/// The claims of a Supabase access token for `role`, issued at `now`, valid for
/// `ttl_seconds`. `sub` is the user id for `authenticated` tokens.
pub fn access_token_claims(role: &str, sub: Option<&str>, now: i64, ttl_seconds: i64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from("supabase-demo"));
    claims.insert("role".into(), Value::from(role));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now.saturating_add(ttl_seconds)));
    if let Some(sub) = sub {
        claims.insert("sub".into(), Value::from(sub));
        claims.insert("aud".into(), Value::from("authenticated"));
        claims.insert("aal".into(), Value::from("aal1"));
        claims.insert("is_anonymous".into(), Value::from(false));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
    const NOW: i64 = 1_800_000_000;
    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    fn verifier() -> Verifier {
        Verifier::hs256(SECRET)
    }

    fn user_token(ttl: i64) -> String {
        sign(&access_token_claims("authenticated", Some(USER), NOW, ttl), SECRET)
    }

    fn forge(header: &str, payload: &str, signature: &str) -> String {
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload), signature)
    }

    fn with(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut claims = access_token_claims("authenticated", Some(USER), NOW, 3600);
        edit(&mut claims);
        sign(&claims, SECRET)
    }

    #[test]
    fn minted_token_verifies_with_its_claims() {
        let claims = verifier().verify(&user_token(3600), NOW + 10).unwrap();
        assert_eq!(claims.role, "authenticated");
        assert_eq!(claims.sub.as_deref(), Some(USER));
        assert_eq!(claims.exp, Some(NOW + 3600));
        let json: Value = serde_json::from_str(&claims.to_json()).unwrap();
        assert_eq!(json["aud"], "authenticated");
    }

    #[test]
    fn wrong_secret_is_a_bad_signature() {
        assert_eq!(Verifier::hs256(b"another-secret").verify(&user_token(3600), NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn empty_secret_accepts_no_hs256_token() {
        let token = user_token(3600);
        assert_eq!(Verifier::hs256(b"").verify(&token, NOW), Err(JwtError::UnsupportedAlgorithm("HS256".into())));
    }

    #[test]
    fn tampered_payload_is_a_bad_signature() {
        let token = user_token(3600);
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(br#"{"role":"service_role","exp":9999999999}"#);
        let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(verifier().verify(&forged, NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn alg_none_is_refused_even_without_signature() {
        let token = forge(r#"{"alg":"none","typ":"JWT"}"#, r#"{"role":"service_role","exp":9999999999}"#, "");
        assert_eq!(verifier().verify(&token, NOW), Err(JwtError::UnsupportedAlgorithm("none".into())));
    }

    #[test]
    fn other_algorithms_are_refused() {
        for alg in ["HS512", "HS384", "ES384", "PS256", "EdDSA", "hs256", ""] {
            let token = forge(&format!(r#"{{"alg":"{alg}"}}"#), r#"{"role":"service_role"}"#, "c2ln");
            assert_eq!(verifier().verify(&token, NOW), Err(JwtError::UnsupportedAlgorithm(alg.into())), "{alg}");
        }
    }

    #[test]
    fn asymmetric_token_without_a_jwks_is_an_unknown_key() {
        let token = forge(r#"{"alg":"ES256","kid":"k1"}"#, r#"{"role":"service_role"}"#, "c2ln");
        assert_eq!(verifier().verify(&token, NOW), Err(JwtError::UnknownKey));
    }

    #[test]
    fn expired_token_is_refused_after_leeway() {
        let token = user_token(60);
        assert!(verifier().verify(&token, NOW + 60 + LEEWAY_SECONDS).is_ok());
        assert_eq!(verifier().verify(&token, NOW + 61 + LEEWAY_SECONDS), Err(JwtError::Expired));
    }

    #[test]
    fn not_before_in_the_future_is_refused() {
        let token = with(|c| {
            c.insert("nbf".into(), Value::from(NOW + 600));
        });
        assert_eq!(verifier().verify(&token, NOW), Err(JwtError::NotYetValid));
        assert!(verifier().verify(&token, NOW + 600 - LEEWAY_SECONDS).is_ok());
    }

    #[test]
    fn token_without_role_is_refused() {
        let token = with(|c| {
            c.remove("role");
        });
        assert_eq!(verifier().verify(&token, NOW), Err(JwtError::MissingClaim("role")));
        let token = with(|c| {
            c.insert("role".into(), Value::from(""));
        });
        assert_eq!(verifier().verify(&token, NOW), Err(JwtError::MissingClaim("role")));
    }

    #[test]
    fn token_without_exp_is_refused() {
        let token = with(|c| {
            c.remove("exp");
        });
        assert_eq!(verifier().verify(&token, NOW), Err(JwtError::MissingClaim("exp")));
    }

    #[test]
    fn subject_must_be_a_uuid_when_present() {
        let subjects = ["not-a-uuid", "", "6f1c7c337a4e4b439d553f0cf1d2f001", "{6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f00}"];
        for sub in subjects.map(Value::from).into_iter().chain([Value::from(7), Value::from(false)]) {
            let token = with(|c| {
                c.insert("sub".into(), sub.clone());
            });
            assert_eq!(verifier().verify(&token, NOW), Err(JwtError::MissingClaim("sub")), "{sub}");
        }
        let anon = sign(&access_token_claims("anon", None, NOW, 60), SECRET);
        assert_eq!(verifier().verify(&anon, NOW).unwrap().sub, None);
    }

    #[test]
    fn time_claims_outside_the_sane_range_are_refused() {
        let extremes: [Value; 8] = [
            Value::from(i64::MAX),
            Value::from(u64::MAX),
            Value::from(i64::MIN),
            Value::from(-1),
            Value::from(MAX_TIME + 1),
            Value::from(1e300),
            Value::from(-1e300),
            Value::from("1800000000"),
        ];
        for name in ["exp", "nbf", "iat"] {
            for value in &extremes {
                let token = with(|c| {
                    c.insert(name.into(), value.clone());
                });
                assert_eq!(verifier().verify(&token, NOW), Err(JwtError::MissingClaim(name)), "{name} = {value}");
            }
            // jsonwebtoken's own claim reader gives up on an array: still a refusal.
            let token = with(|c| {
                c.insert(name.into(), serde_json::json!([1]));
            });
            assert!(verifier().verify(&token, NOW).is_err(), "{name} = [1]");
        }
    }

    #[test]
    fn fractional_and_boundary_times_are_accepted() {
        let token = with(|c| {
            c.insert("exp".into(), Value::from(MAX_TIME));
            c.insert("nbf".into(), Value::from(0));
            c.insert("iat".into(), Value::from(NOW as f64 + 0.5));
        });
        assert_eq!(verifier().verify(&token, NOW).unwrap().exp, Some(MAX_TIME));
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let token = user_token(3600);
        assert_eq!(verifier().verify(&token, i64::MAX), Err(JwtError::Expired));
        assert!(verifier().verify(&token, i64::MIN).is_ok());
        let token = with(|c| {
            c.insert("nbf".into(), Value::from(MAX_TIME));
        });
        assert!(verifier().verify(&token, i64::MAX).is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        let not_object = forge(r#"{"alg":"HS256"}"#, "[1,2]", "");
        for token in ["", "a.b", "a.b.c.d", "!!!.???.***", &forge("not json", "{}", ""), &forge("{}", "{}", "")] {
            assert_eq!(verifier().verify(token, NOW), Err(JwtError::Malformed), "{token}");
        }
        // The signature is checked before the payload is read.
        assert_eq!(verifier().verify(&not_object, NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn signed_payload_that_is_not_an_object_is_malformed() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(b"[1,2]");
        let message = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(verifier().verify(&format!("{message}.{signature}"), NOW), Err(JwtError::Malformed));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER\tabc"), Some("abc"));
        for value in ["", "Bearer", "Bearer ", "Bearerabc", "Basic abc", "Bearé abc", "abc.def.ghi"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn access_token_claims_saturate_instead_of_overflowing() {
        let claims = access_token_claims("anon", None, i64::MAX, 3600);
        assert_eq!(claims["exp"], Value::from(i64::MAX));
    }
}
