//! Every route's happy path and the bucket rules, over HTTP against a real database.

mod common;

use common::{anon_token, service_token, start, user};
use serde_json::json;

const PNG: &[u8] = b"\x89PNG fake image bytes";

#[tokio::test]
async fn upload_answers_id_and_key_and_download_returns_the_content() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/job/0.png", alice.id);
    let reply = stack.upload(&alice.token, "media", &name, "image/png", PNG, false).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let body = reply.json();
    assert_eq!(body["Key"], format!("media/{name}"));
    let row = stack.row("media", &name).await.expect("row written");
    assert_eq!(body["Id"], row["id"]);

    for path in [format!("/object/authenticated/media/{name}"), format!("/object/media/{name}")] {
        let download = stack.get(Some(&alice.token), &path).await;
        assert_eq!(download.status, 200);
        assert_eq!(download.body, PNG);
        assert_eq!(download.header("content-type"), Some("image/png"));
        assert_eq!(download.header("content-length"), Some(PNG.len().to_string().as_str()));
        assert_eq!(download.header("etag"), row["metadata"]["eTag"].as_str());
        assert_eq!(download.header("cache-control"), Some("no-cache"));
        assert!(download.header("last-modified").is_some());
    }

    let head = stack.head(Some(&alice.token), &format!("/object/authenticated/media/{name}")).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some(PNG.len().to_string().as_str()));
}

#[tokio::test]
async fn upload_records_owner_and_supabase_metadata() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/meta.png", alice.id);
    let reply = stack
        .send_upload_with_cache_control(&alice.token, "media", &name, "image/png", PNG, "max-age=3600")
        .await;
    assert_eq!(reply.status, 200);
    let row = stack.row("media", &name).await.unwrap();
    assert_eq!(row["owner"], alice.id);
    assert_eq!(row["owner_id"], alice.id);
    let metadata = &row["metadata"];
    let digest = format!("\"{}\"", md5_hex(PNG));
    assert_eq!(metadata["eTag"], digest);
    assert_eq!(metadata["size"], PNG.len());
    assert_eq!(metadata["contentLength"], PNG.len());
    assert_eq!(metadata["mimetype"], "image/png");
    assert_eq!(metadata["cacheControl"], "max-age=3600");
    assert_eq!(metadata["httpStatusCode"], 200);
    assert!(metadata["lastModified"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(stack.file("media", &name).unwrap(), PNG);
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn duplicate_upload_without_upsert_is_a_409_and_keeps_the_first_content() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/dup.png", alice.id);
    assert_eq!(stack.upload(&alice.token, "media", &name, "image/png", b"first", false).await.status, 200);
    let again = stack.upload(&alice.token, "media", &name, "image/png", b"second", false).await;
    let body = again.assert_error(400, "409", "KeyAlreadyExists");
    assert_eq!(body["error"], "Duplicate");
    assert_eq!(body["message"], "The resource already exists");
    assert_eq!(stack.file("media", &name).unwrap(), b"first");
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn x_upsert_and_put_overwrite_content_and_metadata_keeping_the_id() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/over.png", alice.id);
    let first = stack.upload(&alice.token, "media", &name, "image/png", b"one", false).await.json();
    let second = stack.upload(&alice.token, "media", &name, "image/jpeg", b"two!", true).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["Id"], first["Id"]);
    assert_eq!(stack.file("media", &name).unwrap(), b"two!");
    assert_eq!(stack.row("media", &name).await.unwrap()["metadata"]["mimetype"], "image/jpeg");

    let third = stack.put(&alice.token, "media", &name, "image/png", b"three").await;
    assert_eq!(third.status, 200);
    assert_eq!(third.json()["Key"], format!("media/{name}"));
    assert_eq!(stack.file("media", &name).unwrap(), b"three");
    assert_eq!(stack.row("media", &name).await.unwrap()["metadata"]["size"], 5);
    assert_eq!(stack.rows("media", &name).await, 1);
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn bucket_size_limit_refuses_larger_uploads_with_413() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/big.png", alice.id);
    let reply = stack.upload(&alice.token, "media", &name, "image/png", &[7u8; 1025], false).await;
    let body = reply.assert_error(400, "413", "EntityTooLarge");
    assert_eq!(body["error"], "Payload too large");
    assert_eq!(stack.rows("media", &name).await, 0);
    assert!(stack.file("media", &name).is_none());
    assert_eq!(stack.upload(&alice.token, "media", &name, "image/png", &[7u8; 1024], false).await.status, 200);
}

#[tokio::test]
async fn global_upload_cap_applies_to_buckets_without_a_limit() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/big.bin", alice.id);
    let reply = stack.upload(&alice.token, "open", &name, "application/octet-stream", &[1u8; 4097], false).await;
    reply.assert_error(400, "413", "EntityTooLarge");
    assert_eq!(stack.rows("open", &name).await, 0);
}

#[tokio::test]
async fn bucket_mime_types_refuse_unlisted_types_with_415_and_accept_wildcards() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/doc.txt", alice.id);
    let reply = stack.upload(&alice.token, "media", &name, "text/plain", b"hello", false).await;
    let body = reply.assert_error(400, "415", "InvalidMimeType");
    assert_eq!(body["error"], "invalid_mime_type");
    assert_eq!(body["message"], "mime type text/plain is not supported");
    assert_eq!(stack.rows("media", &name).await, 0);
    let webp = format!("{}/x.webp", alice.id);
    assert_eq!(stack.upload(&alice.token, "media", &webp, "image/webp", b"webp", false).await.status, 200);
    let mp4 = format!("{}/x.mp4", alice.id);
    assert_eq!(stack.upload(&alice.token, "media", &mp4, "video/mp4", b"mp4", false).await.status, 200);
    let webm = format!("{}/x.webm", alice.id);
    stack.upload(&alice.token, "media", &webm, "video/webm", b"webm", false).await.assert_error(400, "415", "InvalidMimeType");
}

#[tokio::test]
async fn upload_to_a_missing_bucket_is_bucket_not_found() {
    let stack = start().await;
    let alice = user();
    let reply = stack.upload(&alice.token, "nope", &format!("{}/a.png", alice.id), "image/png", PNG, false).await;
    reply.assert_error(400, "404", "NoSuchBucket");
}

#[tokio::test]
async fn delete_one_removes_row_and_file() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/gone.png", alice.id);
    stack.upload(&alice.token, "media", &name, "image/png", PNG, false).await;
    let reply = stack.delete(&alice.token, &format!("/object/media/{name}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"message": "Successfully deleted"}));
    assert_eq!(stack.rows("media", &name).await, 0);
    assert!(stack.file("media", &name).is_none());
    stack.delete(&alice.token, &format!("/object/media/{name}")).await.assert_error(400, "404", "NoSuchKey");
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn delete_many_answers_the_deleted_rows_and_removes_their_files() {
    let stack = start().await;
    let alice = user();
    let names: Vec<String> = (0..3).map(|i| format!("{}/batch/{i}.png", alice.id)).collect();
    for name in &names {
        stack.upload(&alice.token, "media", name, "image/png", PNG, false).await;
    }
    let missing = format!("{}/batch/missing.png", alice.id);
    let reply = stack
        .delete_json(&alice.token, "/object/media", json!({"prefixes": [names[0], names[1], missing]}))
        .await;
    assert_eq!(reply.status, 200);
    let rows = reply.json();
    let mut deleted: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    deleted.sort();
    assert_eq!(deleted, vec![names[0].as_str(), names[1].as_str()]);
    let row = &rows[0];
    for field in ["id", "bucket_id", "owner", "owner_id", "version", "created_at", "updated_at", "metadata"] {
        assert!(!row[field].is_null(), "{field} in {row}");
    }
    assert_eq!(row["bucket_id"], "media");
    assert!(stack.file("media", &names[0]).is_none() && stack.file("media", &names[1]).is_none());
    assert_eq!(stack.file("media", &names[2]).unwrap(), PNG);
    assert_eq!(stack.rows("media", &names[2]).await, 1);
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn delete_many_refuses_empty_and_oversized_batches() {
    let stack = start().await;
    let alice = user();
    stack.delete_json(&alice.token, "/object/media", json!({"prefixes": []})).await.assert_error(400, "400", "InvalidRequest");
    let many: Vec<String> = (0..1001).map(|i| format!("{}/{i}", alice.id)).collect();
    stack.delete_json(&alice.token, "/object/media", json!({"prefixes": many})).await.assert_error(400, "400", "InvalidRequest");
}

#[tokio::test]
async fn move_renames_row_and_file_within_and_across_buckets() {
    let stack = start().await;
    let alice = user();
    let source = format!("{}/a.png", alice.id);
    let id = stack.upload(&alice.token, "media", &source, "image/png", PNG, false).await.json()["Id"].clone();
    let inside = format!("{}/moved/b.png", alice.id);
    let reply = stack
        .post_json(Some(&alice.token), "/object/move", json!({"bucketId": "media", "sourceKey": source, "destinationKey": inside}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(reply.json(), json!({"message": "Successfully moved", "Id": id, "Key": inside}));
    assert_eq!(stack.rows("media", &source).await, 0);
    assert!(stack.file("media", &source).is_none());
    assert_eq!(stack.file("media", &inside).unwrap(), PNG);

    let across = format!("{}/kept.png", alice.id);
    let reply = stack
        .post_json(
            Some(&alice.token),
            "/object/move",
            json!({"bucketId": "media", "sourceKey": inside, "destinationBucket": "library", "destinationKey": across}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(stack.row("library", &across).await.unwrap()["id"], id);
    assert_eq!(stack.file("library", &across).unwrap(), PNG);
    assert!(stack.file("media", &inside).is_none());
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn move_onto_an_existing_object_is_a_duplicate_and_changes_nothing() {
    let stack = start().await;
    let alice = user();
    let (a, b) = (format!("{}/a.png", alice.id), format!("{}/b.png", alice.id));
    stack.upload(&alice.token, "media", &a, "image/png", b"aaa", false).await;
    stack.upload(&alice.token, "media", &b, "image/png", b"bbb", false).await;
    let reply = stack
        .post_json(Some(&alice.token), "/object/move", json!({"bucketId": "media", "sourceKey": a, "destinationKey": b}))
        .await;
    reply.assert_error(400, "409", "ResourceAlreadyExists");
    assert_eq!(stack.file("media", &a).unwrap(), b"aaa");
    assert_eq!(stack.file("media", &b).unwrap(), b"bbb");
}

#[tokio::test]
async fn copy_duplicates_content_across_buckets_and_honours_x_upsert() {
    let stack = start().await;
    let alice = user();
    let source = format!("{}/job/0.png", alice.id);
    stack.upload(&alice.token, "media", &source, "image/png", PNG, false).await;
    let destination = format!("{}/lib.png", alice.id);
    let body = json!({"bucketId": "media", "sourceKey": source, "destinationBucket": "library", "destinationKey": destination});
    let reply = stack.post_json(Some(&alice.token), "/object/copy", body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let answer = reply.json();
    assert_eq!(answer["Key"], format!("library/{destination}"));
    assert_eq!(answer["name"], destination);
    assert_eq!(answer["bucket_id"], "library");
    assert_eq!(answer["owner"], alice.id);
    assert_eq!(answer["metadata"]["mimetype"], "image/png");
    assert_eq!(answer["Id"], stack.row("library", &destination).await.unwrap()["id"]);
    assert_eq!(stack.file("library", &destination).unwrap(), PNG);
    assert_eq!(stack.file("media", &source).unwrap(), PNG);

    stack.post_json(Some(&alice.token), "/object/copy", body.clone()).await.assert_error(400, "409", "KeyAlreadyExists");
    stack.upload(&alice.token, "media", &source, "image/png", b"newer", true).await;
    let reply = stack.post_json_with(&alice.token, "/object/copy", body, ("x-upsert", "true")).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(stack.file("library", &destination).unwrap(), b"newer");
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn copy_into_a_bucket_enforces_its_mime_types() {
    let stack = start().await;
    let alice = user();
    let source = format!("{}/note.txt", alice.id);
    stack.upload(&alice.token, "open", &source, "text/plain", b"text", false).await;
    let destination = format!("{}/note.txt", alice.id);
    let reply = stack
        .post_json(
            Some(&alice.token),
            "/object/copy",
            json!({"bucketId": "open", "sourceKey": source, "destinationBucket": "library", "destinationKey": destination}),
        )
        .await;
    reply.assert_error(400, "415", "InvalidMimeType");
    assert_eq!(stack.rows("library", &destination).await, 0);
    assert!(stack.file("library", &destination).is_none());
}

#[tokio::test]
async fn list_shows_folders_and_files_of_a_prefix() {
    let stack = start().await;
    let alice = user();
    for name in ["b.png", "a.png", "sub/c.png", "sub/deeper/d.png", "Sub2/e.png"] {
        stack.upload(&alice.token, "media", &format!("{}/{name}", alice.id), "image/png", PNG, false).await;
    }
    let reply = stack.post_json(Some(&alice.token), "/object/list/media", json!({"prefix": alice.id})).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let entries = reply.json();
    let names: Vec<&str> = entries.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["a.png", "b.png", "sub", "Sub2"]);
    let sub = &entries[2];
    assert!(sub["id"].is_null() && sub["metadata"].is_null());
    assert!(entries[0]["id"].is_string());
    assert_eq!(entries[0]["metadata"]["size"], PNG.len());

    let page = stack
        .post_json(Some(&alice.token), "/object/list/media", json!({"prefix": format!("{}/", alice.id), "limit": 1, "offset": 1}))
        .await
        .json();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["name"], "b.png");

    let search = stack
        .post_json(Some(&alice.token), "/object/list/media", json!({"prefix": alice.id, "search": "S"}))
        .await
        .json();
    let names: Vec<&str> = search.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["sub", "Sub2"]);

    let nested = stack
        .post_json(Some(&alice.token), "/object/list/media", json!({"prefix": format!("{}/sub", alice.id)}))
        .await
        .json();
    let names: Vec<&str> = nested.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["c.png", "deeper"]);

    let newest_first = stack
        .post_json(
            Some(&alice.token),
            "/object/list/media",
            json!({"prefix": alice.id, "sortBy": {"column": "created_at", "order": "desc"}}),
        )
        .await
        .json();
    let names: Vec<&str> = newest_first.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["sub", "Sub2", "a.png", "b.png"]);
}

#[tokio::test]
async fn buckets_are_listed_and_read_under_rls() {
    let stack = start().await;
    let service = service_token();
    let reply = stack.get(Some(&service), "/bucket").await;
    assert_eq!(reply.status, 200);
    let ids: Vec<String> = reply.json().as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, vec!["library", "media", "open", "showcase"]);
    let media = stack.get(Some(&service), "/bucket/media").await.json();
    assert_eq!(media["file_size_limit"], 1024);
    assert_eq!(media["allowed_mime_types"], json!(["image/*", "video/mp4"]));
    assert_eq!(media["public"], false);

    // The fixtures give users no policy on storage.buckets: they see none, as on Supabase.
    let alice = user();
    assert_eq!(stack.get(Some(&alice.token), "/bucket").await.json(), json!([]));
    stack.get(Some(&alice.token), "/bucket/media").await.assert_error(400, "404", "NoSuchBucket");
    stack.get(Some(&service), "/bucket/nope").await.assert_error(400, "404", "NoSuchBucket");
}

#[tokio::test]
async fn public_bucket_objects_are_readable_without_a_token() {
    let stack = start().await;
    let service = service_token();
    assert_eq!(stack.upload(&service, "showcase", "banner.png", "image/png", PNG, false).await.status, 200);
    let reply = stack.get(None, "/object/showcase/banner.png").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, PNG);
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/x.png", alice.id);
    let missing = stack.post_json(None, "/object/list/media", json!({"prefix": ""})).await;
    let body = missing.assert_error(400, "400", "InvalidRequest");
    assert!(body["message"].as_str().unwrap().contains("authorization"));
    stack.post_json(Some("not-a-jwt"), "/object/list/media", json!({"prefix": ""})).await.assert_error(400, "403", "AccessDenied");
    let forged = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("service_role", None, 1_900_000_000, 60), b"wrong secret");
    stack.upload(&forged, "media", &name, "image/png", PNG, false).await.assert_error(400, "403", "AccessDenied");
    // The anon key is a valid token, but the policies grant anon nothing.
    let anon = stack.upload(&anon_token(), "media", &name, "image/png", PNG, false).await;
    let body = anon.assert_error(400, "403", "AccessDenied");
    assert_eq!(body["message"], "new row violates row-level security policy");
    assert_eq!(stack.rows("media", &name).await, 0);
    // Without a token a private bucket does not exist.
    stack.upload(&alice.token, "media", &name, "image/png", PNG, false).await;
    stack.get(None, &format!("/object/media/{name}")).await.assert_error(400, "404", "NoSuchBucket");
    stack.get(Some(&anon_token()), &format!("/object/authenticated/media/{name}")).await.assert_error(400, "404", "NoSuchKey");
}

#[tokio::test]
async fn unknown_routes_answer_a_json_404() {
    let stack = start().await;
    let reply = stack.get(None, "/nothing/here").await;
    let body = reply.assert_error(404, "404", "InvalidRequest");
    assert_eq!(body["message"], "Route GET:/nothing/here not found");
}
