//! Shared harness of the runtime's integration tests: builds the host-probe
//! fixture component once, creates the test database, and starts the real
//! `ourvidz` binary (`ourvidz up --no-build --no-worker`) on a free port
//! against it, capturing its log lines. No mocks: real wasmtime, real HTTP,
//! real Postgres (a superuser URL in `OURVIDZ_TEST_PG`).

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

pub const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";

/// The Postgres superuser URL the tests run against.
pub fn test_pg() -> String {
    std::env::var("OURVIDZ_TEST_PG").expect(
        "OURVIDZ_TEST_PG must be a Postgres superuser URL, e.g. postgresql://postgres:postgres@127.0.0.1:54332/postgres",
    )
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ourvidz-runtime-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The test application: the fixture manifest next to the freshly built
/// host-probe component, in a scratch directory.
pub fn app_dir() -> &'static Path {
    static APP: OnceLock<PathBuf> = OnceLock::new();
    APP.get_or_init(|| {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest_dir.join("../target"));
        let status = Command::new(env!("CARGO"))
            .args(["build", "--target", "wasm32-wasip2", "--release", "--manifest-path"])
            .arg(manifest_dir.join("tests/fixtures/host-probe/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the host-probe fixture failed");
        let app = scratch().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::copy(target.join("wasm32-wasip2/release/host_probe.wasm"), app.join("host_probe.wasm")).unwrap();
        std::fs::copy(manifest_dir.join("tests/fixtures/spin.toml"), app.join("spin.toml")).unwrap();
        app
    })
}

/// Run `work` with a connection to `url`, on a throwaway tokio runtime of
/// its own thread, so sync helpers and async tests can both call it.
fn on_db<T, F>(url: &str, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce(tokio_postgres::Client) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>> + Send + 'static,
{
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect to test Postgres");
            tokio::spawn(connection);
            work(client).await
        })
    })
    .join()
    .unwrap()
}

/// Run SQL statements on `url`.
pub fn sql(url: &str, statements: &str) {
    let statements = statements.to_owned();
    on_db(url, move |client| Box::pin(async move { client.batch_execute(&statements).await.expect("SQL runs") }))
}

/// The first column of the first row of `query` on `url`, as text.
pub fn query_scalar(url: &str, query: &str) -> String {
    let query = format!("select ({query})::text");
    on_db(url, move |client| {
        Box::pin(async move {
            let row = client.query_one(&query, &[]).await.expect("query runs");
            row.get::<_, Option<String>>(0).unwrap_or_default()
        })
    })
}

/// Give a fresh database what the stack expects of it: Supabase's roles and
/// `auth`/`storage` schemas (the project's compatibility bootstrap, which
/// the Storage API needs) and the table the probe uses.
fn prepare(url: &str) {
    let bootstrap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pg_extension/bootstrap/supabase_compat.sql");
    sql(url, &std::fs::read_to_string(bootstrap).expect("the Supabase compatibility bootstrap"));
    sql(url, "create table probe_tx (n int)");
}

/// A database of this test process, prepared for the stack.
pub fn database() -> &'static str {
    static DB: OnceLock<String> = OnceLock::new();
    DB.get_or_init(|| {
        let admin = test_pg();
        let name = format!("ourvidz_runtime_test_{}", std::process::id());
        sql(&admin, &format!("drop database if exists {name} with (force)"));
        sql(&admin, &format!("create database {name}"));
        let mut url = url::Url::parse(&admin).expect("OURVIDZ_TEST_PG is a URL");
        url.set_path(&name);
        let url = url.to_string();
        prepare(&url);
        url
    })
}

/// How to start a host.
#[derive(Clone)]
pub struct HostOptions {
    pub db_url: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl HostOptions {
    pub fn new(db_url: &str) -> HostOptions {
        HostOptions {
            db_url: db_url.to_owned(),
            args: vec![],
            env: vec![("SPIN_VARIABLE_PROBE_TOKEN".into(), "probe-token".into())],
        }
    }

    pub fn arg(mut self, flag: &str, value: impl ToString) -> HostOptions {
        self.args.push(flag.to_owned());
        self.args.push(value.to_string());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> HostOptions {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without_env(mut self, name: &str) -> HostOptions {
        self.env.retain(|(n, _)| n != name);
        self
    }
}

/// A running `ourvidz up`.
pub struct Host {
    pub url: String,
    pub home: PathBuf,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

fn command(options: &HostOptions, home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ourvidz"));
    cmd.args(["up", "--no-build", "--no-worker", "--listen", "127.0.0.1:0", "--db-url", &options.db_url])
        .arg("--manifest")
        .arg(app_dir().join("spin.toml"))
        .arg("--supabase-config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supabase/config.toml"))
        .arg("--home")
        .arg(home)
        .arg("--compile-cache")
        .arg(std::env::temp_dir().join("ourvidz-runtime-tests-wasm-cache"))
        .args(&options.args)
        .env_remove("OURVIDZ_JWT_SECRET")
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The host dies with the thread that started it (see `Host::shared`).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd
}

impl Host {
    /// Start a host; `Err` carries its stderr when it exits instead of serving.
    pub fn try_start(options: &HostOptions) -> Result<Host, String> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let home = scratch().join(format!("home-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        let mut child = command(options, &home).spawn().expect("ourvidz starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("API URL:") {
                    let _ = tx.send(url.trim().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let errors = Arc::new(Mutex::new(String::new()));
        let error_sink = errors.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[ourvidz] {line}");
                error_sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(url) => Ok(Host { url, home, child, logs }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                Err(errors.lock().unwrap().clone())
            }
        }
    }

    pub fn start(options: &HostOptions) -> Host {
        Host::try_start(options).unwrap_or_else(|stderr| panic!("ourvidz up did not start:\n{stderr}"))
    }

    /// The host most tests share: started once, from a thread that lives as
    /// long as the test process, so it stops when the tests end.
    pub fn shared() -> &'static Host {
        static SHARED: OnceLock<Host> = OnceLock::new();
        SHARED.get_or_init(|| {
            let options = HostOptions::new(database())
                .arg("--request-timeout-ms", 3000)
                .arg("--max-body-bytes", 1 << 20)
                .arg("--pg-pool-size", 4)
                .env("SPIN_VARIABLE_GREETING", "hello from the environment");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(Host::start(&options));
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("shared host starts")
        })
    }

    pub fn function(&self, path: &str) -> String {
        format!("{}/functions/v1/{path}", self.url)
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// A token signed with the test secret.
pub fn token(role: &str, sub: Option<&str>, issued: i64, ttl: i64) -> String {
    ourvidz_jwt::sign(&ourvidz_jwt::access_token_claims(role, sub, issued, ttl), SECRET)
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Postgres cluster of the test's own, started with the project's shell
/// helpers (as the `postgres` user when run as root); stopped on drop.
pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
}

fn pg_sh(script: &str) {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/pg.sh");
    let status = Command::new("bash").arg("-c").arg(format!("set -e; source {}; {script}", lib.display())).status().unwrap();
    assert!(status.success(), "pg.sh: {script}");
}

impl Cluster {
    pub fn start() -> Cluster {
        let dir = scratch().join(format!("cluster-{}", free_port()));
        let port = free_port();
        pg_sh(&format!("pg_cluster_init {} postgres; pg_cluster_start {} {port} '-c fsync=off'", dir.display(), dir.display()));
        let cluster = Cluster { dir, port };
        prepare(&cluster.url());
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres:postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn stop(&self) {
        pg_sh(&format!("pg_cluster_stop {}", self.dir.display()));
    }

    pub fn restart(&self) {
        pg_sh(&format!("pg_cluster_start {} {} '-c fsync=off'", self.dir.display(), self.port));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
