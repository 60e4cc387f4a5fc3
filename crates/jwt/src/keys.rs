//! Keys: the public keys a [`crate::Verifier`] reads from a JWKS document, and
//! the [`SigningKey`]s that mint tokens (the CLI, the local stack, tests).
//!
//! Only what Supabase signs access tokens with is loaded: P-256 keys for ES256
//! and RSA keys (2048 to 4096 bits) for RS256, each with a `kid`. Every key is
//! tried once at load time, so a JWKS with a broken signing key fails when the
//! service starts, not as a stream of 401s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Map, Value};

/// RSA moduli accepted, in bytes: 2048 to 4096 bits.
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=512;
/// A P-256 coordinate, in bytes.
const P256_COORDINATE_BYTES: usize = 32;

/// Why a key or a JWKS document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The JWKS is not a `{"keys": [...]}` document of JWKs.
    Jwks(String),
    /// A signing key of the JWKS has no `kid`, so no token could name it.
    MissingKid,
    /// Two keys share a `kid`.
    DuplicateKid(String),
    /// A key's material is unusable (bad encoding, wrong size, not on the curve).
    InvalidKey { kid: String, reason: String },
    /// A private key (PEM) cannot sign with the algorithm asked for.
    InvalidPrivateKey(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Jwks(reason) => write!(f, "the JWKS is not valid: {reason}"),
            KeyError::MissingKid => f.write_str("a signing key of the JWKS has no \"kid\""),
            KeyError::DuplicateKid(kid) => write!(f, "more than one key has kid {kid:?}"),
            KeyError::InvalidKey { kid, reason } => write!(f, "key {kid:?} is not usable: {reason}"),
            KeyError::InvalidPrivateKey(reason) => write!(f, "the private key is not usable: {reason}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A verification key of a JWKS.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The ES256 and RS256 signing keys of `jwks`.
pub(crate) fn parse_jwks(jwks: &str) -> Result<Vec<PublicKey>, KeyError> {
    let set: JwkSet = serde_json::from_str(jwks).map_err(|error| KeyError::Jwks(error.to_string()))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let Some(algorithm) = signing_algorithm(jwk) else { continue };
        let kid = jwk.common.key_id.clone().ok_or(KeyError::MissingKid)?;
        let invalid = |reason: &str| KeyError::InvalidKey { kid: kid.clone(), reason: reason.to_owned() };
        check_size(&jwk.algorithm).map_err(invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|error| invalid(&error.to_string()))?;
        // A verification attempt builds the curve point or RSA key: an
        // invalid one fails here (a valid key merely refuses the signature).
        jsonwebtoken::crypto::verify("AA", b"probe", &key, algorithm).map_err(|error| invalid(&error.to_string()))?;
        if keys.iter().any(|known: &PublicKey| known.kid == kid) {
            return Err(KeyError::DuplicateKid(kid));
        }
        keys.push(PublicKey { kid, algorithm, key });
    }
    Ok(keys)
}

/// ES256 for a P-256 key, RS256 for an RSA key, unless the key says it is for
/// something else (another `alg`, or `use` other than `sig`).
fn signing_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if jwk.common.public_key_use.as_ref().is_some_and(|usage| *usage != PublicKeyUse::Signature) {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(params)
            if params.curve == EllipticCurve::P256 && matches!(declared, None | Some(KeyAlgorithm::ES256)) =>
        {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::RSA(_) if matches!(declared, None | Some(KeyAlgorithm::RS256)) => Some(Algorithm::RS256),
        _ => None,
    }
}

fn check_size(params: &AlgorithmParameters) -> Result<(), &'static str> {
    let decode = |value: &str| URL_SAFE_NO_PAD.decode(value).map_err(|_| "not base64url");
    match params {
        AlgorithmParameters::EllipticCurve(params) => {
            let (x, y) = (decode(&params.x)?, decode(&params.y)?);
            let on_size = x.len() == P256_COORDINATE_BYTES && y.len() == P256_COORDINATE_BYTES;
            on_size.then_some(()).ok_or("P-256 coordinates are 32 bytes")
        }
        AlgorithmParameters::RSA(params) => {
            let significant = decode(&params.n)?.iter().skip_while(|byte| **byte == 0).count();
            if !RSA_MODULUS_BYTES.contains(&significant) {
                return Err("RSA modulus must be 2048 to 4096 bits");
            }
            (!decode(&params.e)?.is_empty()).then_some(()).ok_or("RSA exponent is empty")
        }
        _ => Ok(()),
    }
}

/// A key that mints tokens: the project's HS256 secret, or an ES256/RS256
/// private key whose public half (with its `kid`) goes into the JWKS.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    key: EncodingKey,
    /// The public JWK, `kid` included; `None` for HS256.
    public: Option<Jwk>,
}

impl SigningKey {
    /// The legacy HS256 secret.
    pub fn hs256(secret: &[u8]) -> Result<SigningKey, KeyError> {
        let key = EncodingKey::from_secret(secret).map_err(|_| KeyError::InvalidPrivateKey("the secret is empty".into()))?;
        Ok(SigningKey { algorithm: Algorithm::HS256, key, public: None })
    }

    /// A P-256 private key (PKCS#8 PEM). Its `kid` is the key's RFC 7638
    /// thumbprint, so the same key always has the same id.
    pub fn es256_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let key = EncodingKey::from_ec_pem(pem).map_err(private)?;
        SigningKey::asymmetric(Algorithm::ES256, key)
    }

    /// An RSA private key (PKCS#1 or PKCS#8 PEM) for RS256; `kid` as for ES256.
    pub fn rs256_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(private)?;
        SigningKey::asymmetric(Algorithm::RS256, key)
    }

    fn asymmetric(algorithm: Algorithm, key: EncodingKey) -> Result<SigningKey, KeyError> {
        let mut jwk = Jwk::from_encoding_key(&key, algorithm).map_err(private)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(private)?;
        jwk.common.key_id = Some(kid);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let signing_key = SigningKey { algorithm, key, public: Some(jwk) };
        // The key signs once here, so `sign` cannot fail later.
        signing_key.try_sign(&Map::new()).map_err(private)?;
        Ok(signing_key)
    }

    /// The same key under another `kid` (tests forge tokens that name a
    /// project's key but are signed by another).
    pub fn with_kid(mut self, kid: &str) -> SigningKey {
        if let Some(jwk) = &mut self.public {
            jwk.common.key_id = Some(kid.to_owned());
        }
        self
    }

    /// The `kid` tokens of this key carry; `None` for HS256.
    pub fn kid(&self) -> Option<&str> {
        self.public.as_ref().and_then(|jwk| jwk.common.key_id.as_deref())
    }

    /// The public JWK (`kty`, `crv`/`n`, `x`/`e`, `y`, `kid`, `alg`, `use`),
    /// as it appears in a JWKS; `None` for HS256, whose key is secret.
    pub fn public_jwk(&self) -> Option<Value> {
        self.public.as_ref().and_then(|jwk| serde_json::to_value(jwk).ok())
    }

    /// A token with `claims`, signed by this key (header `alg`, `typ`, and `kid`).
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        self.try_sign(claims).expect("a key that signed when it was loaded signs again")
    }

    fn try_sign(&self, claims: &Map<String, Value>) -> jsonwebtoken::errors::Result<String> {
        let mut header = Header::new(self.algorithm);
        header.kid = self.kid().map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("algorithm", &self.algorithm).field("kid", &self.kid()).finish()
    }
}

fn private(error: jsonwebtoken::errors::Error) -> KeyError {
    KeyError::InvalidPrivateKey(error.to_string())
}
