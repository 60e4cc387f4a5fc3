//! Faults answered like faults (issue 8.2), on the whole stack with a
//! Postgres of the test's own: while 8 clients queue, list, download, save,
//! discard and delete, the database is crash-stopped twice (`pg_ctl stop -m
//! immediate`, about 5 s down each time) and the reference worker — a child
//! process `ourvidz up` supervises, not a library call — is killed.
//!
//! It holds the stack to:
//!
//! - no 5xx but 503, and a 503 only while the database is down (or within a
//!   few seconds of its return, while pools reconnect) — for the clients'
//!   requests *and* for every request the stack logged, the worker's claims
//!   through /rest/v1, its uploads and callbacks, and the scheduled drains
//!   included; every 503 is JSON with `Retry-After`; no dropped connection;
//! - the killed worker is restarted by the stack, the exit and the restart
//!   logged and shown by `ourvidz status`;
//! - every job ends (completed or failed): claims lost in the outages wait
//!   out a 30 s lease, not minutes;
//! - no asset is lost (every asset the worker reported is in the workspace,
//!   in the library, or a client asked to remove it) or duplicated (one row
//!   per job and index, never in workspace and library at once);
//! - once the scheduled drain has run, the orphan audit is empty.
//!
//! The database is private (initdb'd here) because it is crash-stopped; the
//! extension is the installed one (`create extension ourvidz`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ourvidz_e2e::{Method, PrivateCluster, Stack, StackOptions};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::Uuid;

const CLIENTS: usize = 8;
/// Jobs each client queues over the run (the worker renders them all).
const JOBS_PER_CLIENT: usize = 3;
/// How long the database stays down each time.
const OUTAGE: Duration = Duration::from_secs(5);
/// After the database is back, how long a 503 is still an honest answer
/// (pools notice their dead connections and reconnect).
const RECOVERY_GRACE: Duration = Duration::from_secs(5);

/// When the database was down: `[down, up]`, wall clock.
#[derive(Default)]
struct Outages(Mutex<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>>);

impl Outages {
    fn begin(&self) {
        self.0.lock().unwrap().push((Utc::now(), None));
    }

    fn end(&self) {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.1 = Some(Utc::now());
        }
    }

    /// Whether a request that ran from `start` to `end` overlapped an outage.
    fn covers(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let grace = chrono::Duration::from_std(RECOVERY_GRACE).expect("grace");
        self.0.lock().unwrap().iter().any(|(down, up)| start <= up.unwrap_or(end) + grace && end >= *down)
    }
}

/// What a client saw of one request.
struct Seen {
    what: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// 0: no answer at all.
    status: u16,
    retry_after: bool,
    json: bool,
    body: String,
}

/// What clients asked to remove: a removed asset may be gone for good.
#[derive(Default)]
struct Removals {
    assets: BTreeSet<Uuid>,
    jobs: BTreeSet<Uuid>,
}

struct Client {
    stack: Arc<Stack>,
    http: reqwest::Client,
    token: String,
    rng: StdRng,
    seen: Arc<Mutex<Vec<Seen>>>,
    removals: Arc<Mutex<Removals>>,
    /// Idempotency keys of jobs queued (or maybe queued: a 503 is retried
    /// with the same key).
    keys: Vec<(String, bool)>,
    /// From the last listing: (asset id, job id, object name, signed URL).
    assets: Vec<(Uuid, Uuid, String, Option<String>)>,
}

impl Client {
    async fn send(&mut self, what: &str, request: reqwest::RequestBuilder) -> (u16, Value) {
        let start = Utc::now();
        let outcome = request.send().await;
        let (status, retry_after, content_type, body) = match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let content_type =
                    response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let body = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                (status, retry_after, content_type, body)
            }
            Err(error) => (0, false, String::new(), error.to_string().into_bytes()),
        };
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        self.seen.lock().unwrap().push(Seen {
            what: what.to_owned(),
            start,
            end: Utc::now(),
            status,
            retry_after,
            json: content_type.starts_with("application/json") && parsed.is_some(),
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        });
        (status, parsed.unwrap_or(Value::Null))
    }

    fn function(&self, method: Method, function: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/functions/v1/{function}", self.stack.api)).bearer_auth(&self.token)
    }

    async fn step(&mut self) {
        let choice = self.rng.random_range(0..10);
        match choice {
            0..=1 => self.queue().await,
            2..=4 => self.list().await,
            5..=6 => self.download().await,
            7 => self.save().await,
            8 => self.discard().await,
            _ => self.delete().await,
        }
    }

    async fn queue(&mut self) {
        let pending = self.keys.iter().position(|(_, answered)| !answered);
        let index = match pending {
            Some(index) => index,
            None if self.keys.len() < JOBS_PER_CLIENT => {
                self.keys.push((Uuid::new_v4().to_string(), false));
                self.keys.len() - 1
            }
            None => return self.list().await,
        };
        let batch_size = self.rng.random_range(1..=3);
        let body = json!({"mode": "image", "prompt": "a fox in a storm", "batch_size": batch_size});
        let request = self.function(Method::POST, "queue-job").header("idempotency-key", &self.keys[index].0).json(&body);
        let (status, _) = self.send("queue-job", request).await;
        // Retried with the same key until it is answered: one job per key.
        if status == 202 || status == 429 {
            self.keys[index].1 = true;
        }
    }

    async fn list(&mut self) {
        let request = self.function(Method::GET, "workspace-actions");
        let (status, listing) = self.send("list", request).await;
        if status != 200 {
            return;
        }
        self.assets.clear();
        for job in listing["jobs"].as_array().into_iter().flatten() {
            for asset in job["assets"].as_array().into_iter().flatten() {
                let id = asset["id"].as_str().and_then(|id| id.parse().ok());
                let job = job["job_id"].as_str().and_then(|id| id.parse().ok());
                let name = asset["temp_storage_path"].as_str().map(str::to_owned);
                if let (Some(id), Some(job), Some(name)) = (id, job, name) {
                    self.assets.push((id, job, name, asset["url"].as_str().map(str::to_owned)));
                }
            }
        }
    }

    async fn download(&mut self) {
        let Some((_, _, name, url)) = self.assets.choose(&mut self.rng).cloned() else { return self.list().await };
        let request = match url.filter(|_| self.rng.random_bool(0.5)) {
            Some(url) => self.http.get(url),
            None => self
                .http
                .get(format!("{}/storage/v1/object/authenticated/workspace-temp/{name}", self.stack.api))
                .bearer_auth(&self.token),
        };
        self.send("storage download", request).await;
    }

    async fn save(&mut self) {
        let Some((_, job, _, _)) = self.assets.choose(&mut self.rng).cloned() else { return self.list().await };
        let request =
            self.function(Method::POST, "workspace-actions").json(&json!({"action": "save", "job_id": job, "tags": ["storm"]}));
        self.send("save", request).await;
    }

    async fn discard(&mut self) {
        let Some((asset, _, _, _)) = self.assets.choose(&mut self.rng).cloned() else { return self.list().await };
        self.removals.lock().unwrap().assets.insert(asset);
        let request =
            self.function(Method::POST, "workspace-actions").json(&json!({"action": "discard", "asset_ids": [asset]}));
        self.send("discard", request).await;
    }

    async fn delete(&mut self) {
        let Some((_, job, _, _)) = self.assets.choose(&mut self.rng).cloned() else { return self.list().await };
        self.removals.lock().unwrap().jobs.insert(job);
        let request = self.function(Method::POST, "delete-workspace-item").json(&json!({"job_id": job}));
        self.send("delete-workspace-item", request).await;
    }
}

/// Every asset the worker reports, recorded as it is inserted (a test-only
/// trigger in this private database), so none can vanish unnoticed.
const AUDIT: &str = "
create table faults_audit (asset_id uuid, job_id uuid, asset_index int);
create function faults_audit_asset() returns trigger language plpgsql security definer as $$
begin
    insert into faults_audit values (new.id, new.job_id, new.asset_index);
    return null;
end
$$;
create trigger faults_audit after insert on workspace_assets for each row execute function faults_audit_asset();
";

async fn scalar(stack: &Stack, sql: &str) -> i64 {
    stack.sql().await.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

async fn wait_for(what: &str, deadline: Duration, mut done: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done().await {
        assert!(Instant::now() < until, "gave up waiting {deadline:?} until {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The pid of the supervised worker, once it runs.
fn worker_pid(stack: &Stack) -> Option<u64> {
    let state = stack.state();
    let worker = &state["processes"]["worker"];
    (worker["status"] == "running").then(|| worker["pid"].as_u64()).flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashes_of_the_database_and_the_worker_under_load_are_answered_as_outages_and_lose_nothing() {
    let started = Instant::now();
    let cluster = PrivateCluster::start();
    let stack = Arc::new(
        Stack::start_options(StackOptions {
            admin_url: Some(cluster.admin_url()),
            worker: true,
            drain_interval_ms: Some(500),
            up_args: vec!["--pg-pool-wait-ms".into(), "2000".into()],
        })
        .await,
    );
    stack.sql().await.batch_execute(AUDIT).await.expect("the audit trigger");
    let first_worker = {
        let mut pid = None;
        wait_for("the supervised worker runs", Duration::from_secs(20), async || {
            pid = worker_pid(&stack);
            pid.is_some()
        })
        .await;
        pid.expect("a worker pid")
    };

    // The load: 8 users, each its own client, until told to stop.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let removals = Arc::new(Mutex::new(Removals::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let user = stack.new_user().await;
        let mut client = Client {
            stack: stack.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("a client"),
            token: stack.user_token(user),
            rng: StdRng::seed_from_u64(8_000 + n as u64),
            seen: seen.clone(),
            removals: removals.clone(),
            keys: Vec::new(),
            assets: Vec::new(),
        };
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                client.step().await;
                let pause = client.rng.random_range(100..300);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            // Keys still unanswered get their answer now, so every job a
            // client meant to queue exists exactly once.
            while client.keys.iter().any(|(_, answered)| !answered) {
                client.queue().await;
            }
        }));
    }

    // The faults, while the load runs.
    let outages = Outages::default();
    tokio::time::sleep(Duration::from_secs(6)).await;
    for round in 0..2 {
        outages.begin();
        cluster.crash_stop();
        tokio::time::sleep(OUTAGE).await;
        cluster.start_again();
        outages.end();
        if round == 0 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let status = std::process::Command::new("kill").args(["-KILL", &first_worker.to_string()]).status();
            assert!(status.is_ok_and(|s| s.success()), "kill the worker");
        }
        tokio::time::sleep(Duration::from_secs(8)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client ran to the end");
    }

    // The worker came back by itself, and says so.
    let second_worker = {
        let mut pid = None;
        wait_for("the worker runs again", Duration::from_secs(30), async || {
            pid = worker_pid(&stack).filter(|pid| *pid != first_worker);
            pid.is_some()
        })
        .await;
        pid.expect("a new worker pid")
    };
    let logs = stack.log_lines();
    let exits: Vec<&Value> = logs.iter().filter(|l| l["msg"] == "process exited" && l["process"] == "worker").collect();
    assert!(exits.iter().any(|l| l["exit"] == "signal: 9 (SIGKILL)"), "the kill is logged: {exits:?}");
    assert!(
        logs.iter().any(|l| l["msg"] == "process started" && l["pid"].as_u64() == Some(second_worker)),
        "the restart is logged"
    );
    let status = stack.status();
    assert!(
        status.contains(&format!("worker: running (pid {second_worker}), restarted 1 time, last exit: signal: 9 (SIGKILL)")),
        "ourvidz status shows the restart:\n{status}"
    );

    // Every job ends: lost claims and the killed worker's jobs wait out one
    // 30 s lease and are rendered (or, out of attempts, failed).
    wait_for("every job ended", Duration::from_secs(75), async || {
        scalar(&stack, "select count(*) from jobs where status in ('queued', 'processing')").await == 0
    })
    .await;
    let jobs = scalar(&stack, "select count(*) from jobs").await;
    let keys = CLIENTS * JOBS_PER_CLIENT;
    assert!(jobs > 0 && jobs as usize <= keys, "{jobs} jobs for {keys} idempotency keys");

    // No asset lost, none duplicated.
    let db = stack.sql().await;
    let duplicated = db
        .query(
            "select job_id::text || '/' || asset_index from faults_audit group by job_id, asset_index having count(*) > 1
             union all
             select id::text from workspace_assets w where exists (select 1 from user_library l where l.source_asset_id = w.id)",
            &[],
        )
        .await
        .expect("duplicates");
    assert!(duplicated.is_empty(), "duplicated assets: {:?}", duplicated.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>());
    let gone = db
        .query(
            "select a.asset_id, a.job_id from faults_audit a
             where not exists (select 1 from workspace_assets w where w.id = a.asset_id)
               and not exists (select 1 from user_library l where l.source_asset_id = a.asset_id)",
            &[],
        )
        .await
        .expect("gone assets");
    let removals = removals.lock().unwrap();
    let lost: Vec<Uuid> = gone
        .iter()
        .map(|row| (row.get::<_, Uuid>(0), row.get::<_, Uuid>(1)))
        .filter(|(asset, job)| !removals.assets.contains(asset) && !removals.jobs.contains(job))
        .map(|(asset, _)| asset)
        .collect();
    assert!(lost.is_empty(), "assets gone that nobody removed: {lost:?}");
    let reported = scalar(&stack, "select count(*) from faults_audit").await;
    assert!(reported > 0, "the worker rendered something");

    // The scheduled drain empties what is due, and then no object is orphaned.
    wait_for("the scheduled drain took every due entry", Duration::from_secs(30), async || {
        scalar(&stack, "select count(*) from storage_deletion_outbox where not_before <= now()").await == 0
    })
    .await;
    assert_eq!(stack.orphans().await, Vec::<String>::new());
    let drains = stack.log_lines().into_iter().filter(|l| l["function"] == "storage-drain" && l["status"] == 200).count();
    assert!(drains > 0, "the stack ran the drain on its schedule");

    // Every answer: a complete response, 503 only during an outage (and then
    // JSON with Retry-After), never another 5xx.
    let seen = seen.lock().unwrap();
    let mut wrong = Vec::new();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for s in seen.iter() {
        *by_status.entry(s.status).or_default() += 1;
        let fine = match s.status {
            0 => false,
            503 => outages.covers(s.start, s.end) && s.retry_after && s.json,
            500.. => false,
            400.. => s.json,
            _ => true,
        };
        if !fine {
            wrong.push(format!("{} {} at {} ({}): {}", s.what, s.status, s.start, s.retry_after, s.body));
        }
    }
    for line in stack.log_lines().iter().filter(|l| l["msg"] == "request") {
        let status = line["status"].as_u64().unwrap_or(0);
        if status < 500 {
            continue;
        }
        let end = line["ts"].as_str().and_then(|ts| DateTime::parse_from_rfc3339(ts).ok()).map(|ts| ts.with_timezone(&Utc));
        let took = chrono::Duration::milliseconds(line["duration_ms"].as_f64().unwrap_or(0.0) as i64);
        let during_outage = end.is_some_and(|end| outages.covers(end - took, end));
        if status != 503 || !during_outage {
            wrong.push(format!("stack log: {line}"));
        }
    }
    assert!(wrong.is_empty(), "{} wrong answers (all: {by_status:?}):\n{}", wrong.len(), wrong.join("\n"));
    assert!(by_status.get(&503).is_some_and(|n| *n > 0), "the outages were seen as 503s: {by_status:?}");
    eprintln!(
        "faults: {} requests {by_status:?}, {jobs} jobs, {reported} assets, in {:?}",
        seen.len(),
        started.elapsed()
    );
}
