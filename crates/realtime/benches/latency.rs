//! Realtime benchmark (not a test; run by bench/realtime.sh, figures in the
//! closing note): commit-to-event latency of postgres_changes, and the change
//! rate it sustains before events fall behind.
//!
//! Workload: a table shaped like the app's (`user_id` + RLS "own rows only",
//! REPLICA IDENTITY FULL, in the publication), the Realtime service in this
//! process on a real socket, and N websocket subscribers speaking the 2.0.0
//! protocol. Half of them belong to another user than the one who writes, so
//! RLS rejects every change for them (checked: they must receive nothing).
//! Subscribers join either with a token each (its own `session_id`: N
//! distinct sets of claims, each checked by Postgres, as for N users on N
//! devices) or with one token per user (the same claims: one check per user,
//! as for one user's open tabs). A writer inserts rows of user A at a fixed rate with
//! synchronous_commit on; latency is measured from just before the INSERT is
//! sent to the moment a subscriber has read the event.
//!
//! Usage: OURVIDZ_TEST_PG=<superuser URL of a cluster with wal_level=logical
//! and wal2json> cargo bench -p ourvidz-realtime --bench latency

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ourvidz_realtime::{Realtime, RealtimeConfig};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &[u8] = b"realtime-bench-secret-with-at-least-32-characters";

const SCHEMA: &str = r#"
create table public.bench_events (
    id bigint generated always as identity primary key,
    user_id uuid not null,
    body text not null,
    created_at timestamptz not null default now()
);
alter table public.bench_events replica identity full;
alter table public.bench_events enable row level security;
grant select on public.bench_events to authenticated;
create policy "own rows" on public.bench_events for select to authenticated using (user_id = (select auth.uid()));
create publication supabase_realtime for table public.bench_events;
"#;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn token(user: &str) -> String {
    let mut claims = ourvidz_jwt::access_token_claims("authenticated", Some(user), now(), 3600);
    claims.insert("session_id".into(), Value::from(uuid::Uuid::new_v4().to_string()));
    ourvidz_jwt::sign(&claims, SECRET)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("database");
    tokio::spawn(connection);
    client
}

struct Bench {
    db_url: String,
    ws_url: String,
    _realtime: Realtime,
}

async fn setup() -> Bench {
    let admin = std::env::var("OURVIDZ_TEST_PG").expect("OURVIDZ_TEST_PG: a superuser URL of a cluster with wal_level=logical and wal2json");
    let name = format!("bench_realtime_{}", uuid::Uuid::new_v4().simple());
    connect(&admin).await.batch_execute(&format!("create database {name}")).await.unwrap();
    let db_url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("OURVIDZ_TEST_PG must be a URL"),
    };
    let db = connect(&db_url).await;
    let bootstrap = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pg_extension/bootstrap/supabase_compat.sql");
    db.batch_execute(&std::fs::read_to_string(bootstrap).unwrap()).await.unwrap();
    db.batch_execute(SCHEMA).await.unwrap();
    let mut config = RealtimeConfig::new(db_url.clone(), ourvidz_jwt::Verifier::hs256(SECRET));
    config.slot_name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let realtime = ourvidz_realtime::start(config).await.expect("realtime starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().nest("/realtime/v1", realtime.router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let anon = ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims("anon", None, now(), 3600), SECRET);
    Bench { db_url, ws_url: format!("ws://{addr}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0"), _realtime: realtime }
}

/// A delivery: which row, to which subscriber, when.
struct Delivery {
    row: i64,
    subscriber: usize,
    at: Instant,
}

/// Join `count` subscribers (the first `owners` as user `owner`, the rest as
/// `other`); every event they read is reported on the returned channel.
async fn subscribe(
    bench: &Bench,
    count: usize,
    owners: usize,
    owner: &str,
    other: &str,
    sessions: Sessions,
) -> (mpsc::UnboundedReceiver<Delivery>, Vec<tokio::task::JoinHandle<()>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut ready = Vec::new();
    let mut tasks = Vec::new();
    let shared = (token(owner), token(other));
    for subscriber in 0..count {
        let (mut ws, _) = tokio_tungstenite::connect_async(&bench.ws_url).await.expect("websocket");
        let user = if subscriber < owners { owner } else { other };
        let access_token = match sessions {
            Sessions::OnePerSubscriber => token(user),
            Sessions::OnePerUser if subscriber < owners => shared.0.clone(),
            Sessions::OnePerUser => shared.1.clone(),
        };
        let join = json!(["1", "1", "realtime:bench", "phx_join", {
            "config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "bench_events"}]},
            "access_token": access_token,
        }]);
        ws.send(Message::Text(join.to_string().into())).await.unwrap();
        let (joined_tx, joined_rx) = tokio::sync::oneshot::channel();
        ready.push(joined_rx);
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut joined = Some(joined_tx);
            let mut heartbeat = tokio::time::interval(Duration::from_secs(20));
            loop {
                tokio::select! {
                    _ = heartbeat.tick() => {
                        let beat = json!([null, "hb", "phoenix", "heartbeat", {}]).to_string();
                        if ws.send(Message::Text(beat.into())).await.is_err() { return; }
                    }
                    frame = ws.next() => {
                        let Some(Ok(Message::Text(text))) = frame else { return };
                        let at = Instant::now();
                        let value: Value = serde_json::from_str(&text).unwrap();
                        match value[3].as_str() {
                            Some("system") if value[4]["status"] == "ok" => {
                                if let Some(joined) = joined.take() { let _ = joined.send(()); }
                            }
                            Some("postgres_changes") => {
                                let row = value[4]["data"]["record"]["id"].as_i64().unwrap();
                                let _ = tx.send(Delivery { row, subscriber, at });
                            }
                            _ => {}
                        }
                    }
                }
            }
        }));
    }
    for joined in ready {
        joined.await.expect("every subscriber joins");
    }
    (rx, tasks)
}

#[derive(Clone, Copy)]
enum Sessions {
    OnePerSubscriber,
    OnePerUser,
}

/// Insert `rows` rows of `owner` at `rate` per second (over `writers`
/// connections); when each INSERT was sent, by row id, and the rate reached.
async fn write(bench: &Bench, owner: &str, rows: usize, rate: f64, writers: usize) -> (HashMap<i64, Instant>, f64) {
    let started = Instant::now();
    let sent = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let period = Duration::from_secs_f64(writers as f64 / rate);
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let (db_url, owner, sent) = (bench.db_url.clone(), owner.to_owned(), sent.clone());
        let share = rows / writers + usize::from(writer < rows % writers);
        tasks.push(tokio::spawn(async move {
            let db = connect(&db_url).await;
            db.batch_execute("set synchronous_commit = on").await.unwrap();
            let insert = db.prepare("insert into bench_events (user_id, body) values ($1::text::uuid, 'x') returning id").await.unwrap();
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for _ in 0..share {
                ticker.tick().await;
                let at = Instant::now();
                let id: i64 = db.query_one(&insert, &[&owner]).await.unwrap().get(0);
                sent.lock().unwrap().insert(id, at);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let reached = rows as f64 / started.elapsed().as_secs_f64();
    (Arc::try_unwrap(sent).unwrap().into_inner().unwrap(), reached)
}

struct Outcome {
    p50: f64,
    p99: f64,
    max: f64,
    delivered: usize,
    expected: usize,
    leaked: usize,
}

/// Collect deliveries until every expected one arrived (or `patience` passed).
async fn measure(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    sent: &HashMap<i64, Instant>,
    owners: usize,
    patience: Duration,
) -> Outcome {
    let expected = sent.len() * owners;
    let mut latencies = Vec::with_capacity(expected);
    let mut leaked = 0;
    let deadline = tokio::time::Instant::now() + patience;
    while latencies.len() < expected {
        let Ok(Some(delivery)) = tokio::time::timeout_at(deadline, rx.recv()).await else { break };
        match sent.get(&delivery.row) {
            Some(at) if delivery.subscriber < owners => latencies.push(delivery.at.duration_since(*at).as_secs_f64() * 1000.0),
            Some(_) => leaked += 1,
            None => {}
        }
    }
    // anything that still trickles in for the other user's subscribers
    while let Ok(delivery) = rx.try_recv() {
        if delivery.subscriber >= owners && sent.contains_key(&delivery.row) {
            leaked += 1;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    Outcome { p50: pick(0.5), p99: pick(0.99), max: pick(1.0), delivered: latencies.len(), expected, leaked }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let bench = setup().await;
        let (alice, bob) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
        println!("| subscribers (writer's + other user's) | sessions | changes/s written | events expected | delivered | leaked to the other user | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|---|---|---|---|");
        let scenarios = [
            (1usize, 1usize, Sessions::OnePerSubscriber),
            (200, 100, Sessions::OnePerSubscriber),
            (200, 100, Sessions::OnePerUser),
        ];
        for (count, owners, sessions) in scenarios {
            let (mut rx, subscribers) = subscribe(&bench, count, owners, &alice, &bob, sessions).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let label = match sessions {
                Sessions::OnePerSubscriber => format!("{count}"),
                Sessions::OnePerUser => "2".to_owned(),
            };
            // Latency at a steady rate well below saturation.
            for rate in [20.0, 100.0] {
                let (sent, reached) = write(&bench, &alice, (rate * 10.0) as usize, rate, 1).await;
                let outcome = measure(&mut rx, &sent, owners, Duration::from_secs(30)).await;
                report(count, owners, &label, reached, &outcome);
            }
            // Sustained rate: step up until events fall behind (p99 over 1 s, or
            // not everything delivered within 5 s of the last write).
            for rate in [200.0, 400.0, 800.0, 1600.0, 3200.0] {
                let (sent, reached) = write(&bench, &alice, (rate * 5.0) as usize, rate, 4).await;
                let outcome = measure(&mut rx, &sent, owners, Duration::from_secs(5)).await;
                report(count, owners, &label, reached, &outcome);
                if outcome.delivered < outcome.expected || outcome.p99 > 1000.0 {
                    // let the backlog drain before the next scenario
                    let _ = measure(&mut rx, &sent, owners, Duration::from_secs(120)).await;
                    break;
                }
            }
            for subscriber in subscribers {
                subscriber.abort();
            }
        }
    });
}

fn report(count: usize, owners: usize, sessions: &str, rate: f64, o: &Outcome) {
    println!(
        "| {count} ({owners} + {}) | {sessions} | {rate:.0} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
        count - owners,
        o.expected,
        o.delivered,
        o.leaked,
        o.p50,
        o.p99,
        o.max
    );
}
