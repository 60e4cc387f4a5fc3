//! Supabase access tokens (legacy HS256 signing with the project's JWT secret).
//!
//! One implementation, used everywhere a token is minted or checked: the edge
//! functions (compiled to wasm32-wasip2), the local gateway's `verify_jwt`, the
//! Storage API, the CLI's `token` command and the reference worker. It only
//! accepts `alg: HS256` — `none` and every other algorithm are refused before
//! the signature is looked at — and it checks `exp`/`nbf` against a clock the
//! caller passes in, so the check is deterministic in tests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 30;

/// Why a token was refused. The messages are safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three dot-separated base64url parts, or a part is not JSON.
    Malformed,
    /// The header names an algorithm other than HS256 (including `none`).
    UnsupportedAlgorithm(String),
    /// The signature does not match the secret.
    BadSignature,
    /// `exp` is in the past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// A claim the caller requires is absent or has the wrong type.
    MissingClaim(&'static str),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed => f.write_str("token is malformed"),
            JwtError::UnsupportedAlgorithm(alg) => write!(f, "token algorithm {alg:?} is not accepted"),
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
    /// `sub`: the user id; absent on anon and service-role keys.
    pub sub: Option<String>,
    /// `exp` in seconds since the epoch, when present.
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

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

/// Verify `token` with `secret` at time `now` (seconds since the epoch).
///
/// Refuses anything but HS256, a bad signature, an expired or not-yet-valid
/// token, and a token without a string `role` claim.
pub fn verify(token: &str, secret: &[u8], now: i64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (header_b64, payload_b64, signature_b64) =
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => return Err(JwtError::Malformed),
        };
    let header: Header = decode_json(header_b64)?;
    if header.alg != "HS256" {
        return Err(JwtError::UnsupportedAlgorithm(header.alg));
    }
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| JwtError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(header_b64.as_bytes());
    mac.update(b".");
    mac.update(payload_b64.as_bytes());
    mac.verify_slice(&signature).map_err(|_| JwtError::BadSignature)?;

    let raw: Map<String, Value> = decode_json(payload_b64)?;
    let exp = optional_seconds(&raw, "exp")?;
    if let Some(exp) = exp {
        if now > exp + LEEWAY_SECONDS {
            return Err(JwtError::Expired);
        }
    }
    if let Some(nbf) = optional_seconds(&raw, "nbf")? {
        if now + LEEWAY_SECONDS < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    let role = match raw.get("role") {
        Some(Value::String(role)) if !role.is_empty() => role.clone(),
        _ => return Err(JwtError::MissingClaim("role")),
    };
    let sub = match raw.get("sub") {
        None | Some(Value::Null) => None,
        Some(Value::String(sub)) => Some(sub.clone()),
        Some(_) => return Err(JwtError::MissingClaim("sub")),
    };
    Ok(Claims { role, sub, exp, raw })
}

/// The keys a project verifies access tokens with. Every service that checks
/// tokens (gateway, functions, Storage, REST, Realtime) takes one of these, so
/// the accepted algorithms and keys are decided in one place.
#[derive(Clone)]
pub struct Verifier {
    secret: Vec<u8>,
}

impl Verifier {
    /// Tokens signed with the project's legacy HS256 secret.
    pub fn hs256(secret: &[u8]) -> Verifier {
        Verifier { secret: secret.to_vec() }
    }

    /// Verify `token` at time `now` (seconds since the epoch); see [`verify`].
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        verify(token, &self.secret, now)
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
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

/// Sign `claims` with HS256. Used by the CLI and tests to mint dev tokens.
pub fn sign(claims: &Map<String, Value>, secret: &[u8]) -> String {
    let header = Header { alg: "HS256".into(), typ: Some("JWT".into()) };
    let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serialises"));
    let payload_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(header_b64.as_bytes());
    mac.update(b".");
    mac.update(payload_b64.as_bytes());
    let signature_b64 = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header_b64}.{payload_b64}.{signature_b64}")
}

/// The claims of a Supabase access token for `role`, issued at `now`, valid for
/// `ttl_seconds`. `sub` is the user id for `authenticated` tokens.
pub fn access_token_claims(role: &str, sub: Option<&str>, now: i64, ttl_seconds: i64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from("supabase-demo"));
    claims.insert("role".into(), Value::from(role));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + ttl_seconds));
    if let Some(sub) = sub {
        claims.insert("sub".into(), Value::from(sub));
        claims.insert("aud".into(), Value::from("authenticated"));
        claims.insert("aal".into(), Value::from("aal1"));
        claims.insert("is_anonymous".into(), Value::from(false));
    }
    claims
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

fn optional_seconds(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_i64().or_else(|| value.as_f64().map(|f| f as i64)).map(Some).ok_or(JwtError::MissingClaim(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
    const NOW: i64 = 1_800_000_000;

    fn user_token(ttl: i64) -> String {
        sign(&access_token_claims("authenticated", Some("6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001"), NOW, ttl), SECRET)
    }

    fn forge(header: &str, payload: &str, signature: &str) -> String {
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload), signature)
    }

    #[test]
    fn minted_token_verifies_with_its_claims() {
        let claims = verify(&user_token(3600), SECRET, NOW + 10).unwrap();
        assert_eq!(claims.role, "authenticated");
        assert_eq!(claims.sub.as_deref(), Some("6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001"));
        assert_eq!(claims.exp, Some(NOW + 3600));
        let json: Value = serde_json::from_str(&claims.to_json()).unwrap();
        assert_eq!(json["aud"], "authenticated");
    }

    #[test]
    fn wrong_secret_is_a_bad_signature() {
        assert_eq!(verify(&user_token(3600), b"another-secret", NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn tampered_payload_is_a_bad_signature() {
        let token = user_token(3600);
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(br#"{"role":"service_role","exp":9999999999}"#);
        let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(verify(&forged, SECRET, NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn alg_none_is_refused_even_without_signature() {
        let token = forge(r#"{"alg":"none","typ":"JWT"}"#, r#"{"role":"service_role"}"#, "");
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::UnsupportedAlgorithm("none".into())));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let token = forge(r#"{"alg":"RS256"}"#, r#"{"role":"service_role"}"#, "c2ln");
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::UnsupportedAlgorithm("RS256".into())));
    }

    #[test]
    fn expired_token_is_refused_after_leeway() {
        let token = user_token(60);
        assert!(verify(&token, SECRET, NOW + 60 + LEEWAY_SECONDS).is_ok());
        assert_eq!(verify(&token, SECRET, NOW + 61 + LEEWAY_SECONDS), Err(JwtError::Expired));
    }

    #[test]
    fn not_before_in_the_future_is_refused() {
        let mut claims = access_token_claims("authenticated", Some("u"), NOW, 3600);
        claims.insert("nbf".into(), Value::from(NOW + 600));
        assert_eq!(verify(&sign(&claims, SECRET), SECRET, NOW), Err(JwtError::NotYetValid));
    }

    #[test]
    fn token_without_role_is_refused() {
        let mut claims = access_token_claims("authenticated", Some("u"), NOW, 3600);
        claims.remove("role");
        assert_eq!(verify(&sign(&claims, SECRET), SECRET, NOW), Err(JwtError::MissingClaim("role")));
    }

    #[test]
    fn garbage_is_malformed() {
        for token in ["", "a.b", "a.b.c.d", "!!!.???.***", &forge("not json", "{}", "")] {
            assert_eq!(verify(token, SECRET, NOW), Err(JwtError::Malformed), "{token}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER\tabc"), Some("abc"));
        for value in ["", "Bearer", "Bearer ", "Bearerabc", "Basic abc", "Bearé abc"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn verifier_checks_with_its_secret() {
        let verifier = Verifier::hs256(SECRET);
        assert!(verifier.verify(&user_token(3600), NOW).is_ok());
        assert_eq!(Verifier::hs256(b"other").verify(&user_token(3600), NOW), Err(JwtError::BadSignature));
    }

    #[test]
    fn non_numeric_exp_is_refused() {
        let mut claims = access_token_claims("authenticated", Some("u"), NOW, 3600);
        claims.insert("exp".into(), Value::from("tomorrow"));
        assert_eq!(verify(&sign(&claims, SECRET), SECRET, NOW), Err(JwtError::MissingClaim("exp")));
    }
}
