//! The Storage API client, as data: requests to build and answers to read,
//! in supabase/storage's JSON (under `/storage/v1`).
//!
//! - copy: `POST /object/copy` `{bucketId, sourceKey, destinationKey,
//!   destinationBucket}` with `x-upsert: true`, so a retried save overwrites
//!   its own earlier copy instead of failing on it;
//! - batch sign: `POST /object/sign/{bucket}` `{expiresIn, paths}` →
//!   `[{error, path, signedURL}]`, `signedURL` relative to `/storage/v1`;
//! - delete: `DELETE /object/{bucket}` `{prefixes}` (≤ 1000 names) → the
//!   objects removed; names already gone are simply absent, which counts as
//!   done.
//!
//! The Spin adapter sends a [`StorageRequest`] over `spin_sdk::http` and
//! hands status + body back to the `read_*` functions here.

use crate::error::EdgeError;
use http::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Supabase caps `DELETE /object/{bucket}` at 1000 names.
pub const MAX_DELETE_PREFIXES: usize = 1000;

/// Lifetime of the signed URLs in a workspace listing.
pub const SIGNED_URL_SECONDS: u32 = 3600;

/// Whose authority a Storage call uses. User calls carry the user's token so
/// Storage's RLS policies decide; `apikey` is forwarded when the client sent
/// one (a gateway in front of Storage may require it).
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    User { token: &'a str, apikey: Option<&'a str> },
    ServiceRole { key: &'a str },
}

/// An outbound Storage request.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A Storage failure: the HTTP status (0 when the request never got an
/// answer) and what Storage said. Logged, never shown verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFailure {
    pub status: u16,
    pub message: String,
}

impl StorageFailure {
    /// The request could not be sent or its answer not read.
    pub fn transport(detail: impl std::fmt::Display) -> Self {
        StorageFailure { status: 0, message: detail.to_string() }
    }

    fn from_answer(status: u16, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct ErrorBody {
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            message: Option<String>,
        }
        let message = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { error, message }) => [error, message].into_iter().flatten().collect::<Vec<_>>().join(": "),
            Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        };
        StorageFailure { status, message }
    }
}

impl From<StorageFailure> for EdgeError {
    /// A Storage failure that aborts a whole request: Storage is a dependency,
    /// so the client is told to retry (503); the cause goes to stderr.
    fn from(failure: StorageFailure) -> EdgeError {
        EdgeError::unavailable("storage", format!("HTTP {}: {}", failure.status, failure.message))
    }
}

/// Builds requests against one Supabase URL.
#[derive(Debug, Clone, Copy)]
pub struct StorageClient<'a> {
    supabase_url: &'a str,
}

impl<'a> StorageClient<'a> {
    /// `supabase_url` without trailing slash (as [`crate::config::Config`] holds it).
    pub fn new(supabase_url: &'a str) -> Self {
        StorageClient { supabase_url }
    }

    /// Copy `from_bucket/from_key` to `to_bucket/to_key`, overwriting.
    pub fn copy(&self, credential: Credential<'_>, from_bucket: &str, from_key: &str, to_bucket: &str, to_key: &str) -> StorageRequest {
        let body = json!({
            "bucketId": from_bucket,
            "sourceKey": from_key,
            "destinationBucket": to_bucket,
            "destinationKey": to_key,
        });
        let mut request = self.json_request(Method::POST, "/object/copy", credential, &body);
        request.headers.push(("x-upsert", "true".to_owned()));
        request
    }

    /// Sign every name in `paths` of `bucket` in one request.
    pub fn sign_batch(&self, credential: Credential<'_>, bucket: &str, paths: &[String], expires_in: u32) -> StorageRequest {
        let body = json!({"expiresIn": expires_in, "paths": paths});
        self.json_request(Method::POST, &format!("/object/sign/{bucket}"), credential, &body)
    }

    /// Delete `names` (≤ [`MAX_DELETE_PREFIXES`]) of `bucket`.
    pub fn delete(&self, credential: Credential<'_>, bucket: &str, names: &[String]) -> StorageRequest {
        let body = json!({"prefixes": names});
        self.json_request(Method::DELETE, &format!("/object/{bucket}"), credential, &body)
    }

    /// An absolute URL for a `signedURL` Storage returned relative to
    /// `/storage/v1` (older versions return it absolute already).
    pub fn absolute_signed_url(&self, signed_url: &str) -> String {
        if signed_url.starts_with("http://") || signed_url.starts_with("https://") {
            signed_url.to_owned()
        } else {
            format!("{}/storage/v1{}", self.supabase_url, signed_url)
        }
    }

    fn json_request(&self, method: Method, path: &str, credential: Credential<'_>, body: &Value) -> StorageRequest {
        let (token, apikey) = match credential {
            Credential::User { token, apikey } => (token, apikey),
            Credential::ServiceRole { key } => (key, Some(key)),
        };
        let mut headers = vec![("authorization", format!("Bearer {token}")), ("content-type", "application/json".to_owned())];
        if let Some(apikey) = apikey {
            headers.push(("apikey", apikey.to_owned()));
        }
        StorageRequest {
            method,
            url: format!("{}/storage/v1{}", self.supabase_url, path),
            headers,
            body: body.to_string().into_bytes(),
        }
    }
}

/// Read a copy answer: any 2xx is success.
pub fn read_copy(status: u16, body: &[u8]) -> Result<(), StorageFailure> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(StorageFailure::from_answer(status, body))
    }
}

/// Read a delete answer: any 2xx means every name sent is gone (deleted now
/// or before).
pub fn read_delete(status: u16, body: &[u8]) -> Result<(), StorageFailure> {
    read_copy(status, body)
}

/// Read a batch-sign answer into `name → absolute signed URL`; names Storage
/// could not sign (missing object, no access) are left out.
pub fn read_sign_batch(client: &StorageClient<'_>, status: u16, body: &[u8]) -> Result<HashMap<String, String>, StorageFailure> {
    if !(200..300).contains(&status) {
        return Err(StorageFailure::from_answer(status, body));
    }
    #[derive(Deserialize)]
    struct Signed {
        #[serde(default)]
        path: Option<String>,
        #[serde(default, rename = "signedURL")]
        signed_url: Option<String>,
        #[serde(default)]
        error: Option<Value>,
    }
    let entries: Vec<Signed> = serde_json::from_slice(body)
        .map_err(|error| StorageFailure { status, message: format!("unexpected batch-sign answer: {error}") })?;
    Ok(entries
        .into_iter()
        .filter(|entry| entry.error.as_ref().is_none_or(Value::is_null))
        .filter_map(|entry| Some((entry.path?, client.absolute_signed_url(&entry.signed_url?))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:54321";

    fn header<'r>(request: &'r StorageRequest, name: &str) -> Option<&'r str> {
        request.headers.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }

    fn body(request: &StorageRequest) -> Value {
        serde_json::from_slice(&request.body).unwrap()
    }

    #[test]
    fn copy_speaks_supabase_json_with_upsert_and_the_users_token() {
        let client = StorageClient::new(BASE);
        let user = Credential::User { token: "user-jwt", apikey: Some("anon-key") };
        let request = client.copy(user, "workspace-temp", "u/j/0.png", "user-library", "u/l.png");
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.url, "http://127.0.0.1:54321/storage/v1/object/copy");
        assert_eq!(header(&request, "authorization"), Some("Bearer user-jwt"));
        assert_eq!(header(&request, "apikey"), Some("anon-key"));
        assert_eq!(header(&request, "x-upsert"), Some("true"));
        assert_eq!(
            body(&request),
            json!({"bucketId": "workspace-temp", "sourceKey": "u/j/0.png", "destinationBucket": "user-library", "destinationKey": "u/l.png"})
        );
    }

    #[test]
    fn batch_sign_is_one_request_for_all_paths() {
        let client = StorageClient::new(BASE);
        let paths = vec!["u/j/0.png".to_owned(), "u/j/thumbnails/0.jpg".to_owned()];
        let request = client.sign_batch(Credential::User { token: "t", apikey: None }, "workspace-temp", &paths, 3600);
        assert_eq!(request.url, "http://127.0.0.1:54321/storage/v1/object/sign/workspace-temp");
        assert_eq!(header(&request, "apikey"), None);
        assert_eq!(body(&request), json!({"expiresIn": 3600, "paths": ["u/j/0.png", "u/j/thumbnails/0.jpg"]}));
    }

    #[test]
    fn delete_uses_prefixes_and_the_service_role_key() {
        let client = StorageClient::new(BASE);
        let request = client.delete(Credential::ServiceRole { key: "service-key" }, "user-library", &["a".to_owned()]);
        assert_eq!(request.method, Method::DELETE);
        assert_eq!(request.url, "http://127.0.0.1:54321/storage/v1/object/user-library");
        assert_eq!(header(&request, "authorization"), Some("Bearer service-key"));
        assert_eq!(header(&request, "apikey"), Some("service-key"));
        assert_eq!(body(&request), json!({"prefixes": ["a"]}));
    }

    #[test]
    fn batch_sign_answer_maps_names_to_absolute_urls_skipping_errors() {
        let client = StorageClient::new(BASE);
        let answer = json!([
            {"path": "u/j/0.png", "signedURL": "/object/sign/workspace-temp/u/j/0.png?token=abc", "error": null},
            {"path": "u/j/1.png", "signedURL": null, "error": "Either the object does not exist or you do not have access to it"},
            {"path": "u/j/2.png", "signedURL": "https://cdn.example/u/j/2.png?token=x", "error": null}
        ]);
        let urls = read_sign_batch(&client, 200, answer.to_string().as_bytes()).unwrap();
        assert_eq!(urls.len(), 2);
        assert_eq!(urls["u/j/0.png"], "http://127.0.0.1:54321/storage/v1/object/sign/workspace-temp/u/j/0.png?token=abc");
        assert_eq!(urls["u/j/2.png"], "https://cdn.example/u/j/2.png?token=x");
    }

    #[test]
    fn storage_error_bodies_are_read_and_become_503() {
        let answer = json!({"statusCode": "404", "code": "not_found", "error": "not_found", "message": "Object not found"});
        let failure = read_copy(400, answer.to_string().as_bytes()).unwrap_err();
        assert_eq!(failure, StorageFailure { status: 400, message: "not_found: Object not found".into() });
        let client = StorageClient::new(BASE);
        assert_eq!(read_sign_batch(&client, 200, b"<html>").unwrap_err().status, 200);
        let error: EdgeError = read_delete(500, b"<html>oops</html>").unwrap_err().into();
        assert_eq!(error.status(), 503);
        assert!(!error.message.contains("oops"));
        assert!(read_delete(200, b"[]").is_ok());
    }
}
