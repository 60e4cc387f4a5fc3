//! The whole generation flow through the real stack: queue → worker →
//! callback → workspace listing with working signed URLs → save some to a
//! collection → discard and delete the rest → expiry cleanup → outbox drained
//! → the orphan audit finds nothing, in SQL or on disk.

use ourvidz_e2e::{Method, Stack, StatusCode};
use serde_json::{json, Value};

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("IHDR width"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("IHDR height"));
    (width, height)
}

/// Fetch a signed URL as the functions hand it out (absolute, like storage-js).
async fn download(stack: &Stack, signed_url: &str) -> Vec<u8> {
    let path = signed_url.strip_prefix(stack.api.as_str()).expect("a URL of this stack");
    let response = stack.request(Method::GET, path).send().await.expect("download");
    assert_eq!(response.status(), StatusCode::OK, "signed URL {signed_url}");
    response.bytes().await.expect("bytes").to_vec()
}

async fn workspace(stack: &Stack, token: &str) -> Value {
    let answer = stack.call(Method::GET, "workspace-actions", Some(token), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

fn asset_ids(group: &Value) -> Vec<String> {
    group["assets"].as_array().expect("assets").iter().map(|a| a["id"].as_str().expect("id").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_goes_from_queue_to_library_and_leaves_no_orphan() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let alice_token = stack.user_token(alice);

    // Queue: a 1x3 image set (16:9) and a video for alice, one image for bob.
    let image_job = stack
        .queue(alice, json!({"mode": "image", "prompt": "a red fox in the snow", "seed": 7,
                              "settings": {"aspect_ratio": "16:9", "shot_type": "wide"}}))
        .await;
    let video_job = stack.queue(alice, json!({"mode": "video", "prompt": "a fox running", "seed": 9})).await;
    stack.queue(bob, json!({"mode": "image", "prompt": "an owl", "batch_size": 1})).await;

    // The worker renders, uploads and reports all three.
    let summary = stack.run_worker(&stack.worker_options("e2e-worker")).await;
    assert_eq!((summary.completed, summary.failed, summary.abandoned), (3, 0, 0));

    // alice's workspace: newest job first, every asset with a signed URL that works.
    let listing = workspace(&stack, &alice_token).await;
    let jobs = listing["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 2, "{listing}");
    assert_eq!(jobs[0]["job_id"], video_job.to_string());
    assert_eq!(jobs[1]["job_id"], image_job.to_string());
    assert_eq!(jobs[1]["status"], "completed");
    let images = jobs[1]["assets"].as_array().expect("image assets");
    assert_eq!(images.len(), 3);
    for (index, asset) in images.iter().enumerate() {
        assert_eq!(asset["asset_index"], index);
        assert_eq!(asset["mime_type"], "image/png");
        let bytes = download(&stack, asset["url"].as_str().expect("a signed url")).await;
        let (width, height) = png_size(&bytes);
        assert_eq!(width * 9, height * 16, "16:9 picture, got {width}x{height}");
        assert_eq!((asset["width"].as_u64(), asset["height"].as_u64()), (Some(width.into()), Some(height.into())));
    }
    let video = &jobs[0]["assets"][0];
    assert_eq!(video["mime_type"], "video/mp4");
    let movie = download(&stack, video["url"].as_str().expect("video url")).await;
    assert_eq!(&movie[4..8], b"ftyp", "an MP4 file");
    assert!(video["thumbnail_url"].is_string(), "videos come with a thumbnail: {video}");

    // A signed URL tampered with no longer works.
    let url = images[0]["url"].as_str().expect("url");
    let tampered = format!("{}x", url.strip_prefix(stack.api.as_str()).expect("a URL of this stack"));
    let response = stack.request(Method::GET, &tampered).send().await.expect("download");
    assert_ne!(response.status(), StatusCode::OK);

    // Save two of the three into a collection.
    let collection: uuid::Uuid = stack
        .sql()
        .await
        .query_one("insert into user_collections (user_id, name) values ($1, 'foxes') returning id", &[&alice])
        .await
        .expect("collection")
        .get(0);
    let ids = asset_ids(&jobs[1]);
    let saved = stack
        .call(Method::POST, "workspace-actions", Some(&alice_token),
              Some(json!({"action": "save", "asset_ids": [ids[0], ids[1]], "collection_id": collection,
                          "custom_title": "fox", "tags": ["red"]})))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert_eq!(saved.body["saved"].as_array().map(Vec::len), Some(2), "{:?}", saved.body);
    assert_eq!(saved.body["failed"], json!([]));
    let db = stack.sql().await;
    let count: i32 = db.query_one("select asset_count from user_collections where id = $1", &[&collection]).await.expect("count").get(0);
    assert_eq!(count, 2);

    // The library copies are there, with the bytes of the originals, for alice only.
    let library = db
        .query("select storage_path, file_size_bytes from user_library where user_id = $1 order by generation_seed", &[&alice])
        .await
        .expect("library");
    assert_eq!(library.len(), 2);
    for row in &library {
        let path: String = row.get(0);
        let size: i64 = row.get(1);
        let mine = stack
            .request(Method::GET, &format!("/storage/v1/object/authenticated/user-library/{path}"))
            .bearer_auth(&alice_token)
            .send()
            .await
            .expect("download");
        assert_eq!(mine.status(), StatusCode::OK);
        assert_eq!(mine.bytes().await.expect("bytes").len() as i64, size);
        let theirs = stack
            .request(Method::GET, &format!("/storage/v1/object/authenticated/user-library/{path}"))
            .bearer_auth(stack.user_token(bob))
            .send()
            .await
            .expect("download");
        assert_ne!(theirs.status(), StatusCode::OK, "bob must not read alice's library");
    }

    // Discard the third image, delete the video job.
    let discarded = stack
        .call(Method::POST, "workspace-actions", Some(&alice_token), Some(json!({"action": "discard", "asset_ids": [ids[2]]})))
        .await;
    assert_eq!((discarded.status, discarded.body["discarded"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let deleted = stack
        .call(Method::POST, "delete-workspace-item", Some(&alice_token), Some(json!({"job_id": video_job})))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    assert_eq!(workspace(&stack, &alice_token).await["jobs"], json!([]));

    // bob's asset expires and the cleanup removes it.
    db.execute("update workspace_assets set expires_at = now() - interval '1 minute' where user_id = $1", &[&bob])
        .await
        .expect("expire");
    let removed: i64 = db.query_one("select cleanup_expired_workspace_assets()", &[]).await.expect("cleanup").get(0);
    assert_eq!(removed, 1);

    // Drain the outbox: every temp object goes, the library copies stay.
    let drained = stack.drain().await;
    assert_eq!(drained["failed"], 0, "{drained}");
    assert!(drained["deleted"].as_u64().unwrap_or(0) >= 6, "{drained}");
    assert_eq!(stack.drain().await["deleted"], 0);
    let pending: i64 = db.query_one("select count(*) from storage_deletion_outbox", &[]).await.expect("outbox").get(0);
    assert_eq!(pending, 0);
    let files = stack.stored_files();
    assert!(files.iter().all(|f| f.starts_with("user-library/")), "only library files remain: {files:?}");
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(stack.orphans().await, Vec::<String>::new());
}
