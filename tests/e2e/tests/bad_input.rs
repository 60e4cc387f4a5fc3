//! Bad input, over real HTTP on the real stack.
//!
//! This file specifies how the edge functions and the gateway in front of
//! them (`ourvidz up`) answer a hostile or careless client — ARCHITECTURE.md,
//! "Edge function contracts" and "Security model":
//!
//! - every answer is JSON (`content-type: application/json`) and carries
//!   `access-control-allow-origin: *`; a function's error is
//!   `{"error": {"code", "message"}}` with the contract's status, a gateway
//!   error `{"code", "message"}`; bad input is never a 500;
//! - malformed JSON, wrong types, unknown or missing fields, out-of-range and
//!   unlisted enum values are 400 `invalid_request`; a body that is not
//!   `application/json` is 415; a method the function does not serve is 405
//!   (with `Allow`); a body over 64 KiB is the function's 413, over 6 MiB the
//!   gateway's 413;
//! - storage paths that climb out of their folder (`..`, `%2e%2e`, `\`,
//!   absolute paths) or point into another user's or another job's folder are
//!   400 and insert nothing;
//! - another user's ids are *not found* (404, or a per-item `not_found` in a
//!   batch answer — exactly what a random id gets), never 403, and leave the
//!   owner's rows and objects untouched;
//! - forged, expired, unsigned (`alg: none`) or missing tokens are the
//!   gateway's 401; a validly signed token of the wrong kind is the function's
//!   401/403, and a token naming a database role (`postgres`) never reaches
//!   SQL;
//! - CORS preflight is each function's own answer (the gateway forwards it
//!   without a token), naming exactly the methods that function serves;
//! - `Idempotency-Key` returns the same job, and the per-user cap on active
//!   jobs is 429.
//!
//! Each test starts its own stack (real Postgres + extension, the real
//! `ourvidz up` binary, the release components) and groups many checks; the
//! database is inspected with SQL after the attacks to prove nothing changed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ourvidz_e2e::{Method, Stack, StatusCode};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// Supabase's `corsHeaders` for functions.
const CORS_ALLOW_HEADERS: &str = "authorization, x-client-info, apikey, content-type";
/// The functions' body limit (functions/README.md).
const FUNCTION_BODY_LIMIT: usize = 64 * 1024;
/// The gateway's default `--max-body-bytes`.
const GATEWAY_BODY_LIMIT: usize = 6 * 1024 * 1024;
/// The secret `ourvidz_e2e` signs its stacks' tokens with (private there).
/// Needed only to mint tokens with claims `Stack::token` cannot express (a
/// foreign `aud`, a non-UUID `sub`); `custom_claims_are_signed_with_the_stack_secret`
/// below fails loudly if the harness changes its secret.
const STACK_SECRET: &[u8] = b"e2e-secret-e2e-secret-e2e-secret-e2e-secret";

const FUNCTIONS: [&str; 5] = ["queue-job", "job-callback", "workspace-actions", "delete-workspace-item", "storage-drain"];

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}

/// base64url without padding (JWT segments).
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn short(text: &str) -> String {
    if text.chars().count() <= 160 {
        text.to_string()
    } else {
        format!("{}… ({} bytes)", text.chars().take(160).collect::<String>(), text.len())
    }
}

// ------------------------------------------------------------------ answers

/// One answer: status, headers and the body, which must be JSON.
struct Reply {
    what: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    /// A function error: `status` + `{"error": {"code": code, "message"}}`.
    #[track_caller]
    fn error(&self, status: u16, code: &str) -> &Reply {
        assert_eq!(self.status.as_u16(), status, "{}: {}", self.what, self.body);
        assert_eq!(self.body["error"]["code"], code, "{}: {}", self.what, self.body);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{}: an error needs a message: {}", self.what, self.body);
        self
    }

    /// A gateway error: `status` + `{"code": status, "message": message}`.
    #[track_caller]
    fn gateway(&self, status: u16, message: &str) {
        assert_eq!(self.status.as_u16(), status, "{}: {}", self.what, self.body);
        assert_eq!(self.body, json!({"code": status, "message": message}), "{}", self.what);
    }

    /// A success with `status`; its body.
    #[track_caller]
    fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}: {}", self.what, self.body);
        &self.body
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

/// HTTP to the stack's functions, checking what every answer must be.
struct Api<'a> {
    stack: &'a Stack,
}

impl<'a> Api<'a> {
    fn new(stack: &'a Stack) -> Self {
        Api { stack }
    }

    fn builder(&self, method: Method, function: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.stack.request(method, &format!("/functions/v1/{function}"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `body` as `application/json`.
    async fn json(&self, method: Method, function: &str, token: Option<&str>, body: &Value) -> Reply {
        let what = format!("{method} {function} {}", short(&body.to_string()));
        let request =
            self.builder(method, function, token).header("content-type", "application/json").body(body.to_string());
        self.send(what, request).await
    }

    /// Raw bytes with an optional content type.
    async fn raw(
        &self,
        method: Method,
        function: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        let body = body.into();
        let what = format!(
            "{method} {function} [{}] {}",
            content_type.unwrap_or("no content-type"),
            short(&String::from_utf8_lossy(&body))
        );
        let mut request = self.builder(method, function, token);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send(what, request.body(body)).await
    }

    /// Send and check the invariants of every answer: JSON body, JSON
    /// content type, CORS origin, no 500.
    async fn send(&self, what: String, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_else(|e| panic!("{what}: unreadable body: {e}"));
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: answer {status} is not JSON ({e}): {}", short(&text)));
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{what}: content-type {content_type:?}: {body}");
        assert_eq!(
            headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
            Some("*"),
            "{what}: every answer carries the CORS origin ({status} {body})"
        );
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: bad input must never be a 500: {body}");
        Reply { what, status, headers, body }
    }
}

/// A raw HTTP/1.1 exchange (for requests reqwest will not send: a declared
/// length larger than what is sent, a hand-chunked body). Returns the status,
/// the lower-cased headers and the body.
async fn raw_http(stack: &Stack, head: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let address = stack.api.strip_prefix("http://").expect("the gateway speaks http");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect to the gateway");
        stream.write_all(head.as_bytes()).await.expect("send the request head");
        stream.write_all(body).await.expect("send the request body");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read the answer");
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(60), exchange).await.expect("the gateway answers in time");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer head");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut rest = &answer[split + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).expect("a chunk size");
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body
    } else {
        rest.to_vec()
    };
    (status, headers, body)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------- shared bad bodies

/// Bytes that are not one JSON object.
fn malformed_bodies() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [
        "",
        " ",
        "{",
        "}",
        "not json",
        "{\"action\": \"clear\",}",
        "{'action': 'clear'}",
        "{\"action\": \"clear\"} trailing",
        "\u{feff}{}",
        "null",
        "[]",
        "[{}]",
        "\"a string\"",
        "42",
        "true",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push(b"{\"prompt\": \"\xff\xfe\"}".to_vec()); // not UTF-8
    bodies.push(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes()); // nesting bomb
    bodies.push(format!("{{\"a\":{}1{}}}", "{\"a\":".repeat(3000), "}".repeat(3000)).into_bytes());
    bodies
}

/// Content types a JSON function must refuse with 415.
const WRONG_CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=x"),
    Some("application/jsonp"),
    Some("text/json"),
];

/// Check malformed JSON (400), wrong content types (415), wrong methods (405)
/// and an oversized body (413) against one function.
async fn check_transport(api: &Api<'_>, function: &str, method: Method, token: &str, valid: &Value, allowed: &str) {
    for body in malformed_bodies() {
        api.raw(method.clone(), function, Some(token), Some("application/json"), body)
            .await
            .error(400, "invalid_request");
    }
    for content_type in WRONG_CONTENT_TYPES {
        api.raw(method.clone(), function, Some(token), content_type, valid.to_string())
            .await
            .error(415, "unsupported_media_type");
    }
    for wrong in ["GET", "PUT", "PATCH", "DELETE"] {
        let wrong = Method::from_bytes(wrong.as_bytes()).expect("a method");
        if allowed.split(", ").any(|m| m == wrong.as_str()) {
            continue;
        }
        let reply = api.json(wrong, function, Some(token), valid).await;
        reply.error(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), allowed, "{}", reply.what);
    }
    // Just over the function's limit, and far over it (still under the
    // gateway's): both the function's 413, before the body is parsed.
    for size in [FUNCTION_BODY_LIMIT + 1, 1024 * 1024] {
        let mut object = valid.as_object().cloned().expect("an object body");
        object.insert("padding".into(), json!("x".repeat(size)));
        api.raw(method.clone(), function, Some(token), Some("application/json"), Value::Object(object).to_string())
            .await
            .error(413, "payload_too_large");
    }
}

async fn count(stack: &Stack, sql: &str) -> i64 {
    stack.sql().await.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

// --------------------------------------------------------------- queue-job

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_job_refuses_every_bad_body_with_a_json_4xx_and_queues_nothing() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let token = stack.user_token(alice);
    let t = Some(token.as_str());
    let valid = json!({"mode": "image", "prompt": "a red fox"});

    check_transport(&api, "queue-job", Method::POST, &token, &valid, "POST, OPTIONS").await;

    let with = |extra: Value| {
        let mut body = valid.as_object().cloned().expect("object");
        body.extend(extra.as_object().cloned().expect("object"));
        Value::Object(body)
    };
    let settings = |s: Value| with(json!({ "settings": s }));
    let long = |n: usize| "a".repeat(n);
    let bob_job = Uuid::new_v4();
    let mut bad = vec![
        // missing required fields
        json!({}),
        json!({"prompt": "a fox"}),
        json!({"mode": "image"}),
        json!({"mode": null, "prompt": "a fox"}),
        json!({"mode": "image", "prompt": null}),
        // wrong types
        json!({"mode": 1, "prompt": "a fox"}),
        json!({"mode": ["image"], "prompt": "a fox"}),
        json!({"mode": "image", "prompt": 42}),
        json!({"mode": "image", "prompt": ["a fox"]}),
        json!({"mode": "image", "prompt": {"text": "a fox"}}),
        with(json!({"batch_size": "3"})),
        with(json!({"batch_size": 2.5})),
        with(json!({"batch_size": -1})),
        with(json!({"batch_size": 1e100})),
        with(json!({"batch_size": 4294967297u64})),
        with(json!({"seed": "7"})),
        with(json!({"seed": 1.5})),
        with(json!({"seed": 18446744073709551615u64})),
        with(json!({"quality": true})),
        with(json!({"model": 5})),
        settings(json!([])),
        settings(json!(["16:9"])),
        settings(json!("16:9")),
        settings(json!(5)),
        settings(json!({"aspect_ratio": 169})),
        settings(json!({"exact_copy_mode": "yes"})),
        settings(json!({"reference_strength": "0.5"})),
        settings(json!({"num_inference_steps": 2.5})),
        // unknown fields (top level and in settings), including fields that
        // would let a caller choose what the server decides
        with(json!({"colour": "red"})),
        with(json!({"user_id": bob})),
        with(json!({"status": "completed"})),
        with(json!({"id": Uuid::new_v4()})),
        with(json!({"job_type": "image_high"})),
        settings(json!({"aspect_ratio": "16:9", "lora": "x"})),
        // out of range
        with(json!({"batch_size": 5})),
        with(json!({"batch_size": 0})),
        json!({"mode": "video", "prompt": "a fox running", "batch_size": 3}),
        json!({"mode": "video", "prompt": "a fox running", "batch_size": 2}),
        with(json!({"seed": -1})),
        with(json!({"prompt": long(4001)})),
        with(json!({"prompt": "é".repeat(4001)})),
        with(json!({"prompt": ""})),
        with(json!({"prompt": "   \n\t "})),
        with(json!({"prompt": "a fox\u{0}"})),
        with(json!({"model": ""})),
        with(json!({"model": "sdxl turbo"})),
        with(json!({"model": long(101)})),
        settings(json!({"reference_strength": 1.5})),
        settings(json!({"reference_strength": -0.1})),
        settings(json!({"guidance_scale": 51})),
        settings(json!({"guidance_scale": -1})),
        settings(json!({"num_inference_steps": 0})),
        settings(json!({"num_inference_steps": 201})),
        settings(json!({"style": long(501)})),
        settings(json!({"style": "noir\u{7}"})),
        // enum values not in the contract
        with(json!({"mode": "gif"})),
        with(json!({"mode": "IMAGE"})),
        with(json!({"quality": "ultra"})),
        settings(json!({"aspect_ratio": "4:3"})),
        settings(json!({"aspect_ratio": "16/9"})),
        settings(json!({"camera_angle": "dutch"})),
        settings(json!({"shot_type": "extreme_close"})),
        settings(json!({"content_type": "nsfl"})),
        settings(json!({"enhancement_model": "gpt"})),
    ];
    // reference_image / style_reference: a URL or one of the caller's own
    // storage objects, never another user's, never a traversal.
    for reference in [
        format!("{bob}/x.png"),
        format!("workspace-temp/{bob}/{bob_job}/0.png"),
        format!("user-library/{bob}/{}.png", Uuid::new_v4()),
        format!("/user-library/{bob}/x.png"),
        format!("{alice}/../{bob}/x.png"),
        format!("workspace-temp/{alice}/../../user-library/{bob}/x.png"),
        format!("{alice}/%2e%2e/{bob}/x.png"),
        format!("{alice}/%2E%2E%2F{bob}%2Fx.png"),
        format!("{alice}\\..\\{bob}\\x.png"),
        format!("{alice}/..\\{bob}/x.png"),
        format!("{alice}/./x.png"),
        format!("{alice}//x.png"),
        format!("{alice}/x.png\u{0}"),
        "/etc/passwd".to_string(),
        "../../etc/passwd".to_string(),
        "file:///etc/passwd".to_string(),
        "javascript:alert(1)".to_string(),
        "https://example.com/a fox.png".to_string(),
        format!("https://example.com/{}", long(2100)),
        "x.png".to_string(),
        String::new(),
    ] {
        bad.push(settings(json!({ "reference_image": reference })));
        bad.push(settings(json!({ "style_reference": reference })));
    }
    for body in &bad {
        api.json(Method::POST, "queue-job", t, body).await.error(400, "invalid_request");
    }

    // Idempotency-Key must be 1–255 visible ASCII characters.
    for key in ["".as_bytes(), "a key".as_bytes(), &[b'k'; 256], b"caf\xe9"] {
        let request = api
            .builder(Method::POST, "queue-job", t)
            .header("content-type", "application/json")
            .header("idempotency-key", HeaderValue::from_bytes(key).expect("a header value"))
            .body(valid.to_string());
        api.send(format!("queue-job Idempotency-Key {:?}", String::from_utf8_lossy(key)), request)
            .await
            .error(400, "invalid_request");
    }

    // Nothing of the above reached the queue.
    assert_eq!(count(&stack, "select count(*) from jobs").await, 0, "no bad request may queue a job");

    // The same function takes the valid neighbours of those bodies (so the
    // 400s above are about the input, not a broken function). A stored
    // reference must be an existing object of the caller's.
    let reference_job = Uuid::new_v4();
    let own_reference = format!("/workspace-temp/{alice}/{reference_job}/0.png/");
    let uploaded = stack
        .answer(
            stack
                .request(Method::POST, &format!("/storage/v1/object/workspace-temp/{alice}/{reference_job}/0.png"))
                .bearer_auth(&token)
                .header("content-type", "image/png")
                .body(b"\x89PNG\r\n\x1a\n".to_vec()),
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::OK, "upload the reference: {}", uploaded.body);
    let good = [
        json!({"mode": "image", "prompt": "é".repeat(4000), "batch_size": 4, "quality": "high", "seed": 0}),
        json!({"mode": "video", "prompt": "a fox running", "batch_size": 1}),
        json!({"mode": "image", "prompt": "a fox", "model": "sdxl-1.0",
               "settings": {"aspect_ratio": "9:16", "shot_type": "close", "camera_angle": "bird_eye",
                            "style": "noir", "style_reference": "https://example.com/style.png",
                            "reference_image": own_reference, "reference_strength": 1.0,
                            "guidance_scale": 7.5, "num_inference_steps": 200, "content_type": "sfw",
                            "enhancement_model": "qwen_instruct", "exact_copy_mode": false}}),
    ];
    for body in &good {
        api.json(Method::POST, "queue-job", t, body).await.ok(202);
    }
    let reply = api.raw(Method::POST, "queue-job", t, Some("Application/JSON; charset=utf-8"), valid.to_string()).await;
    assert_eq!(reply.ok(202)["job"]["status"], "queued");
    let db = stack.sql().await;
    let stored: String = db
        .query_one("select generation_settings::text from jobs where model = 'sdxl-1.0'", &[])
        .await
        .expect("the job with settings")
        .get(0);
    let stored: Value = serde_json::from_str(&stored).expect("settings are JSON");
    assert_eq!(stored["reference_image"], format!("workspace-temp/{alice}/{reference_job}/0.png"), "stored normalised");
    let longest: i32 =
        db.query_one("select max(char_length(prompt)) from jobs", &[]).await.expect("prompt length").get(0);
    assert_eq!(longest, 4000);
    assert_eq!(count(&stack, "select count(*) from jobs").await, 4);
}

// ------------------------------------------------------------- job-callback

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_callback_refuses_bad_bodies_and_foreign_or_traversal_paths_and_inserts_no_asset() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let service = stack.service_token();
    let s = Some(service.as_str());
    let job = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 2})).await;
    let other_job = stack.queue(alice, json!({"mode": "image", "prompt": "an owl", "batch_size": 1})).await;

    let processing = json!({"job_id": job, "status": "processing", "worker_id": "w-1"});
    let reply = api.json(Method::POST, "job-callback", s, &processing).await;
    assert_eq!(reply.ok(200)["job"]["status"], "processing");

    check_transport(&api, "job-callback", Method::POST, &service, &processing, "POST, OPTIONS").await;

    let asset = |index: u32, path: &str| {
        json!({"asset_index": index, "storage_path": path, "mime_type": "image/png",
               "file_size_bytes": 1234, "width": 64, "height": 64})
    };
    let good_path = |index: u32| format!("{alice}/{job}/{index}.png");
    let completed = |assets: Value| json!({"job_id": job, "status": "completed", "worker_id": "w-1", "assets": assets});
    let with_asset = |extra: Value| {
        let mut one = asset(0, &good_path(0)).as_object().cloned().expect("object");
        one.extend(extra.as_object().cloned().expect("object"));
        completed(json!([Value::Object(one)]))
    };

    // Storage paths out of the job's folder: traversal in every spelling,
    // absolute paths, another user's folder, another job's, another bucket.
    let traversal = [
        format!("{alice}/{job}/../{other_job}/0.png"),
        format!("{alice}/{job}/../../{bob}/{job}/0.png"),
        "../etc/passwd".to_string(),
        format!("../{alice}/{job}/0.png"),
        format!("{alice}/{job}/%2e%2e/%2e%2e/etc/passwd"),
        format!("{alice}/{job}/%2E%2E%2F0.png"),
        format!("{alice}/{job}/..%2f..%2f{bob}/0.png"),
        format!("{alice}\\{job}\\0.png"),
        format!("{alice}/{job}/..\\..\\{bob}\\0.png"),
        "/etc/passwd".to_string(),
        "/".to_string(),
        format!("/{alice}/{job}/./0.png"),
        format!("{alice}//{job}/0.png"),
        format!("{alice}/{job}/0.png\u{0}.jpg"),
        format!("{alice}/{job}/0 .png"),
        format!("{alice}/{job}/ü.png"),
        format!("{alice}/{job}"),
        format!("{alice}/{job}/"),
        format!("{alice}/0.png"),
        String::new(),
        format!("{alice}/{job}/{}", "a".repeat(1100)),
        // another user's folder (the shape is right; only SQL knows the owner)
        format!("{bob}/{job}/0.png"),
        format!("workspace-temp/{bob}/{job}/0.png"),
        // another job's folder
        format!("{alice}/{other_job}/0.png"),
        format!("workspace-temp/{alice}/{other_job}/0.png"),
        // another bucket
        format!("user-library/{alice}/{job}/0.png"),
        format!("user-library/{alice}/{}.png", Uuid::new_v4()),
    ];
    for path in &traversal {
        api.json(Method::POST, "job-callback", s, &completed(json!([asset(0, path)])))
            .await
            .error(400, "invalid_request");
        api.json(Method::POST, "job-callback", s, &with_asset(json!({ "thumbnail_path": path })))
            .await
            .error(400, "invalid_request");
        // one bad asset among good ones spoils the whole callback
        api.json(Method::POST, "job-callback", s, &completed(json!([asset(0, &good_path(0)), asset(1, path)])))
            .await
            .error(400, "invalid_request");
    }

    let long = |n: usize| "a".repeat(n);
    let mut bad = vec![
        // missing required fields
        json!({}),
        json!({"status": "processing", "worker_id": "w-1"}),
        json!({"job_id": job, "worker_id": "w-1"}),
        json!({"job_id": job, "status": "processing"}),
        json!({"job_id": null, "status": "processing", "worker_id": "w-1"}),
        // wrong types and invalid ids
        json!({"job_id": 5, "status": "processing", "worker_id": "w-1"}),
        json!({"job_id": "not-a-uuid", "status": "processing", "worker_id": "w-1"}),
        json!({"job_id": "", "status": "processing", "worker_id": "w-1"}),
        json!({"job_id": format!("{job}x"), "status": "processing", "worker_id": "w-1"}),
        json!({"job_id": [job], "status": "processing", "worker_id": "w-1"}),
        json!({"job_id": job, "status": 1, "worker_id": "w-1"}),
        json!({"job_id": job, "status": "processing", "worker_id": 5}),
        completed(json!({})),
        completed(json!("0.png")),
        completed(json!([1])),
        completed(json!(["0.png"])),
        completed(json!([[0, good_path(0), "image/png", 1234]])),
        with_asset(json!({"asset_index": "0"})),
        with_asset(json!({"asset_index": -1})),
        with_asset(json!({"asset_index": 0.5})),
        with_asset(json!({"file_size_bytes": "1234"})),
        with_asset(json!({"file_size_bytes": -5})),
        with_asset(json!({"width": "64"})),
        with_asset(json!({"storage_path": 0})),
        with_asset(json!({"storage_path": null})),
        with_asset(json!({"duration_seconds": "1"})),
        // unknown fields
        json!({"job_id": job, "status": "processing", "worker_id": "w-1", "user_id": bob}),
        json!({"job_id": job, "status": "processing", "worker_id": "w-1", "attempts": 0}),
        with_asset(json!({"user_id": bob})),
        with_asset(json!({"bucket": "user-library"})),
        with_asset(json!({"id": Uuid::new_v4()})),
        // enum values not allowed
        json!({"job_id": job, "status": "done", "worker_id": "w-1"}),
        json!({"job_id": job, "status": "COMPLETED", "worker_id": "w-1"}),
        json!({"job_id": job, "status": "queued", "worker_id": "w-1"}),
        with_asset(json!({"mime_type": "image/gif"})),
        with_asset(json!({"mime_type": "text/html"})),
        with_asset(json!({"mime_type": "IMAGE/PNG"})),
        with_asset(json!({"mime_type": "video/mp4"})), // a video for an image job
        // out of range and illegal combinations
        json!({"job_id": job, "status": "processing", "worker_id": ""}),
        json!({"job_id": job, "status": "processing", "worker_id": "w 1"}),
        json!({"job_id": job, "status": "processing", "worker_id": long(201)}),
        with_asset(json!({"asset_index": 2})), // the batch holds 0 and 1
        with_asset(json!({"asset_index": 100})),
        with_asset(json!({"file_size_bytes": 0})),
        with_asset(json!({"file_size_bytes": (1u64 << 30) + 1})),
        with_asset(json!({"width": 0})),
        with_asset(json!({"height": 16385})),
        with_asset(json!({"duration_seconds": 0})),
        with_asset(json!({"duration_seconds": -1})),
        with_asset(json!({"duration_seconds": 3601})),
        with_asset(json!({"generation_seed": -1})),
        completed(json!([asset(0, &good_path(0)), asset(0, &good_path(1))])),
        completed(json!([])),
        json!({"job_id": job, "status": "completed", "worker_id": "w-1"}),
        json!({"job_id": job, "status": "processing", "worker_id": "w-1", "assets": [asset(0, &good_path(0))]}),
        json!({"job_id": job, "status": "failed", "worker_id": "w-1", "assets": [asset(0, &good_path(0))]}),
        json!({"job_id": job, "status": "processing", "worker_id": "w-1", "error": "boom"}),
        json!({"job_id": job, "status": "failed", "worker_id": "w-1", "error": long(2001)}),
        json!({"job_id": job, "status": "failed", "worker_id": "w-1", "error": "boom\u{0}"}),
        json!({"job_id": job, "status": "failed", "worker_id": "w-1", "error": 5}),
    ];
    let many: Vec<Value> = (0..101).map(|i| asset(i, &good_path(i))).collect();
    bad.push(completed(json!(many)));
    for body in &bad {
        api.json(Method::POST, "job-callback", s, body).await.error(400, "invalid_request");
    }

    // Nothing was inserted, nothing queued for deletion, the job is untouched.
    assert_eq!(count(&stack, "select count(*) from workspace_assets").await, 0, "no asset row from a bad callback");
    assert_eq!(count(&stack, "select count(*) from storage_deletion_outbox").await, 0);
    let db = stack.sql().await;
    let row = db.query_one("select status, error from jobs where id = $1", &[&job]).await.expect("job");
    assert_eq!((row.get::<_, String>(0), row.get::<_, Option<String>>(1)), ("processing".to_string(), None));
    let row = db.query_one("select status from jobs where id = $1", &[&other_job]).await.expect("other job");
    assert_eq!(row.get::<_, String>(0), "queued");

    // A job that does not exist is 404; a transition the job cannot make is 409.
    let ghost = Uuid::new_v4();
    api.json(Method::POST, "job-callback", s, &json!({"job_id": ghost, "status": "processing", "worker_id": "w-1"}))
        .await
        .error(404, "not_found");
    let early = json!({"job_id": other_job, "status": "completed", "worker_id": "w-1",
                       "assets": [asset(0, &format!("{alice}/{other_job}/0.png"))]});
    api.json(Method::POST, "job-callback", s, &early).await.error(409, "conflict");

    // The valid callback the bad ones were variations of is taken, once.
    let good = completed(json!([asset(0, &good_path(0)), asset(1, &format!("workspace-temp/{}", good_path(1)))]));
    let first = api.json(Method::POST, "job-callback", s, &good).await;
    let assets = first.ok(200)["assets"].clone();
    assert_eq!(assets.as_array().map(Vec::len), Some(2), "{}", first.body);
    let again = api.json(Method::POST, "job-callback", s, &good).await;
    assert_eq!(again.ok(200)["assets"], assets, "a repeated callback gives the same answer");
    api.json(Method::POST, "job-callback", s, &processing).await.error(409, "conflict");
    let paths: Vec<String> = db
        .query("select temp_storage_path from workspace_assets order by asset_index", &[])
        .await
        .expect("assets")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(paths, vec![good_path(0), good_path(1)]);
}

// -------------------------------------------------------- workspace-actions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_actions_refuses_bad_queries_and_bodies_with_json_4xx() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let token = stack.user_token(alice);
    let t = Some(token.as_str());
    let service = stack.service_token();
    let job = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 1})).await;
    let id = Uuid::new_v4();

    // GET: the listing's query string.
    let created = "2025-08-30T10:00:00.123456%2B00:00";
    for query in [
        "page_size=0".to_string(),
        "page_size=101".to_string(),
        "page_size=-1".to_string(),
        "page_size=abc".to_string(),
        "page_size=1.5".to_string(),
        "page_size=".to_string(),
        "page_size=1e2".to_string(),
        "page_size=99999999999999999999".to_string(),
        "page_size=10&page_size=20".to_string(),
        "user_id=".to_string() + &bob.to_string(),
        "foo=1".to_string(),
        format!("before_job_id={job}"),
        format!("before_created_at={created}"),
        format!("before_created_at={created}&before_job_id=not-a-uuid"),
        format!("before_created_at=yesterday&before_job_id={job}"),
        format!("before_created_at=2025-08-30T10:00:00'%3B%20drop%20table%20jobs%3B--&before_job_id={job}"),
        "page_size=%zz".to_string(),
        "page_size=%e9".to_string(),
        "page_size=%".to_string(),
    ] {
        let request = api.builder(Method::GET, &format!("workspace-actions?{query}"), t);
        api.send(format!("GET workspace-actions?{query}"), request).await.error(400, "invalid_request");
    }
    for query in
        ["page_size=1", "page_size=100", &format!("page_size=5&before_created_at={created}&before_job_id={job}")]
    {
        let request = api.builder(Method::GET, &format!("workspace-actions?{query}"), t);
        let reply = api.send(format!("GET workspace-actions?{query}"), request).await;
        assert!(reply.ok(200)["jobs"].is_array(), "{}: {}", reply.what, reply.body);
    }

    // POST: the action body.
    let valid = json!({"action": "discard", "asset_ids": [id]});
    check_transport(&api, "workspace-actions", Method::POST, &token, &valid, "GET, POST, OPTIONS").await;

    let save = |extra: Value| {
        let mut body = json!({"action": "save", "asset_ids": [id]}).as_object().cloned().expect("object");
        body.extend(extra.as_object().cloned().expect("object"));
        Value::Object(body)
    };
    let ids = |n: usize| (0..n).map(|_| Uuid::new_v4()).collect::<Vec<_>>();
    let bad = [
        // missing fields
        json!({}),
        json!({"asset_ids": [id]}),
        json!({"action": "save"}),
        json!({"action": "discard"}),
        json!({"action": null}),
        // wrong types, invalid ids
        json!({"action": 5}),
        json!({"action": ["clear"]}),
        json!({"action": "discard", "asset_ids": id}),
        json!({"action": "discard", "asset_ids": [1]}),
        json!({"action": "discard", "asset_ids": ["not-a-uuid"]}),
        json!({"action": "discard", "asset_ids": [format!("{id}'; drop table jobs;--")]}),
        json!({"action": "discard", "asset_ids": {"0": id}}),
        json!({"action": "discard", "asset_ids": [[id]]}),
        json!({"action": "discard", "job_id": 5}),
        json!({"action": "discard", "job_id": "x"}),
        json!({"action": "discard", "job_id": [job]}),
        save(json!({"collection_id": "x"})),
        save(json!({"collection_id": 7})),
        save(json!({"custom_title": 5})),
        save(json!({"tags": "red"})),
        save(json!({"tags": [1]})),
        save(json!({"tags": [["red"]]})),
        // unknown fields and fields of another action
        json!({"action": "clear", "user_id": bob}),
        json!({"action": "clear", "force": true}),
        save(json!({"bucket": "user-library"})),
        save(json!({"user_id": bob})),
        json!({"action": "clear", "asset_ids": [id]}),
        json!({"action": "clear", "job_id": job}),
        json!({"action": "discard", "asset_ids": [id], "tags": ["x"]}),
        json!({"action": "discard", "asset_ids": [id], "collection_id": id}),
        save(json!({"max_items": 5})),
        // draining is the storage-drain function's job, not an action here
        json!({"action": "drain_storage_deletions"}),
        // enum values not allowed
        json!({"action": "SAVE", "asset_ids": [id]}),
        json!({"action": "destroy", "asset_ids": [id]}),
        json!({"action": "delete", "asset_ids": [id]}),
        json!({"action": ""}),
        // out of range
        json!({"action": "discard", "asset_ids": []}),
        json!({"action": "discard", "asset_ids": ids(101)}),
        json!({"action": "save", "asset_ids": [id], "job_id": job}),
        json!({"action": "discard", "asset_ids": [id], "job_id": job}),
        save(json!({"tags": vec!["t"; 51]})),
        save(json!({"tags": ["a".repeat(51)]})),
        save(json!({"tags": [""]})),
        save(json!({"tags": ["   "]})),
        save(json!({"tags": ["red\nblue"]})),
        save(json!({"tags": ["red\u{0}"]})),
        save(json!({"custom_title": "a".repeat(201)})),
        save(json!({"custom_title": ""})),
        save(json!({"custom_title": "   "})),
        save(json!({"custom_title": "fox\u{0}"})),
    ];
    for body in &bad {
        api.json(Method::POST, "workspace-actions", t, body).await.error(400, "invalid_request");
    }
    api.json(Method::POST, "workspace-actions", Some(&service), &json!({"action": "drain_storage_deletions"}))
        .await
        .error(400, "invalid_request");
    // The drainer's own bounds and shape (service role, so the 400 is about the value).
    for max_items in [json!(0), json!(1001), json!(-1), json!("5"), json!(1.5)] {
        let body = json!({"max_items": max_items});
        api.json(Method::POST, "storage-drain", Some(&service), &body).await.error(400, "invalid_request");
    }
    api.json(Method::POST, "storage-drain", Some(&service), &json!({"action": "drain_storage_deletions"}))
        .await
        .error(400, "invalid_request");
    check_transport(&api, "storage-drain", Method::POST, &service, &json!({"max_items": 10}), "POST, OPTIONS").await;

    // The valid neighbours are served: an unknown id is a per-item not_found,
    // an unknown job 404, clear and drain work.
    let reply = api.json(Method::POST, "workspace-actions", t, &valid).await;
    assert_eq!(reply.ok(200), &json!({"discarded": [], "failed": [{"id": id, "error": "not_found"}]}));
    let reply = api
        .json(
            Method::POST,
            "workspace-actions",
            t,
            &save(json!({"tags": vec!["t"; 50], "custom_title": "a".repeat(200)})),
        )
        .await;
    assert_eq!(reply.ok(200), &json!({"saved": [], "failed": [{"id": id, "error": "not_found"}]}));
    api.json(Method::POST, "workspace-actions", t, &json!({"action": "discard", "job_id": Uuid::new_v4()}))
        .await
        .error(404, "not_found");
    api.json(Method::POST, "workspace-actions", t, &json!({"action": "clear"})).await.ok(200);
    let drained = api.json(Method::POST, "storage-drain", Some(&service), &json!({"max_items": 1000})).await;
    assert_eq!(drained.ok(200), &json!({"claimed": 0, "deleted": 0, "failed": 0}));
    // The queued job was left alone by all of it.
    assert_eq!(count(&stack, "select count(*) from jobs where status = 'queued'").await, 1);
}

// ---------------------------------------------------- delete-workspace-item

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_workspace_item_refuses_bad_bodies_with_json_4xx_and_unknown_ids_with_404() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let token = stack.user_token(alice);
    let t = Some(token.as_str());
    let job = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 1})).await;
    let valid = json!({"job_id": Uuid::new_v4()});

    for method in [Method::POST, Method::DELETE] {
        check_transport(&api, "delete-workspace-item", method.clone(), &token, &valid, "POST, DELETE, OPTIONS").await;
        for body in [
            json!({}),
            json!({"asset_id": null}),
            json!({"asset_id": null, "job_id": null}),
            json!({"asset_id": 5}),
            json!({"asset_id": "x"}),
            json!({"asset_id": ""}),
            json!({"asset_id": format!("{job}'--")}),
            json!({"asset_id": [job]}),
            json!({"job_id": {"id": job}}),
            json!({"job_id": true}),
            json!({"asset_id": Uuid::new_v4(), "job_id": job}),
            json!({"job_id": job, "user_id": bob}),
            json!({"job_id": job, "cascade": true}),
            json!({"id": job}),
            json!({"asset_ids": [job]}),
        ] {
            api.json(method.clone(), "delete-workspace-item", t, &body).await.error(400, "invalid_request");
        }
        for body in [json!({"asset_id": Uuid::new_v4()}), json!({"job_id": Uuid::new_v4()})] {
            api.json(method.clone(), "delete-workspace-item", t, &body).await.error(404, "not_found");
        }
    }
    assert_eq!(count(&stack, "select count(*) from jobs").await, 1, "no bad request deleted the job");

    let deleted = api.json(Method::DELETE, "delete-workspace-item", t, &json!({"job_id": job})).await;
    assert_eq!(deleted.ok(200), &json!({"deleted": []}));
    assert_eq!(count(&stack, "select count(*) from jobs").await, 0);
    api.json(Method::POST, "delete-workspace-item", t, &json!({"job_id": job})).await.error(404, "not_found");
}

// ------------------------------------------------------------------- tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_wrong_role_tokens_are_refused_and_change_nothing() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    let alice = stack.new_user().await;
    let job = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 1})).await;
    let db = stack.sql().await;
    // An outbox entry for the drain requests to (not) drain.
    let orphan = format!("{alice}/{job}/9.png");
    db.execute(
        "insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason) values ('workspace-temp', $1, $2, 'orphaned')",
        &[&orphan, &alice],
    )
    .await
    .expect("an outbox entry");

    // One request per endpoint, each valid but for its token.
    struct Endpoint {
        method: Method,
        function: &'static str,
        body: Option<Value>,
        service: bool,
    }
    let endpoints = [
        Endpoint {
            method: Method::POST,
            function: "queue-job",
            body: Some(json!({"mode": "image", "prompt": "a fox"})),
            service: false,
        },
        Endpoint { method: Method::GET, function: "workspace-actions", body: None, service: false },
        Endpoint {
            method: Method::POST,
            function: "workspace-actions",
            body: Some(json!({"action": "clear"})),
            service: false,
        },
        Endpoint {
            method: Method::POST,
            function: "delete-workspace-item",
            body: Some(json!({"job_id": job})),
            service: false,
        },
        Endpoint {
            method: Method::DELETE,
            function: "delete-workspace-item",
            body: Some(json!({"job_id": job})),
            service: false,
        },
        Endpoint {
            method: Method::POST,
            function: "job-callback",
            body: Some(json!({"job_id": job, "status": "processing", "worker_id": "w-1"})),
            service: true,
        },
        Endpoint { method: Method::POST, function: "storage-drain", body: Some(json!({"max_items": 10})), service: true },
    ];
    let call = |endpoint: &Endpoint, authorization: Option<String>| {
        let mut request = stack.request(endpoint.method.clone(), &format!("/functions/v1/{}", endpoint.function));
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        if let Some(body) = &endpoint.body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let what = format!(
            "{} {} with {}",
            endpoint.method,
            endpoint.function,
            short(authorization.as_deref().unwrap_or("no authorization"))
        );
        api.send(what, request)
    };

    // Tokens the gateway refuses before any function runs.
    let user = stack.user_token(alice);
    let parts: Vec<&str> = user.split('.').collect();
    let none_header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let service_claims = json!({"role": "service_role", "iss": "supabase-demo", "iat": now(), "exp": now() + 3600});
    let mut forged_user = ourvidz_jwt::access_token_claims("authenticated", Some(&alice.to_string()), now(), 3600);
    forged_user.insert("role".into(), json!("service_role"));
    let invalid = [
        "Bearer garbage".to_string(),
        "Bearer a.b.c".to_string(),
        format!("Bearer {}", parts[..2].join(".")),
        format!("Bearer {user}.x"),
        format!("Basic {user}"),
        user.clone(),
        "Bearer ".to_string(),
        // wrong signature
        format!(
            "Bearer {}",
            ourvidz_jwt::sign(
                &ourvidz_jwt::access_token_claims("authenticated", Some(&alice.to_string()), now(), 3600),
                b"another-secret-another-secret-another-secret"
            )
        ),
        format!(
            "Bearer {}",
            ourvidz_jwt::sign(
                &ourvidz_jwt::access_token_claims("service_role", None, now(), 3600),
                b"super-secret-jwt-token-with-at-least-32-characters-long"
            )
        ),
        // a signed payload with its role changed
        format!("Bearer {}.{}.{}", parts[0], b64url(Value::Object(forged_user).to_string().as_bytes()), parts[2]),
        // expired (well past the 30 s leeway)
        format!("Bearer {}", stack.token("authenticated", Some(alice), -3600)),
        format!("Bearer {}", stack.token("service_role", None, -3600)),
        // alg: none, with and without a signature
        format!("Bearer {none_header}.{}.", parts[1]),
        format!("Bearer {none_header}.{}.{}", parts[1], parts[2]),
        format!("Bearer {none_header}.{}.", b64url(service_claims.to_string().as_bytes())),
        format!("Bearer {}.{}.", b64url(br#"{"alg":"HS512","typ":"JWT"}"#), parts[1]),
    ];
    for endpoint in &endpoints {
        call(endpoint, None).await.gateway(401, "Missing authorization header");
        for authorization in &invalid {
            call(endpoint, Some(authorization.clone())).await.gateway(401, "Invalid JWT");
        }
    }

    // Validly signed tokens of the wrong kind: the function refuses them.
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let anon = stack.token("anon", None, 3600);
    let service = stack.service_token();
    let custom = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut claims = ourvidz_jwt::access_token_claims("authenticated", Some(&alice.to_string()), now(), 3600);
        edit(&mut claims);
        ourvidz_jwt::sign(&claims, STACK_SECRET)
    };
    let other_audience = custom(&|c| {
        c.insert("aud".into(), json!("some-other-api"));
    });
    let no_audience = custom(&|c| {
        c.remove("aud");
    });
    let bad_subject = custom(&|c| {
        c.insert("sub".into(), json!("not-a-uuid"));
    });
    let no_subject = custom(&|c| {
        c.remove("sub");
    });
    let as_postgres = stack.token("postgres", Some(alice), 3600);
    let as_admin = stack.token("supabase_admin", Some(alice), 3600);
    let as_authenticator = stack.token("authenticator", Some(alice), 3600);
    for endpoint in &endpoints {
        if endpoint.service {
            for token in [&user, &anon] {
                call(endpoint, bearer(token.clone())).await.error(403, "forbidden");
            }
        } else {
            call(endpoint, bearer(anon.clone())).await.error(401, "unauthorized");
            call(endpoint, bearer(service.clone())).await.error(403, "forbidden");
            for token in [&other_audience, &no_audience, &no_subject] {
                call(endpoint, bearer(token.clone())).await.error(401, "unauthorized");
            }
        }
        // A `sub` that is not a UUID is no valid token at all (the JWT crate refuses it).
        call(endpoint, bearer(bad_subject.clone())).await.gateway(401, "Invalid JWT");
        for token in [&as_postgres, &as_admin, &as_authenticator] {
            call(endpoint, bearer(token.clone())).await.error(403, "forbidden");
        }
    }

    // None of it reached the data: still one queued job nobody touched, the
    // outbox entry still waiting.
    let row = db.query_one("select count(*), min(status), max(attempts) from jobs", &[]).await.expect("jobs");
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, Option<String>>(1), row.get::<_, Option<i32>>(2)),
        (1, Some("queued".to_string()), Some(0))
    );
    let row = db
        .query_one(
            "select attempts, claimed_until is null from storage_deletion_outbox where object_name = $1",
            &[&orphan],
        )
        .await
        .expect("the outbox entry is still there");
    assert_eq!((row.get::<_, i32>(0), row.get::<_, bool>(1)), (0, true));

    // The right tokens do work on the same requests (the refusals above are
    // about the tokens), including a `bearer` scheme in lower case and the
    // harness's secret copied here.
    let custom_claims_are_signed_with_the_stack_secret = custom(&|_| {});
    for token in [&user, &custom_claims_are_signed_with_the_stack_secret] {
        call(&endpoints[1], Some(format!("bearer {token}"))).await.ok(200);
    }
    call(&endpoints[6], bearer(service.clone())).await.ok(200);
    assert_eq!(count(&stack, "select count(*) from storage_deletion_outbox").await, 0, "the service role drains");
    call(&endpoints[3], bearer(user.clone())).await.ok(200);
    assert_eq!(count(&stack, "select count(*) from jobs").await, 0, "alice deletes her job");
}

// -------------------------------------------------------- another user's ids

/// Everything `user` owns, as sorted lines: rows, objects (metadata and files
/// on disk) and outbox entries naming their objects.
async fn footprint(stack: &Stack, user: Uuid) -> Vec<String> {
    let db = stack.sql().await;
    let id = user.to_string();
    let mut lines = Vec::new();
    for sql in [
        "select 'job ' || id || ' ' || status || ' ' || attempts from jobs where user_id::text = $1",
        "select 'asset ' || id || ' ' || job_id || ' ' || asset_index || ' ' || temp_storage_path || ' ' \
         || coalesce(thumbnail_path, '-') || ' ' || expires_at from workspace_assets where user_id::text = $1",
        "select 'library ' || id || ' ' || storage_path || ' ' || coalesce(collection_id::text, '-') \
         from user_library where user_id::text = $1",
        "select 'collection ' || id || ' ' || asset_count from user_collections where user_id::text = $1",
        "select 'object ' || bucket_id || '/' || name from storage.objects where name like $1 || '/%'",
        "select 'outbox ' || bucket_id || '/' || object_name from storage_deletion_outbox where object_name like $1 || '/%'",
    ] {
        for row in db.query(sql, &[&id]).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
            lines.push(row.get::<_, String>(0));
        }
    }
    for file in stack.stored_files() {
        if file.split('/').nth(1) == Some(id.as_str()) {
            lines.push(format!("file {file}"));
        }
    }
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_ids_are_not_found_and_their_rows_and_objects_stay_untouched() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let alice_token = stack.user_token(alice);
    let bob_token = stack.user_token(bob);
    let b = Some(bob_token.as_str());

    let alice_job = stack.queue(alice, json!({"mode": "image", "prompt": "a fox", "batch_size": 3, "seed": 1})).await;
    let alice_other_job = stack.queue(alice, json!({"mode": "image", "prompt": "an owl", "batch_size": 1})).await;
    let bob_job = stack.queue(bob, json!({"mode": "image", "prompt": "a cat", "batch_size": 1})).await;
    let summary = stack.run_worker(&stack.worker_options("e2e-bad-input")).await;
    assert_eq!((summary.completed, summary.failed, summary.abandoned), (3, 0, 0));

    let db = stack.sql().await;
    let ids_of = |job: Uuid| {
        let db = &db;
        async move {
            db.query("select id from workspace_assets where job_id = $1 order by asset_index", &[&job])
                .await
                .expect("assets")
                .iter()
                .map(|row| row.get::<_, Uuid>(0))
                .collect::<Vec<_>>()
        }
    };
    let alice_assets = ids_of(alice_job).await;
    let alice_other_assets = ids_of(alice_other_job).await;
    let bob_assets = ids_of(bob_job).await;
    assert_eq!((alice_assets.len(), alice_other_assets.len(), bob_assets.len()), (3, 1, 1));
    let collection: Uuid = db
        .query_one("insert into user_collections (user_id, name) values ($1, 'foxes') returning id", &[&alice])
        .await
        .expect("alice's collection")
        .get(0);
    // alice saves one asset into her collection (so she has a library row and
    // object to protect too).
    let saved = api
        .json(
            Method::POST,
            "workspace-actions",
            Some(&alice_token),
            &json!({"action": "save", "asset_ids": [alice_assets[2]], "collection_id": collection}),
        )
        .await;
    assert_eq!(saved.ok(200)["saved"].as_array().map(Vec::len), Some(1), "{}", saved.body);
    stack.drain().await;
    let before = footprint(&stack, alice).await;
    assert!(before.iter().filter(|l| l.starts_with("file ")).count() >= 4, "alice has objects to protect: {before:#?}");
    assert!(before.iter().any(|l| l.starts_with("library ")), "{before:#?}");
    let bob_before = footprint(&stack, bob).await;

    let ghost = Uuid::new_v4();
    let per_item = |key: &str, id: Uuid| json!({ key: [], "failed": [{"id": id, "error": "not_found"}] });

    // save / discard alice's asset ids: per item not_found, exactly what a
    // random id gets.
    for action in ["save", "discard"] {
        let key = if action == "save" { "saved" } else { "discarded" };
        for id in alice_assets.iter().chain(&alice_other_assets).copied().chain([ghost]) {
            let reply =
                api.json(Method::POST, "workspace-actions", b, &json!({"action": action, "asset_ids": [id]})).await;
            assert_eq!(reply.ok(200), &per_item(key, id), "{}", reply.what);
        }
        let reply =
            api.json(Method::POST, "workspace-actions", b, &json!({"action": action, "asset_ids": alice_assets})).await;
        let failed: Vec<Value> = alice_assets.iter().map(|id| json!({"id": id, "error": "not_found"})).collect();
        assert_eq!(reply.ok(200), &json!({ key: [], "failed": failed }), "{}", reply.what);
        // by job: 404, like a job that does not exist
        let mut messages = Vec::new();
        for job in [alice_job, alice_other_job, ghost] {
            let reply = api.json(Method::POST, "workspace-actions", b, &json!({"action": action, "job_id": job})).await;
            reply.error(404, "not_found");
            messages.push(reply.body.clone());
        }
        assert!(messages.windows(2).all(|w| w[0] == w[1]), "another user's job must look like no job: {messages:?}");
    }
    // save bob's own asset into alice's collection: 404, nothing saved
    let reply = api
        .json(
            Method::POST,
            "workspace-actions",
            b,
            &json!({"action": "save", "asset_ids": [bob_assets[0]], "collection_id": collection}),
        )
        .await;
    reply.error(404, "not_found");
    let ghost_collection = api
        .json(
            Method::POST,
            "workspace-actions",
            b,
            &json!({"action": "save", "asset_ids": [bob_assets[0]], "collection_id": ghost}),
        )
        .await;
    ghost_collection.error(404, "not_found");
    assert_eq!(reply.body, ghost_collection.body, "another user's collection must look like no collection");
    // delete alice's asset or job: 404, like ids that do not exist
    for method in [Method::POST, Method::DELETE] {
        let mut messages = Vec::new();
        for body in [
            json!({"asset_id": alice_assets[0]}),
            json!({"asset_id": alice_other_assets[0]}),
            json!({"asset_id": ghost}),
            json!({"job_id": alice_job}),
            json!({"job_id": alice_other_job}),
            json!({"job_id": ghost}),
        ] {
            let reply = api.json(method.clone(), "delete-workspace-item", b, &body).await;
            reply.error(404, "not_found");
            messages.push(reply.body.clone());
        }
        assert!(messages.windows(2).all(|w| w[0] == w[1]), "existence must not leak: {messages:?}");
    }
    // queue a job referencing alice's objects: 400
    let alice_object = db
        .query_one("select temp_storage_path from workspace_assets where id = $1", &[&alice_assets[0]])
        .await
        .expect("alice's object")
        .get::<_, String>(0);
    let alice_library = db
        .query_one("select storage_path from user_library where user_id = $1", &[&alice])
        .await
        .expect("library")
        .get::<_, String>(0);
    for reference in [
        alice_object.clone(),
        format!("workspace-temp/{alice_object}"),
        format!("user-library/{alice_library}"),
        format!("{bob}/../{alice_object}"),
    ] {
        api.json(
            Method::POST,
            "queue-job",
            b,
            &json!({"mode": "image", "prompt": "a copy", "settings": {"reference_image": reference}}),
        )
        .await
        .error(400, "invalid_request");
    }
    // bob's listing shows none of alice's jobs
    let listing =
        api.send("GET workspace-actions as bob".into(), api.builder(Method::GET, "workspace-actions", b)).await;
    let jobs: Vec<&str> =
        listing.ok(200)["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["job_id"].as_str()).collect();
    assert_eq!(jobs, vec![bob_job.to_string().as_str()], "{}", listing.body);

    // Drain whatever the attempts might have queued; alice's things are all
    // still there, byte for byte, and bob's are as they were.
    stack.drain().await;
    assert_eq!(footprint(&stack, alice).await, before, "bob changed alice's rows or objects");
    // bob's refused save into alice's collection left his asset in his
    // workspace and no library row; its copy is covered by the save intent
    // (the orphan audit finds nothing uncovered).
    let bob_after = footprint(&stack, bob).await;
    let rows = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.starts_with("asset ") || l.starts_with("library ") || l.starts_with("job "))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&bob_after), rows(&bob_before), "a refused save changed bob's rows");
    assert_eq!(stack.orphans().await, Vec::<String>::new());
    let count_of = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[&collection]).await.expect(sql).get::<_, i32>(0) }
    };
    assert_eq!(count_of("select asset_count from user_collections where id = $1").await, 1);

    // alice herself can still do all of it (the 404s were about bob).
    let reply = api
        .json(Method::POST, "delete-workspace-item", Some(&alice_token), &json!({"asset_id": alice_assets[0]}))
        .await;
    assert_eq!(reply.ok(200), &json!({"deleted": [alice_assets[0]]}));
    let reply = api
        .json(
            Method::POST,
            "workspace-actions",
            Some(&alice_token),
            &json!({"action": "discard", "job_id": alice_other_job}),
        )
        .await;
    assert_eq!(reply.ok(200)["discarded"], json!([alice_other_assets[0]]));
}

// --------------------------------------------------------------------- CORS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_answers_its_own_cors_preflight_and_unknown_paths_are_json() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    // The gateway forwards a preflight to the function (it carries no token,
    // and the gateway checks none for OPTIONS); the answer is the function's
    // own: 204, naming exactly the methods that function serves.
    for (function, served) in [
        ("queue-job", "POST, OPTIONS"),
        ("job-callback", "POST, OPTIONS"),
        ("workspace-actions", "GET, POST, OPTIONS"),
        ("delete-workspace-item", "POST, DELETE, OPTIONS"),
        ("storage-drain", "POST, OPTIONS"),
    ] {
        for method in ["POST", "GET", "DELETE"] {
            let response = stack
                .request(Method::OPTIONS, &format!("/functions/v1/{function}"))
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", method)
                .header("access-control-request-headers", "authorization, x-client-info, apikey, content-type")
                .send()
                .await
                .expect("a preflight answer");
            let what = format!("OPTIONS {function} ({method})");
            assert_eq!(response.status(), StatusCode::NO_CONTENT, "{what}: the function's answer");
            let headers = response.headers();
            let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            assert_eq!(get("access-control-allow-origin"), "*", "{what}");
            assert_eq!(get("access-control-allow-headers"), CORS_ALLOW_HEADERS, "{what}");
            assert_eq!(get("access-control-allow-methods"), served, "{what}");
        }
    }
    let served_by: Vec<String> = stack
        .log_lines()
        .into_iter()
        .filter(|line| line["method"] == "OPTIONS")
        .map(|line| format!("{} {}", line["function"].as_str().unwrap_or("-"), line["status"]))
        .collect();
    assert_eq!(served_by.len(), 15, "every preflight reached a function: {served_by:?}");
    assert!(served_by.iter().all(|line| line.ends_with(" 204") && !line.starts_with("- ")), "{served_by:?}");
    // No function there: the gateway's JSON 404, with CORS too.
    let token = stack.service_token();
    for path in ["nope", "queue-jobs", "queue_job", "Queue-Job"] {
        let request = api.builder(Method::POST, path, Some(&token));
        let reply = api.send(format!("POST /functions/v1/{path}"), request).await;
        assert_eq!(reply.status.as_u16(), 404, "{}: {}", reply.what, reply.body);
        assert_eq!(reply.body["code"], 404, "{}", reply.body);
    }
}

// ------------------------------------------------ idempotency and the cap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_same_job_and_the_eleventh_active_job_is_429() {
    let stack = Stack::start().await;
    let api = Api::new(&stack);
    let alice = stack.new_user().await;
    let bob = stack.new_user().await;
    let queue = |user: Uuid, key: Option<String>| {
        let token = stack.user_token(user);
        let mut request = api
            .builder(Method::POST, "queue-job", Some(&token))
            .header("content-type", "application/json")
            .body(json!({"mode": "image", "prompt": "a fox", "batch_size": 1}).to_string());
        if let Some(key) = &key {
            request = request.header("idempotency-key", key);
        }
        api.send(format!("queue-job as {user} with key {key:?}"), request)
    };
    let id_of = |reply: &Reply| -> String {
        reply.ok(202)["job"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: a job id: {}", reply.what, reply.body))
            .to_string()
    };

    let first = id_of(&queue(alice, Some("key-1".into())).await);
    assert_eq!(id_of(&queue(alice, Some("key-1".into())).await), first, "same key, same job");
    // keys are per user: bob's key-1 is his own job
    let bobs = id_of(&queue(bob, Some("key-1".into())).await);
    assert_ne!(bobs, first);
    let mut ids = vec![first.clone()];
    let mut by_key = std::collections::HashMap::new();
    for n in 2..=10 {
        let key = (n % 2 == 0).then(|| format!("key-{n}"));
        let id = id_of(&queue(alice, key.clone()).await);
        if let Some(key) = key {
            by_key.insert(key, id.clone());
        }
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);

    // The 11th active job is refused, with or without a new key.
    queue(alice, None).await.error(429, "rate_limited");
    queue(alice, Some("key-11".into())).await.error(429, "rate_limited");
    // A repeated key still answers with its existing job at the cap.
    assert_eq!(id_of(&queue(alice, Some("key-1".into())).await), first);
    assert_eq!(id_of(&queue(alice, Some("key-4".into())).await), by_key["key-4"]);
    let db = stack.sql().await;
    let active: i64 = db
        .query_one("select count(*) from jobs where user_id = $1 and status in ('queued', 'processing')", &[&alice])
        .await
        .expect("active jobs")
        .get(0);
    assert_eq!(active, 10);
    // bob is not affected by alice's cap, and concurrent requests with one
    // key make one job.
    let (a, b, c, d) = tokio::join!(
        queue(bob, Some("burst".into())),
        queue(bob, Some("burst".into())),
        queue(bob, Some("burst".into())),
        queue(bob, Some("burst".into()))
    );
    let burst = id_of(&a);
    assert_eq!([id_of(&b), id_of(&c), id_of(&d)], [burst.clone(), burst.clone(), burst.clone()]);
    let bobs_jobs: i64 =
        db.query_one("select count(*) from jobs where user_id = $1", &[&bob]).await.expect("bob's jobs").get(0);
    assert_eq!(bobs_jobs, 2, "key-1 and burst");

    // A finished job frees a slot.
    let service = stack.service_token();
    let done = json!({"job_id": first, "status": "failed", "worker_id": "w-1", "error": "gave up"});
    api.json(Method::POST, "job-callback", Some(&service), &done).await.ok(200);
    id_of(&queue(alice, Some("key-12".into())).await);
    queue(alice, None).await.error(429, "rate_limited");
}

// ----------------------------------------------------------- body limits

/// Check a raw answer: `status`, JSON of the expected shape, CORS origin.
#[track_caller]
fn check_raw(what: &str, answer: &(u16, Vec<(String, String)>, Vec<u8>), status: u16) -> Value {
    let (got, headers, body) = answer;
    let body: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!("{what}: answer {got} is not JSON ({e}): {}", short(&String::from_utf8_lossy(body)))
    });
    assert_eq!(*got, status, "{what}: {body}");
    assert!(header(headers, "content-type").is_some_and(|v| v.starts_with("application/json")), "{what}: {headers:?}");
    assert_eq!(header(headers, "access-control-allow-origin"), Some("*"), "{what}: {headers:?}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limits_are_json_413s_from_the_gateway_or_the_function() {
    let stack = Stack::start().await;
    let alice = stack.new_user().await;
    let user = stack.user_token(alice);
    let service = stack.service_token();
    let host = stack.api.strip_prefix("http://").expect("http");

    // Declared over the gateway's 6 MiB: its own 413, before the body is read
    // (so nothing is sent after the head) and before any function runs.
    for function in FUNCTIONS {
        let token = if function == "job-callback" { &service } else { &user };
        for length in [GATEWAY_BODY_LIMIT + 1, 1 << 30, usize::MAX >> 1] {
            let head = format!(
                "POST /functions/v1/{function} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            let what = format!("POST {function} declaring {length} bytes");
            let body = check_raw(&what, &raw_http(&stack, &head, b"").await, 413);
            assert_eq!(body["code"], 413, "{what}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        }
    }

    // A chunked body (no declared length) the gateway takes but the function
    // must measure itself: over 64 KiB is the function's 413; the same
    // encoding of a small body is served.
    let chunked = |json: &str| {
        let mut body = Vec::new();
        for chunk in json.as_bytes().chunks(8 * 1024) {
            body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        body
    };
    let head = format!(
        "POST /functions/v1/queue-job HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {user}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for size in [FUNCTION_BODY_LIMIT + 1, 2 * FUNCTION_BODY_LIMIT, 5 * 1024 * 1024] {
        let json = json!({"mode": "image", "prompt": "a fox", "padding": "x".repeat(size)}).to_string();
        let what = format!("chunked POST queue-job of {} bytes", json.len());
        let body = check_raw(&what, &raw_http(&stack, &head, &chunked(&json)).await, 413);
        assert_eq!(body["error"]["code"], "payload_too_large", "{what}: {body}");
    }
    let what = "chunked POST queue-job of a small body";
    let small = json!({"mode": "image", "prompt": "a fox", "batch_size": 1}).to_string();
    let body = check_raw(what, &raw_http(&stack, &head, &chunked(&small)).await, 202);
    assert_eq!(body["job"]["status"], "queued", "{what}: {body}");
    assert_eq!(count(&stack, "select count(*) from jobs").await, 1, "only the small body queued a job");
}
