//! The end-to-end harness: one whole local stack per test.
//!
//! [`Stack::start`] creates a fresh database in the Postgres at
//! `OURVIDZ_TEST_PG` (bootstrap + `create extension ourvidz`, so the extension
//! must be installed), starts the real `ourvidz up` binary on it as a child
//! process (the four release components of `functions/spin.toml` on the
//! wasmtime host, the Storage API on a temporary directory), and waits for
//! `/health`. Tests then speak HTTP to the functions and the Storage API, SQL to
//! the database, and run the reference worker (`ourvidz-worker`'s library) in
//! process — or, with [`StackOptions::worker`], let `ourvidz up` run and
//! supervise it as a child process. The scheduled storage-deletion drain is
//! off unless [`StackOptions::drain_interval_ms`] asks for it, so a test
//! drains when it says ([`Stack::drain`]). Nothing is mocked. Dropping the
//! stack stops the server and drops the database. The stack's log lines are
//! kept ([`Stack::log_lines`]).
//!
//! Prerequisites (scripts/test.sh builds them): `cargo build -p ourvidz-runtime`
//! and the components with `cargo build --target wasm32-wasip2 --release`.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ourvidz_test_support::{connect, now, repo_root};
use uuid::Uuid;

pub use reqwest::{Method, StatusCode};

/// The JWT secret the test stacks sign with (not Supabase's public default,
/// so a token minted for another stack never works here by accident).
const SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-e2e-secret";

/// How a test stack is started; `Default` is what [`Stack::start`] does.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Superuser URL of the Postgres to create the stack's database in
    /// (default: `OURVIDZ_TEST_PG`).
    pub admin_url: Option<String>,
    /// Let `ourvidz up` run the reference worker (`ourvidz-worker`, built
    /// next to `ourvidz`) as a supervised child process.
    pub worker: bool,
    /// Run the scheduled storage-deletion drain at this interval.
    pub drain_interval_ms: Option<u64>,
    /// Further `ourvidz up` arguments (e.g. `--request-timeout-ms`).
    pub up_args: Vec<String>,
}

/// A running stack.
pub struct Stack {
    /// Base URL of the gateway (`/functions/v1`, `/storage/v1`).
    pub api: String,
    /// Superuser URL of this stack's own database.
    pub db_url: String,
    admin_url: String,
    db_name: String,
    home: tempfile::TempDir,
    server: Child,
    http: reqwest::Client,
}

/// A JSON answer: the status and the parsed body (every answer must be JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

impl Stack {
    /// Start a stack on a fresh database.
    pub async fn start() -> Stack {
        Stack::start_with(&[]).await
    }

    /// Start a stack on a fresh database, with extra `ourvidz up` arguments
    /// (e.g. `--request-timeout-ms`).
    pub async fn start_with(up_args: &[&str]) -> Stack {
        Stack::start_options(StackOptions { up_args: up_args.iter().map(|a| a.to_string()).collect(), ..Default::default() })
            .await
    }

    /// Start a stack on a fresh database as `options` say.
    pub async fn start_options(options: StackOptions) -> Stack {
        let admin_url = options.admin_url.clone().unwrap_or_else(|| {
            ourvidz_test_support::admin_url(" with the ourvidz extension installed (scripts/test.sh e2e sets it up)")
        });
        let db_url = ourvidz_test_support::fresh_database(&admin_url, "e2e", "create extension ourvidz").await;
        let db_name = ourvidz_test_support::database_name(&db_url);

        let home = tempfile::tempdir().expect("a temporary OURVIDZ_HOME");
        let port = free_port();
        // the benchmarks run the release build (OURVIDZ_E2E_PROFILE=release)
        let profile = std::env::var("OURVIDZ_E2E_PROFILE").unwrap_or_else(|_| "debug".into());
        let binary = target_dir().join(profile).join("ourvidz");
        assert!(binary.exists(), "{} is missing: cargo build -p ourvidz-runtime", binary.display());
        let log = std::fs::File::create(home.path().join(STACK_LOG)).expect("the stack's log file");
        let mut command = Command::new(&binary);
        command
            .current_dir(repo_root())
            .env("OURVIDZ_HOME", home.path())
            .env("OURVIDZ_JWT_SECRET", SECRET)
            .args(["up", "--no-build", "--db-url", &db_url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--compile-cache")
            .arg(repo_root().join(".ourvidz/wasm-cache"))
            .args(["--drain-interval-ms", &options.drain_interval_ms.unwrap_or(0).to_string()])
            .args(&options.up_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::inherit());
        if !options.worker {
            command.arg("--no-worker");
        }
        let server = command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let stack = Stack {
            api: format!("http://127.0.0.1:{port}"),
            db_url,
            admin_url,
            db_name,
            home,
            server,
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client"),
        };
        stack.wait_until_healthy().await;
        stack
    }

    async fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = self.http.get(format!("{}/health", self.api)).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the stack at {} did not become healthy", self.api);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new user in auth.users.
    pub async fn new_user(&self) -> Uuid {
        let id = Uuid::new_v4();
        self.sql()
            .await
            .execute("insert into auth.users (id, email) values ($1, $2)", &[&id, &format!("{id}@example.com")])
            .await
            .expect("insert user");
        id
    }

    /// A superuser SQL connection to this stack's database.
    pub async fn sql(&self) -> tokio_postgres::Client {
        connect(&self.db_url).await
    }

    /// A user's access token, valid for an hour.
    pub fn user_token(&self, user: Uuid) -> String {
        self.token("authenticated", Some(user), 3600)
    }

    /// The service role key.
    pub fn service_token(&self) -> String {
        self.token("service_role", None, 3600)
    }

    /// Any token signed with this stack's secret.
    pub fn token(&self, role: &str, sub: Option<Uuid>, ttl: i64) -> String {
        let sub = sub.map(|s| s.to_string());
        ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims(role, sub.as_deref(), now(), ttl), SECRET.as_bytes())
    }

    /// `claims` signed with this stack's HS256 secret, whatever they hold
    /// (tests of hostile claims).
    pub fn sign(&self, claims: &serde_json::Map<String, Value>) -> String {
        ourvidz_jwt::sign(claims, SECRET.as_bytes())
    }

    /// A token signed with ES256 by this stack's own key — the key its JWKS
    /// (`/auth/v1/.well-known/jwks.json`) publishes — minted by `ourvidz token`.
    pub fn es256_token(&self, role: &str, sub: Option<Uuid>, ttl: i64) -> String {
        mint_es256(self.home.path(), role, sub, ttl)
    }

    /// Call an edge function with a JSON body (or none).
    pub async fn call(&self, method: Method, function: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}/functions/v1/{function}", self.api));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request).await
    }

    /// Send a prepared request and read its JSON answer.
    pub async fn answer(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the stack answers");
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text:?}"));
        Answer { status, body, content_type }
    }

    /// A raw request to the gateway, for bodies that are not JSON.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.api))
    }

    /// Queue a job as `user` and return its id.
    pub async fn queue(&self, user: Uuid, body: Value) -> Uuid {
        let answer = self.call(Method::POST, "queue-job", Some(&self.user_token(user)), Some(body)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "queue-job: {:?}", answer.body);
        answer.body["job"]["id"].as_str().and_then(|id| id.parse().ok()).expect("a job id")
    }

    /// Options for a reference worker talking to this stack.
    pub fn worker_options(&self, worker_id: &str) -> ourvidz_worker::Options {
        ourvidz_worker::Options {
            api_url: self.api.clone(),
            service_role_key: self.service_token(),
            worker_id: Some(worker_id.to_string()),
            concurrency: 2,
            once: true,
            poll_interval: 1,
            lease_seconds: 60,
            size: 64,
            video_frames: 2,
            fps: 2,
            shutdown_grace: 10,
        }
    }

    /// Run a worker until the queue is empty.
    pub async fn run_worker(&self, options: &ourvidz_worker::Options) -> ourvidz_worker::Summary {
        ourvidz_worker::run(options, std::future::pending()).await.expect("the worker runs")
    }

    /// One pass of the storage-deletion drain: the storage-drain function,
    /// called as the stack's schedule (and pg_cron when hosted) calls it.
    /// (Test stacks run without the schedule, so a test drains when it says.)
    pub async fn drain(&self) -> Value {
        let answer =
            self.call(Method::POST, "storage-drain", Some(&self.service_token()), Some(json!({"max_items": 1000}))).await;
        assert_eq!(answer.status, StatusCode::OK, "drain: {:?}", answer.body);
        answer.body
    }

    /// The orphan audit: SQL's view (storage_orphans) and the files on disk
    /// against storage.objects. Empty when every object has its row and back.
    pub async fn orphans(&self) -> Vec<String> {
        let db = self.sql().await;
        let mut found: Vec<String> = db
            .query("select kind || ' ' || bucket_id || '/' || object_name from storage_orphans()", &[])
            .await
            .expect("storage_orphans()")
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        let rows: BTreeSet<String> = db
            .query("select bucket_id || '/' || name from storage.objects", &[])
            .await
            .expect("storage.objects")
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        let files = self.stored_files();
        found.extend(files.difference(&rows).map(|f| format!("file_without_metadata {f}")));
        found.extend(rows.difference(&files).map(|r| format!("metadata_without_file {r}")));
        found
    }

    /// Every object file under the Storage API's root, as `bucket/name`.
    pub fn stored_files(&self) -> BTreeSet<String> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, root, out);
                } else if let Ok(relative) = path.strip_prefix(root) {
                    out.insert(relative.to_string_lossy().into_owned());
                }
            }
        }
        let root = self.storage_root();
        let mut out = BTreeSet::new();
        walk(&root, &root, &mut out);
        out
    }

    /// Where the Storage API keeps object files.
    pub fn storage_root(&self) -> PathBuf {
        self.home.path().join("storage")
    }

    /// The stack's JSON log lines so far (requests, supervised processes).
    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.home.path().join(STACK_LOG))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The state file of the running stack (`runtime.json`), as JSON.
    pub fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.home.path().join("runtime.json")).expect("runtime.json");
        serde_json::from_str(&text).expect("runtime.json is JSON")
    }

    /// What `ourvidz status` prints for this stack.
    pub fn status(&self) -> String {
        let profile = std::env::var("OURVIDZ_E2E_PROFILE").unwrap_or_else(|_| "debug".into());
        let output = Command::new(target_dir().join(profile).join("ourvidz"))
            .current_dir(repo_root())
            .arg("status")
            .arg("--home")
            .arg(self.home.path())
            .output()
            .expect("ourvidz status runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// The file under the stack's home its stdout (the JSON log lines) goes to.
const STACK_LOG: &str = "stack.log";

/// A Postgres cluster of a test's own — initdb'd and started with the
/// project's `scripts/lib/pg.sh` (the server runs as `postgres` when the test
/// runs as root), `wal_level = logical` as every project cluster — for tests
/// that stop or crash their database, which must never happen to the shared
/// `OURVIDZ_TEST_PG` cluster other tests use at the same time. Pass
/// [`PrivateCluster::admin_url`] as [`StackOptions::admin_url`]. Stopped and
/// removed on drop.
pub struct PrivateCluster {
    dir: PathBuf,
    pub port: u16,
}

impl PrivateCluster {
    pub fn start() -> PrivateCluster {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("ourvidz-e2e-cluster-{}-{port}", std::process::id()));
        let cluster = PrivateCluster { dir, port };
        cluster.pg_sh(&format!("pg_cluster_init {} postgres", cluster.dir.display()));
        cluster.start_again();
        cluster
    }

    /// Superuser URL of its `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgresql://postgres:postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Start it (again, after a stop); returns once it accepts connections.
    /// Commits are synchronous, as in production: a crash-stop must not take
    /// back a commit the client was told about (with `synchronous_commit =
    /// off` it can, and a file stored for a row that vanished looks like a
    /// Storage bug). `fsync` stays off: an immediate stop is not an OS crash,
    /// so what reached the page cache survives it.
    pub fn start_again(&self) {
        self.pg_sh(&format!("pg_cluster_start {} {} '-c fsync=off -c synchronous_commit=on'", self.dir.display(), self.port));
    }

    /// Crash-stop it: `pg_ctl stop -m immediate`, every backend killed at
    /// once with no shutdown checkpoint, as a crashed server or host leaves it.
    pub fn crash_stop(&self) {
        self.pg_sh(&format!("as_pg \"$PG_BIN/pg_ctl\" -D {}/data -m immediate -w stop >/dev/null", self.dir.display()));
    }

    fn pg_sh(&self, script: &str) {
        let lib = repo_root().join("scripts/lib/pg.sh");
        let status = Command::new("bash")
            .arg("-c")
            .arg(format!("set -e; source {}; {script}", lib.display()))
            .status()
            .expect("bash runs");
        assert!(status.success(), "pg.sh: {script}");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let lib = repo_root().join("scripts/lib/pg.sh");
        let _ = Command::new("bash")
            .arg("-c")
            .arg(format!("source {}; pg_cluster_stop {}", lib.display(), self.dir.display()))
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `ourvidz token --alg es256` with the key kept under `home` (made there if
/// there is none yet): a stack's own key, or with another home, a stranger's.
pub fn mint_es256(home: &Path, role: &str, sub: Option<Uuid>, ttl: i64) -> String {
    let profile = std::env::var("OURVIDZ_E2E_PROFILE").unwrap_or_else(|_| "debug".into());
    let mut command = Command::new(target_dir().join(profile).join("ourvidz"));
    command.arg("token").arg("--alg").arg("es256").arg("--home").arg(home);
    command.args(["--role", role, "--ttl", &ttl.to_string()]);
    if let Some(sub) = sub {
        command.args(["--user", &sub.to_string()]);
    }
    let output = command.output().expect("ourvidz token runs");
    assert!(output.status.success(), "ourvidz token: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("a token is text").trim().to_owned()
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.server.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let db_url = ourvidz_test_support::with_dbname(&self.admin_url, &self.db_name);
        ourvidz_test_support::drop_databases(&self.admin_url, &[&db_url]);
    }
}
