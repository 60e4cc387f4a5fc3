//! Property tests: whatever a validly signed token holds, and whatever bytes
//! arrive in place of a token, verification answers `Ok` or a `JwtError` —
//! never a panic — and a time claim outside `0..=MAX_TIME` is always refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ourvidz_jwt::{access_token_claims, sign, JwtError, Verifier, MAX_TIME};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
const NOW: i64 = 1_800_000_000;
const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

/// Any JSON value a claim could hold, numbers at every extreme included.
fn any_claim() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(MAX_TIME), Just(MAX_TIME + 1), Just(0), Just(-1)]
            .prop_map(Value::from),
        prop_oneof![Just(1e300), Just(-1e300), Just(9.2e18), Just(f64::MAX), Just(f64::MIN_POSITIVE)].prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[\\x00-\\x1f]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn in_range(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Number(number) => match number.as_i64() {
            Some(seconds) => (0..=MAX_TIME).contains(&seconds),
            None => number.as_f64().is_some_and(|f| (0.0..=MAX_TIME as f64).contains(&f)),
        },
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_claim_values_are_answered_without_panicking(
        name in prop_oneof![Just("exp"), Just("nbf"), Just("iat"), Just("sub"), Just("role"), Just("aud"), Just("x")],
        value in any_claim(),
        now in prop_oneof![any::<i64>(), Just(NOW)],
    ) {
        let mut claims = access_token_claims("authenticated", Some(USER), NOW, 3600);
        claims.insert(name.into(), value.clone());
        let result = Verifier::hs256(SECRET).verify(&sign(&claims, SECRET), now);
        if matches!(name, "exp" | "nbf" | "iat") && !in_range(&value) {
            prop_assert!(result.is_err(), "{name} = {value} was accepted");
        }
        if name == "exp" && value.is_null() {
            prop_assert_eq!(result, Err(JwtError::MissingClaim("exp")));
        }
    }

    #[test]
    fn any_payload_is_answered_without_panicking(payload in prop::collection::btree_map("[a-z]{1,4}", any_claim(), 0..6)) {
        let claims: Map<String, Value> = payload.into_iter().collect();
        let _ = Verifier::hs256(SECRET).verify(&sign(&claims, SECRET), NOW);
    }

    #[test]
    fn any_bytes_in_place_of_a_token_are_refused(parts in prop::collection::vec(".{0,64}", 0..5)) {
        let token = parts.join(".");
        prop_assert!(Verifier::hs256(SECRET).verify(&token, NOW).is_err());
    }

    #[test]
    fn any_header_is_refused_without_the_right_signature(header in any_claim(), kid in ".{0,12}") {
        let mut object = match header {
            Value::Object(object) => object,
            other => Map::from_iter([("alg".to_owned(), other)]),
        };
        object.entry("kid").or_insert(Value::from(kid));
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(object).to_string()),
            URL_SAFE_NO_PAD.encode(json!({"role": "service_role", "exp": NOW + 60}).to_string()),
            URL_SAFE_NO_PAD.encode(b"not a signature"),
        );
        prop_assert!(Verifier::hs256(SECRET).verify(&token, NOW).is_err());
    }
}
