//! One user cannot reach another's objects through any route: the policies
//! on `storage.objects` decide, and what they hide does not exist.

mod common;

use common::{service_token, start, user, Stack, User};
use serde_json::json;

const SECRET_CONTENT: &[u8] = b"alice's private picture";

/// Alice and Bob, and an object of Alice's.
async fn alice_bob_and_object(stack: &Stack) -> (User, User, String) {
    let (alice, bob) = (user(), user());
    let name = format!("{}/private.png", alice.id);
    assert_eq!(stack.upload(&alice.token, "media", &name, "image/png", SECRET_CONTENT, false).await.status, 200);
    (alice, bob, name)
}

async fn assert_untouched(stack: &Stack, name: &str) {
    assert_eq!(stack.file("media", name).as_deref(), Some(SECRET_CONTENT));
    assert_eq!(stack.rows("media", name).await, 1);
}

#[tokio::test]
async fn another_user_cannot_read_an_object() {
    let stack = start().await;
    let (_alice, bob, name) = alice_bob_and_object(&stack).await;
    for path in [format!("/object/authenticated/media/{name}"), format!("/object/media/{name}")] {
        let reply = stack.get(Some(&bob.token), &path).await;
        reply.assert_error(400, "404", "NoSuchKey");
        assert!(!String::from_utf8_lossy(&reply.body).contains("private picture"));
    }
    assert_eq!(stack.head(Some(&bob.token), &format!("/object/media/{name}")).await.status, 400);
    // The service role bypasses RLS.
    assert_eq!(stack.get(Some(&service_token()), &format!("/object/media/{name}")).await.body, SECRET_CONTENT);
}

#[tokio::test]
async fn another_user_cannot_list_objects() {
    let stack = start().await;
    let (alice, bob, _name) = alice_bob_and_object(&stack).await;
    for prefix in [alice.id.clone(), String::new()] {
        let reply = stack.post_json(Some(&bob.token), "/object/list/media", json!({"prefix": prefix})).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), json!([]), "prefix {prefix:?}");
    }
    let own = stack.post_json(Some(&alice.token), "/object/list/media", json!({"prefix": alice.id})).await.json();
    assert_eq!(own.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn another_user_cannot_overwrite_an_object() {
    let stack = start().await;
    let (_alice, bob, name) = alice_bob_and_object(&stack).await;
    stack.upload(&bob.token, "media", &name, "image/png", b"bob was here", true).await.assert_error(400, "403", "AccessDenied");
    stack.put(&bob.token, "media", &name, "image/png", b"bob was here").await.assert_error(400, "403", "AccessDenied");
    stack.upload(&bob.token, "media", &name, "image/png", b"bob was here", false).await.assert_error(400, "403", "AccessDenied");
    assert_untouched(&stack, &name).await;
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn another_user_cannot_move_an_object_away_or_into_a_foreign_folder() {
    let stack = start().await;
    let (alice, bob, name) = alice_bob_and_object(&stack).await;
    let stolen = format!("{}/stolen.png", bob.id);
    let reply = stack
        .post_json(Some(&bob.token), "/object/move", json!({"bucketId": "media", "sourceKey": name, "destinationKey": stolen}))
        .await;
    reply.assert_error(400, "404", "NoSuchKey");
    assert_untouched(&stack, &name).await;
    assert!(stack.file("media", &stolen).is_none());

    let planted = format!("{}/planted.png", alice.id);
    let own = format!("{}/own.png", bob.id);
    stack.upload(&bob.token, "media", &own, "image/png", b"bob", false).await;
    let reply = stack
        .post_json(Some(&bob.token), "/object/move", json!({"bucketId": "media", "sourceKey": own, "destinationKey": planted}))
        .await;
    reply.assert_error(400, "403", "AccessDenied");
    assert_eq!(stack.file("media", &own).unwrap(), b"bob");
    assert!(stack.file("media", &planted).is_none());
    assert_eq!(stack.rows("media", &planted).await, 0);
}

#[tokio::test]
async fn another_user_cannot_copy_an_object_out_or_into_a_foreign_folder() {
    let stack = start().await;
    let (alice, bob, name) = alice_bob_and_object(&stack).await;
    let stolen = format!("{}/stolen.png", bob.id);
    let reply = stack
        .post_json(Some(&bob.token), "/object/copy", json!({"bucketId": "media", "sourceKey": name, "destinationKey": stolen}))
        .await;
    reply.assert_error(400, "404", "NoSuchKey");
    assert!(stack.file("media", &stolen).is_none());
    assert_eq!(stack.rows("media", &stolen).await, 0);

    let own = format!("{}/own.png", bob.id);
    stack.upload(&bob.token, "media", &own, "image/png", b"bob", false).await;
    for upsert in ["false", "true"] {
        let reply = stack
            .post_json_with(
                &bob.token,
                "/object/copy",
                json!({"bucketId": "media", "sourceKey": own, "destinationKey": name}),
                ("x-upsert", upsert),
            )
            .await;
        reply.assert_error(400, "403", "AccessDenied");
    }
    assert_untouched(&stack, &name).await;
    let planted = format!("{}/planted.png", alice.id);
    stack
        .post_json(Some(&bob.token), "/object/copy", json!({"bucketId": "media", "sourceKey": own, "destinationKey": planted}))
        .await
        .assert_error(400, "403", "AccessDenied");
    assert!(stack.file("media", &planted).is_none());
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn another_user_cannot_sign_an_object() {
    let stack = start().await;
    let (_alice, bob, name) = alice_bob_and_object(&stack).await;
    let reply = stack.post_json(Some(&bob.token), &format!("/object/sign/media/{name}"), json!({"expiresIn": 60})).await;
    reply.assert_error(400, "404", "NoSuchKey");
    let batch = stack.post_json(Some(&bob.token), "/object/sign/media", json!({"expiresIn": 60, "paths": [name]})).await;
    assert_eq!(batch.status, 200);
    assert!(batch.json()[0]["signedURL"].is_null());
}

#[tokio::test]
async fn another_user_cannot_delete_an_object() {
    let stack = start().await;
    let (_alice, bob, name) = alice_bob_and_object(&stack).await;
    stack.delete(&bob.token, &format!("/object/media/{name}")).await.assert_error(400, "404", "NoSuchKey");
    let reply = stack.delete_json(&bob.token, "/object/media", json!({"prefixes": [name]})).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!([]));
    assert_untouched(&stack, &name).await;
}

#[tokio::test]
async fn another_user_cannot_upload_into_a_foreign_folder() {
    let stack = start().await;
    let (alice, bob) = (user(), user());
    let name = format!("{}/planted.png", alice.id);
    let reply = stack.upload(&bob.token, "media", &name, "image/png", b"planted", false).await;
    let body = reply.assert_error(400, "403", "AccessDenied");
    assert_eq!(body["message"], "new row violates row-level security policy");
    assert_eq!(stack.rows("media", &name).await, 0);
    assert!(stack.file("media", &name).is_none());
}
