//! Hostile input against the Storage API (issue 8): every case answers a
//! JSON 4xx, never a 500 or a dropped connection.
//!
//! - a NUL anywhere (list prefix and search, batch-sign paths, bulk-delete
//!   names, bucket search and id, object names, move/copy keys, form fields)
//!   is a 400 `InvalidRequest`, not Postgres' 22021 as a 500;
//! - tokens with an absurd `exp` or a non-UUID `sub` are refused like any bad
//!   token, and ES256 tokens of the project's JWKS are accepted;
//! - another user's folder answers the same whether something is in it or not
//!   (upload, upsert, copy, move);
//! - downloads are `nosniff`;
//! - a body that stalls is cut off with a 408.

mod common;

use common::{es256_key, es256_user, now, service_token, start, user, Reply, Stack, SECRET};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn invalid_request(reply: &Reply) {
    reply.assert_error(400, "400", "InvalidRequest");
}

#[tokio::test]
async fn nul_characters_anywhere_are_invalid_requests() {
    let stack = start().await;
    let alice = user();
    let folder = &alice.id;
    stack.upload(&alice.token, "open", &format!("{folder}/a.txt"), "text/plain", b"a", false).await;
    let service = service_token();
    let token = &alice.token;

    let lists = [json!({"prefix": format!("{folder}/\u{0}")}), json!({"prefix": folder, "search": "a\u{0}"})];
    for body in lists {
        invalid_request(&stack.post_json(Some(token), "/object/list/open", body).await);
    }
    let sign_many = json!({"expiresIn": 60, "paths": [format!("{folder}/a.txt"), format!("{folder}/\u{0}")]});
    invalid_request(&stack.post_json(Some(token), "/object/sign/open", sign_many).await);
    let delete_many = json!({"prefixes": [format!("{folder}/a\u{0}.txt")]});
    invalid_request(&stack.delete_json(token, "/object/open", delete_many).await);
    for transfer in ["move", "copy"] {
        let body = json!({"bucketId": "open", "sourceKey": format!("{folder}/a.txt"), "destinationKey": format!("{folder}/b\u{0}")});
        invalid_request(&stack.post_json(Some(token), &format!("/object/{transfer}"), body).await);
        let body = json!({"bucketId": "op\u{0}en", "sourceKey": format!("{folder}/a.txt"), "destinationKey": "x"});
        invalid_request(&stack.post_json(Some(token), &format!("/object/{transfer}"), body).await);
    }
    let copy = json!({"bucketId": "open", "sourceKey": format!("{folder}/a.txt"), "destinationKey": format!("{folder}/c"),
                      "copyMetadata": false, "metadata": {"mimetype": "text/\u{0}"}});
    invalid_request(&stack.post_json(Some(token), "/object/copy", copy).await);
    invalid_request(&stack.get(Some(&service), "/bucket?search=%00").await);
    invalid_request(&stack.get(Some(&service), "/bucket/op%00en").await);
    for path in [format!("/object/open/{folder}/a%00.txt"), format!("/object/authenticated/open/{folder}/%00")] {
        invalid_request(&stack.get(Some(token), &path).await);
    }
    invalid_request(&stack.upload(token, "open", &format!("{folder}/n%00.txt"), "text/plain", b"x", false).await);
    let form = reqwest::multipart::Form::new()
        .text("cacheControl", "60\u{0}")
        .part("", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt").mime_str("text/plain").unwrap());
    let reply = stack.upload_form(reqwest::Method::POST, token, "open", &format!("{folder}/form.txt"), form, false).await;
    invalid_request(&reply);

    // Nothing was written or lost on the way.
    assert_eq!(stack.rows("open", &format!("{folder}/a.txt")).await, 1);
    assert_eq!(stack.rows("open", &format!("{folder}/form.txt")).await, 0);
}

fn signed(claims: &serde_json::Map<String, Value>) -> String {
    ourvidz_jwt::sign(claims, SECRET)
}

#[tokio::test]
async fn tokens_with_absurd_claims_are_denied_not_crashed_on() {
    let stack = start().await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut tokens = Vec::new();
    for exp in [json!(i64::MAX), json!(1e300), json!(-1), json!(u64::MAX)] {
        let mut claims = ourvidz_jwt::access_token_claims("authenticated", Some(&id), now(), 3600);
        claims.insert("exp".into(), exp);
        tokens.push(signed(&claims));
    }
    for sub in ["worker-1", "", "../../etc"] {
        tokens.push(signed(&ourvidz_jwt::access_token_claims("authenticated", Some(sub), now(), 3600)));
    }
    for token in &tokens {
        let reply = stack.upload(token, "open", &format!("{id}/x.txt"), "text/plain", b"x", false).await;
        reply.assert_error(400, "403", "AccessDenied");
        let reply = stack.post_json(Some(token), "/object/list/open", json!({"prefix": id})).await;
        reply.assert_error(400, "403", "AccessDenied");
    }
    assert_eq!(stack.rows("open", &format!("{id}/x.txt")).await, 0);
}

#[tokio::test]
async fn es256_tokens_of_the_projects_jwks_work_and_other_keys_do_not() {
    let stack = start().await;
    let alice = es256_user();
    let name = format!("{}/es.txt", alice.id);
    let reply = stack.upload(&alice.token, "open", &name, "text/plain", b"es256 upload", false).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let reply = stack.get(Some(&alice.token), &format!("/object/authenticated/open/{name}")).await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"es256 upload"[..]));

    let intruder = ourvidz_jwt::SigningKey::es256_pem(include_bytes!("../../jwt/tests/keys/es256-b.pem")).unwrap();
    let claims = ourvidz_jwt::access_token_claims("authenticated", Some(&alice.id), now(), 3600);
    for forged in [intruder.sign(&claims), intruder.clone().with_kid(es256_key().kid().unwrap()).sign(&claims)] {
        let reply = stack.get(Some(&forged), &format!("/object/authenticated/open/{name}")).await;
        reply.assert_error(400, "403", "AccessDenied");
    }
}

/// The answer, status and body, as a client sees it.
fn seen(reply: &Reply) -> (u16, Value) {
    (reply.status, reply.json())
}

#[tokio::test]
async fn another_users_folder_answers_alike_whether_full_or_empty() {
    let stack = start().await;
    let (alice, bob) = (user(), user());
    let a = &alice.id;
    for name in [format!("{a}/x.png"), format!("{a}/dir/y.png")] {
        let reply = stack.upload(&alice.token, "open", &name, "image/png", b"alice", false).await;
        assert_eq!(reply.status, 200, "{}", reply.json());
    }
    let bob_source = format!("{}/mine.png", bob.id);
    stack.upload(&bob.token, "open", &bob_source, "image/png", b"bob", false).await;

    // Existing object, a path through an existing file, an existing folder,
    // and a path where nothing is: each must look like the last.
    let targets = [format!("{a}/x.png"), format!("{a}/x.png/z.png"), format!("{a}/dir"), format!("{a}/nothing.png")];
    let mut answers = Vec::new();
    for target in &targets {
        for upsert in [false, true] {
            answers.push(seen(&stack.upload(&bob.token, "open", target, "image/png", b"bob", upsert).await));
        }
        answers.push(seen(&stack.put(&bob.token, "open", target, "image/png", b"bob").await));
        for transfer in ["copy", "move"] {
            let body = json!({"bucketId": "open", "sourceKey": bob_source, "destinationKey": target});
            answers.push(seen(&stack.post_json(Some(&bob.token), &format!("/object/{transfer}"), body).await));
        }
    }
    let (expected, rest) = answers.split_last().unwrap();
    assert_eq!(expected.1["code"], "AccessDenied", "{expected:?}");
    let per_target = answers.len() / targets.len();
    for (index, answer) in rest.iter().enumerate() {
        let reference = &answers[answers.len() - per_target + index % per_target];
        assert_eq!(answer, reference, "target {} differs", targets[index / per_target]);
    }
    // Alice's objects are untouched and Bob's is still his.
    assert_eq!(stack.file("open", &format!("{a}/x.png")).as_deref(), Some(&b"alice"[..]));
    assert_eq!(stack.file("open", &bob_source).as_deref(), Some(&b"bob"[..]));
}

#[tokio::test]
async fn downloads_forbid_content_sniffing() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/page.png", alice.id);
    stack.upload(&alice.token, "open", &name, "image/png", b"<html><script>alert(1)</script>", false).await;
    let reply = stack.get(Some(&alice.token), &format!("/object/authenticated/open/{name}")).await;
    assert_eq!((reply.status, reply.header("x-content-type-options")), (200, Some("nosniff")));
    let signed = stack.post_json(Some(&alice.token), &format!("/object/sign/open/{name}"), json!({"expiresIn": 60})).await;
    let url = signed.json()["signedURL"].as_str().unwrap().to_owned();
    let reply = stack.get(None, &url).await;
    assert_eq!((reply.status, reply.header("x-content-type-options")), (200, Some("nosniff")));
}

/// Send `head` and the first bytes of a body it promises to be longer, then
/// stall; the whole answer once the server closes.
async fn stall(stack: &Stack, head: &str, start: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(stack.addr).await.unwrap();
    stream.write_all(format!("{head}\r\nhost: {}\r\nconnection: close\r\n\r\n", stack.addr).as_bytes()).await.unwrap();
    stream.write_all(start).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a stalled request open");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_with_a_408() {
    let stack = start().await;
    let alice = user();
    let upload = format!(
        "POST /storage/v1/object/open/{}/slow.txt HTTP/1.1\r\nauthorization: Bearer {}\r\ncontent-type: text/plain\r\ncontent-length: 100",
        alice.id, alice.token
    );
    let answer = stall(&stack, &upload, b"only part").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"RequestTimeout\""), "{answer}");
    let list = format!(
        "POST /storage/v1/object/list/open HTTP/1.1\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100",
        alice.token
    );
    let answer = stall(&stack, &list, b"{\"prefix\":").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(stack.rows("open", &format!("{}/slow.txt", alice.id)).await, 0);
    assert!(stack.temp_files().is_empty());
}
