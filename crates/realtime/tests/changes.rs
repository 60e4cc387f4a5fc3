//! postgres_changes end to end: rows written in the database reach exactly
//! the subscribers whose role and claims may select them (RLS and column
//! privileges, checked by Postgres), in Realtime's payload shape, narrowed by
//! event and filter; deletes carry the old row only to those who could see it;
//! the slot goes away with the service.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const TOPIC: &str = "realtime:notes";

fn all_notes() -> Value {
    json!([{"event": "*", "schema": "public", "table": "notes"}])
}

async fn insert(stack: &Stack, user_id: &str, body: &str, n: i32) -> String {
    let row = stack
        .db()
        .await
        .query_one(
            "insert into notes (user_id, body, n, secret) values ($1::text::uuid, $2, $3, 'hidden') returning id::text",
            &[&user_id, &body, &n],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn insert_reaches_its_owner_in_realtimes_shape() {
    let stack = start().await;
    let user = user();
    let mut client = stack.client().await;
    let (reply, _) = client.subscribe(TOPIC, &user.token, all_notes()).await;
    let binding = reply.payload["response"]["postgres_changes"][0]["id"].clone();

    let id = insert(&stack, &user.id, "hello", 1).await;
    let event = client.change(TOPIC).await;
    assert_eq!(event["ids"], json!([binding]));
    let data = &event["data"];
    assert_eq!((data["schema"].as_str(), data["table"].as_str(), data["type"].as_str()), (Some("public"), Some("notes"), Some("INSERT")));
    assert_eq!(data["record"], json!({"id": id, "user_id": user.id, "body": "hello", "n": 1}), "no `secret`: not granted");
    assert_eq!(data["errors"], Value::Null);
    assert!(data.get("old_record").is_none());
    let columns: Vec<&str> = data["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["id", "user_id", "body", "n"]);
    assert_eq!(data["columns"][3], json!({"name": "n", "type": "int4"}));
    let stamp = data["commit_timestamp"].as_str().unwrap();
    assert!(stamp.len() == 24 && stamp.ends_with('Z') && stamp.contains('T'), "{stamp}");
}

#[tokio::test]
async fn another_users_rows_never_reach_a_subscriber() {
    let stack = start().await;
    let (alice, bob) = (user(), user());
    let mut watcher = stack.client().await;
    watcher.subscribe(TOPIC, &bob.token, all_notes()).await;

    let id = insert(&stack, &alice.id, "alice's", 1).await;
    let db = stack.db().await;
    db.execute("update notes set body = 'changed' where id = $1::text::uuid", &[&id]).await.unwrap();
    db.execute("delete from notes where id = $1::text::uuid", &[&id]).await.unwrap();
    insert(&stack, &bob.id, "bob's", 2).await;

    // Changes arrive in commit order, so the first one bob gets must be his own.
    let event = watcher.change(TOPIC).await;
    assert_eq!((event["data"]["type"].as_str(), event["data"]["record"]["body"].as_str()), (Some("INSERT"), Some("bob's")));
}

#[tokio::test]
async fn service_role_sees_every_row() {
    let stack = start().await;
    let owner = user();
    let mut service = stack.client().await;
    service.subscribe(TOPIC, &token_for("service_role", None, 3600), all_notes()).await;
    insert(&stack, &owner.id, "anyone's", 1).await;
    let event = service.change(TOPIC).await;
    assert_eq!(event["data"]["record"]["secret"], "hidden", "service_role may read every column");
}

#[tokio::test]
async fn events_and_filters_narrow_what_a_binding_receives() {
    let stack = start().await;
    let user = user();
    let mut client = stack.client().await;
    let bindings = json!([
        {"event": "UPDATE", "schema": "public", "table": "notes", "filter": "n=gt.5"},
        {"event": "*", "schema": "public", "table": "notes", "filter": "body=in.(wanted,\"also wanted\")"},
    ]);
    let (reply, _) = client.subscribe(TOPIC, &user.token, bindings).await;
    let (update_gt5, wanted) = (reply.payload["response"]["postgres_changes"][0]["id"].clone(), reply.payload["response"]["postgres_changes"][1]["id"].clone());

    let db = stack.db().await;
    let id = insert(&stack, &user.id, "other", 9).await; // INSERT with n > 5: not an UPDATE, body not wanted
    db.execute("update notes set n = 3 where id = $1::text::uuid", &[&id]).await.unwrap(); // n not > 5
    db.execute("update notes set n = 7 where id = $1::text::uuid", &[&id]).await.unwrap(); // matches the first
    insert(&stack, &user.id, "also wanted", 1).await; // matches the second

    let first = client.change(TOPIC).await;
    assert_eq!(first["ids"], json!([update_gt5]));
    assert_eq!((first["data"]["record"]["n"].as_i64(), first["data"]["old_record"]["n"].as_i64()), (Some(7), Some(3)));
    let second = client.change(TOPIC).await;
    assert_eq!(second["ids"], json!([wanted]));
    assert_eq!(second["data"]["record"]["body"], "also wanted");
}

#[tokio::test]
async fn delete_reaches_only_those_who_could_see_the_old_row_with_its_readable_columns() {
    let stack = start().await;
    let (owner, other) = (user(), user());
    let (mut mine, mut theirs) = (stack.client().await, stack.client().await);
    mine.subscribe(TOPIC, &owner.token, json!([{"event": "DELETE", "schema": "public", "table": "notes"}])).await;
    theirs.subscribe(TOPIC, &other.token, json!([{"event": "DELETE", "schema": "public", "table": "notes"}])).await;

    let id = insert(&stack, &owner.id, "doomed", 4).await;
    stack.db().await.execute("delete from notes where id = $1::text::uuid", &[&id]).await.unwrap();
    let event = mine.change(TOPIC).await;
    assert_eq!(event["data"]["type"], "DELETE");
    assert_eq!(event["data"]["old_record"], json!({"id": id, "user_id": owner.id, "body": "doomed", "n": 4}));
    assert!(event["data"].get("record").is_none());
    assert!(theirs.silent_for(Duration::from_millis(500)).await.is_none(), "the other user learns nothing of the delete");
}

#[tokio::test]
async fn version_1_clients_receive_changes_too() {
    let stack = start().await;
    let user = user();
    let mut client = stack.client_vsn("1.0.0").await;
    let reference = client.send(None, TOPIC, "phx_join", json!({"config": {"postgres_changes": all_notes()}, "access_token": user.token})).await;
    assert_eq!(client.reply_to(&reference).await.payload["status"], "ok");
    assert_eq!(client.next_event(TOPIC, "system").await.payload["status"], "ok");
    insert(&stack, &user.id, "v1", 1).await;
    assert_eq!(client.change(TOPIC).await["data"]["record"]["body"], "v1");
}

#[tokio::test]
async fn refreshed_token_of_another_user_switches_what_the_channel_sees() {
    let stack = start().await;
    let (first, second) = (user(), user());
    let mut client = stack.client().await;
    let (_, join_ref) = client.subscribe(TOPIC, &first.token, all_notes()).await;
    client.send(Some(&join_ref), TOPIC, "access_token", json!({"access_token": second.token})).await;
    // The refresh is handled before the next frame from the same socket.
    let reference = client.send(None, "phoenix", "heartbeat", json!({})).await;
    client.reply_to(&reference).await;
    insert(&stack, &first.id, "first's", 1).await;
    insert(&stack, &second.id, "second's", 2).await;
    assert_eq!(client.change(TOPIC).await["data"]["record"]["body"], "second's");
}

#[tokio::test]
async fn left_channel_receives_no_more_changes() {
    let stack = start().await;
    let user = user();
    let mut client = stack.client().await;
    let (_, join_ref) = client.subscribe(TOPIC, &user.token, all_notes()).await;
    client.subscribe("realtime:other", &user.token, all_notes()).await;
    client.send(Some(&join_ref), TOPIC, "phx_leave", json!({})).await;
    client.next_event(TOPIC, "phx_close").await;
    insert(&stack, &user.id, "after leave", 1).await;
    let frame = client.next_event("realtime:other", "postgres_changes").await;
    assert_eq!(frame.payload["data"]["record"]["body"], "after leave");
    assert!(client.silent_for(Duration::from_millis(300)).await.is_none(), "nothing on the left topic");
}

#[tokio::test]
async fn the_slot_goes_away_with_the_service() {
    let mut stack = start().await;
    let slots = |db: tokio_postgres::Client, slot: String| async move {
        db.query_one("select count(*) from pg_replication_slots where slot_name = $1", &[&slot]).await.unwrap().get::<_, i64>(0)
    };
    // (a transaction another test holds open may delay the slot a little)
    let mut held = false;
    for _ in 0..200 {
        if slots(stack.db().await, stack.slot.clone()).await == 1 {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "the service holds its slot");
    stack.stop().await;
    let mut gone = false;
    for _ in 0..100 {
        if slots(stack.db().await, stack.slot.clone()).await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "a temporary slot is dropped when its session ends");
}

#[tokio::test]
async fn stopping_the_service_closes_sockets_so_clients_reconnect() {
    let mut stack = start().await;
    let mut client = stack.client().await;
    client.subscribe(TOPIC, &user().token, json!([])).await;
    stack.stop().await;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let code = loop {
        match tokio::time::timeout(WAIT, client.ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            _ => break None,
        }
    };
    assert_eq!(code, Some(1001), "going away: realtime-js reconnects on anything but 1000");
}

#[tokio::test]
async fn reader_takes_a_new_slot_when_its_session_dies() {
    let stack = start().await;
    let user = user();
    let mut client = stack.client().await;
    client.subscribe(TOPIC, &user.token, all_notes()).await;
    let db = stack.db().await;
    let holder = "select active_pid from pg_replication_slots where slot_name = $1";
    let reader = || async {
        db.query_opt(holder, &[&stack.slot]).await.unwrap().and_then(|row| row.get::<_, Option<i32>>(0))
    };
    let killed = reader().await.expect("the slot is held");
    db.execute("select pg_terminate_backend($1)", &[&killed]).await.unwrap();
    let mut replaced = false;
    for _ in 0..200 {
        if reader().await.is_some_and(|pid| pid != killed) {
            replaced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(replaced, "a new session holds the slot");
    insert(&stack, &user.id, "after the reader came back", 1).await;
    assert_eq!(client.change(TOPIC).await["data"]["record"]["body"], "after the reader came back");
}

#[tokio::test]
async fn subscriptions_are_confirmed_once_a_transaction_left_open_lets_the_slot_be_made() {
    let db_url = database().await;
    // A write transaction open in the cluster: a logical slot waits for it.
    let (mut open, connection) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let transaction = open.transaction().await.unwrap();
    transaction.execute("insert into notes (user_id, body) values (gen_random_uuid(), 'held open')", &[]).await.unwrap();

    let stack = start().await; // serves after a few seconds without its slot
    let user = user();
    let mut client = stack.client().await;
    let reply = client.join(TOPIC, json!({"config": {"postgres_changes": all_notes()}, "access_token": user.token})).await;
    assert_eq!(reply.payload["status"], "ok");
    assert!(client.silent_for(Duration::from_millis(500)).await.is_none(), "not confirmed while the slot waits");

    transaction.commit().await.unwrap();
    let system = client.next_event(TOPIC, "system").await;
    assert_eq!(system.payload["message"], "Subscribed to PostgreSQL");
    insert(&stack, &user.id, "once confirmed", 1).await;
    assert_eq!(client.change(TOPIC).await["data"]["record"]["body"], "once confirmed");
}
