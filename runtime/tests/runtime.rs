//! The local runtime as a Spin host and Supabase gateway, end to end: the
//! `ourvidz` binary serving the host-probe component over real HTTP, against
//! real Postgres. Needs `OURVIDZ_TEST_PG` (a superuser URL).

mod support;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use support::{client, database, now, token, Cluster, Host, HostOptions};

async fn get(url: &str) -> (u16, Value) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = client().post(url).body(body).send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

fn assert_host_error(status: u16, body: &Value, expected_status: u16, message_part: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["code"], json!(expected_status), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains(message_part)), "{body}");
}

#[tokio::test]
async fn health_reports_the_application_and_its_functions() {
    let host = Host::shared();
    let (status, body) = get(&format!("{}/health", host.url)).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["functions"], json!(["exact", "probe", "secure-probe"]));
}

#[tokio::test]
async fn wildcard_route_passes_path_info_and_spin_headers() {
    let host = Host::shared();
    let (status, body) = get(&host.function("probe/echo?x=1")).await;
    assert_eq!(status, 200, "{body}");
    let headers = &body["headers"];
    assert_eq!(headers["spin-path-info"], "/echo");
    assert_eq!(headers["spin-matched-route"], "/functions/v1/probe/...");
    assert_eq!(headers["spin-component-route"], "/functions/v1/probe");
    assert_eq!(headers["spin-full-url"], format!("{}/functions/v1/probe/echo?x=1", host.url));
    assert!(headers["spin-client-addr"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")));
    // The route itself matches its own wildcard with empty path info.
    let (status, body) = get(&host.function("probe")).await;
    assert_eq!((status, body["headers"]["spin-path-info"].clone()), (200, json!("")));
}

#[tokio::test]
async fn exact_route_matches_only_itself() {
    let host = Host::shared();
    let (status, body) = get(&format!("{}/exact", host.url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headers"]["spin-matched-route"], "/exact");
    let (status, body) = get(&format!("{}/exact/below", host.url)).await;
    assert_host_error(status, &body, 404, "not found");
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let host = Host::shared();
    let response = client().get(host.function("no-such-function")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"code": 404, "message": "Requested function was not found"}));
}

#[tokio::test]
async fn guest_sees_environment_and_resolved_variables() {
    let host = Host::shared();
    let (status, body) = get(&host.function("probe/env")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["env"], json!({"PROBE_ENV": "from-manifest"}));
    let variables = &body["variables"];
    assert_eq!(variables["greeting"]["ok"], "hello from the environment, probe-token");
    assert_eq!(variables["db_url"]["ok"], database());
    assert_eq!(variables["api_url"]["ok"], host.url);
    assert!(body["undefined"]["error"].as_str().unwrap().contains("Undefined"), "{body}");
}

#[test]
fn missing_required_variable_is_a_startup_error() {
    let options = HostOptions::new(database()).without_env("SPIN_VARIABLE_PROBE_TOKEN");
    let stderr = Host::try_start(&options).err().expect("the host must refuse to start");
    assert!(stderr.contains("SPIN_VARIABLE_PROBE_TOKEN"), "{stderr}");
}

#[tokio::test]
async fn every_postgres_value_type_round_trips() {
    let host = Host::shared();
    let (status, body) = post(&host.function("probe/pg/types"), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["inserted"], 1);
    let expected = [
        ("c_bool", "Boolean", "Boolean(true)"),
        ("c_char", "Int8", "Int8(65)"),
        ("c_int2", "Int16", "Int16(-12345)"),
        ("c_int4", "Int32", "Int32(2000000000)"),
        ("c_int8", "Int64", "Int64(-9000000000000)"),
        ("c_float4", "Floating32", "Floating32(1.5)"),
        ("c_float8", "Floating64", "Floating64(-2.25e100)"),
        ("c_text", "Str", "Str(\"héllo 'quoted' ✓\")"),
        ("c_varchar", "Str", "Str(\"varchar value\")"),
        ("c_bytea", "Binary", "Binary([0, 1, 2, 254, 255])"),
        ("c_date", "Date", "Date((2024, 2, 29))"),
        ("c_time", "Time", "Time((23, 59, 58, 123456000))"),
        ("c_timestamp", "Datetime", "Datetime((1999, 12, 31, 23, 59, 59, 500000000))"),
        ("c_timestamptz", "Datetime", "Datetime((2023, 11, 14, 22, 13, 20, 0))"),
        ("c_uuid", "Uuid", "Uuid(\"6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001\")"),
        ("c_jsonb", "Jsonb", &format!("Jsonb({:?})", br#"{"a":[1,2.5,"x"],"b":null}"#.to_vec())),
        ("c_json", "Jsonb", &format!("Jsonb({:?})", br#"{"k":true}"#.to_vec())),
        ("c_numeric", "Decimal", "Decimal(\"12345678901234567890.0123456789\")"),
        ("c_int4range", "RangeInt32", "RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((10, RangeBoundKind::Exclusive))))"),
        ("c_int8range", "RangeInt64", "RangeInt64((None, Some((5000000000, RangeBoundKind::Exclusive))))"),
        ("c_numrange", "RangeDecimal", "RangeDecimal((Some((\"1.5\", RangeBoundKind::Exclusive)), Some((\"2.25\", RangeBoundKind::Inclusive))))"),
        ("c_int4_array", "ArrayInt32", "ArrayInt32([Some(1), None, Some(-3)])"),
        ("c_int8_array", "ArrayInt64", "ArrayInt64([Some(1099511627776), None])"),
        ("c_numeric_array", "ArrayDecimal", "ArrayDecimal([Some(\"0.1\"), None, Some(\"-7\")])"),
        ("c_text_array", "ArrayStr", "ArrayStr([Some(\"a\"), None, Some(\"c,d\")])"),
        ("c_interval", "Interval", "Interval(Interval { micros: 3723000004, days: 2, months: 14 })"),
        ("c_null", "Str", "DbNull"),
    ];
    // Parameters into table columns and back, parameters straight back through
    // casts; the all-NULL row reads back as NULL in every column.
    for part in ["table", "selected"] {
        let result = &body[part];
        let columns = result["columns"].as_array().unwrap();
        let row = result["rows"][0].as_array().unwrap();
        assert_eq!(columns.len(), expected.len(), "{part}");
        for (i, (name, ty, value)) in expected.iter().enumerate() {
            assert_eq!(columns[i]["name"], *name, "{part}");
            assert_eq!(columns[i]["type"], format!("DbDataType::{ty}"), "{part} {name}");
            assert_eq!(row[i], format!("DbValue::{value}"), "{part} {name}");
        }
    }
    let nulls = body["table"]["rows"][1].as_array().unwrap();
    assert!(nulls.iter().all(|v| v == "DbValue::DbNull"), "{nulls:?}");
    let extra: Vec<&str> = body["extra"]["rows"][0].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        extra,
        [
            "DbValue::Str(\"bpchar\")",
            "DbValue::ArrayStr([Some(\"x\"), Some(\"y\")])",
            "DbValue::Datetime((2024, 1, 2, 1, 4, 5, 0))",
            "DbValue::Str(\"abc\")",
            "DbValue::Unsupported([63, 240, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0])",
            "DbValue::Decimal(\"NaN\")",
            "DbValue::RangeInt32((None, None))",
        ]
    );
    assert_eq!(body["extra"]["columns"][4]["type"], "DbDataType::Other(\"point\")");
}

#[tokio::test]
async fn postgres_errors_reach_the_guest_structured() {
    let host = Host::shared();
    let (status, body) = post(&host.function("probe/pg/error"), "").await;
    assert_eq!(status, 500, "{body}");
    let error = &body["error"];
    assert_eq!(error["kind"], "db_error");
    assert_eq!(error["code"], "22012");
    assert_eq!(error["severity"], "ERROR");
    assert_eq!(error["message"], "division by zero");
}

#[tokio::test]
async fn no_request_sees_what_an_earlier_one_left_in_guest_memory() {
    // Pooled slots keep their memory resident between instances; what the
    // last guest wrote must still be gone: every request starts from the
    // component's image, sequentially (same slot) and concurrently.
    let host = Host::shared();
    for round in 0..20 {
        let (status, body) = post(&host.function("probe/memory/swap"), format!("secret-{round}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["previous"], "", "round {round} saw an earlier request's memory: {body}");
    }
    let mut concurrent = tokio::task::JoinSet::new();
    for i in 0..16 {
        let url = host.function("probe/memory/swap");
        concurrent.spawn(async move { post(&url, format!("concurrent-{i}")).await });
    }
    while let Some(answer) = concurrent.join_next().await {
        let (status, body) = answer.expect("request task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["previous"], "", "{body}");
    }
}

#[tokio::test]
async fn postgres_to_a_host_not_allowed_is_refused() {
    let host = Host::shared();
    for address in [
        "postgresql://postgres:postgres@127.0.0.1:1/postgres".to_owned(),
        database().replace("127.0.0.1", "localhost"),
        "host=/tmp user=postgres".to_owned(),
    ] {
        let (status, body) = post(&host.function("probe/pg/open"), address.clone()).await;
        assert_eq!(status, 503, "{address}: {body}");
        assert_eq!(body["error"]["kind"], "connection_failed", "{address}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("not permitted") || message.contains("Unix sockets"), "{address}: {message}");
    }
}

#[tokio::test]
async fn outbound_http_reaches_only_allowed_hosts() {
    let host = Host::shared();
    let (status, body) = post(&host.function("probe/http"), format!("{}/health", host.url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    assert!(body["body"].as_str().unwrap().contains("\"status\":\"ok\""), "{body}");
    let port = url::Url::parse(&host.url).unwrap().port().unwrap();
    for denied in [format!("http://localhost:{port}/health"), format!("https://127.0.0.1:{port}/health"), "http://127.0.0.1:9/".to_owned()] {
        let (status, body) = post(&host.function("probe/http"), denied.clone()).await;
        assert_eq!(status, 502, "{denied}: {body}");
        assert!(body["error"].as_str().unwrap().contains("HttpRequestDenied"), "{denied}: {body}");
    }
}

#[tokio::test]
async fn verify_jwt_refuses_missing_bad_expired_and_unsigned_tokens() {
    let host = Host::shared();
    let url = host.function("secure-probe/echo");
    let user = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";
    let send = |authorization: Option<String>| {
        let url = url.clone();
        async move {
            let mut request = client().get(&url);
            if let Some(a) = authorization {
                request = request.header("authorization", a);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(None).await;
    assert_eq!((status, body), (401, json!({"code": 401, "message": "Missing authorization header"})));

    let wrong_secret = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("authenticated", Some(user), now(), 3600), b"not-the-project-secret");
    let expired = token("authenticated", Some(user), now() - 7200, 3600);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(json!({"role": "service_role", "exp": now() + 3600}).to_string());
    let unsigned = format!("{header}.{payload}.");
    let claim = |name: &str, value: Value| {
        let mut claims = ourvidz_jwt::access_token_claims("authenticated", Some(user), now(), 3600);
        claims.insert(name.into(), value);
        ourvidz_jwt::sign(&claims, support::SECRET)
    };
    let hostile = [claim("exp", json!(i64::MAX)), claim("exp", json!(1e300)), claim("nbf", json!(-1)), claim("sub", json!("not-a-uuid"))];
    let foreign_es256 = mint(&["--alg", "es256", "--user", user, "--home", scratch_home("foreign-key").to_str().unwrap()]);
    let bad_tokens = [wrong_secret, expired, unsigned, "garbage".into(), foreign_es256].into_iter().chain(hostile);
    for bad in bad_tokens.map(|token| format!("Bearer {token}")).chain(["Basic abc".into(), "Bearer".into()]) {
        let (status, body) = send(Some(bad.clone())).await;
        assert_eq!((status, body), (401, json!({"code": 401, "message": "Invalid JWT"})), "{bad}");
    }
    let (status, body) = send(Some(format!("Bearer {}", token("authenticated", Some(user), now(), 3600)))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["headers"]["authorization"].as_str().unwrap().starts_with("Bearer "), "the token reaches the function");
}

#[tokio::test]
async fn verify_jwt_off_lets_anonymous_requests_through() {
    let host = Host::shared();
    let (status, _) = get(&host.function("probe/echo")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn cors_preflight_reaches_the_function_without_a_token_and_its_answer_passes_untouched() {
    let host = Host::shared();
    // secure-probe has verify_jwt on; a browser's preflight carries no token.
    let response = client()
        .request(reqwest::Method::OPTIONS, host.function("secure-probe/echo"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().keys().all(|name| !name.as_str().starts_with("access-control-")),
        "the gateway adds no CORS headers of its own: {:?}",
        response.headers()
    );
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["method"], "OPTIONS", "the function itself answered: {echoed}");
    assert_eq!(echoed["headers"]["access-control-request-method"], "POST");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !host.logs().iter().any(|line| line.contains(&id) && line.contains("\"function\":\"secure-probe\"")) {
        assert!(Instant::now() < deadline, "no request log line naming secure-probe for {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Only OPTIONS skips the token check.
    let (status, _) = get(&host.function("secure-probe/echo")).await;
    assert_eq!(status, 401);
    // A function's answers carry what the function set, nothing more.
    let response = client().get(host.function("probe/echo")).send().await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
    // The gateway's own refusals stay readable by a browser.
    let response = client().get(host.function("secure-probe/echo")).send().await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn the_supabase_services_answer_a_browsers_preflight_and_their_answers_are_readable_cross_origin() {
    let host = Host::shared();
    let asked = "authorization, x-client-info, apikey, content-type, x-upsert";
    // Storage, Realtime and Auth get Kong's cors plugin at the gateway;
    // /rest/v1 answers as PostgREST does. A browser needs the same of each.
    for (path, method) in [
        ("/storage/v1/object/workspace-temp/a/b.png", "POST"),
        ("/storage/v1/object/sign/workspace-temp", "POST"),
        ("/storage/v1/object/workspace-temp", "DELETE"),
        ("/realtime/v1/api/broadcast", "POST"),
        ("/rest/v1/rpc/enqueue_job", "POST"),
        ("/rest/v1/probe_tx", "PATCH"),
        ("/auth/v1/.well-known/jwks.json", "GET"),
    ] {
        let response = client()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", host.url))
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", asked)
            .send()
            .await
            .unwrap();
        let what = format!("OPTIONS {path} ({method})");
        assert!(response.status().is_success(), "{what}: {}", response.status());
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_lowercase();
        assert_eq!(header("access-control-allow-origin"), "*", "{what}");
        let methods = header("access-control-allow-methods");
        assert!(methods.split(',').any(|m| m.trim() == method.to_lowercase()), "{what}: {methods}");
        let headers = header("access-control-allow-headers");
        for name in asked.split(", ") {
            assert!(headers.split(',').any(|h| h.trim() == name), "{what}: {name} not in {headers}");
        }
    }
    // Their answers themselves are readable cross-origin.
    for path in ["/storage/v1/bucket", "/auth/v1/.well-known/jwks.json", "/rest/v1/"] {
        let response = client().get(format!("{}{path}", host.url)).header("origin", "http://localhost:3000").send().await.unwrap();
        assert_eq!(response.headers()["access-control-allow-origin"], "*", "GET {path}");
    }
}

#[tokio::test]
async fn oversize_body_is_a_json_413() {
    let host = Host::shared();
    let limit = 1 << 20;
    let (status, body) = post(&host.function("probe/echo"), vec![b'x'; limit]).await;
    assert_eq!((status, body["body_len"].clone()), (200, json!(limit)));
    let (status, body) = post(&host.function("probe/echo"), vec![b'x'; limit + 1]).await;
    assert_host_error(status, &body, 413, "larger than the limit");
    // Without a content-length (chunked) the limit holds while reading.
    let (status, body) = chunked_post(&host.url, "/functions/v1/probe/echo", (1 << 20) + 4096).await;
    assert_host_error(status, &body, 413, "larger than the limit");
}

/// POST `total` bytes with `Transfer-Encoding: chunked` over a raw connection.
async fn chunked_post(base: &str, path: &str, total: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nhost: {authority}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'y'; 64 << 10];
    let mut sent = 0;
    while sent < total {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn trapping_guest_is_a_json_500() {
    let host = Host::shared();
    let response = client().get(host.function("probe/trap")).send().await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"code": 500, "message": "Function failed (please check logs)"}));
    let (status, _) = get(&host.function("probe/echo")).await;
    assert_eq!(status, 200, "the host keeps serving after a trap");
}

#[tokio::test]
async fn slow_guest_times_out_with_a_json_504() {
    let host = Host::shared();
    for route in ["probe/sleep", "probe/spin"] {
        let started = Instant::now();
        let (status, body) = post(&host.function(route), "20000").await;
        assert_host_error(status, &body, 504, "within 3000 ms");
        assert!(started.elapsed() < Duration::from_secs(10), "{route} took {:?}", started.elapsed());
    }
    let (status, body) = post(&host.function("probe/sleep"), "10").await;
    assert_eq!((status, body), (200, json!({"slept_ms": 10})));
}

#[tokio::test]
async fn request_log_line_matches_the_request_id_header() {
    let host = Host::shared();
    let response = client().get(host.function("probe/echo?log=1")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["sb-request-id"], id.as_str());
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-request-id"], id, "the function sees the request id");
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let found = host.logs().into_iter().find(|l| l.contains(&id));
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no log line for {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["function"], "probe");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/functions/v1/probe/echo");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().is_some_and(|d| d >= 0.0));
}

/// A host whose Postgres pool has one connection, shared by the tests below.
fn one_connection_host(db_url: &str) -> Host {
    Host::start(&HostOptions::new(db_url).arg("--pg-pool-size", 1).arg("--pg-pool-wait-ms", 300))
}

#[tokio::test]
async fn pooled_connection_is_reset_between_requests() {
    let host = one_connection_host(database());
    let count = || async {
        let (status, body) = post(&host.function("probe/pg/tx/count"), "").await;
        assert_eq!(status, 200, "{body}");
        body["rows"][0][0].as_str().unwrap().to_owned()
    };
    let before = count().await;
    // A transaction left open by one request is rolled back, not inherited.
    let (status, body) = post(&host.function("probe/pg/tx/leave-open"), "").await;
    assert_eq!((status, body["inserted"].clone()), (200, json!(1)));
    assert_eq!(count().await, before);
    // BEGIN ... COMMIT across several calls of one request commits.
    let (status, body) = post(&host.function("probe/pg/tx/commit"), "").await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(count().await, before);
    // Session settings do not leak to the next request on the same connection,
    // whether its first statement waits for the reset or goes out with it (BEGIN).
    for reader in ["probe/pg/session/get", "probe/pg/session/get-in-tx"] {
        let (status, _) = post(&host.function("probe/pg/session/set"), "").await;
        assert_eq!(status, 200);
        let (status, body) = post(&host.function(reader), "").await;
        assert_eq!((status, body["rows"][0][0].clone()), (200, json!("DbValue::Str(\"\")")), "{reader}");
    }
}

#[tokio::test]
async fn a_plain_begin_reaches_the_server_with_the_next_statement() {
    // Every API call starts with BEGIN: it costs no round trip of its own. The
    // transaction starts (now()) when the statement after it arrives, not
    // when the guest ran BEGIN, 400 ms before.
    let host = one_connection_host(database());
    let (status, body) = post(&host.function("probe/pg/tx/begin-wait"), "400").await;
    assert_eq!(status, 200, "{body}");
    let shown = body["rows"][0][0].as_str().unwrap();
    let running: u64 = shown.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap();
    assert!(running < 200, "the transaction had run {running} ms: BEGIN went out on its own ({shown})");
    // A BEGIN nothing follows never reaches the server: the pool's one
    // session serves the next request outside any block.
    let (status, body) = post(&host.function("probe/pg/tx/begin-only"), "").await;
    assert_eq!((status, body["rows"].clone()), (200, json!(0)), "{body}");
    let (status, body) = post(&host.function("probe/pg/tx/in-block"), "").await;
    assert_eq!((status, body["rows"][0][0].clone()), (200, json!("DbValue::Str(\"false\")")), "{body}");
    // and BEGIN ... COMMIT with nothing between commits nothing, harmlessly
    let (status, body) = post(&host.function("probe/pg/tx/begin-wait"), "0").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_used_session_goes_straight_back_to_the_pool() {
    // The pool hands out the session returned last, and a used session is
    // returned as its lease ends, its reset owed to the next guest: even
    // after a request whose reset is slow (200 temp tables to discard), the
    // next request runs on the same, hot server session.
    let host = Host::start(&HostOptions::new(database()));
    let pid = |body: &Value| body["rows"][0][0].clone();
    for _ in 0..3 {
        let (status, used) = post(&host.function("probe/pg/session/temp-tables"), "").await;
        assert_eq!(status, 200, "{used}");
        let (status, next) = post(&host.function("probe/pg/hold"), "0").await;
        assert_eq!(status, 200, "{next}");
        assert_eq!(pid(&used), pid(&next["before"]), "{used} then {next}");
    }
}

#[tokio::test]
async fn pool_exhaustion_fails_cleanly_then_recovers() {
    let host = one_connection_host(database());
    let url = host.function("probe/pg/hold");
    let holds: Vec<_> = (0..4).map(|_| tokio::spawn(post_owned(url.clone(), "1500"))).collect();
    let mut outcomes = Vec::new();
    for hold in holds {
        outcomes.push(hold.await.unwrap());
    }
    let served = outcomes.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = outcomes.iter().filter(|(s, _)| *s == 503).collect();
    assert_eq!(served, 1, "{outcomes:?}");
    assert_eq!(refused.len(), 3, "{outcomes:?}");
    for (_, body) in refused {
        assert_eq!(body["error"]["kind"], "connection_failed");
        assert!(body["error"]["message"].as_str().unwrap().contains("pool exhausted"), "{body}");
    }
    let (status, body) = post(&url, "0").await;
    assert_eq!(status, 200, "the pool serves again: {body}");
}

async fn post_owned(url: String, body: &'static str) -> (u16, Value) {
    post(&url, body).await
}

#[tokio::test]
async fn database_restart_fails_cleanly_then_recovers_without_a_host_restart() {
    let cluster = Cluster::start();
    let host = Host::start(&HostOptions::new(&cluster.url()).arg("--pg-pool-wait-ms", 1000));
    let (status, body) = post(&host.function("probe/pg/hold"), "0").await;
    assert_eq!(status, 200, "{body}");
    cluster.stop();
    let (status, body) = post(&host.function("probe/pg/hold"), "0").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["kind"], "connection_failed");
    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = post(&host.function("probe/pg/hold"), "0").await;
        if status == 200 {
            break;
        }
        // Connections of the pool that died with the server are an outage
        // to the guest (connection-failed), never a query error.
        assert_eq!((status, &body["error"]["kind"]), (503, &json!("connection_failed")), "{body}");
        assert!(Instant::now() < deadline, "no recovery: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_session_the_server_ends_mid_request_is_connection_failed_and_never_reused() {
    let cluster = Cluster::start();
    let host = Host::start(&HostOptions::new(&cluster.url()).arg("--pg-pool-size", 1));
    let held = tokio::spawn(post_owned(host.function("probe/pg/hold"), "4000"));
    // The probe's session runs `select pg_backend_pid()`, then sleeps holding
    // the pool's one connection: end that session from outside.
    let admin = cluster.url();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ended = support::query_scalar(
            &admin,
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where query = 'select pg_backend_pid()' and pid <> pg_backend_pid()",
        );
        if ended == "1" {
            break;
        }
        assert!(!held.is_finished() && Instant::now() < deadline, "the probe's session was never seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = held.await.unwrap();
    assert_eq!((status, &body["error"]["kind"]), (503, &json!("connection_failed")), "{body}");
    // The pool's one connection was that session: the next request gets a
    // new one at once instead of the dead one.
    let (status, body) = post(&host.function("probe/pg/hold"), "0").await;
    assert_eq!(status, 200, "{body}");
}

/// On a host with one instance, start `probe/sleep` for `ms` and return once
/// it is in flight: the echo route answers 503 because the only instance is
/// taken. An echo probe can take that instance before the sleep reaches the
/// host, and the sleep is then refused with the same 503: it is started again.
async fn sleep_in_flight(host: &Host, ms: &'static str) -> tokio::task::JoinHandle<(u16, Value)> {
    let start = || tokio::spawn(post_owned(host.function("probe/sleep"), ms));
    let mut slow = start();
    let mut refused = 0;
    loop {
        let (status, body) = post(&host.function("probe/echo"), "").await;
        if status == 503 {
            assert_host_error(status, &body, 503, "could not be started");
            return slow;
        }
        assert_eq!(status, 200, "{body}");
        if slow.is_finished() {
            let (status, body) = slow.await.unwrap();
            // Anything but a refusal means the sleep ran without ever being
            // seen in flight.
            assert_host_error(status, &body, 503, "could not be started");
            refused += 1;
            assert!(refused < 20, "the sleep was refused {refused} times");
            slow = start();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn instance_limit_is_a_json_503_then_recovers() {
    let host = Host::start(&HostOptions::new(database()).arg("--max-instances", 1));
    let slow = sleep_in_flight(&host, "3000").await;
    assert_eq!(slow.await.unwrap().0, 200);
    let (status, _) = post(&host.function("probe/echo"), "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let host = Host::start(&HostOptions::new(database()).arg("--max-instances", 1));
    let url = host.url.clone();
    let home = host.home.clone();
    assert!(home.join("runtime.json").is_file(), "up writes its state file");
    let in_flight = sleep_in_flight(&host, "3000").await;
    let exit = tokio::task::spawn_blocking(move || host.stop()).await.unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(in_flight.await.unwrap(), (200, json!({"slept_ms": 3000})));
    assert!(client().get(format!("{url}/health")).send().await.is_err(), "no longer accepting");
    assert!(!home.join("runtime.json").exists(), "state file removed");
}

/// `ourvidz token <args>` (with the default secret): the token it prints.
fn mint(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ourvidz"))
        .arg("token")
        .args(args)
        .env_remove("OURVIDZ_JWT_SECRET")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A fresh directory to use as a stack's home.
fn scratch_home(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ourvidz-runtime-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn token_command_mints_tokens_the_gateway_accepts() {
    let user = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";
    let secret = ourvidz_jwt::Verifier::hs256(support::SECRET);
    let claims = secret.verify(&mint(&["--user", user, "--ttl", "600"]), now()).unwrap();
    assert_eq!((claims.role.as_str(), claims.sub.as_deref()), ("authenticated", Some(user)));
    assert!(claims.exp.unwrap() <= now() + 600);
    let token = mint(&["--role", "service_role", "--jwt-secret", "another-secret-of-at-least-32-characters"]);
    let claims = ourvidz_jwt::Verifier::hs256(b"another-secret-of-at-least-32-characters").verify(&token, now()).unwrap();
    assert_eq!(claims.role, "service_role");
    let home = scratch_home("token-es256");
    let es256 = mint(&["--alg", "es256", "--user", user, "--home", home.to_str().unwrap()]);
    assert!(secret.verify(&es256, now()).is_err(), "an ES256 token needs the JWKS");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_ourvidz")).args(["token"]).output().unwrap();
    assert!(!refused.status.success(), "authenticated tokens need --user");
}

#[tokio::test]
async fn storage_api_is_mounted_under_storage_v1() {
    let host = Host::shared();
    let response = client()
        .get(format!("{}/storage/v1/object/authenticated/workspace-temp/nobody/missing.png", host.url))
        .bearer_auth(token("authenticated", Some("6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001"), now(), 600))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let body: Value = response.json().await.expect("Storage answers JSON");
    assert!(body.get("statusCode").is_some() && body.get("message").is_some(), "{body}");
}

#[tokio::test]
async fn the_stacks_jwks_verifies_its_es256_tokens_at_the_gateway() {
    let host = Host::shared();
    let response = client().get(format!("{}/auth/v1/.well-known/jwks.json", host.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let jwks = response.text().await.unwrap();
    let document: Value = serde_json::from_str(&jwks).unwrap();
    assert_eq!(document["keys"][0]["alg"], "ES256");
    assert!(document["keys"][0].get("d").is_none(), "{document}");

    let user = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";
    let token = mint(&["--alg", "es256", "--user", user, "--home", host.home.to_str().unwrap()]);
    let verifier = ourvidz_jwt::Verifier::hs256(support::SECRET).with_jwks(&jwks).unwrap();
    assert_eq!(verifier.verify(&token, now()).unwrap().sub.as_deref(), Some(user));
    let response = client().get(host.function("secure-probe/echo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_body_trickling_past_the_request_timeout_is_a_json_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = Host::shared();
    let address = url::Url::parse(&host.url).unwrap();
    let mut stream = tokio::net::TcpStream::connect((address.host_str().unwrap(), address.port().unwrap())).await.unwrap();
    let head = "POST /functions/v1/probe/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte a second: the body never completes within the 3 s timeout.
    let trickle = async {
        for _ in 0..20 {
            if stream.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":408"#) && answer.contains("not received within 3000 ms"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(15));
}
