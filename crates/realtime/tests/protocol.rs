//! The socket protocol as realtime-js meets it: connect, heartbeat, join
//! refusals with supabase/realtime's texts, leave, token refresh and expiry,
//! broadcast in both serializers and over HTTP, and the bounds on a slow
//! client. Every bad input gets an answer; none brings the connection down.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use ourvidz_realtime::Limits;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn heartbeat_on_phoenix_topic_is_answered_ok() {
    let stack = start().await;
    let mut client = stack.client().await;
    let reference = client.send(None, "phoenix", "heartbeat", json!({})).await;
    let reply = client.reply_to(&reference).await;
    assert_eq!((reply.topic.as_str(), &reply.payload), ("phoenix", &json!({"status": "ok", "response": {}})));
}

#[tokio::test]
async fn connect_without_a_valid_apikey_is_refused_with_json_401() {
    let stack = start().await;
    let http = reqwest::Client::new();
    let url = |query: &str| stack.ws_url(query).replace("ws://", "http://");
    for (query, message) in [
        ("vsn=2.0.0", "API key is missing"),
        ("vsn=2.0.0&apikey=garbage", "The token provided is not a valid JWT"),
        (&format!("vsn=2.0.0&apikey={}", token_for("anon", None, -3600)), "Token has expired"),
    ] {
        let response = http.get(url(query)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{query}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"error": message}), "{query}");
    }
    let forged = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("anon", None, now(), 3600), b"some-other-secret-of-at-least-32-chars!!");
    let response = http.get(url(&format!("apikey={forged}"))).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = http.get(url(&format!("apikey={}&vsn=3.0.0", anon_key()))).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let response = http.get(url(&format!("apikey={}", anon_key()))).send().await.unwrap();
    assert!(response.status().is_client_error(), "a plain GET is not an upgrade: {}", response.status());
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
}

#[tokio::test]
async fn topic_outside_realtime_namespace_is_an_unmatched_topic() {
    let stack = start().await;
    let mut client = stack.client().await;
    let reply = client.join("rooms:lobby", json!({"config": {}})).await;
    assert_eq!(reply.payload, json!({"status": "error", "response": {"reason": "unmatched topic"}}));
    let reference = client.send(None, "realtime:never-joined", "broadcast", json!({"type": "broadcast", "event": "x", "payload": {}})).await;
    let reply = client.reply_to(&reference).await;
    assert_eq!(reply.payload["response"]["reason"], "unmatched topic");
}

#[tokio::test]
async fn empty_topic_name_is_refused() {
    let stack = start().await;
    let mut client = stack.client().await;
    let reply = client.join("realtime:", json!({"config": {}})).await;
    assert_eq!(reply.payload["status"], "error");
    assert_eq!(reply.payload["response"]["reason"], "TopicNameRequired: You must provide a topic name");
}

#[tokio::test]
async fn join_with_expired_or_forged_token_is_refused_with_realtimes_reason() {
    let stack = start().await;
    let mut client = stack.client().await;
    let user = user();
    let expired = token_for("authenticated", Some(&user.id), -120);
    let reply = client.join("realtime:a", json!({"config": {}, "access_token": expired})).await;
    assert_eq!(reply.payload["status"], "error");
    assert_eq!(reply.payload["response"]["reason"], "InvalidJWTToken: Token has expired");
    let just_expired = token_for("authenticated", Some(&user.id), -5);
    let reply = client.join("realtime:b", json!({"config": {}, "access_token": just_expired})).await;
    let reason = reply.payload["response"]["reason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("InvalidJWTToken: Token has expired ") && reason.ends_with(" seconds ago"), "{reason}");
    let forged =
        ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("authenticated", Some(&user.id), now(), 3600), b"not-the-project-secret-but-long-enough");
    let reply = client.join("realtime:c", json!({"config": {}, "access_token": forged})).await;
    assert_eq!(reply.payload["response"]["reason"], "JwtSignatureError: Failed to validate JWT signature");
    let reply = client.join("realtime:d", json!({"config": {}, "access_token": "not.a.jwt"})).await;
    assert_eq!(reply.payload["response"]["reason"], "MalformedJWT: The token provided is not a valid JWT");
    // The connection is still good.
    let reply = client.join("realtime:e", json!({"config": {}, "access_token": user.token})).await;
    assert_eq!(reply.payload["status"], "ok");
}

#[tokio::test]
async fn private_channel_is_refused_without_policies() {
    let stack = start().await;
    let mut client = stack.client().await;
    let reply = client.join("realtime:room", json!({"config": {"private": true}, "access_token": user().token})).await;
    assert_eq!(
        reply.payload["response"]["reason"],
        "Unauthorized: You do not have permissions to read from this Channel topic: room"
    );
}

#[tokio::test]
async fn join_reply_lists_bindings_with_ids_and_a_system_message_confirms() {
    let stack = start().await;
    let mut client = stack.client().await;
    let user = user();
    let bindings = json!([
        {"event": "*", "schema": "public", "table": "notes", "filter": format!("user_id=eq.{}", user.id)},
        {"event": "INSERT", "schema": "public", "table": "notes"}
    ]);
    let (reply, join_ref) = client.subscribe("realtime:ws", &user.token, bindings.clone()).await;
    let listed = reply.payload["response"]["postgres_changes"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    for (listed, asked) in listed.iter().zip(bindings.as_array().unwrap()) {
        assert!(listed["id"].is_u64(), "{listed}");
        for key in ["event", "schema", "table"] {
            assert_eq!(listed[key], asked[key]);
        }
    }
    assert_ne!(listed[0]["id"], listed[1]["id"]);
    assert_eq!(reply.join_ref, json!(join_ref));
}

async fn system_error_for(bindings: Value) -> String {
    let stack = start().await;
    let mut client = stack.client().await;
    let reply = client.join("realtime:bad", json!({"config": {"postgres_changes": bindings}, "access_token": user().token})).await;
    assert_eq!(reply.payload["status"], "ok", "the channel joins; the subscription fails: {reply:?}");
    let system = client.next_event("realtime:bad", "system").await;
    assert_eq!((system.payload["extension"].as_str(), system.payload["status"].as_str()), (Some("postgres_changes"), Some("error")));
    assert_eq!(system.payload["channel"], "bad");
    system.payload["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_filter_gives_a_postgres_changes_error() {
    let message = system_error_for(json!([{"event": "*", "schema": "public", "table": "notes", "filter": "body=like.x"}])).await;
    assert_eq!(message, r#"Error parsing `filter` params: ["like", "x"]"#);
    let message = system_error_for(json!([{"event": "*", "schema": "public", "table": "notes", "filter": "nope=eq.1"}])).await;
    assert!(message.ends_with("Exception: invalid column for filter nope"), "{message}");
    let message = system_error_for(json!([{"event": "*", "schema": "public", "table": "notes", "filter": "n=eq.many"}])).await;
    assert!(message.contains("invalid input syntax for type integer"), "{message}");
    let message = system_error_for(json!([{"event": "*", "schema": "public", "table": "notes", "filter": "secret=eq.x"}])).await;
    assert!(message.ends_with("Exception: invalid column for filter secret"), "a column the role cannot read: {message}");
}

#[tokio::test]
async fn unknown_or_unpublished_table_gives_a_postgres_changes_error() {
    for table in ["nope", "unpublished"] {
        let message = system_error_for(json!([{"event": "*", "schema": "public", "table": table}])).await;
        assert_eq!(
            message,
            format!("Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: *, schema: public, table: {table}, filters: []]")
        );
    }
    let message = system_error_for(json!([{"event": "*"}])).await;
    assert!(message.starts_with("No subscription params provided."), "{message}");
}

#[tokio::test]
async fn with_wait_a_failed_subscription_refuses_the_join() {
    let stack = start().await;
    let mut client = stack.client().await;
    let payload = json!({
        "config": {"postgres_changes": [{"event": "*", "schema": "public", "table": "nope"}], "postgres_changes_options": {"wait": true}},
        "access_token": user().token,
    });
    let reply = client.join("realtime:bad", payload).await;
    assert_eq!(reply.payload["status"], "error");
    assert!(reply.payload["response"]["reason"].as_str().unwrap().starts_with("Unable to subscribe to changes"));
}

#[tokio::test]
async fn garbage_frames_are_ignored_and_the_connection_stays_up() {
    let stack = start().await;
    let mut client = stack.client().await;
    for frame in [
        Message::Text("not json".into()),
        Message::Text("[1,2]".into()),
        Message::Text(r#"{"topic":"phoenix"}"#.into()),
        Message::Binary(vec![3, 200, 200, 200].into()),
        Message::Binary(vec![].into()),
    ] {
        client.send_raw(frame).await;
    }
    let reference = client.send(None, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(client.reply_to(&reference).await.payload["status"], "ok");
}

#[tokio::test]
async fn leave_replies_ok_then_closes_the_channel() {
    let stack = start().await;
    let mut client = stack.client().await;
    let user = user();
    let (_, join_ref) = client.subscribe("realtime:room", &user.token, json!([])).await;
    let reference = client.send(Some(&join_ref), "realtime:room", "phx_leave", json!({})).await;
    let reply = client.reply_to(&reference).await;
    assert_eq!(reply.payload, json!({"status": "ok", "response": {}}));
    let close = client.next_event("realtime:room", "phx_close").await;
    assert_eq!((close.join_ref, close.reference), (json!(join_ref), json!(join_ref)));
    // Left: a broadcast there is now an unmatched topic.
    let reference = client.send(Some(&join_ref), "realtime:room", "broadcast", json!({"type": "broadcast", "event": "e", "payload": {}})).await;
    assert_eq!(client.reply_to(&reference).await.payload["response"]["reason"], "unmatched topic");
}

#[tokio::test]
async fn token_refresh_keeps_the_channel_and_a_bad_one_closes_it() {
    let stack = start().await;
    let mut client = stack.client().await;
    let user = user();
    let (_, join_ref) = client.subscribe("realtime:room", &user.token, json!([])).await;
    let fresh = token_for("authenticated", Some(&user.id), 7200);
    client.send(Some(&join_ref), "realtime:room", "access_token", json!({"access_token": fresh})).await;
    let reference = client.send(None, "phoenix", "heartbeat", json!({})).await;
    let frame = client.next().await;
    assert_eq!((frame.event.as_str(), frame.reference), ("phx_reply", json!(reference)), "nothing but the heartbeat reply");

    let expired = token_for("authenticated", Some(&user.id), -60);
    client.send(Some(&join_ref), "realtime:room", "access_token", json!({"access_token": expired})).await;
    let system = client.next_event("realtime:room", "system").await;
    assert_eq!(system.payload, json!({"extension": "system", "status": "error", "message": "Token has expired", "channel": "room"}));
    let close = client.next().await;
    assert_eq!((close.event.as_str(), close.join_ref), ("phx_close", json!(join_ref)));
}

#[tokio::test]
async fn channel_closes_when_its_token_expires() {
    let stack = start().await;
    let mut client = stack.client().await;
    let user = user();
    let short = token_for("authenticated", Some(&user.id), 2);
    let (_, join_ref) = client.subscribe("realtime:room", &short, json!([])).await;
    let system = client.next_event("realtime:room", "system").await;
    let message = system.payload["message"].as_str().unwrap();
    assert!(message.starts_with("Token has expired ") && message.ends_with(" seconds ago"), "{message}");
    assert_eq!(client.next().await.event, "phx_close");
    let _ = join_ref;
}

#[tokio::test]
async fn broadcast_reaches_the_other_members_and_self_only_when_asked() {
    let stack = start().await;
    let (mut a, mut b, mut v1) = (stack.client().await, stack.client().await, stack.client_vsn("1.0.0").await);
    let join = |own: bool, ack: bool| json!({"config": {"broadcast": {"self": own, "ack": ack}}, "access_token": user().token});
    let a_ref = a.join("realtime:room", join(false, true)).await.join_ref.as_str().unwrap().to_owned();
    b.join("realtime:room", join(true, false)).await;
    v1.join("realtime:room", join(false, false)).await;

    let sent = a.send(Some(&a_ref), "realtime:room", "broadcast", json!({"type": "broadcast", "event": "progress", "payload": {"pct": 40}})).await;
    assert_eq!(a.reply_to(&sent).await.payload["status"], "ok", "ack requested");
    for client in [&mut b, &mut v1] {
        let frame = client.next_event("realtime:room", "broadcast").await;
        assert_eq!(frame.payload, json!({"type": "broadcast", "event": "progress", "payload": {"pct": 40}}));
        assert_eq!(frame.join_ref, Value::Null);
    }
    assert!(a.silent_for(Duration::from_millis(300)).await.is_none(), "the sender does not get its own broadcast");
}

#[tokio::test]
async fn binary_user_broadcast_is_relayed_as_realtime_js_reads_it() {
    let stack = start().await;
    let (mut a, mut b, mut v1) = (stack.client().await, stack.client().await, stack.client_vsn("1.0.0").await);
    let join = json!({"config": {"broadcast": {"self": false}}, "access_token": user().token});
    a.join("realtime:room", join.clone()).await;
    b.join("realtime:room", join.clone()).await;
    v1.join("realtime:room", join).await;
    // realtime-js' user_broadcast_push: kind 3, sizes, JSON encoding, then the fields.
    let (topic, event, body) = ("realtime:room", "progress", br#"{"pct":90}"#);
    let mut frame = vec![3, 1, 1, topic.len() as u8, event.len() as u8, 0, 1];
    frame.extend_from_slice(b"1");
    frame.extend_from_slice(b"9");
    frame.extend_from_slice(topic.as_bytes());
    frame.extend_from_slice(event.as_bytes());
    frame.extend_from_slice(body);
    a.send_raw(Message::Binary(frame.into())).await;

    let received = loop {
        match tokio::time::timeout(WAIT, b.ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Binary(bytes) => break bytes,
            _ => continue,
        }
    };
    assert_eq!(&received[..5], &[4, topic.len() as u8, event.len() as u8, 0, 1]);
    assert_eq!(&received[5..5 + topic.len()], topic.as_bytes());
    assert_eq!(&received[5 + topic.len() + event.len()..], body);
    let frame = v1.next_event("realtime:room", "broadcast").await;
    assert_eq!(frame.payload, json!({"type": "broadcast", "event": "progress", "payload": {"pct": 90}}));
}

#[tokio::test]
async fn http_broadcast_reaches_socket_members() {
    let stack = start().await;
    let mut client = stack.client().await;
    client.join("realtime:jobs", json!({"config": {}, "access_token": user().token})).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/realtime/v1/api/broadcast", stack.addr);
    let body = json!({"messages": [{"topic": "jobs", "event": "progress", "payload": {"pct": 10}, "private": false}]});
    let response = http.post(&url).header("apikey", anon_key()).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let frame = client.next_event("realtime:jobs", "broadcast").await;
    assert_eq!(frame.payload, json!({"type": "broadcast", "event": "progress", "payload": {"pct": 10}}));

    let response = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = http.post(&url).header("apikey", anon_key()).body("{").send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    // other methods and paths are JSON refusals too
    for (method, path, status) in [("GET", "api/broadcast", 405), ("DELETE", "api/broadcast", 405), ("GET", "api/nothing", 404)] {
        let url = format!("http://{}/realtime/v1/{path}", stack.addr);
        let response = http.request(method.parse().unwrap(), &url).header("apikey", anon_key()).send().await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert!(response.json::<Value>().await.unwrap()["error"].is_string(), "{method} {path}");
    }
}

#[tokio::test]
async fn slow_consumer_is_disconnected_instead_of_buffered() {
    let limits = Limits { max_queued_bytes: 256 * 1024, ..Limits::default() };
    let stack = start_with(limits).await;
    let (mut slow, mut sender) = (stack.client().await, stack.client().await);
    let join = json!({"config": {}, "access_token": user().token});
    slow.join("realtime:flood", join.clone()).await;
    sender.join("realtime:flood", join).await;
    // Far more than the queue bound plus what the sockets' buffers absorb.
    let chunk = "x".repeat(64 * 1024);
    for _ in 0..800 {
        sender.send(None, "realtime:flood", "broadcast", json!({"type": "broadcast", "event": "e", "payload": {"data": chunk}})).await;
    }
    let close = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match slow.ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the slow client is closed");
    assert_eq!(close, Some(1008));
    // The sender is unaffected.
    let reference = sender.send(None, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(sender.reply_to(&reference).await.payload["status"], "ok");
}
