//! Reliability of the whole stack under retries, races, dead workers and
//! storage failures: no asset is ever duplicated or lost, and whatever is left
//! half-done is completed by a retry or reclaimed by the outbox drainer — the
//! orphan audit (SQL and disk) ends empty every time.

use ourvidz_e2e::{Method, Stack, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// A tiny valid PNG (1x1), enough for the Storage API and the audit.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82";

async fn upload(stack: &Stack, name: &str) {
    let response = stack
        .request(Method::POST, &format!("/storage/v1/object/workspace-temp/{name}"))
        .bearer_auth(stack.service_token())
        .header("content-type", "image/png")
        .header("x-upsert", "true")
        .body(PNG)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::OK, "upload {name}: {:?}", response.text().await);
}

async fn claim(stack: &Stack, worker: &str, lease_seconds: i32) -> Vec<Value> {
    let db = stack.sql().await;
    db.batch_execute("begin; select set_config('role', 'service_role', true)").await.expect("begin");
    let answer: String = db
        .query_one("select claim_jobs($1, 10, $2)::text", &[&worker, &lease_seconds])
        .await
        .expect("claim_jobs")
        .get(0);
    db.batch_execute("commit").await.expect("commit");
    let answer: Value = serde_json::from_str(&answer).expect("json");
    answer["jobs"].as_array().expect("jobs").clone()
}

fn completion(user: Uuid, job: &str, assets: u32) -> Value {
    json!({
        "job_id": job, "status": "completed", "worker_id": "w1",
        "assets": (0..assets).map(|i| json!({
            "asset_index": i, "storage_path": format!("{user}/{job}/{i}.png"),
            "mime_type": "image/png", "file_size_bytes": PNG.len(), "width": 1, "height": 1
        })).collect::<Vec<_>>()
    })
}

async fn count(stack: &Stack, sql: &str) -> i64 {
    stack.sql().await.query_one(sql, &[]).await.expect(sql).get(0)
}

async fn assert_no_orphans_after_drain(stack: &Stack) {
    stack.sql().await.execute("update storage_deletion_outbox set not_before = now()", &[]).await.expect("due");
    let drained = stack.drain().await;
    assert_eq!(drained["failed"], 0, "{drained}");
    assert_eq!(count(stack, "select count(*) from storage_deletion_outbox").await, 0);
    assert_eq!(stack.orphans().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_callback_delivered_five_times_at_once_creates_each_asset_once() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    stack.queue(alice, json!({"mode": "image", "prompt": "fox", "batch_size": 2})).await;
    let job = claim(&stack, "w1", 60).await.remove(0);
    let job_id = job["id"].as_str().expect("id").to_string();
    for i in 0..2 {
        upload(&stack, &format!("{alice}/{job_id}/{i}.png")).await;
    }
    let service = stack.service_token();
    let body = completion(alice, &job_id, 2);
    let answers = futures::future::join_all(
        (0..5).map(|_| stack.call(Method::POST, "job-callback", Some(&service), Some(body.clone()))),
    )
    .await;
    let first = &answers[0].body["assets"];
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(&answer.body["assets"], first, "every delivery answers the same assets");
    }
    assert_eq!(count(&stack, "select count(*) from workspace_assets").await, 2);
    assert_eq!(count(&stack, "select count(*) from jobs where status = 'completed'").await, 1);
    // and a failure reported after the completion is refused, changing nothing
    let late = stack
        .call(Method::POST, "job-callback", Some(&service), Some(json!({"job_id": job_id, "status": "failed", "worker_id": "w2", "error": "late"})))
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{:?}", late.body);
    assert_eq!(count(&stack, "select count(*) from workspace_assets").await, 2);
    assert_no_orphans_after_drain(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_claim_the_same_job() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    for n in 0..5 {
        stack.queue(alice, json!({"mode": "image", "prompt": format!("alice {n}"), "batch_size": 2})).await;
        stack.queue(bob, json!({"mode": "image", "prompt": format!("bob {n}"), "batch_size": 1})).await;
    }
    let (first, second) = (stack.worker_options("worker-one"), stack.worker_options("worker-two"));
    let (one, two) = tokio::join!(stack.run_worker(&first), stack.run_worker(&second));
    assert_eq!(one.completed + two.completed, 10, "{one} / {two}");
    assert_eq!(one.failed + two.failed + one.abandoned + two.abandoned, 0);
    // each job claimed exactly once, and holding exactly its batch
    assert_eq!(count(&stack, "select count(*) from jobs where status = 'completed' and attempts = 1").await, 10);
    assert_eq!(
        count(&stack, "select count(*) from jobs j where batch_size <> (select count(*) from workspace_assets w where w.job_id = j.id)").await,
        0
    );
    assert_eq!(count(&stack, "select count(*) from workspace_assets").await, 15);
    assert_no_orphans_after_drain(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_is_retried_after_its_lease_by_another_worker() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let job_id = stack.queue(alice, json!({"mode": "image", "prompt": "fox", "batch_size": 1})).await;
    // A worker claims it, uploads half its work, and dies.
    claim(&stack, "dead-worker", 60).await;
    upload(&stack, &format!("{alice}/{job_id}/0.png")).await;
    // While the lease runs, nobody else takes the job.
    let early = stack.run_worker(&stack.worker_options("live-worker")).await;
    assert_eq!(early.completed, 0);
    // The lease runs out (time passing, simulated); the next worker takes over.
    stack
        .sql()
        .await
        .execute("update jobs set lease_expires_at = now() - interval '1 second' where id = $1", &[&job_id])
        .await
        .expect("expire the lease");
    let retried = stack.run_worker(&stack.worker_options("live-worker")).await;
    assert_eq!(retried.completed, 1);
    let row = stack
        .sql()
        .await
        .query_one("select status, attempts, (select count(*) from workspace_assets where job_id = jobs.id) from jobs where id = $1", &[&job_id])
        .await
        .expect("job");
    assert_eq!((row.get::<_, String>(0).as_str(), row.get::<_, i32>(1), row.get::<_, i64>(2)), ("completed", 2, 1));
    assert_no_orphans_after_drain(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_deleted_while_rendering_leaves_no_upload_behind() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let job_id = stack.queue(alice, json!({"mode": "image", "prompt": "fox", "batch_size": 2})).await;
    claim(&stack, "w1", 60).await;
    upload(&stack, &format!("{alice}/{job_id}/0.png")).await;
    // the user deletes the job while the worker renders
    let deleted = stack
        .call(Method::DELETE, "delete-workspace-item", Some(&stack.user_token(alice)), Some(json!({"job_id": job_id})))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    // the worker finishes its upload and reports: the job is gone
    upload(&stack, &format!("{alice}/{job_id}/1.png")).await;
    let late = stack
        .call(Method::POST, "job-callback", Some(&stack.service_token()), Some(completion(alice, &job_id.to_string(), 2)))
        .await;
    assert_eq!(late.status, StatusCode::NOT_FOUND, "{:?}", late.body);
    assert_eq!(count(&stack, "select count(*) from workspace_assets").await, 0);
    assert_no_orphans_after_drain(&stack).await;
    assert!(stack.stored_files().is_empty(), "{:?}", stack.stored_files());
}

async fn completed_assets(stack: &Stack, user: Uuid, n: u32) -> Vec<String> {
    stack.queue(user, json!({"mode": "image", "prompt": "race", "batch_size": n})).await;
    let summary = stack.run_worker(&stack.worker_options("w")).await;
    assert_eq!(summary.completed, 1);
    stack
        .sql()
        .await
        .query("select id::text from workspace_assets where user_id = $1 order by asset_index", &[&user])
        .await
        .expect("assets")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_and_delete_racing_on_one_asset_leave_it_either_saved_or_gone() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let token = stack.user_token(alice);
    let assets = completed_assets(&stack, alice, 4).await;
    for asset in &assets {
        let (saved, deleted) = tokio::join!(
            stack.call(Method::POST, "workspace-actions", Some(&token), Some(json!({"action": "save", "asset_ids": [asset]}))),
            stack.call(Method::POST, "delete-workspace-item", Some(&token), Some(json!({"asset_id": asset}))),
        );
        assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
        let was_saved = saved.body["saved"].as_array().is_some_and(|s| s.len() == 1);
        let was_deleted = deleted.status == StatusCode::OK;
        assert!(was_saved != was_deleted, "exactly one wins: save {:?}, delete {} {:?}", saved.body, deleted.status, deleted.body);
        if !was_deleted {
            assert_eq!(deleted.status, StatusCode::NOT_FOUND, "{:?}", deleted.body);
        }
        let in_library = count(&stack, &format!("select count(*) from user_library where source_asset_id = '{asset}'")).await;
        assert_eq!(in_library, i64::from(was_saved));
    }
    assert_eq!(count(&stack, "select count(*) from workspace_assets").await, 0);
    assert_no_orphans_after_drain(&stack).await;
    let library_files = stack.stored_files().iter().filter(|f| f.starts_with("user-library/")).count() as i64;
    assert_eq!(library_files, count(&stack, "select count(*) from user_library").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_mid_save_loses_nothing_and_the_retry_completes_it() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let token = stack.user_token(alice);
    let assets = completed_assets(&stack, alice, 2).await;
    let db = stack.sql().await;
    // Storage refuses the copies (the library bucket stops accepting PNG).
    db.execute("update storage.buckets set allowed_mime_types = '{image/jpeg}' where id = 'user-library'", &[])
        .await
        .expect("break the bucket");
    let failed = stack
        .call(Method::POST, "workspace-actions", Some(&token), Some(json!({"action": "save", "asset_ids": assets})))
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{:?}", failed.body);
    assert_eq!(failed.body["saved"], json!([]));
    assert_eq!(failed.body["failed"].as_array().map(Vec::len), Some(2), "{:?}", failed.body);
    // nothing lost: the workspace still has both assets and their files
    assert_eq!(count(&stack, "select count(*) from workspace_assets").await, 2);
    assert_eq!(count(&stack, "select count(*) from user_library").await, 0);
    // Storage recovers; the retry saves both.
    db.execute("update storage.buckets set allowed_mime_types = '{image/jpeg,image/png,image/webp,video/mp4}' where id = 'user-library'", &[])
        .await
        .expect("repair the bucket");
    let retried = stack
        .call(Method::POST, "workspace-actions", Some(&token), Some(json!({"action": "save", "asset_ids": assets})))
        .await;
    assert_eq!(retried.body["saved"].as_array().map(Vec::len), Some(2), "{:?}", retried.body);
    assert_no_orphans_after_drain(&stack).await;
    assert_eq!(stack.stored_files().len(), 2, "the two library copies: {:?}", stack.stored_files());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_that_dies_after_copying_is_reclaimed_by_the_drainer() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let token = stack.user_token(alice);
    let assets = completed_assets(&stack, alice, 1).await;
    // Steps 1 and 2 of a save (prepare, copy), then the request dies.
    let db = stack.sql().await;
    db.batch_execute(&format!(
        "begin; select set_config('request.jwt.claims', '{{\"sub\": \"{alice}\", \"role\": \"authenticated\"}}', true), \
         set_config('role', 'authenticated', true)"
    ))
    .await
    .expect("act as alice");
    let prepared: String = db
        .query_one("select prepare_workspace_save($1::uuid[])::text", &[&vec![assets[0].parse::<Uuid>().expect("uuid")]])
        .await
        .expect("prepare")
        .get(0);
    db.batch_execute("commit").await.expect("commit");
    let prepared: Value = serde_json::from_str(&prepared).expect("json");
    let item = &prepared["items"][0];
    let copied = stack
        .request(Method::POST, "/storage/v1/object/copy")
        .bearer_auth(&token)
        .json(&json!({"bucketId": "workspace-temp", "sourceKey": item["source_path"],
                      "destinationBucket": "user-library", "destinationKey": item["destination_path"]}))
        .send()
        .await
        .expect("copy");
    assert_eq!(copied.status(), StatusCode::OK);
    // The copy has no row; while its intent is not due, the audit counts it as queued.
    assert_eq!(stack.orphans().await, Vec::<String>::new());
    // The user tries again and it works; the abandoned copy is reclaimed when its intent is due.
    let saved = stack
        .call(Method::POST, "workspace-actions", Some(&token), Some(json!({"action": "save", "asset_ids": assets})))
        .await;
    assert_eq!(saved.body["saved"].as_array().map(Vec::len), Some(1), "{:?}", saved.body);
    assert_no_orphans_after_drain(&stack).await;
    let library: Vec<String> = stack.stored_files().into_iter().filter(|f| f.starts_with("user-library/")).collect();
    assert_eq!(library.len(), 1, "only the saved copy remains: {library:?}");
}
