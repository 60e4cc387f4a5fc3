//! The library half of the app through the real stack (issue 10): save →
//! the library listed by library-actions with signed URLs that download →
//! search finds it → tag, favorite, move to a collection, counts right → use
//! seed queues a job with the same seed and settings, its assets descend
//! from the item → a reference held until the job that reads it finishes →
//! dismiss, clear and restore in the workspace → delete removes rows and,
//! after the drain, files; the orphan audit finds nothing. Another user's
//! ids are never found.

use ourvidz_e2e::{Method, Stack, StatusCode};
use serde_json::{json, Value};

/// Fetch a signed URL as the functions hand it out (absolute, like storage-js).
async fn download(stack: &Stack, signed_url: &str) -> Vec<u8> {
    let path = signed_url.strip_prefix(stack.api.as_str()).expect("a URL of this stack");
    let response = stack.request(Method::GET, path).send().await.expect("download");
    assert_eq!(response.status(), StatusCode::OK, "signed URL {signed_url}");
    response.bytes().await.expect("bytes").to_vec()
}

async fn get(stack: &Stack, function: &str, query: &str, token: &str) -> Value {
    let answer = stack.answer(stack.request(Method::GET, &format!("/functions/v1/{function}?{query}")).bearer_auth(token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{function}?{query}: {:?}", answer.body);
    answer.body
}

async fn post(stack: &Stack, function: &str, token: &str, body: Value) -> Value {
    let answer = stack.call(Method::POST, function, Some(token), Some(body.clone())).await;
    assert_eq!(answer.status, StatusCode::OK, "{function} {body}: {:?}", answer.body);
    answer.body
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|item| item["id"].as_str().expect("an id").to_owned()).collect()
}

/// A SQL API function through /rest/v1/rpc, as supabase-js calls it.
async fn rpc(stack: &Stack, function: &str, token: &str, args: Value) -> (StatusCode, Value) {
    let request = stack
        .request(Method::POST, &format!("/rest/v1/rpc/{function}"))
        .header("apikey", stack.token("anon", None, 3600))
        .bearer_auth(token)
        .json(&args);
    let answer = stack.answer(request).await;
    (answer.status, answer.body)
}

async fn object_exists(stack: &Stack, bucket: &str, name: &str) -> bool {
    let db = stack.sql().await;
    let row = db
        .query_one("select exists (select 1 from storage.objects where bucket_id = $1 and name = $2)", &[&bucket, &name])
        .await
        .expect("storage.objects");
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_is_listed_searched_organised_reused_and_emptied_without_orphans() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let alice_token = stack.user_token(alice);
    let bob_token = stack.user_token(bob);

    // A 1x3 set for alice, rendered by the worker; one image for bob.
    let job = stack
        .queue(alice, json!({"mode": "image", "prompt": "a lighthouse on a cliff at dusk", "seed": 1234,
                              "settings": {"aspect_ratio": "1:1", "guidance_scale": 6.5}}))
        .await;
    stack.queue(bob, json!({"mode": "image", "prompt": "a lighthouse of bob's", "batch_size": 1})).await;
    let summary = stack.run_worker(&stack.worker_options("library-worker")).await;
    assert_eq!((summary.completed, summary.failed), (2, 0));
    let workspace = get(&stack, "workspace-actions", "", &alice_token).await;
    let assets = workspace["jobs"][0]["assets"].as_array().expect("assets").clone();
    assert_eq!((workspace["jobs"][0]["job_id"].as_str(), assets.len()), (Some(job.to_string().as_str()), 3));

    // Save two: each answered as the library lists it, with a signed URL that downloads.
    let saved = post(&stack, "workspace-actions", &alice_token,
                     json!({"action": "save", "asset_ids": [assets[0]["id"], assets[1]["id"]], "tags": ["coast"]})).await;
    assert_eq!(saved["failed"], json!([]), "{saved}");
    let saved_items: Vec<Value> = saved["saved"].as_array().expect("saved").iter().map(|s| s["item"].clone()).collect();
    assert_eq!(saved_items.len(), 2, "{saved}");
    for (item, entry) in saved_items.iter().zip(saved["saved"].as_array().expect("saved")) {
        assert_eq!(item["id"], entry["library_id"]);
        assert_eq!(item["tags"], json!(["coast"]));
        let bytes = download(&stack, item["url"].as_str().expect("a signed url")).await;
        assert_eq!(bytes.len() as u64, item["file_size_bytes"].as_u64().expect("size"));
        assert_eq!(&bytes[..4], b"\x89PNG");
    }

    // The library, newest first, every item and thumbnail signed in one go; bob sees none of it.
    let page = get(&stack, "library-actions", "", &alice_token).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");
    assert_eq!(page["next"], Value::Null);
    for item in page["items"].as_array().expect("items") {
        let bytes = download(&stack, item["url"].as_str().expect("url")).await;
        assert_eq!(bytes.len() as u64, item["file_size_bytes"].as_u64().expect("size"));
        assert!(item.get("thumbnail_url").is_some(), "{item}");
    }
    let first_page = get(&stack, "library-actions", "page_size=1", &alice_token).await;
    let cursor = &first_page["next"];
    let second_page = get(&stack, "library-actions",
                          &format!("page_size=1&after_created_at={}&after_id={}",
                                   urlencode(cursor["created_at"].as_str().expect("created_at")),
                                   cursor["id"].as_str().expect("id")),
                          &alice_token).await;
    assert_eq!(ids(&first_page["items"]).into_iter().chain(ids(&second_page["items"])).collect::<Vec<_>>(), ids(&page["items"]));
    assert_eq!(get(&stack, "library-actions", "", &bob_token).await["items"].as_array().map(Vec::len), Some(0));

    // Search finds them: by word (stemmed), by part of a word, through a typo; bob's lighthouse never.
    for (search, stage) in [("lighthouses", "words"), ("hthou", "substring"), ("lighthuose", "fuzzy")] {
        let found = get(&stack, "library-actions", &format!("search={search}"), &alice_token).await;
        assert_eq!((found["items"].as_array().map(Vec::len), found["match"].as_str()), (Some(2), Some(stage)), "{search}: {found}");
    }
    let relevance = get(&stack, "library-actions", "search=cliff&sort=relevance", &alice_token).await;
    assert_eq!(relevance["items"].as_array().map(Vec::len), Some(2));
    let nothing = get(&stack, "library-actions", "search=zebra", &alice_token).await;
    assert_eq!(nothing["items"], json!([]));

    // Organise: a collection, then tag, favorite and move both items in one call.
    let collection = post(&stack, "library-actions", &alice_token,
                          json!({"action": "create_collection", "name": " Coast ", "description": "by the sea"})).await;
    assert_eq!(collection["name"], "Coast");
    let item_ids: Vec<String> = saved_items.iter().map(|item| item["id"].as_str().expect("id").to_owned()).collect();
    let updated = post(&stack, "library-actions", &alice_token, json!({"action": "update", "item_ids": item_ids,
        "changes": {"add_tags": ["sea"], "is_favorite": true, "collection_id": collection["id"]}})).await;
    assert_eq!((updated["updated"].as_array().map(Vec::len), &updated["failed"]), (Some(2), &json!([])));
    let filtered = get(&stack, "library-actions",
                       &format!("collection_id={}&tags_all=coast&tags_all=sea&is_favorite=true", collection["id"].as_str().expect("id")),
                       &alice_token).await;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(2), "{filtered}");
    let collections = get(&stack, "library-actions", "view=collections", &alice_token).await;
    assert_eq!(collections["collections"][0]["asset_count"], 2, "{collections}");
    download(&stack, collections["collections"][0]["cover"]["url"].as_str().expect("a signed cover")).await;
    let statistics = get(&stack, "library-actions", "view=statistics", &alice_token).await;
    let bytes: u64 = saved_items.iter().map(|item| item["file_size_bytes"].as_u64().expect("size")).sum();
    assert_eq!(statistics["library"]["image"], json!({"count": 2, "bytes": bytes}), "{statistics}");
    assert_eq!(statistics["collections"][0]["count"], 2);
    assert_eq!(statistics["workspace"]["image"]["count"], 1, "one image left in the workspace: {statistics}");
    // bob's attempts on alice's items and collection find nothing
    let bobs = post(&stack, "library-actions", &bob_token, json!({"action": "update", "item_ids": [item_ids[0]],
        "changes": {"is_favorite": false}})).await;
    assert_eq!(bobs["failed"], json!([{"id": item_ids[0], "error": "not_found"}]));
    let bobs = stack.call(Method::POST, "library-actions", Some(&bob_token),
                          Some(json!({"action": "delete_collection", "collection_id": collection["id"]}))).await;
    assert_eq!(bobs.status, StatusCode::NOT_FOUND, "{:?}", bobs.body);

    // Use seed: a job from a library item reuses its prompt, model, settings and seed.
    let reuse = stack.call(Method::POST, "queue-job", Some(&alice_token),
                           Some(json!({"from_asset": item_ids[0], "batch_size": 1}))).await;
    assert_eq!(reuse.status, StatusCode::ACCEPTED, "{:?}", reuse.body);
    let reused = &reuse.body["job"];
    assert_eq!(reused["generation_seed"], saved_items[0]["generation_seed"]);
    assert_eq!(reused["prompt"], "a lighthouse on a cliff at dusk");
    assert_eq!(reused["generation_settings"], json!({"aspect_ratio": "1:1", "guidance_scale": 6.5}));
    let variation = stack.call(Method::POST, "queue-job", Some(&alice_token),
                               Some(json!({"from_asset": item_ids[0], "reuse_seed": false, "batch_size": 1}))).await;
    assert_ne!(variation.body["job"]["generation_seed"], saved_items[0]["generation_seed"]);
    let bobs = stack.call(Method::POST, "queue-job", Some(&bob_token), Some(json!({"from_asset": item_ids[0]}))).await;
    assert_eq!(bobs.status, StatusCode::NOT_FOUND, "{:?}", bobs.body);

    // A reference given as the id of the workspace image left: held while the
    // job reading it waits, even once its row is discarded; signable by the
    // worker with the service key; released when the job is done.
    let left = assets[2]["id"].as_str().expect("id");
    let referencing = stack.call(Method::POST, "queue-job", Some(&alice_token),
        Some(json!({"mode": "image", "prompt": "in that light", "batch_size": 1, "settings": {"reference_image": left}}))).await;
    assert_eq!(referencing.status, StatusCode::ACCEPTED, "{:?}", referencing.body);
    let reference = referencing.body["job"]["generation_settings"]["reference_image"].as_str().expect("a stored reference").to_owned();
    let (bucket, name) = reference.split_once('/').expect("{bucket}/{name}");
    assert_eq!((bucket, name), ("workspace-temp", assets[2]["temp_storage_path"].as_str().expect("path")));
    post(&stack, "workspace-actions", &alice_token, json!({"action": "discard", "asset_ids": [left]})).await;
    stack.drain().await;
    assert!(object_exists(&stack, bucket, name).await, "a held reference outlives its row");
    let signed = stack
        .answer(stack.request(Method::POST, &format!("/storage/v1/object/sign/{bucket}/{name}"))
            .bearer_auth(stack.service_token())
            .json(&json!({"expiresIn": 300})))
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{:?}", signed.body);
    let signed_url = format!("{}/storage/v1{}", stack.api, signed.body["signedURL"].as_str().expect("signedURL"));
    assert_eq!(&download(&stack, &signed_url).await[..4], b"\x89PNG");
    let summary = stack.run_worker(&stack.worker_options("library-worker")).await;
    assert_eq!((summary.completed, summary.failed), (3, 0));
    stack.drain().await;
    assert!(!object_exists(&stack, bucket, name).await, "released once the job finished, then drained");

    // The use-seed and variation jobs' assets descend from the item (lineage, through /rest/v1/rpc).
    let (status, lineage) = rpc(&stack, "asset_lineage", &alice_token, json!({"asset_id": item_ids[0]})).await;
    assert_eq!(status, StatusCode::OK, "{lineage}");
    let mut kinds: Vec<&str> = lineage["descendants"].as_array().expect("descendants").iter()
        .map(|edge| edge["relationship_type"].as_str().expect("type")).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, vec!["derived_from", "variant_of"], "use seed and the variation: {lineage}");
    let (status, _) = rpc(&stack, "asset_lineage", &bob_token, json!({"asset_id": item_ids[0]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Two-level deletion in the workspace: clear dismisses, restore brings back.
    let cleared = post(&stack, "workspace-actions", &alice_token, json!({"action": "clear"})).await;
    assert_eq!(cleared["dismissed"].as_array().map(Vec::len), Some(3), "{cleared}");
    assert_eq!(get(&stack, "workspace-actions", "", &alice_token).await["jobs"], json!([]));
    let dismissed = get(&stack, "workspace-actions", "include_dismissed=true", &alice_token).await;
    assert_eq!(dismissed["jobs"].as_array().map(Vec::len), Some(3), "{dismissed}");
    let restored = post(&stack, "workspace-actions", &alice_token,
                        json!({"action": "restore", "job_id": dismissed["jobs"][0]["job_id"]})).await;
    assert_eq!(restored["restored"].as_array().map(Vec::len), Some(1), "{restored}");
    assert_eq!(get(&stack, "workspace-actions", "search=light", &alice_token).await["jobs"].as_array().map(Vec::len), Some(1));

    // Delete: one item, then the collection with the other; the rows go now,
    // the files with the drain. The workspace's last assets are discarded.
    let deleted = post(&stack, "library-actions", &alice_token, json!({"action": "delete", "item_ids": [item_ids[0]]})).await;
    assert_eq!(deleted["deleted"], json!([item_ids[0]]));
    let gone = post(&stack, "library-actions", &alice_token,
                    json!({"action": "delete_collection", "collection_id": collection["id"], "delete_items": true})).await;
    assert_eq!((gone["items_deleted"].as_u64(), gone["items_kept"].as_u64()), (Some(1), Some(0)));
    assert_eq!(get(&stack, "library-actions", "", &alice_token).await["items"], json!([]));
    for group in dismissed["jobs"].as_array().expect("jobs") {
        post(&stack, "workspace-actions", &alice_token, json!({"action": "discard", "job_id": group["job_id"]})).await;
    }
    let db = stack.sql().await;
    let rows: i64 = db
        .query_one("select (select count(*) from user_library where user_id = $1)
                         + (select count(*) from workspace_assets where user_id = $1)
                         + (select count(*) from asset_relationships where user_id = $1)", &[&alice])
        .await
        .expect("counts")
        .get(0);
    assert_eq!(rows, 0);
    let drained = stack.drain().await;
    assert_eq!(drained["failed"], 0, "{drained}");
    let alices: Vec<String> = stack.stored_files().into_iter().filter(|file| file.contains(&alice.to_string())).collect();
    assert_eq!(alices, Vec::<String>::new(), "every file of alice's is gone");
    assert_eq!(stack.orphans().await, Vec::<String>::new());
}

/// Percent-encode a timestamp for a query string (its `+` and `:`).
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
