//! Asymmetric tokens (ES256, RS256) against a JWKS, as new Supabase projects
//! sign them, and the refusals around them: unknown or missing `kid`, a key
//! of another kind than the algorithm, a signature by another key under the
//! project's `kid`, and the HS256-with-the-public-key confusion.
//!
//! The PEM files under `tests/keys/` are throwaway keys made for these tests
//! with `openssl genpkey` (P-256 twice, P-384, RSA-2048).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ourvidz_jwt::{access_token_claims, JwtError, KeyError, SigningKey, Verifier};
use serde_json::{json, Value};

const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
const NOW: i64 = 1_800_000_000;
const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

fn es256_a() -> SigningKey {
    SigningKey::es256_pem(include_bytes!("keys/es256-a.pem")).unwrap()
}

fn es256_b() -> SigningKey {
    SigningKey::es256_pem(include_bytes!("keys/es256-b.pem")).unwrap()
}

fn rs256() -> SigningKey {
    SigningKey::rs256_pem(include_bytes!("keys/rs256.pem")).unwrap()
}

fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.public_jwk().unwrap()).collect::<Vec<_>>()}).to_string()
}

/// The project: its legacy secret and a JWKS with an ES256 and an RS256 key.
fn project() -> Verifier {
    Verifier::hs256(SECRET).with_jwks(&jwks(&[&es256_a(), &rs256()])).unwrap()
}

fn user_token(key: &SigningKey) -> String {
    key.sign(&access_token_claims("authenticated", Some(USER), NOW, 3600))
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

fn reheader(token: &str, header: Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

#[test]
fn es256_token_round_trips_through_the_jwks() {
    let token = user_token(&es256_a());
    assert_eq!(header_of(&token)["alg"], "ES256");
    assert_eq!(header_of(&token)["kid"], es256_a().kid().unwrap());
    let claims = project().verify(&token, NOW).unwrap();
    assert_eq!(claims.role, "authenticated");
    assert_eq!(claims.sub.as_deref(), Some(USER));
}

#[test]
fn rs256_token_round_trips_through_the_jwks() {
    let token = rs256().sign(&access_token_claims("service_role", None, NOW, 60));
    assert_eq!(header_of(&token)["alg"], "RS256");
    assert_eq!(project().verify(&token, NOW).unwrap().role, "service_role");
}

#[test]
fn hs256_tokens_still_verify_next_to_a_jwks() {
    let token = ourvidz_jwt::sign(&access_token_claims("authenticated", Some(USER), NOW, 60), SECRET);
    assert!(project().verify(&token, NOW).is_ok());
}

#[test]
fn kid_selects_the_key() {
    // Both ES256 keys are in the set; each token verifies with its own key only.
    let both = Verifier::hs256(SECRET).with_jwks(&jwks(&[&es256_a(), &es256_b()])).unwrap();
    assert!(both.verify(&user_token(&es256_a()), NOW).is_ok());
    assert!(both.verify(&user_token(&es256_b()), NOW).is_ok());
    let swapped = reheader(&user_token(&es256_a()), json!({"alg": "ES256", "kid": es256_b().kid()}));
    assert_eq!(both.verify(&swapped, NOW), Err(JwtError::BadSignature));
}

#[test]
fn another_key_under_the_projects_kid_is_a_bad_signature() {
    let forger = es256_b().with_kid(es256_a().kid().unwrap());
    assert_eq!(project().verify(&user_token(&forger), NOW), Err(JwtError::BadSignature));
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    assert_eq!(project().verify(&user_token(&es256_b()), NOW), Err(JwtError::UnknownKey));
    let no_kid = reheader(&user_token(&es256_a()), json!({"alg": "ES256", "typ": "JWT"}));
    assert_eq!(project().verify(&no_kid, NOW), Err(JwtError::UnknownKey));
    assert_eq!(Verifier::hs256(SECRET).verify(&user_token(&es256_a()), NOW), Err(JwtError::UnknownKey));
}

#[test]
fn algorithm_must_match_the_kind_of_key() {
    let es_as_rs = reheader(&user_token(&es256_a()), json!({"alg": "RS256", "kid": es256_a().kid()}));
    assert_eq!(project().verify(&es_as_rs, NOW), Err(JwtError::KeyMismatch));
    let rs_as_es = reheader(&user_token(&rs256()), json!({"alg": "ES256", "kid": rs256().kid()}));
    assert_eq!(project().verify(&rs_as_es, NOW), Err(JwtError::KeyMismatch));
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    // The classic confusion: HMAC keyed with the published key material.
    let public = jwks(&[&es256_a()]);
    let forged = ourvidz_jwt::sign(&access_token_claims("service_role", None, NOW, 60), public.as_bytes());
    let forged = reheader(&forged, json!({"alg": "HS256", "kid": es256_a().kid()}));
    assert_eq!(project().verify(&forged, NOW), Err(JwtError::BadSignature));
}

#[test]
fn alg_none_with_a_known_kid_is_refused() {
    let token = reheader(&user_token(&es256_a()), json!({"alg": "none", "kid": es256_a().kid()}));
    let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
    assert_eq!(project().verify(&unsigned, NOW), Err(JwtError::UnsupportedAlgorithm("none".into())));
}

#[test]
fn truncated_or_garbled_signatures_are_refused() {
    let token = user_token(&es256_a());
    let (message, signature) = token.rsplit_once('.').unwrap();
    for bad in ["", "AA", &signature[..signature.len() / 2], &"A".repeat(86), "!!!!"] {
        let result = project().verify(&format!("{message}.{bad}"), NOW);
        assert!(matches!(result, Err(JwtError::BadSignature | JwtError::Malformed)), "{bad:?}: {result:?}");
    }
}

#[test]
fn public_jwk_has_what_supabase_publishes() {
    let jwk = es256_a().public_jwk().unwrap();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["alg"], "ES256");
    assert_eq!(jwk["use"], "sig");
    assert!(jwk["x"].is_string() && jwk["y"].is_string());
    assert!(jwk.get("d").is_none(), "the private scalar must not be published: {jwk}");
    let rsa = rs256().public_jwk().unwrap();
    assert_eq!((rsa["kty"].as_str(), rsa["alg"].as_str()), (Some("RSA"), Some("RS256")));
    assert!(rsa.get("d").is_none());
    assert!(SigningKey::hs256(SECRET).unwrap().public_jwk().is_none());
}

#[test]
fn kid_is_the_keys_thumbprint_and_stable() {
    assert_eq!(es256_a().kid(), es256_a().kid());
    assert_ne!(es256_a().kid(), es256_b().kid());
}

#[test]
fn supabase_shaped_jwks_is_read() {
    // The shape of a Supabase project's /auth/v1/.well-known/jwks.json.
    let mut jwk = es256_a().public_jwk().unwrap();
    jwk["key_ops"] = json!(["verify"]);
    jwk["ext"] = json!(true);
    let verifier = Verifier::hs256(SECRET).with_jwks(&json!({"keys": [jwk]}).to_string()).unwrap();
    assert!(verifier.verify(&user_token(&es256_a()), NOW).is_ok());
}

#[test]
fn keys_of_other_kinds_are_skipped() {
    let p384 = json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"});
    let ed = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let oct = json!({"kty": "oct", "kid": "oct", "k": "c2VjcmV0"});
    let encryption = {
        let mut jwk = es256_b().public_jwk().unwrap();
        jwk["use"] = json!("enc");
        jwk
    };
    let declared_other = {
        let mut jwk = rs256().public_jwk().unwrap();
        jwk["alg"] = json!("RS512");
        jwk
    };
    let document = json!({"keys": [p384, ed, oct, encryption, declared_other, es256_a().public_jwk().unwrap()]});
    let verifier = Verifier::hs256(SECRET).with_jwks(&document.to_string()).unwrap();
    assert_eq!(format!("{verifier:?}"), format!("Verifier {{ hs256: true, kids: [{:?}] }}", es256_a().kid().unwrap()));
    assert_eq!(verifier.verify(&user_token(&es256_b()), NOW), Err(JwtError::UnknownKey));
    assert_eq!(verifier.verify(&user_token(&rs256()), NOW), Err(JwtError::UnknownKey));
}

#[test]
fn malformed_jwks_documents_are_errors() {
    let load = |document: Value| Verifier::hs256(SECRET).with_jwks(&document.to_string()).map(|_| ());
    assert!(matches!(Verifier::hs256(SECRET).with_jwks("not json"), Err(KeyError::Jwks(_))));
    assert!(matches!(load(json!([])), Err(KeyError::Jwks(_))));
    assert!(load(json!({"keys": []})).is_ok());

    let mut no_kid = es256_a().public_jwk().unwrap();
    no_kid.as_object_mut().unwrap().remove("kid");
    assert_eq!(load(json!({"keys": [no_kid]})), Err(KeyError::MissingKid));

    let key = es256_a().public_jwk().unwrap();
    assert!(matches!(load(json!({"keys": [key.clone(), key]})), Err(KeyError::DuplicateKid(_))));

    let mut off_curve = es256_a().public_jwk().unwrap();
    off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    assert!(matches!(load(json!({"keys": [off_curve]})), Err(KeyError::InvalidKey { .. })));

    let mut short = es256_a().public_jwk().unwrap();
    short["x"] = json!("AAAA");
    assert!(matches!(load(json!({"keys": [short]})), Err(KeyError::InvalidKey { .. })));

    let mut weak = rs256().public_jwk().unwrap();
    weak["n"] = json!(URL_SAFE_NO_PAD.encode([0xffu8; 128]));
    assert!(matches!(load(json!({"keys": [weak]})), Err(KeyError::InvalidKey { .. })));
}

#[test]
fn jwks_keys_add_to_earlier_ones() {
    let verifier = Verifier::hs256(SECRET)
        .with_jwks(&jwks(&[&es256_a()]))
        .unwrap()
        .with_jwks(&jwks(&[&rs256()]))
        .unwrap();
    assert!(verifier.verify(&user_token(&es256_a()), NOW).is_ok());
    assert!(verifier.verify(&user_token(&rs256()), NOW).is_ok());
    assert!(matches!(verifier.with_jwks(&jwks(&[&rs256()])), Err(KeyError::DuplicateKid(_))));
}

#[test]
fn private_keys_of_the_wrong_kind_are_refused() {
    assert!(SigningKey::es256_pem(include_bytes!("keys/es384.pem")).is_err());
    assert!(SigningKey::es256_pem(include_bytes!("keys/rs256.pem")).is_err());
    assert!(SigningKey::rs256_pem(include_bytes!("keys/es256-a.pem")).is_err());
    assert!(SigningKey::es256_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
    assert!(SigningKey::hs256(b"").is_err());
}

#[test]
fn asymmetric_tokens_follow_the_same_claim_rules() {
    let key = es256_a();
    let mut claims = access_token_claims("authenticated", Some(USER), NOW, 3600);
    claims.insert("exp".into(), json!(i64::MAX));
    assert_eq!(project().verify(&key.sign(&claims), NOW), Err(JwtError::MissingClaim("exp")));
    claims.insert("exp".into(), json!(NOW - 3600));
    assert_eq!(project().verify(&key.sign(&claims), NOW), Err(JwtError::Expired));
    claims.insert("exp".into(), json!(NOW + 60));
    claims.insert("sub".into(), json!("worker-1"));
    assert_eq!(project().verify(&key.sign(&claims), NOW), Err(JwtError::MissingClaim("sub")));
}
