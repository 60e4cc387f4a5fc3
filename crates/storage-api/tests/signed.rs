//! Signed URLs: made for objects the caller can see, usable without
//! credentials until they expire, useless once altered.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{start, user, Stack, User};
use serde_json::json;

async fn signed_url(stack: &Stack, who: &User, name: &str, expires_in: i64) -> String {
    let reply = stack.post_json(Some(&who.token), &format!("/object/sign/media/{name}"), json!({"expiresIn": expires_in})).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    reply.json()["signedURL"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn signed_url_downloads_without_credentials() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/s.png", alice.id);
    stack.upload(&alice.token, "media", &name, "image/png", b"signed bytes", false).await;
    let url = signed_url(&stack, &alice, &name, 60).await;
    assert!(url.starts_with(&format!("/object/sign/media/{name}?token=")), "{url}");
    let reply = stack.get(None, &url).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"signed bytes");
    assert_eq!(reply.header("content-type"), Some("image/png"));
    assert!(reply.header("expires").is_some_and(|e| e.ends_with("GMT")));
}

#[tokio::test]
async fn signed_url_fails_after_it_expires() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/short.png", alice.id);
    stack.upload(&alice.token, "media", &name, "image/png", b"short-lived", false).await;
    let url = signed_url(&stack, &alice, &name, 1).await;
    assert_eq!(stack.get(None, &url).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let body = stack.get(None, &url).await.assert_error(400, "400", "ExpiredToken");
    assert_eq!(body["message"], "The provided token has expired.");
}

#[tokio::test]
async fn altered_signed_urls_are_refused() {
    let stack = start().await;
    let alice = user();
    let (name, other) = (format!("{}/a.png", alice.id), format!("{}/b.png", alice.id));
    stack.upload(&alice.token, "media", &name, "image/png", b"a", false).await;
    stack.upload(&alice.token, "media", &other, "image/png", b"b", false).await;
    let url = signed_url(&stack, &alice, &name, 60).await;
    let token = url.split_once("?token=").unwrap().1;

    // Another object with this token.
    stack.get(None, &format!("/object/sign/media/{other}?token={token}")).await.assert_error(400, "400", "InvalidSignature");
    // Another bucket with this token.
    stack.get(None, &format!("/object/sign/library/{name}?token={token}")).await.assert_error(400, "400", "InvalidSignature");
    // A changed signature.
    let flipped = if token.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{flipped}", &token[..token.len() - 1]);
    stack.get(None, &format!("/object/sign/media/{name}?token={forged}")).await.assert_error(400, "400", "InvalidJWT");
    // A payload rewritten to name the other object, signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let payload = format!(r#"{{"url":"media/{other}","scope":"download","role":"anon","exp":9999999999}}"#);
    let rewritten = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload), parts[2]);
    stack.get(None, &format!("/object/sign/media/{other}?token={rewritten}")).await.assert_error(400, "400", "InvalidJWT");
    // An access token is not a signed URL.
    stack.get(None, &format!("/object/sign/media/{name}?token={}", alice.token)).await.assert_error(400, "400", "InvalidJWT");
    // No token at all.
    stack.get(None, &format!("/object/sign/media/{name}")).await.assert_error(400, "400", "InvalidRequest");
    // The genuine URL still works.
    assert_eq!(stack.get(None, &url).await.status, 200);
}

#[tokio::test]
async fn batch_signing_signs_own_paths_and_reports_the_others_per_item() {
    let stack = start().await;
    let (alice, bob) = (user(), user());
    let own: Vec<String> = (0..2).map(|i| format!("{}/{i}.png", alice.id)).collect();
    for name in &own {
        stack.upload(&alice.token, "media", name, "image/png", name.as_bytes(), false).await;
    }
    let foreign = format!("{}/bob.png", bob.id);
    stack.upload(&bob.token, "media", &foreign, "image/png", b"bob", false).await;
    let missing = format!("{}/missing.png", alice.id);
    let paths = json!([own[0], foreign, own[1], missing]);
    let reply = stack.post_json(Some(&alice.token), "/object/sign/media", json!({"expiresIn": 60, "paths": paths})).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let items = reply.json();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 4);
    for (item, path) in items.iter().zip(paths.as_array().unwrap()) {
        assert_eq!(&item["path"], path);
    }
    for (i, name) in [(0, &own[0]), (2, &own[1])] {
        assert!(items[i]["error"].is_null());
        let url = items[i]["signedURL"].as_str().unwrap();
        let download = stack.get(None, url).await;
        assert_eq!(download.status, 200);
        assert_eq!(download.body, name.as_bytes());
    }
    for i in [1, 3] {
        assert!(items[i]["signedURL"].is_null());
        assert_eq!(items[i]["error"], "Either the object does not exist or you do not have access to it");
    }
}

#[tokio::test]
async fn signing_requires_a_positive_expiry_and_a_bounded_batch() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/x.png", alice.id);
    stack.upload(&alice.token, "media", &name, "image/png", b"x", false).await;
    for expires_in in [0, -1] {
        let reply = stack.post_json(Some(&alice.token), &format!("/object/sign/media/{name}"), json!({"expiresIn": expires_in})).await;
        reply.assert_error(400, "400", "InvalidParameter");
    }
    stack.post_json(Some(&alice.token), &format!("/object/sign/media/{name}"), json!({})).await.assert_error(400, "400", "InvalidRequest");
    stack
        .post_json(Some(&alice.token), "/object/sign/media", json!({"expiresIn": 60, "paths": []}))
        .await
        .assert_error(400, "400", "InvalidRequest");
}
