//! The local stack's asymmetric signing key, as a new Supabase project has one:
//! an ES256 (P-256) key pair made on first start and kept under the stack's
//! home as a PKCS#8 PEM file readable by its owner only. Its public half is the
//! project's JWKS, served at `GET /auth/v1/.well-known/jwks.json` as Supabase
//! Auth serves it, and handed to every service that verifies tokens (gateway,
//! functions through the `jwks` Spin variable, Storage, REST, Realtime) next to
//! the legacy HS256 secret. `ourvidz token --alg es256` signs with it.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::routing::get;
use axum::{Json, Router};
use http::{header, HeaderValue, StatusCode};
use ourvidz_jwt::SigningKey;
use p256::elliptic_curve::Generate;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};

/// Where Supabase Auth's routes live; the JWKS is the only one served here.
pub const AUTH_PREFIX: &str = "/auth/v1";
/// The JWKS route, under [`AUTH_PREFIX`].
const JWKS_ROUTE: &str = "/.well-known/jwks.json";
/// Where the JWKS is served, as Supabase Auth serves it.
pub const JWKS_PATH: &str = "/auth/v1/.well-known/jwks.json";
/// The private key's file under the stack's home.
const KEY_FILE: &str = "jwt-signing-key.pem";

/// Why the signing key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{path} does not hold a usable ES256 key: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The stack's ES256 signing key: read from `home`, or made and stored there
/// on first use. Two processes starting at once agree on one key: the file
/// appears whole (written aside, then linked into place) and only once.
pub fn load_or_create(home: &Path) -> Result<SigningKey, KeyFileError> {
    let path = home.join(KEY_FILE);
    if !path.exists() {
        create(home, &path)?;
    }
    let pem = std::fs::read(&path).map_err(|source| KeyFileError::Io { action: "read", path: path.clone(), source })?;
    SigningKey::es256_pem(&pem).map_err(|error| KeyFileError::Invalid { path, reason: error.to_string() })
}

fn create(home: &Path, path: &Path) -> Result<(), KeyFileError> {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError {
        let path = path.to_owned();
        move |source| KeyFileError::Io { action, path, source }
    }
    std::fs::create_dir_all(home).map_err(io("create", home))?;
    let pem = p256::SecretKey::generate()
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|error| KeyFileError::Invalid { path: path.to_owned(), reason: error.to_string() })?;
    let draft = home.join(format!(".{KEY_FILE}.{}", std::process::id()));
    let mut file = open_private(&draft).map_err(io("create", &draft))?;
    let written = file.write_all(pem.as_bytes()).and_then(|()| file.sync_all());
    let linked = written.and_then(|()| std::fs::hard_link(&draft, path));
    let _ = std::fs::remove_file(&draft);
    match linked {
        Ok(()) => Ok(()),
        // Another process made it first: theirs is the key.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(KeyFileError::Io { action: "write", path: path.to_owned(), source: error }),
    }
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// The JWKS document of `keys` (their public halves).
pub fn jwks(keys: &[&SigningKey]) -> String {
    let keys: Vec<Value> = keys.iter().filter_map(|key| key.public_jwk()).collect();
    json!({ "keys": keys }).to_string()
}

/// `GET /.well-known/jwks.json`, for mounting at [`AUTH_PREFIX`]. Other
/// methods and paths answer JSON errors in Supabase Auth's shape.
pub fn router(jwks: String) -> Router {
    let document = move || {
        let body = jwks.clone();
        async move {
            let headers = [
                (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=600")),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            ];
            (headers, body)
        }
    };
    let error = |status: StatusCode, error_code: &'static str, msg: &'static str| {
        move || async move { (status, Json(json!({"code": status.as_u16(), "error_code": error_code, "msg": msg}))) }
    };
    Router::new()
        .route(JWKS_ROUTE, get(document))
        .fallback(error(StatusCode::NOT_FOUND, "not_found", "Not found"))
        .method_not_allowed_fallback(error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ourvidz-keys-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn first_start_makes_a_private_key_and_later_starts_reuse_it() {
        use std::os::unix::fs::PermissionsExt;
        let home = home("reuse");
        let first = load_or_create(&home).unwrap();
        let second = load_or_create(&home).unwrap();
        assert_eq!(first.kid(), second.kid());
        let mode = std::fs::metadata(home.join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is readable by others: {mode:o}");
        let other = load_or_create(&self::home("other")).unwrap();
        assert_ne!(first.kid(), other.kid());
    }

    #[test]
    fn jwks_holds_the_public_key_that_verifies_its_tokens() {
        let key = load_or_create(&home("jwks")).unwrap();
        let document = jwks(&[&key]);
        assert!(!document.contains("\"d\""), "private part published: {document}");
        let verifier = ourvidz_jwt::Verifier::hs256(b"secret").with_jwks(&document).unwrap();
        let token = key.sign(&ourvidz_jwt::access_token_claims("anon", None, 1_800_000_000, 60));
        assert!(verifier.verify(&token, 1_800_000_000).is_ok());
    }

    #[test]
    fn the_jwks_route_is_under_the_auth_prefix() {
        assert_eq!(format!("{AUTH_PREFIX}{JWKS_ROUTE}"), JWKS_PATH);
    }

    #[test]
    fn a_damaged_key_file_is_an_error() {
        let home = home("damaged");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join(KEY_FILE), "not a key").unwrap();
        assert!(matches!(load_or_create(&home), Err(KeyFileError::Invalid { .. })));
    }
}
