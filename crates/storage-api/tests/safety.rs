//! What must hold when clients misbehave or things fail: no path escapes the
//! root, a failed or interrupted write leaves neither file nor row, a failed
//! overwrite keeps the old content, and racing creates have one winner.

mod common;

use common::{eventually, service_token, start, user, Stack};
use futures_util::future::join_all;
use md5::{Digest, Md5};

/// Nothing but the (empty) temp area exists under the test directory.
fn assert_nothing_written(stack: &Stack) {
    assert_eq!(stack.all_files(), Vec::<std::path::PathBuf>::new());
}

async fn assert_no_rows_under(stack: &Stack, prefix: &str) {
    let count: i64 = stack
        .db()
        .await
        .query_one("select count(*) from storage.objects where name like $1 || '%'", &[&prefix])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "rows under {prefix}");
}

#[tokio::test]
async fn traversal_and_malformed_keys_are_rejected_and_write_nothing() {
    let stack = start().await;
    // The service role bypasses RLS: only key validation stands in the way.
    let token = service_token();
    let folder = uuid::Uuid::new_v4().to_string();
    let targets = [
        format!("/object/open/{folder}/../../escape.txt"),
        format!("/object/open/{folder}/../../../escape.txt"),
        format!("/object/open/{folder}/%2e%2e/%2E%2E/escape.txt"),
        format!("/object/open/{folder}%2F..%2F..%2F..%2Fescape.txt"),
        format!("/object/open/{folder}/..%5C..%5Cescape.txt"),
        format!("/object/open/{folder}/a//b.txt"),
        format!("/object/open//{folder}/x.txt"),
        format!("/object/open/{folder}/./x.txt"),
        format!("/object/open/{folder}/x%00.txt"),
        format!("/object/%2e%2e/{folder}/x.txt"),
        format!("/object/..%2F..%2Fescape/{folder}/x.txt"),
        format!("/object/.tmp/{folder}/x.txt"),
    ];
    for target in &targets {
        for method in ["POST", "PUT"] {
            let head = format!(
                "{method} /storage/v1{target} HTTP/1.1\r\nauthorization: Bearer {token}\r\ncontent-type: text/plain\r\ncontent-length: 4"
            );
            let (status, answer) = stack.raw(&head, b"evil").await;
            assert!(status == 400 || status == 404, "{method} {target}: {answer}");
            assert!(!answer.contains("\"Key\""), "{method} {target}: {answer}");
        }
        let head = format!("GET /storage/v1{target} HTTP/1.1\r\nauthorization: Bearer {token}");
        let (status, answer) = stack.raw(&head, b"").await;
        assert!(status == 400 || status == 404, "GET {target}: {answer}");
    }
    let (_, answer) = stack
        .raw(&format!("POST /storage/v1/object/open/{folder}/../x HTTP/1.1\r\nauthorization: Bearer {token}\r\ncontent-length: 0"), b"")
        .await;
    assert!(answer.contains("InvalidKey"), "{answer}");
    assert_nothing_written(&stack);
    assert_no_rows_under(&stack, &folder).await;
}

#[tokio::test]
async fn a_key_blocked_on_disk_is_invalid_and_writes_nothing() {
    let stack = start().await;
    let alice = user();
    let file = format!("{}/a", alice.id);
    stack.upload(&alice.token, "open", &file, "text/plain", b"file", false).await;
    let below = format!("{}/a/b", alice.id);
    stack.upload(&alice.token, "open", &below, "text/plain", b"below", false).await.assert_error(400, "400", "InvalidKey");
    assert_eq!(stack.rows("open", &below).await, 0);
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn a_refused_mime_type_leaves_no_file_and_no_row() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/script.sh", alice.id);
    stack.upload(&alice.token, "media", &name, "text/x-shellscript", b"rm -rf /", false).await.assert_error(400, "415", "InvalidMimeType");
    assert_nothing_written(&stack);
    assert_eq!(stack.rows("media", &name).await, 0);
}

#[tokio::test]
async fn a_database_refusal_after_streaming_leaves_no_file_and_no_row() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/thirteen.txt", alice.id);
    let reply = stack.upload(&alice.token, "open", &name, "text/plain", b"thirteen byte", false).await;
    reply.assert_error(500, "500", "DatabaseError");
    assert_eq!(stack.rows("open", &name).await, 0);
    assert!(stack.file("open", &name).is_none());
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn a_refused_overwrite_keeps_the_previous_content_and_row() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/kept.txt", alice.id);
    stack.upload(&alice.token, "open", &name, "text/plain", b"original", false).await;
    let before = stack.row("open", &name).await.unwrap();
    let reply = stack.upload(&alice.token, "open", &name, "text/plain", b"thirteen byte", true).await;
    reply.assert_error(500, "500", "DatabaseError");
    assert_eq!(stack.file("open", &name).unwrap(), b"original");
    assert_eq!(stack.row("open", &name).await.unwrap(), before);
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn a_commit_failure_after_the_file_is_placed_removes_it() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/seventeen.txt", alice.id);
    let reply = stack.upload(&alice.token, "open", &name, "text/plain", b"seventeen bytes!!", false).await;
    reply.assert_error(500, "500", "DatabaseError");
    assert_eq!(stack.rows("open", &name).await, 0);
    assert!(stack.file("open", &name).is_none());
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn a_commit_failure_of_an_overwrite_restores_the_previous_content() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/restored.txt", alice.id);
    stack.upload(&alice.token, "open", &name, "text/plain", b"original", false).await;
    let before = stack.row("open", &name).await.unwrap();
    let reply = stack.put(&alice.token, "open", &name, "text/plain", b"seventeen bytes!!").await;
    reply.assert_error(500, "500", "DatabaseError");
    assert_eq!(stack.file("open", &name).unwrap(), b"original");
    assert_eq!(stack.row("open", &name).await.unwrap(), before);
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn a_commit_failure_of_a_move_puts_the_file_back() {
    let stack = start().await;
    let alice = user();
    let (from, to) = (format!("{}/here.txt", alice.id), format!("{}/there.refused-at-commit", alice.id));
    stack.upload(&alice.token, "open", &from, "text/plain", b"stay", false).await;
    let reply = stack
        .post_json(Some(&alice.token), "/object/move", serde_json::json!({"bucketId": "open", "sourceKey": from, "destinationKey": to}))
        .await;
    reply.assert_error(500, "500", "DatabaseError");
    assert_eq!(stack.file("open", &from).unwrap(), b"stay");
    assert!(stack.file("open", &to).is_none());
    assert_eq!((stack.rows("open", &from).await, stack.rows("open", &to).await), (1, 0));
}

#[tokio::test]
async fn a_commit_failure_of_a_deletion_puts_the_files_back() {
    let stack = start().await;
    let alice = user();
    let (plain, undeletable) = (format!("{}/plain.txt", alice.id), format!("{}/x.undeletable", alice.id));
    stack.upload(&alice.token, "open", &plain, "text/plain", b"plain", false).await;
    stack.upload(&alice.token, "open", &undeletable, "text/plain", b"sticky", false).await;
    let reply = stack
        .delete_json(&alice.token, "/object/open", serde_json::json!({"prefixes": [plain, undeletable]}))
        .await;
    reply.assert_error(500, "500", "DatabaseError");
    stack.delete(&alice.token, &format!("/object/open/{undeletable}")).await.assert_error(500, "500", "DatabaseError");
    assert_eq!(stack.file("open", &plain).unwrap(), b"plain");
    assert_eq!(stack.file("open", &undeletable).unwrap(), b"sticky");
    assert_eq!((stack.rows("open", &plain).await, stack.rows("open", &undeletable).await), (1, 1));
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn an_oversized_body_without_content_length_is_cut_off_and_leaves_nothing() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/stream.png", alice.id);
    let head = format!(
        "POST /storage/v1/object/media/{name} HTTP/1.1\r\nauthorization: Bearer {}\r\ncontent-type: image/png\r\ntransfer-encoding: chunked",
        alice.token
    );
    let mut body = Vec::new();
    for _ in 0..4 {
        body.extend_from_slice(b"200\r\n");
        body.extend_from_slice(&[b'x'; 0x200]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let (status, answer) = stack.raw(&head, &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("EntityTooLarge"), "{answer}");
    assert_eq!(stack.rows("media", &name).await, 0);
    assert_nothing_written(&stack);
}

#[tokio::test]
async fn an_interrupted_upload_leaves_nothing() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/cut.png", alice.id);
    let head = format!(
        "POST /storage/v1/object/media/{name} HTTP/1.1\r\nauthorization: Bearer {}\r\ncontent-type: image/png\r\ncontent-length: 1000",
        alice.token
    );
    let streaming = stack.hang_up_when(&head, &[b'x'; 300], || !stack.temp_files().is_empty()).await;
    assert!(streaming, "the upload never reached a temp file");
    assert!(eventually(|| stack.all_files().is_empty()).await, "left behind: {:?}", stack.all_files());
    assert_eq!(stack.rows("media", &name).await, 0);
}

#[tokio::test]
async fn concurrent_creates_of_one_key_have_exactly_one_winner() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/race.png", alice.id);
    let contents: Vec<Vec<u8>> = (0..8).map(|i| format!("contender number {i}").into_bytes()).collect();
    let replies = join_all(contents.iter().map(|c| stack.upload(&alice.token, "media", &name, "image/png", c, false))).await;
    let winners: Vec<usize> = (0..replies.len()).filter(|&i| replies[i].status == 200).collect();
    assert_eq!(winners.len(), 1, "statuses: {:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for (i, reply) in replies.iter().enumerate() {
        if i != winners[0] {
            reply.assert_error(400, "409", "KeyAlreadyExists");
        }
    }
    assert_eq!(stack.file("media", &name).unwrap(), contents[winners[0]]);
    assert_eq!(stack.rows("media", &name).await, 1);
    assert!(stack.temp_files().is_empty());
}

#[tokio::test]
async fn concurrent_overwrites_leave_file_and_row_in_agreement() {
    let stack = start().await;
    let alice = user();
    let name = format!("{}/busy.png", alice.id);
    let contents: Vec<Vec<u8>> = (0..8).map(|i| format!("overwrite number {i}: {}", "y".repeat(i)).into_bytes()).collect();
    let replies = join_all(contents.iter().map(|c| stack.upload(&alice.token, "media", &name, "image/png", c, true))).await;
    assert!(replies.iter().all(|r| r.status == 200), "statuses: {:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let content = stack.file("media", &name).unwrap();
    let row = stack.row("media", &name).await.unwrap();
    let etag: String = Md5::digest(&content).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(row["metadata"]["eTag"], format!("\"{etag}\""));
    assert_eq!(row["metadata"]["size"], content.len());
    assert!(stack.temp_files().is_empty());
}
