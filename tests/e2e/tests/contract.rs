//! The contract through both doors.
//!
//! Every rule of the SQL API lives in SQL once (pg_extension/sql/rules.sql);
//! pg_extension/tests/pg_regress/sql/11_rules.sql calls each rule's function
//! as PostgREST would. Here the same inputs go through the edge functions of
//! the real stack *and* through the SQL function called as PostgREST calls it
//! (`set_config('role')` + `set_config('request.jwt.claims')` in a
//! transaction), and the answers must agree: the edge's 400 carries the SQL's
//! own sentence. Also through both doors: a token whose user is gone is 401,
//! bytes text cannot hold are 400, a job seeded at the largest seed completes,
//! and — on the test cluster's pg_cron — the schedule migration schedules the
//! expiry cleanup, which then runs and succeeds.

use std::time::{Duration, Instant};

use ourvidz_e2e::{Answer, Method, Stack, StatusCode};
use serde_json::{json, Value};
use ourvidz_test_support::connect;
use uuid::Uuid;

/// The largest seed (2^53 - 1, what a JSON client reads exactly).
const MAX_SEED: u64 = 9_007_199_254_740_991;

/// What the SQL door answered: `Ok` with the result as text, or the error's
/// SQLSTATE and message.
type SqlAnswer = Result<Option<String>, (String, String)>;

/// Call `statement` (one `$1::text` parameter per entry of `params`) as
/// PostgREST does for a request with these claims, in a transaction that is
/// rolled back.
async fn through_sql(stack: &Stack, claims: &Value, statement: &str, params: &[Option<String>]) -> SqlAnswer {
    let mut db = stack.sql().await;
    let transaction = db.transaction().await.expect("begin");
    let role = claims["role"].as_str().expect("a role claim").to_owned();
    transaction
        .execute(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            &[&role, &claims.to_string()],
        )
        .await
        .expect("the session, as PostgREST sets it");
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
    let answer = match transaction.query_one(statement, &params).await {
        Ok(row) => Ok(row.get::<_, Option<String>>(0)),
        Err(error) => {
            let db = error.as_db_error().unwrap_or_else(|| panic!("{statement}: {error}"));
            Err((db.code().code().to_owned(), db.message().to_owned()))
        }
    };
    transaction.rollback().await.expect("rollback");
    answer
}

fn user_claims(user: Uuid) -> Value {
    json!({"sub": user, "role": "authenticated"})
}

fn service_claims() -> Value {
    json!({"role": "service_role"})
}

/// The edge refused with 400 and exactly the SQL door's PT400 sentence.
#[track_caller]
fn same_400(case: &str, edge: &Answer, sql: &SqlAnswer) {
    let Err((sqlstate, message)) = sql else { panic!("{case}: SQL accepted it: {sql:?}") };
    assert_eq!(sqlstate, "PT400", "{case}: SQL refused with {sqlstate} {message}");
    assert_eq!(edge.status, StatusCode::BAD_REQUEST, "{case}: edge answered {} {}", edge.status, edge.body);
    assert_eq!(edge.body["error"]["code"], "invalid_request", "{case}: {}", edge.body);
    assert_eq!(edge.body["error"]["message"], message.as_str(), "{case}: the edge and SQL disagree");
}

/// Upload a small object as `user` through the Storage API.
async fn upload(stack: &Stack, user: Uuid, bucket: &str, name: &str) {
    let request = stack
        .request(Method::POST, &format!("/storage/v1/object/{bucket}/{name}"))
        .bearer_auth(stack.user_token(user))
        .header("content-type", "image/png")
        .body(b"\x89PNG\r\n\x1a\n".to_vec());
    let answer = stack.answer(request).await;
    assert_eq!(answer.status, StatusCode::OK, "upload {bucket}/{name}: {}", answer.body);
}

// --------------------------------------------------------------- the rules

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_answers_the_same_400_through_the_edge_as_through_sql() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let token = stack.user_token(alice);
    let service = stack.service_token();
    let bob_object = format!("{bob}/{}.png", Uuid::new_v4());
    upload(&stack, bob, "user-library", &bob_object).await;

    // queue-job → enqueue_job
    let job = |extra: Value| {
        let mut body = json!({"mode": "image", "prompt": "a red fox"});
        body.as_object_mut().expect("object").extend(extra.as_object().cloned().expect("object"));
        body
    };
    let settings = |s: Value| job(json!({ "settings": s }));
    let cases = [
        ("mode is image or video", job(json!({"mode": "gif"}))),
        ("prompt is not blank", job(json!({"prompt": " \n "}))),
        ("prompt has at most 4000 characters", job(json!({"prompt": "é".repeat(4001)}))),
        ("prompt has no control characters", job(json!({"prompt": "a\u{7}b"}))),
        ("model is a name without ..", job(json!({"model": "../sdxl"}))),
        ("model has at most 100 characters", job(json!({"model": "m".repeat(101)}))),
        ("quality is fast or high", job(json!({"quality": "ultra"}))),
        ("image batches hold 1 to 4", job(json!({"batch_size": 5}))),
        ("a video job renders one video", job(json!({"mode": "video", "batch_size": 2}))),
        ("seed is at least 0", job(json!({"seed": -1}))),
        ("seed is at most 2^53 - 1", job(json!({"seed": MAX_SEED + 1}))),
        ("seed near 2^63 - 1", job(json!({"seed": i64::MAX}))),
        ("aspect_ratio is one of three", settings(json!({"aspect_ratio": "99:1"}))),
        ("shot_type is one of three", settings(json!({"shot_type": "extreme"}))),
        ("camera_angle is one of six", settings(json!({"camera_angle": "dutch"}))),
        ("style is at most 500 characters", settings(json!({"style": "s".repeat(501)}))),
        ("style has no control characters", settings(json!({"style": "a\nb"}))),
        ("reference_strength is 0 to 1", settings(json!({"reference_strength": 1.5}))),
        ("guidance_scale is 0 to 50", settings(json!({"guidance_scale": 51}))),
        ("num_inference_steps is 1 to 200", settings(json!({"num_inference_steps": 201}))),
        ("content_type is sfw or nsfw", settings(json!({"content_type": "adult"}))),
        ("enhancement_model is a qwen", settings(json!({"enhancement_model": "gpt"}))),
        ("references are https:// URLs", settings(json!({"reference_image": "http://example.com/a.png"}))),
        ("a URL has no spaces", settings(json!({"style_reference": "https://example.com/a b.png"}))),
        ("a stored reference exists", settings(json!({"reference_image": format!("user-library/{alice}/gone.png")}))),
        ("another user's object reads as missing", settings(json!({"reference_image": format!("user-library/{bob_object}")}))),
        ("a reference never climbs", settings(json!({"reference_image": format!("user-library/{alice}/../{bob_object}")}))),
    ];
    for (case, body) in &cases {
        let edge = stack.call(Method::POST, "queue-job", Some(&token), Some(body.clone())).await;
        let sql = through_sql(&stack, &user_claims(alice), "select public.enqueue_job($1::text::jsonb)::text",
                              &[Some(body.to_string())]).await;
        same_400(case, &edge, &sql);
    }
    // the idempotency key, a header at the edge
    let request = stack
        .request(Method::POST, "/functions/v1/queue-job")
        .bearer_auth(&token)
        .header("idempotency-key", "a key")
        .json(&job(json!({})));
    let edge = stack.answer(request).await;
    let sql = through_sql(&stack, &user_claims(alice), "select public.enqueue_job($1::text::jsonb, $2)::text",
                          &[Some(job(json!({})).to_string()), Some("a key".into())]).await;
    same_400("the idempotency key is visible ASCII", &edge, &sql);
    let count: i64 = stack.sql().await.query_one("select count(*) from jobs", &[]).await.expect("count").get(0);
    assert_eq!(count, 0, "no refused request queued a job");

    // job-callback → record_job_result, for a processing image job of two
    let job_id = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 2})).await;
    let processing = json!({"job_id": job_id, "status": "processing", "worker_id": "w-1"});
    let answer = stack.call(Method::POST, "job-callback", Some(&service), Some(processing)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let asset = |extra: Value| {
        let mut one = json!({"asset_index": 0, "storage_path": format!("{alice}/{job_id}/0.png"),
                             "mime_type": "image/png", "file_size_bytes": 10});
        one.as_object_mut().expect("object").extend(extra.as_object().cloned().expect("object"));
        one
    };
    let completed = |assets: Vec<Value>| json!({"job_id": job_id, "status": "completed", "worker_id": "w-1", "assets": assets});
    let cases = [
        ("status is one of three", json!({"job_id": job_id, "status": "done", "worker_id": "w-1"})),
        ("worker_id is a name", json!({"job_id": job_id, "status": "processing", "worker_id": "gpu 1"})),
        ("worker_id has at most 200", json!({"job_id": job_id, "status": "processing", "worker_id": "w".repeat(201)})),
        ("an error only when failed", json!({"job_id": job_id, "status": "processing", "worker_id": "w-1", "error": "x"})),
        ("an error has at most 2000", json!({"job_id": job_id, "status": "failed", "worker_id": "w-1", "error": "e".repeat(2001)})),
        ("assets only when completed", json!({"job_id": job_id, "status": "failed", "worker_id": "w-1", "assets": [asset(json!({}))]})),
        ("a completed callback carries an asset", completed(vec![])),
        ("each asset_index once", completed(vec![asset(json!({})), asset(json!({}))])),
        ("asset_index below the batch size", completed(vec![asset(json!({"asset_index": 2}))])),
        ("paths in the job's folder", completed(vec![asset(json!({"storage_path": format!("{bob}/{job_id}/0.png")}))])),
        ("paths of plain names", completed(vec![asset(json!({"storage_path": format!("{alice}/{job_id}/%2e%2e")}))])),
        ("paths never climb", completed(vec![asset(json!({"thumbnail_path": format!("{alice}/{job_id}/../x.png")}))])),
        ("mime_type is one of four", completed(vec![asset(json!({"mime_type": "image/gif"}))])),
        ("mime_type fits the mode", completed(vec![asset(json!({"mime_type": "video/mp4"}))])),
        ("file_size_bytes is at least 1", completed(vec![asset(json!({"file_size_bytes": 0}))])),
        ("file_size_bytes is at most 1 GiB", completed(vec![asset(json!({"file_size_bytes": (1u64 << 30) + 1}))])),
        ("height is 1 to 16384", completed(vec![asset(json!({"height": 16385}))])),
        ("duration_seconds is above 0", completed(vec![asset(json!({"duration_seconds": 0}))])),
        ("generation_seed is at most 2^53 - 1", completed(vec![asset(json!({"generation_seed": MAX_SEED + 1}))])),
    ];
    for (case, body) in &cases {
        let edge = stack.call(Method::POST, "job-callback", Some(&service), Some(body.clone())).await;
        let sql = through_sql(&stack, &service_claims(), "select public.record_job_result($1::text::jsonb)::text",
                              &[Some(body.to_string())]).await;
        same_400(case, &edge, &sql);
    }
    let assets: i64 = stack.sql().await.query_one("select count(*) from workspace_assets", &[]).await.expect("count").get(0);
    assert_eq!(assets, 0, "no refused callback inserted an asset");

    // workspace-actions → list_workspace, discard_workspace_assets, prepare_workspace_save
    let list = "select public.list_workspace($1::text::int, $2::text::jsonb)::text";
    for (case, query, params) in [
        ("page_size is 1 to 100", "page_size=101".to_owned(), [Some("101".to_owned()), None]),
        ("before is a previous page's next", format!("before_created_at=yesterday&before_job_id={job_id}"),
         [None, Some(json!({"created_at": "yesterday", "job_id": job_id}).to_string())]),
        ("a cursor is whole", format!("before_job_id={job_id}"),
         [None, Some(json!({"created_at": null, "job_id": job_id}).to_string())]),
    ] {
        let edge = stack.answer(stack.request(Method::GET, &format!("/functions/v1/workspace-actions?{query}")).bearer_auth(&token)).await;
        same_400(case, &edge, &through_sql(&stack, &user_claims(alice), list, &params).await);
    }
    let many: Vec<String> = (0..101).map(|_| Uuid::new_v4().to_string()).collect();
    let discard = "select public.discard_workspace_assets($1::text::uuid[])::text";
    for (case, ids) in [("1 to 100 asset ids", Vec::new()), ("at most 100 asset ids", many)] {
        let body = json!({"action": "discard", "asset_ids": ids});
        let edge = stack.call(Method::POST, "workspace-actions", Some(&token), Some(body)).await;
        let array = format!("{{{}}}", ids.join(","));
        same_400(case, &edge, &through_sql(&stack, &user_claims(alice), discard, &[Some(array)]).await);
    }
    // a save's labels are refused before anything is copied
    let prepare = "select public.prepare_workspace_save(job_id => $1::text::uuid, custom_title => $2, tags => $3::text::text[])::text";
    for (case, title, tags) in [
        ("a title is not blank", Some("   ".to_owned()), None),
        ("a title has at most 200", Some("t".repeat(201)), None),
        ("at most 50 tags", None, Some(vec!["t".to_owned(); 51])),
        ("a tag is not blank", None, Some(vec!["  ".to_owned()])),
        ("a tag has at most 50 characters", None, Some(vec!["t".repeat(51)])),
    ] {
        let mut body = json!({"action": "save", "job_id": job_id});
        if let Some(title) = &title {
            body["custom_title"] = json!(title);
        }
        if let Some(tags) = &tags {
            body["tags"] = json!(tags);
        }
        let edge = stack.call(Method::POST, "workspace-actions", Some(&token), Some(body)).await;
        let array = tags.map(|tags| {
            let quoted: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
            format!("{{{}}}", quoted.join(","))
        });
        let params = [Some(job_id.to_string()), title, array];
        same_400(case, &edge, &through_sql(&stack, &user_claims(alice), prepare, &params).await);
    }
}

// ----------------------------------------------------------- both doors shut

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_user_is_gone_is_401_from_every_user_function() {
    let stack = Stack::start().await;
    let ghost = stack.new_user().await;
    let token = stack.user_token(ghost);
    stack.sql().await.execute("delete from auth.users where id = $1", &[&ghost]).await.expect("the user leaves");
    let some_job = Uuid::new_v4();
    let requests = [
        (Method::POST, "queue-job", Some(json!({"mode": "image", "prompt": "a fox"}))),
        (Method::GET, "workspace-actions", None),
        (Method::POST, "workspace-actions", Some(json!({"action": "save", "job_id": some_job}))),
        (Method::POST, "workspace-actions", Some(json!({"action": "discard", "job_id": some_job}))),
        (Method::POST, "workspace-actions", Some(json!({"action": "clear"}))),
        (Method::POST, "delete-workspace-item", Some(json!({"job_id": some_job}))),
    ];
    for (method, function, body) in requests {
        let answer = stack.call(method.clone(), function, Some(&token), body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {function}: {}", answer.body);
        assert_eq!(answer.body["error"]["message"], "the token's user does not exist", "{method} {function}");
    }
    let sql = through_sql(&stack, &user_claims(ghost), "select public.list_workspace()::text", &[]).await;
    assert_eq!(sql, Err(("PT401".to_owned(), "the token's user does not exist".to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_text_cannot_hold_are_400_never_500() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let token = stack.user_token(alice);
    let service = stack.service_token();
    let job_id = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 1})).await;
    let requests = [
        (Method::POST, "queue-job", Some(&token), json!({"mode": "image", "prompt": "a fox\u{0}"})),
        (Method::POST, "queue-job", Some(&token), json!({"mode": "image", "prompt": "p", "settings": {"style": "\u{0}"}})),
        (Method::POST, "workspace-actions", Some(&token), json!({"action": "save", "job_id": job_id, "tags": ["red\u{0}"]})),
        (Method::POST, "workspace-actions", Some(&token), json!({"action": "save", "job_id": job_id, "custom_title": "\u{0}"})),
        (Method::POST, "job-callback", Some(&service), json!({"job_id": job_id, "status": "failed", "worker_id": "w", "error": "\u{0}"})),
    ];
    for (method, function, token, body) in requests {
        let answer = stack.call(method, function, token.map(String::as_str), Some(body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{function} {body}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "invalid_request");
    }
    let request = stack
        .request(Method::GET, &format!("/functions/v1/workspace-actions?before_created_at=%00&before_job_id={job_id}"))
        .bearer_auth(&token);
    assert_eq!(stack.answer(request).await.status, StatusCode::BAD_REQUEST);
    let status: String =
        stack.sql().await.query_one("select status from jobs where id = $1", &[&job_id]).await.expect("job").get(0);
    assert_eq!(status, "queued", "no refused request changed the job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_at_the_largest_seed_completes_with_wrapping_asset_seeds() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let service = stack.service_token();
    let job_id = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 2, "seed": MAX_SEED})).await;
    // (a push-style worker: queued → processing → completed by callbacks)
    let assets: Vec<Value> = (0..2)
        .map(|i| json!({"asset_index": i, "storage_path": format!("{alice}/{job_id}/{i}.png"),
                        "mime_type": "image/png", "file_size_bytes": 10}))
        .collect();
    let processing = json!({"job_id": job_id, "status": "processing", "worker_id": "w-1"});
    assert_eq!(stack.call(Method::POST, "job-callback", Some(&service), Some(processing)).await.status, StatusCode::OK);
    let completed = json!({"job_id": job_id, "status": "completed", "worker_id": "w-1", "assets": assets});
    let answer = stack.call(Method::POST, "job-callback", Some(&service), Some(completed)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["job"]["status"], "completed");
    let seeds: Vec<i64> = stack
        .sql()
        .await
        .query("select generation_seed from workspace_assets where job_id = $1 order by asset_index", &[&job_id])
        .await
        .expect("assets")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(seeds, vec![MAX_SEED as i64, 0]);
}

// ----------------------------------------------------------------- pg_cron

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_cron_runs_the_scheduled_cleanup_of_the_hosted_build() {
    let admin_url = ourvidz_test_support::admin_url(" with pg_cron preloaded (scripts/test.sh e2e starts one)");
    let admin = connect(&admin_url).await;
    // pg_cron schedules in the one database the cluster names (scripts/test.sh)
    let cron_db: String = admin
        .query_one("select current_setting('cron.database_name', true)", &[])
        .await
        .expect("settings")
        .get::<_, Option<String>>(0)
        .expect("the test cluster preloads pg_cron (cron.database_name is set)");
    let db = connect(&ourvidz_test_support::with_dbname(&admin_url, &cron_db)).await;
    // Emptied in place: dropping the database would stop pg_cron's scheduler
    // (it exits for good when its database goes) until the cluster restarts.
    db.batch_execute(
        "drop extension if exists pg_cron cascade;
         drop schema if exists ourvidz_private, auth, storage, public cascade;
         create schema public authorization pg_database_owner;
         grant usage on schema public to public;",
    )
    .await
    .expect("empty the pg_cron database");

    // The hosted build as Supabase gets it: pg_cron enabled, then the migrations.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    db.batch_execute(&read("pg_extension/bootstrap/supabase_compat.sql")).await.expect("bootstrap");
    db.batch_execute("create extension pg_cron").await.expect("create extension pg_cron");
    let mut migrations: Vec<_> = std::fs::read_dir(root.join("migrations"))
        .expect("migrations/")
        .map(|entry| entry.expect("an entry").file_name().into_string().expect("a UTF-8 name"))
        .collect();
    migrations.sort();
    for migration in migrations {
        db.batch_execute(&read(&format!("migrations/{migration}"))).await.unwrap_or_else(|e| panic!("{migration}: {e}"));
    }
    let scheduled: Vec<String> =
        db.query("select jobname from cron.job order by jobname", &[]).await.expect("cron.job").iter().map(|r| r.get(0)).collect();
    assert_eq!(scheduled, ["ourvidz-cleanup-expired-workspace-assets", "ourvidz-reclaim-orphaned-objects"]);

    // A row that expired a second ago and one that lives a day more.
    let user = Uuid::new_v4();
    let job = Uuid::new_v4();
    db.execute("insert into auth.users (id) values ($1)", &[&user]).await.expect("user");
    db.execute(
        "insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status)
         values ($1, $2, 'image_fast', 'image', 'p', 'sdxl', 2, 1, 'completed')",
        &[&job, &user],
    )
    .await
    .expect("job");
    db.execute(
        "insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                                       mime_type, generation_seed, original_prompt, model_used, expires_at)
         select $1, $2, i, 'image', format('%s/%s/%s.png', $1::uuid, $2::uuid, i), 1, 'image/png', 1, 'p', 'sdxl',
                case i when 0 then now() - interval '1 second' else now() + interval '1 day' end
         from generate_series(0, 1) i",
        &[&user, &job],
    )
    .await
    .expect("assets");

    // pg_cron runs the job when the minute turns.
    let deadline = Instant::now() + Duration::from_secs(150);
    let outcome = loop {
        let row = db
            .query_opt(
                "select d.status, d.return_message from cron.job_run_details d join cron.job j using (jobid)
                 where j.jobname = 'ourvidz-cleanup-expired-workspace-assets' and d.status in ('succeeded', 'failed')
                 order by d.end_time limit 1",
                &[],
            )
            .await
            .expect("cron.job_run_details");
        if let Some(row) = row {
            break (row.get::<_, String>(0), row.get::<_, Option<String>>(1));
        }
        assert!(Instant::now() < deadline, "pg_cron did not run the cleanup within 150 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(outcome.0, "succeeded", "the scheduled cleanup failed: {:?}", outcome.1);
    let left: Vec<i32> = db
        .query("select asset_index from workspace_assets order by asset_index", &[])
        .await
        .expect("rows")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(left, vec![1], "the expired row went, the live one stayed");
    let queued: i64 = db
        .query_one("select count(*) from storage_deletion_outbox where object_name like '%/0.png'", &[])
        .await
        .expect("outbox")
        .get(0);
    assert_eq!(queued, 1, "the expired row's object is queued for deletion");
    // quiet the scheduler again
    db.batch_execute("select cron.unschedule(jobname) from cron.job").await.expect("unschedule");
}
