//! `/rest/v1` on the real stack through postgrest-rs, the Rust client of
//! PostgREST: the tables as anon (nothing), as a user (own rows only; others'
//! rows are not found and writes to them change nothing) and as the service
//! role; and the SQL API through RPC, answering as the edge functions answer
//! for the same requests (same rows, same refusals with the same statuses).

use ourvidz_e2e::{Method, Stack, StatusCode};
use postgrest::Postgrest;
use serde_json::{json, Value};
use uuid::Uuid;

const TABLES: [&str; 5] = ["jobs", "workspace_assets", "user_collections", "user_library", "storage_deletion_outbox"];

/// A postgrest-rs client of this stack, with the anon key as supabase clients send it.
fn rest(stack: &Stack) -> Postgrest {
    Postgrest::new(format!("{}/rest/v1", stack.api)).insert_header("apikey", stack.token("anon", None, 3600))
}

/// Run a request: its status and JSON body (`null` when empty). Never a 5xx.
async fn run(builder: postgrest::Builder) -> (u16, Value) {
    let response = builder.execute().await.expect("the stack answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert!(status < 500, "a server error: {status} {text}");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")) };
    (status, body)
}

fn user_ids(rows: &Value) -> Vec<String> {
    rows.as_array().expect("rows").iter().map(|r| r["user_id"].as_str().expect("user_id").to_owned()).collect()
}

/// alice and bob, each with a rendered job, a collection and a library row.
async fn two_users(stack: &Stack) -> (Uuid, Uuid) {
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    for user in [alice, bob] {
        stack.queue(user, json!({"mode": "image", "prompt": "a fox", "batch_size": 1})).await;
        let (status, _) = run(
            rest(stack).from("user_collections").auth(stack.user_token(user)).insert(json!({"name": "Foxes"}).to_string()),
        )
        .await;
        assert_eq!(status, 201);
        stack
            .sql()
            .await
            .execute(
                "insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
                 values ($1, 'image', $2 || '/kept.png', 10, 'image/png', 'a fox', 'sdxl')",
                &[&user, &user.to_string()],
            )
            .await
            .expect("a library row");
    }
    let summary = stack.run_worker(&stack.worker_options("rest-worker")).await;
    assert_eq!(summary.completed, 2);
    (alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_give_anon_nothing_users_their_own_rows_and_the_service_role_all() {
    let stack = Stack::start().await;
    let (alice, bob) = two_users(&stack).await;
    let alice_token = stack.user_token(alice);
    let service = stack.service_token();

    for table in TABLES {
        let (status, body) = run(rest(&stack).from(table).select("*")).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("42501")), "anon on {table}: {body}");

        let (status, rows) = run(rest(&stack).from(table).auth(&alice_token).select("user_id")).await;
        assert_eq!(status, 200, "{table}: {rows}");
        assert!(user_ids(&rows).iter().all(|id| *id == alice.to_string()), "{table}: {rows}");

        let (_, all) = run(rest(&stack).from(table).auth(&service).select("user_id").in_("user_id", [alice.to_string(), bob.to_string()])).await;
        let ids = user_ids(&all);
        if table != "storage_deletion_outbox" {
            assert!(ids.contains(&alice.to_string()) && ids.contains(&bob.to_string()), "{table}: {all}");
        }
    }
    for table in ["jobs", "workspace_assets", "user_collections", "user_library"] {
        let (_, rows) = run(rest(&stack).from(table).auth(&alice_token).select("user_id")).await;
        assert_eq!(user_ids(&rows).len(), 1, "alice has one row in {table}");
    }

    // bob's rows are not found for alice: reading, changing or deleting them finds nothing.
    let (_, bobs) = run(rest(&stack).from("jobs").auth(&service).select("id").eq("user_id", bob.to_string())).await;
    let bob_job = bobs[0]["id"].as_str().expect("bob's job").to_owned();
    let (status, found) = run(rest(&stack).from("jobs").auth(&alice_token).select("*").eq("id", &bob_job)).await;
    assert_eq!((status, found), (200, json!([])));
    let (status, body) = run(rest(&stack).from("jobs").auth(&alice_token).select("*").eq("id", &bob_job).single()).await;
    assert_eq!((status, body["code"].as_str()), (406, Some("PGRST116")));
    for table in ["user_collections", "user_library"] {
        let (status, changed) = run(
            rest(&stack).from(table).auth(&alice_token).eq("user_id", bob.to_string()).update(json!({"custom_title": "mine"}).to_string()),
        )
        .await;
        // user_collections has no custom_title: PGRST204, a 4xx, before any row is looked at.
        if table == "user_collections" {
            assert_eq!(status, 400, "{changed}");
        } else {
            assert_eq!((status, changed), (200, json!([])));
        }
    }
    let (status, renamed) = run(
        rest(&stack).from("user_collections").auth(&alice_token).eq("user_id", bob.to_string()).update(json!({"name": "mine"}).to_string()),
    )
    .await;
    assert_eq!((status, renamed), (200, json!([])));
    for table in ["jobs", "workspace_assets", "user_collections", "user_library"] {
        let (status, deleted) = run(rest(&stack).from(table).auth(&alice_token).eq("user_id", bob.to_string()).delete()).await;
        assert_eq!((status, deleted), (200, json!([])), "{table}");
    }
    let db = stack.sql().await;
    for table in ["jobs", "workspace_assets", "user_collections", "user_library"] {
        let kept: i64 = db
            .query_one(&format!("select count(*) from {table} where user_id = $1"), &[&bob])
            .await
            .expect("count")
            .get(0);
        assert_eq!(kept, 1, "bob's {table} row is intact");
    }
    let name: String = db.query_one("select name from user_collections where user_id = $1", &[&bob]).await.expect("name").get(0);
    assert_eq!(name, "Foxes");

    // alice changes her own rows.
    let (status, mine) = run(
        rest(&stack).from("user_collections").auth(&alice_token).eq("user_id", alice.to_string()).update(json!({"name": "Vixens"}).to_string()),
    )
    .await;
    assert_eq!((status, mine[0]["name"].as_str()), (200, Some("Vixens")));
    let (status, gone) = run(rest(&stack).from("user_library").auth(&alice_token).eq("user_id", alice.to_string()).delete()).await;
    assert_eq!((status, gone.as_array().map(Vec::len)), (200, Some(1)));

    // A page with embedding and a count, as the library page asks.
    let (status, page) = run(
        rest(&stack)
            .from("jobs")
            .auth(&alice_token)
            .select("id,status,workspace_assets(asset_index,mime_type)")
            .order("created_at.desc")
            .exact_count(),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page[0]["status"], "completed");
    assert_eq!(page[0]["workspace_assets"][0]["mime_type"], "image/png");
}

fn rpc_status(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sql_api_function_answers_through_rpc_as_through_its_edge_function() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let alice_token = stack.user_token(alice);
    let bob_token = stack.user_token(bob);
    let service = stack.service_token();
    let client = rest(&stack);

    // enqueue_job ↔ queue-job: the same idempotency key finds the same job on either path.
    let request = json!({"mode": "image", "prompt": "a red fox", "batch_size": 2});
    let (status, queued) =
        run(client.rpc("enqueue_job", json!({"request": request, "idempotency_key": "fox-1"}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, queued["created"].as_bool()), (200, Some(true)), "{queued}");
    let job_id = queued["job"]["id"].as_str().expect("job id").to_owned();
    let function = stack
        .answer(
            stack
                .request(Method::POST, "/functions/v1/queue-job")
                .bearer_auth(&alice_token)
                .header("Idempotency-Key", "fox-1")
                .json(&request),
        )
        .await;
    assert_eq!(function.body["job"]["id"], job_id.as_str(), "{:?}", function.body);
    for field in ["status", "job_type", "mode", "prompt", "batch_size", "generation_seed"] {
        assert_eq!(function.body["job"][field], queued["job"][field], "{field}");
    }
    let bad = json!({"mode": "sculpture", "prompt": "x"});
    let (status, refused) = run(client.rpc("enqueue_job", json!({"request": bad}).to_string()).auth(&alice_token)).await;
    let function = stack.call(Method::POST, "queue-job", Some(&alice_token), Some(bad)).await;
    assert_eq!((status, rpc_status(&refused)), (function.status.as_u16(), Some("PT400")), "{refused} / {:?}", function.body);

    // The worker's calls: claim, heartbeat, report (service role only).
    let (status, claimed) = run(client.rpc("claim_jobs", json!({"worker_id": "w-rest", "max_jobs": 1}).to_string()).auth(&service)).await;
    assert_eq!((status, claimed["jobs"][0]["id"].as_str()), (200, Some(job_id.as_str())), "{claimed}");
    let (status, _) = run(client.rpc("claim_jobs", json!({"worker_id": "w-user"}).to_string()).auth(&alice_token)).await;
    assert_eq!(status, 403, "workers' functions refuse users");
    let (status, beat) = run(client.rpc("heartbeat_job", json!({"job_id": job_id, "worker_id": "w-rest"}).to_string()).auth(&service)).await;
    assert!(status == 200 && beat["lease_expires_at"].is_string(), "{beat}");
    let stranger = Uuid::new_v4();
    let (status, missing) = run(client.rpc("heartbeat_job", json!({"job_id": stranger, "worker_id": "w-rest"}).to_string()).auth(&service)).await;
    assert_eq!((status, rpc_status(&missing)), (404, Some("PT404")));
    let (status, stolen) = run(client.rpc("heartbeat_job", json!({"job_id": job_id, "worker_id": "other"}).to_string()).auth(&service)).await;
    assert_eq!((status, rpc_status(&stolen)), (409, Some("PT409")));

    // record_job_result ↔ job-callback: the same result, and a repeat is idempotent on either path.
    let failed = json!({"job_id": job_id, "status": "failed", "worker_id": "w-rest", "error": "no GPU"});
    let (status, done) = run(client.rpc("record_job_result", json!({"result": failed}).to_string()).auth(&service)).await;
    assert_eq!((status, done["job"]["status"].as_str()), (200, Some("failed")), "{done}");
    let function = stack.call(Method::POST, "job-callback", Some(&service), Some(failed)).await;
    assert_eq!((function.status, &function.body["job"]), (StatusCode::OK, &done["job"]));
    // An illegal transition is answered, not raised, by SQL (so its objects are queued for
    // deletion in the same transaction); the edge function turns that answer into its 409.
    let illegal = json!({"job_id": job_id, "status": "processing", "worker_id": "w-rest"});
    let (status, answered) = run(client.rpc("record_job_result", json!({"result": illegal}).to_string()).auth(&service)).await;
    let function = stack.call(Method::POST, "job-callback", Some(&service), Some(illegal)).await;
    assert_eq!((status, answered["error"]["status"].as_u64()), (200, Some(409)), "{answered}");
    assert_eq!(function.status, StatusCode::CONFLICT, "{:?}", function.body);

    // list_workspace ↔ workspace-actions GET: the same jobs, newest first.
    let second = stack.queue(alice, json!({"mode": "image", "prompt": "an owl", "batch_size": 1})).await;
    let summary = stack.run_worker(&stack.worker_options("rest-worker")).await;
    assert_eq!(summary.completed, 1);
    let (status, listed) = run(client.rpc("list_workspace", "{}").auth(&alice_token)).await;
    let function = stack.call(Method::GET, "workspace-actions", Some(&alice_token), None).await;
    assert_eq!(status, 200);
    let ids = |body: &Value| -> Vec<Value> { body["jobs"].as_array().expect("jobs").iter().map(|j| j["job_id"].clone()).collect() };
    assert_eq!(ids(&listed), ids(&function.body));
    assert_eq!(ids(&listed), vec![json!(second.to_string()), json!(job_id)]);
    let asset_id = listed["jobs"][0]["assets"][0]["id"].as_str().expect("an asset").to_owned();
    assert_eq!(function.body["jobs"][0]["assets"][0]["id"], asset_id.as_str());
    let (_, theirs) = run(client.rpc("list_workspace", json!({"page_size": 10}).to_string()).auth(&bob_token)).await;
    assert_eq!(theirs["jobs"], json!([]), "bob sees none of alice's workspace");

    // prepare_workspace_save ↔ workspace-actions save: another user's asset is not found,
    // a collection that is not the caller's is refused before anything happens.
    let (status, prepared) =
        run(client.rpc("prepare_workspace_save", json!({"asset_ids": [asset_id]}).to_string()).auth(&bob_token)).await;
    assert_eq!(status, 200, "{prepared}");
    assert_eq!(prepared["failed"], json!([{"id": asset_id, "error": "not_found"}]));
    let foreign = Uuid::new_v4();
    let (status, refused) = run(
        client.rpc("prepare_workspace_save", json!({"asset_ids": [asset_id], "collection_id": foreign}).to_string()).auth(&alice_token),
    )
    .await;
    let function = stack
        .call(Method::POST, "workspace-actions", Some(&alice_token),
              Some(json!({"action": "save", "asset_ids": [asset_id], "collection_id": foreign})))
        .await;
    assert_eq!((status, rpc_status(&refused)), (function.status.as_u16(), Some("PT404")), "{refused} / {:?}", function.body);
    let (status, refused) =
        run(client.rpc("save_workspace_assets", json!({"items": [], "collection_id": foreign}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, rpc_status(&refused)), (400, Some("PT400")), "no items: {refused}");

    // discard_workspace_assets ↔ workspace-actions discard, delete_workspace_items ↔ delete-workspace-item.
    let (status, refused) =
        run(client.rpc("discard_workspace_assets", json!({"job_id": second}).to_string()).auth(&bob_token)).await;
    let function = stack.call(Method::POST, "workspace-actions", Some(&bob_token), Some(json!({"action": "discard", "job_id": second}))).await;
    assert_eq!((status, rpc_status(&refused)), (function.status.as_u16(), Some("PT404")));
    let (status, refused) = run(client.rpc("delete_workspace_items", json!({"asset_id": asset_id}).to_string()).auth(&bob_token)).await;
    let function = stack.call(Method::POST, "delete-workspace-item", Some(&bob_token), Some(json!({"asset_id": asset_id}))).await;
    assert_eq!((status, rpc_status(&refused)), (function.status.as_u16(), Some("PT404")));
    let (status, discarded) =
        run(client.rpc("discard_workspace_assets", json!({"asset_ids": [asset_id]}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, &discarded["discarded"]), (200, &json!([asset_id])), "{discarded}");
    let (status, cleared) = run(client.rpc("clear_workspace", "{}").auth(&alice_token)).await;
    let function = stack.call(Method::POST, "workspace-actions", Some(&alice_token), Some(json!({"action": "clear"}))).await;
    assert_eq!((status, &cleared["failed"]), (200, &json!([])), "{cleared}");
    assert_eq!(function.status, StatusCode::OK, "{:?}", function.body);
    // Deleting the (dismissed) failed job: once through RPC; then it is nothing of alice's on either path.
    let (status, deleted) = run(client.rpc("delete_workspace_items", json!({"job_id": job_id}).to_string()).auth(&alice_token)).await;
    assert_eq!(status, 200, "{deleted}");
    let function = stack.call(Method::POST, "delete-workspace-item", Some(&alice_token), Some(json!({"job_id": job_id}))).await;
    let (status, again) = run(client.rpc("delete_workspace_items", json!({"job_id": job_id}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, rpc_status(&again)), (function.status.as_u16(), Some("PT404")), "{again} / {:?}", function.body);

    // The outbox and maintenance functions: the service role's; users are refused.
    let (status, deletions) = run(client.rpc("claim_storage_deletions", json!({"max_items": 100}).to_string()).auth(&service)).await;
    assert_eq!(status, 200, "{deletions}");
    let ids: Vec<i64> = deletions["deletions"].as_array().expect("deletions").iter().map(|d| d["id"].as_i64().expect("id")).collect();
    let (status, failed_count) =
        run(client.rpc("fail_storage_deletions", json!({"ids": ids, "error": "later"}).to_string()).auth(&service)).await;
    assert_eq!((status, failed_count.as_i64()), (200, Some(ids.len() as i64)));
    let (status, completed) = run(client.rpc("complete_storage_deletions", json!({"ids": ids}).to_string()).auth(&service)).await;
    assert_eq!((status, completed.as_i64()), (200, Some(ids.len() as i64)));
    let (status, orphans) = run(client.rpc("storage_orphans", "{}").auth(&service).select("kind").eq("kind", "row_without_object")).await;
    assert_eq!(status, 200, "{orphans}");
    let (status, removed) = run(client.rpc("cleanup_expired_workspace_assets", "{}").auth(&service)).await;
    assert_eq!((status, removed.is_i64()), (200, true), "{removed}");
    let (status, repaired) = run(client.rpc("repair_collection_asset_counts", "{}").auth(&service)).await;
    assert_eq!((status, repaired.as_i64()), (200, Some(0)));
    for function in ["claim_storage_deletions", "storage_orphans", "cleanup_expired_workspace_assets", "repair_collection_asset_counts"] {
        let (status, body) = run(client.rpc(function, "{}").auth(&alice_token)).await;
        assert_eq!((status, rpc_status(&body)), (403, Some("42501")), "{function}: {body}");
    }
    let (status, body) = run(client.rpc("enqueue_job", "{}").auth(&stack.token("anon", None, 60))).await;
    assert_eq!((status, rpc_status(&body)), (404, Some("PGRST202")), "no function takes no arguments: {body}");
}

/// A library row of `user`, written as superuser (the save flow is covered by flow.rs).
async fn library_item(stack: &Stack, user: Uuid, name: &str) -> String {
    let id: Uuid = stack
        .sql()
        .await
        .query_one(
            "insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
             values ($1, 'image', $2, 100, 'image/png', 'a fox', 'sdxl') returning id",
            &[&user, &format!("{user}/{name}.png")],
        )
        .await
        .expect("a library row")
        .get(0);
    id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_api_answers_through_rpc_with_its_statuses() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let (alice_token, bob_token) = (stack.user_token(alice), stack.user_token(bob));
    let client = rest(&stack);
    let (first, second) = (library_item(&stack, alice, "one").await, library_item(&stack, alice, "two").await);
    let theirs = library_item(&stack, bob, "theirs").await;

    let (status, foxes) = run(client.rpc("create_collection", json!({"name": "Foxes"}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, foxes["name"].as_str()), (200, Some("Foxes")), "{foxes}");
    let foxes_id = foxes["id"].as_str().expect("collection id").to_owned();
    let (status, taken) = run(client.rpc("create_collection", json!({"name": "foxes"}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, rpc_status(&taken)), (409, Some("PT409")), "{taken}");
    let (_, owls) = run(client.rpc("create_collection", json!({"name": "Owls"}).to_string()).auth(&bob_token)).await;
    let (status, refused) = run(
        client.rpc("update_collection", json!({"collection_id": owls["id"], "name": "Mine"}).to_string()).auth(&alice_token),
    )
    .await;
    assert_eq!((status, rpc_status(&refused)), (404, Some("PT404")), "another user's collection is not found");

    let changes = json!({"item_ids": [first, theirs], "changes": {"is_favorite": true, "collection_id": foxes_id}});
    let (status, updated) = run(client.rpc("update_library_items", changes.to_string()).auth(&alice_token)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["updated"], json!([first]));
    assert_eq!(updated["failed"], json!([{"id": theirs, "error": "not_found"}]));

    let (status, page) = run(client.rpc("list_library", json!({"page_size": 10}).to_string()).auth(&alice_token)).await;
    assert_eq!(status, 200, "{page}");
    let mut ids: Vec<&str> = page["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().expect("id")).collect();
    ids.sort();
    let mut mine = vec![first.as_str(), second.as_str()];
    mine.sort();
    assert_eq!(ids, mine);
    let (_, favourites) = run(client.rpc("list_library", json!({"is_favorite": true}).to_string()).auth(&alice_token)).await;
    assert_eq!(favourites["items"][0]["id"], first.as_str(), "{favourites}");
    assert_eq!(favourites["items"][0]["collection_id"], foxes_id.as_str());
    let (status, refused) = run(client.rpc("list_library", json!({"page_size": 0}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, rpc_status(&refused)), (400, Some("PT400")));
    let (status, collections) = run(client.rpc("list_collections", "{}").auth(&alice_token)).await;
    assert_eq!((status, collections["collections"].as_array().map(Vec::len)), (200, Some(1)), "{collections}");
    let (status, stats) = run(client.rpc("asset_statistics", "{}").auth(&alice_token)).await;
    assert_eq!((status, stats["library"]["total"]["count"].as_i64()), (200, Some(2)), "{stats}");

    let (status, lineage) = run(client.rpc("asset_lineage", json!({"asset_id": theirs}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, rpc_status(&lineage)), (404, Some("PT404")), "{lineage}");
    let stranger = Uuid::new_v4();
    for function in ["dismiss_workspace_items", "restore_workspace_items"] {
        let (status, body) = run(client.rpc(function, json!({"job_id": stranger}).to_string()).auth(&alice_token)).await;
        assert_eq!((status, rpc_status(&body)), (404, Some("PT404")), "{function}: {body}");
    }

    let (status, deleted) = run(client.rpc("delete_library_items", json!({"item_ids": [second, theirs]}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, &deleted["deleted"]), (200, &json!([second])), "{deleted}");
    let (status, dropped) = run(client.rpc("delete_collection", json!({"collection_id": foxes_id}).to_string()).auth(&alice_token)).await;
    assert_eq!((status, dropped["items_kept"].as_i64()), (200, Some(1)), "{dropped}");
    let (_, bobs) = run(client.rpc("list_library", "{}").auth(&bob_token)).await;
    assert_eq!(bobs["items"].as_array().map(Vec::len), Some(1), "bob's library is untouched: {bobs}");
}
