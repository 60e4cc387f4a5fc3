//! The test stack: a fresh database per test binary (from `OURVIDZ_TEST_PG`,
//! a cluster with wal_level=logical and wal2json, as `scripts/test.sh native`
//! starts it) with the Supabase bootstrap and one published table, and per
//! test a Realtime service over real HTTP with its own slot, plus a websocket
//! client that speaks the Phoenix frames realtime-js sends.
//!
//! Table `public.notes(id, user_id, body, n, secret)`: RLS lets an
//! authenticated user select only their own rows; `secret` is not granted to
//! `authenticated`, so it must never reach a user's event.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ourvidz_realtime::{Limits, Realtime, RealtimeConfig};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &[u8] = b"realtime-test-secret-with-at-least-32-characters";

const FIXTURES: &str = r#"
create table public.notes (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null,
    body text,
    n int,
    secret text
);
alter table public.notes replica identity full;
alter table public.notes enable row level security;
grant select (id, user_id, body, n) on public.notes to authenticated;
grant select on public.notes to service_role;
create policy "own notes" on public.notes for select to authenticated using (auth.uid() = user_id);
create table public.unpublished (id int primary key);
create publication supabase_realtime for table public.notes;
"#;

static DATABASE: OnceCell<String> = OnceCell::const_new();

pub use ourvidz_test_support::{connect, now};

/// The URL of this binary's database, created on first use.
pub async fn database() -> String {
    DATABASE
        .get_or_init(|| async {
            let admin = ourvidz_test_support::admin_url(" of a cluster with wal_level=logical and wal2json");
            ourvidz_test_support::fresh_database(&admin, "ourvidz_realtime", FIXTURES).await
        })
        .await
        .clone()
}

pub fn token_for(role: &str, sub: Option<&str>, ttl: i64) -> String {
    ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims(role, sub, now(), ttl), SECRET)
}

pub fn anon_key() -> String {
    token_for("anon", None, 3600)
}

/// A user: an id and an access token valid for an hour.
pub struct User {
    pub id: String,
    pub token: String,
}

pub fn user() -> User {
    let id = uuid::Uuid::new_v4().to_string();
    let token = token_for("authenticated", Some(&id), 3600);
    User { id, token }
}

/// One Realtime service on its own port and slot.
pub struct Stack {
    pub addr: std::net::SocketAddr,
    pub db_url: String,
    pub slot: String,
    realtime: Option<Realtime>,
}

pub async fn start() -> Stack {
    start_with(Limits::default()).await
}

pub async fn start_with(limits: Limits) -> Stack {
    let db_url = database().await;
    let mut config = RealtimeConfig::new(db_url.clone(), ourvidz_jwt::Verifier::hs256(SECRET));
    config.slot_name = format!("realtime_test_{}", uuid::Uuid::new_v4().simple());
    config.limits = limits;
    let slot = config.slot_name.clone();
    let realtime = ourvidz_realtime::start(config).await.expect("realtime starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().nest("/realtime/v1", realtime.router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Stack { addr, db_url, slot, realtime: Some(realtime) }
}

impl Stack {
    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/realtime/v1/websocket?{query}", self.addr)
    }

    pub async fn client(&self) -> Client {
        self.client_vsn("2.0.0").await
    }

    pub async fn client_vsn(&self, vsn: &str) -> Client {
        let url = self.ws_url(&format!("apikey={}&vsn={vsn}", anon_key()));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        Client { ws, v1: vsn == "1.0.0", next_ref: 1 }
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        connect(&self.db_url).await
    }

    pub async fn stop(&mut self) {
        if let Some(realtime) = self.realtime.take() {
            realtime.stop().await;
        }
    }
}

/// A websocket client speaking Phoenix frames (2.0.0 arrays, or 1.0.0 objects).
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    v1: bool,
    next_ref: u64,
}

/// A frame the server sent, whatever the serializer.
#[derive(Debug, Clone)]
pub struct Frame {
    pub join_ref: Value,
    pub reference: Value,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    /// Send a frame; its ref.
    pub async fn send(&mut self, join_ref: Option<&str>, topic: &str, event: &str, payload: Value) -> String {
        let reference = self.next_ref.to_string();
        self.next_ref += 1;
        let text = if self.v1 {
            json!({"join_ref": join_ref, "ref": reference, "topic": topic, "event": event, "payload": payload}).to_string()
        } else {
            json!([join_ref, reference, topic, event, payload]).to_string()
        };
        self.ws.send(Message::Text(text.into())).await.expect("frame sent");
        reference
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("frame sent");
    }

    /// The next text frame, decoded; `None` on close or after `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            let message = tokio::time::timeout(wait, self.ws.next()).await.ok()??.ok()?;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => return None,
                _ => continue,
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            return Some(if self.v1 {
                Frame {
                    join_ref: Value::Null,
                    reference: value["ref"].clone(),
                    topic: value["topic"].as_str().unwrap().to_owned(),
                    event: value["event"].as_str().unwrap().to_owned(),
                    payload: value["payload"].clone(),
                }
            } else {
                Frame {
                    join_ref: value[0].clone(),
                    reference: value[1].clone(),
                    topic: value[2].as_str().unwrap().to_owned(),
                    event: value[3].as_str().unwrap().to_owned(),
                    payload: value[4].clone(),
                }
            });
        }
    }

    pub async fn next(&mut self) -> Frame {
        self.next_within(WAIT).await.expect("a frame within 10 s")
    }

    /// The next frame with `event` on `topic`, skipping others.
    pub async fn next_event(&mut self, topic: &str, event: &str) -> Frame {
        loop {
            let frame = self.next().await;
            if frame.topic == topic && frame.event == event {
                return frame;
            }
        }
    }

    /// The reply to `reference`.
    pub async fn reply_to(&mut self, reference: &str) -> Frame {
        loop {
            let frame = self.next().await;
            if frame.event == "phx_reply" && frame.reference == json!(reference) {
                return frame;
            }
        }
    }

    /// Join `topic` with `payload`, the join ref being the frame's ref as in
    /// realtime-js; the reply frame.
    pub async fn join(&mut self, topic: &str, payload: Value) -> Frame {
        let reference = self.next_ref.to_string();
        self.send(Some(&reference), topic, "phx_join", payload).await;
        self.reply_to(&reference).await
    }

    /// Join `topic` as realtime-js does: join ref = ref, and wait for the reply
    /// and, when there are postgres_changes, for the `system` message.
    pub async fn subscribe(&mut self, topic: &str, token: &str, postgres_changes: Value) -> (Frame, String) {
        let reference = self.next_ref.to_string();
        let payload = json!({
            "config": {"broadcast": {"ack": false, "self": false}, "presence": {"key": "", "enabled": false},
                       "postgres_changes": postgres_changes, "private": false},
            "access_token": token,
        });
        self.send(Some(&reference), topic, "phx_join", payload).await;
        let reply = self.reply_to(&reference).await;
        assert_eq!(reply.payload["status"], "ok", "{reply:?}");
        if postgres_changes.as_array().is_some_and(|l| !l.is_empty()) {
            let system = self.next_event(topic, "system").await;
            assert_eq!(system.payload["status"], "ok", "{system:?}");
        }
        (reply, reference)
    }

    /// The next `postgres_changes` event on `topic`.
    pub async fn change(&mut self, topic: &str) -> Value {
        self.next_event(topic, "postgres_changes").await.payload
    }

    /// Nothing but heartbeat replies arrives within `wait`.
    pub async fn silent_for(&mut self, wait: Duration) -> Option<Frame> {
        self.next_within(wait).await
    }
}
