//! Uploads sent as `multipart/form-data`, as storage-js sends a `Blob` or
//! `File`: the file part is the content, its type the mime type, the
//! `cacheControl` field the caching, and every bucket rule, size cap,
//! row-level security check and failure path of raw uploads still holds.

mod common;

use common::{eventually, start, user, Stack};
use reqwest::multipart::{Form, Part};
use reqwest::Method;

/// Image bytes with CRLFs and dashes, so the form's boundary search is exercised.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\r\n--\r\n\r\n-- fake image bytes";

/// What storage-js sends for a `Blob`: a `cacheControl` field, then the blob
/// as a file part named `""` (browsers call an unnamed blob `blob`).
fn blob_form(bytes: &[u8], mime: &str, cache_control: Option<&str>) -> Form {
    let part = Part::bytes(bytes.to_vec()).file_name("blob").mime_str(mime).unwrap();
    let form = match cache_control {
        Some(seconds) => Form::new().text("cacheControl", seconds.to_owned()),
        None => Form::new(),
    };
    form.part("", part)
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Neither row, nor file, nor anything left in the temp area.
async fn assert_nothing_stored(stack: &Stack, bucket: &str, name: &str) {
    assert_eq!(stack.rows(bucket, name).await, 0);
    assert!(stack.file(bucket, name).is_none());
    assert!(stack.temp_files().is_empty(), "{:?}", stack.temp_files());
}

#[tokio::test]
async fn a_form_upload_stores_the_file_part_with_its_type_and_cache_control() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/form/0.png", alice.id);
    let form = blob_form(PNG, "image/png", Some("3600"));
    let reply = stack.upload_form(Method::POST, &alice.token, "media", &name, form, false).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let row = stack.row("media", &name).await.expect("row written");
    assert_eq!(reply.json()["Id"], row["id"]);
    assert_eq!(reply.json()["Key"], format!("media/{name}"));
    assert_eq!(row["owner"], alice.id);
    let metadata = &row["metadata"];
    assert_eq!(metadata["mimetype"], "image/png");
    assert_eq!(metadata["cacheControl"], "max-age=3600");
    assert_eq!(metadata["size"], PNG.len());
    assert_eq!(metadata["contentLength"], PNG.len());
    assert_eq!(metadata["eTag"], format!("\"{}\"", md5_hex(PNG)));
    assert_eq!(stack.file("media", &name).unwrap(), PNG);

    let download = stack.get(Some(&alice.token), &format!("/object/authenticated/media/{name}")).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, PNG);
    assert_eq!(download.header("content-type"), Some("image/png"));
    assert_eq!(download.header("cache-control"), Some("max-age=3600"));
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn a_form_without_cache_control_or_part_type_is_no_cache_text_plain_unless_content_type_is_given() {
    let stack = start().await;
    let alice = user();
    let plain = format!("{}/notes.txt", alice.id);
    let form = Form::new().part("file", Part::bytes(b"notes".to_vec()).file_name("notes.txt"));
    assert_eq!(stack.upload_form(Method::POST, &alice.token, "open", &plain, form, false).await.status, 200);
    let metadata = &stack.row("open", &plain).await.unwrap()["metadata"];
    assert_eq!((metadata["mimetype"].as_str(), metadata["cacheControl"].as_str()), (Some("text/plain"), Some("no-cache")));

    let typed = format!("{}/clip.mp4", alice.id);
    let form = Form::new()
        .text("contentType", "video/mp4")
        .part("", Part::bytes(b"mp4".to_vec()).file_name("blob").mime_str("application/octet-stream").unwrap());
    assert_eq!(stack.upload_form(Method::POST, &alice.token, "media", &typed, form, false).await.status, 200);
    assert_eq!(stack.row("media", &typed).await.unwrap()["metadata"]["mimetype"], "video/mp4");
}

#[tokio::test]
async fn a_form_upload_honours_x_upsert_and_put_overwrites() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/over.png", alice.id);
    let first = stack.upload_form(Method::POST, &alice.token, "media", &name, blob_form(b"one", "image/png", None), false).await;
    assert_eq!(first.status, 200, "{}", first.json());

    let again = stack.upload_form(Method::POST, &alice.token, "media", &name, blob_form(b"two", "image/png", None), false).await;
    again.assert_error(400, "409", "KeyAlreadyExists");
    assert_eq!(stack.file("media", &name).unwrap(), b"one");

    let form = blob_form(b"two!", "image/jpeg", Some("60"));
    let upserted = stack.upload_form(Method::POST, &alice.token, "media", &name, form, true).await;
    assert_eq!(upserted.status, 200, "{}", upserted.json());
    assert_eq!(upserted.json()["Id"], first.json()["Id"]);
    assert_eq!(stack.file("media", &name).unwrap(), b"two!");
    let metadata = &stack.row("media", &name).await.unwrap()["metadata"];
    assert_eq!((metadata["mimetype"].as_str(), metadata["cacheControl"].as_str()), (Some("image/jpeg"), Some("max-age=60")));

    let put = stack.upload_form(Method::PUT, &alice.token, "media", &name, blob_form(b"three", "image/png", None), false).await;
    assert_eq!(put.status, 200, "{}", put.json());
    assert_eq!(put.json()["Id"], first.json()["Id"]);
    assert_eq!(stack.file("media", &name).unwrap(), b"three");
    assert_eq!(stack.row("media", &name).await.unwrap()["metadata"]["size"], 5);
    assert_eq!(stack.rows("media", &name).await, 1);
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn a_form_over_the_size_limits_is_refused_and_leaves_nothing() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/big.png", alice.id);
    let form = blob_form(&[7u8; 1025], "image/png", Some("3600"));
    let reply = stack.upload_form(Method::POST, &alice.token, "media", &name, form, false).await;
    reply.assert_error(400, "413", "EntityTooLarge");
    assert_nothing_stored(&stack, "media", &name).await;

    // A form's content-length counts its envelope too: a file at the limit fits.
    let form = blob_form(&[7u8; 1024], "image/png", Some("3600"));
    let reply = stack.upload_form(Method::POST, &alice.token, "media", &name, form, false).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(stack.row("media", &name).await.unwrap()["metadata"]["size"], 1024);

    let unlimited = format!("{}/big.bin", alice.id);
    let form = blob_form(&[1u8; 4097], "application/octet-stream", None);
    let reply = stack.upload_form(Method::POST, &alice.token, "open", &unlimited, form, false).await;
    reply.assert_error(400, "413", "EntityTooLarge");
    assert_nothing_stored(&stack, "open", &unlimited).await;
}

#[tokio::test]
async fn a_form_with_a_disallowed_mime_type_is_refused_and_leaves_nothing() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/doc.txt", alice.id);
    let reply = stack.upload_form(Method::POST, &alice.token, "media", &name, blob_form(b"hello", "text/plain", None), false).await;
    let body = reply.assert_error(400, "415", "InvalidMimeType");
    assert_eq!(body["message"], "mime type text/plain is not supported");
    assert_nothing_stored(&stack, "media", &name).await;

    // The contentType field decides over the part's own type.
    let form = Form::new()
        .text("contentType", "video/webm")
        .part("", Part::bytes(PNG.to_vec()).file_name("blob").mime_str("image/png").unwrap());
    let reply = stack.upload_form(Method::POST, &alice.token, "media", &name, form, false).await;
    reply.assert_error(400, "415", "InvalidMimeType");
    assert_nothing_stored(&stack, "media", &name).await;
}

#[tokio::test]
async fn malformed_forms_are_invalid_requests_and_leave_nothing() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/broken.png", alice.id);
    let file_head = "--x\r\ncontent-disposition: form-data; name=\"\"; filename=\"blob\"\r\ncontent-type: image/png\r\n\r\n";
    let cases: [(&str, String, &str); 5] = [
        ("multipart/form-data", "--x--\r\n".into(), "Multipart: Boundary not found"),
        ("multipart/form-data; boundary=x", "--x--\r\n".into(), "No content provided"),
        (
            "multipart/form-data; boundary=x",
            "--x\r\ncontent-disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n--x--\r\n".into(),
            "No content provided",
        ),
        ("multipart/form-data; boundary=x", "no boundary anywhere".into(), "Malformed multipart body"),
        ("multipart/form-data; boundary=x", format!("{file_head}PNG cut before the closing boundary"), "Malformed multipart body"),
    ];
    for (content_type, body, message) in cases {
        let reply = stack.upload(&alice.token, "media", &name, content_type, body.as_bytes(), false).await;
        let answer = reply.assert_error(400, "400", "InvalidRequest");
        assert!(answer["message"].as_str().is_some_and(|m| m.starts_with(message)), "{content_type} {body:?}: {answer}");
        assert_nothing_stored(&stack, "media", &name).await;
    }
}

#[tokio::test]
async fn a_form_into_another_users_folder_is_refused() {
    let stack = start().await;
    let (alice, bob) = (user(), user());
    let name = format!("{}/intruder.png", bob.id);
    let reply = stack.upload_form(Method::POST, &alice.token, "media", &name, blob_form(PNG, "image/png", None), false).await;
    let body = reply.assert_error(400, "403", "AccessDenied");
    assert_eq!(body["message"], "new row violates row-level security policy");
    assert_nothing_stored(&stack, "media", &name).await;

    stack.upload_form(Method::POST, &bob.token, "media", &name, blob_form(b"bob's", "image/png", None), false).await;
    let reply = stack.upload_form(Method::PUT, &alice.token, "media", &name, blob_form(PNG, "image/png", None), false).await;
    reply.assert_error(400, "403", "AccessDenied");
    assert_eq!(stack.file("media", &name).unwrap(), b"bob's");
}

#[tokio::test]
async fn a_form_refused_at_commit_leaves_neither_file_nor_row() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/seventeen.txt", alice.id);
    let form = blob_form(b"seventeen bytes!!", "text/plain", None);
    let reply = stack.upload_form(Method::POST, &alice.token, "open", &name, form, false).await;
    reply.assert_error(500, "500", "DatabaseError");
    assert_nothing_stored(&stack, "open", &name).await;
}

#[tokio::test]
async fn a_form_is_streamed_to_disk_and_an_interrupted_one_leaves_nothing() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/cut.png", alice.id);
    let head = format!(
        "POST /storage/v1/object/media/{name} HTTP/1.1\r\nauthorization: Bearer {}\r\n\
         content-type: multipart/form-data; boundary=x\r\ncontent-length: 2000",
        alice.token
    );
    let mut body = b"--x\r\ncontent-disposition: form-data; name=\"\"; filename=\"blob\"\r\ncontent-type: image/png\r\n\r\n".to_vec();
    body.extend_from_slice(&[b'x'; 300]);
    // The file's first 300 bytes reach the temp file while the form is still incomplete.
    let temp_size = || {
        let temp = stack.temp_files();
        temp.iter().map(|p| std::fs::metadata(stack.dir.path().join(p)).map_or(0, |m| m.len())).max()
    };
    let streamed = stack.hang_up_when(&head, &body, || temp_size() == Some(300)).await;
    assert!(streamed, "the file part never reached a temp file: {:?}", stack.temp_files());
    assert!(eventually(|| stack.all_files().is_empty()).await, "left behind: {:?}", stack.all_files());
    assert_eq!(stack.rows("media", &name).await, 0);
}
