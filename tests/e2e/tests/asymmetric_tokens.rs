//! Asymmetric access tokens on the real stack (issue 8.3): the stack publishes
//! its ES256 key as a JWKS at `/auth/v1/.well-known/jwks.json`, as Supabase Auth
//! does, and every service takes tokens signed with it — the gateway, the
//! functions (through their `jwks` Spin variable) and the Storage API — while a
//! token signed by any other key is refused, whether it names an unknown key
//! or claims the stack's own `kid`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ourvidz_e2e::{mint_es256, Method, Stack, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// The stack's JWKS document, as a client fetches it.
async fn jwks(stack: &Stack) -> Value {
    let response = stack.request(Method::GET, "/auth/v1/.well-known/jwks.json").send().await.expect("jwks");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("the JWKS is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_tokens_of_the_stacks_key_work_end_to_end() {
    let stack = Stack::start().await;
    let document = jwks(&stack).await;
    let keys = document["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{document}");
    assert_eq!((keys[0]["kty"].as_str(), keys[0]["crv"].as_str(), keys[0]["alg"].as_str()), (Some("EC"), Some("P-256"), Some("ES256")));
    assert!(keys[0].get("d").is_none(), "the private key is not published: {document}");

    let alice = stack.new_user().await;
    let token = stack.es256_token("authenticated", Some(alice), 3600);
    let header: Value = {
        let encoded = token.split('.').next().expect("a header");
        let bytes = URL_SAFE_NO_PAD.decode(encoded).expect("base64url");
        serde_json::from_slice(&bytes).expect("header JSON")
    };
    assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("ES256"), keys[0]["kid"].as_str()));

    // queue-job through the gateway's verify_jwt and the function's own check.
    let queued = stack
        .call(Method::POST, "queue-job", Some(&token), Some(json!({"mode": "image", "prompt": "a fox", "batch_size": 1})))
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    let job: Uuid = queued.body["job"]["id"].as_str().and_then(|id| id.parse().ok()).expect("a job id");

    // The worker, holding an ES256 service-role token, renders, uploads to
    // Storage and reports through job-callback.
    let mut options = stack.worker_options("es256-worker");
    options.service_role_key = stack.es256_token("service_role", None, 3600);
    let summary = stack.run_worker(&options).await;
    assert_eq!((summary.completed, summary.failed), (1, 0));

    let listing = stack.call(Method::GET, "workspace-actions", Some(&token), None).await;
    assert_eq!(listing.status, StatusCode::OK, "{:?}", listing.body);
    assert_eq!(listing.body["jobs"][0]["job_id"], job.to_string());

    let path: String = stack
        .sql()
        .await
        .query_one("select temp_storage_path from workspace_assets where job_id = $1", &[&job])
        .await
        .expect("the asset")
        .get(0);
    let download = stack
        .request(Method::GET, &format!("/storage/v1/object/authenticated/workspace-temp/{path}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    assert_eq!(&download.bytes().await.expect("bytes")[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_tokens_of_other_keys_are_refused_everywhere() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let path = format!("/storage/v1/object/authenticated/workspace-temp/{alice}/x.png");
    let stranger_home = tempfile::tempdir().expect("a stranger's home");
    let stranger = mint_es256(stranger_home.path(), "authenticated", Some(alice), 3600);

    // The stranger's token again, its header now naming the stack's key.
    let kid = jwks(&stack).await["keys"][0]["kid"].as_str().expect("kid").to_owned();
    let (_, rest) = stranger.split_once('.').expect("a JWT");
    let forged_header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "JWT", "kid": kid}).to_string());
    let forged = format!("{forged_header}.{rest}");

    for token in [&stranger, &forged] {
        let queued = stack
            .call(Method::POST, "queue-job", Some(token), Some(json!({"mode": "image", "prompt": "a fox"})))
            .await;
        assert_eq!((queued.status, &queued.body), (StatusCode::UNAUTHORIZED, &json!({"code": 401, "message": "Invalid JWT"})));
        let storage = stack.answer(stack.request(Method::GET, &path).bearer_auth(token)).await;
        assert_eq!((storage.body["statusCode"].as_str(), storage.body["code"].as_str()), (Some("403"), Some("AccessDenied")));
    }
    let jobs: i64 = stack.sql().await.query_one("select count(*) from jobs", &[]).await.expect("jobs").get(0);
    assert_eq!(jobs, 0);
}
