//! The `ourvidz` command line: `up` (the whole local stack in the
//! foreground), `status`, `stop`, `token` (dev JWTs signed with the
//! project's HS256 secret or the stack's ES256 key) and `link` (a sign-in
//! link for the app page, as a user made in the running stack's database). Paths default to the
//! project the current directory is in (the nearest ancestor with
//! `functions/spin.toml`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::stack::{self, UpOptions};
use crate::state::StackState;

/// Supabase's well-known local JWT secret (what `supabase start` uses).
pub const DEFAULT_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

#[derive(Parser)]
#[command(name = "ourvidz", version, about = "The ourvidz local stack: Postgres, the Spin functions on wasmtime, and the Storage API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Paths {
    /// The project root (default: the nearest ancestor of the current
    /// directory holding functions/spin.toml).
    #[arg(long, env = "OURVIDZ_PROJECT_DIR", global = true)]
    project_dir: Option<PathBuf>,
    /// Where the stack keeps its data and state (default: <project>/.ourvidz).
    #[arg(long, env = "OURVIDZ_HOME", global = true)]
    home: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Start Postgres, build and serve the functions and the Storage API, in
    /// the foreground until Ctrl-C or SIGTERM.
    Up(Up),
    /// Show whether a stack is running, where, and how its processes are.
    Status(Paths),
    /// Stop a running stack and its database.
    Stop(Paths),
    /// Print an access token signed with the project's HS256 secret or
    /// with the stack's ES256 key (the one its JWKS publishes).
    Token(Token),
    /// Print a link that opens the app page of the running stack signed in
    /// as the user with this email (made in auth.users if there is none).
    Link(Link),
}

#[derive(clap::Args)]
struct Link {
    #[command(flatten)]
    paths: Paths,
    /// The user's email; another email is another user, side by side.
    #[arg(long, default_value = stack::DEMO_EMAIL)]
    email: String,
    /// Lifetime of the link's token in seconds.
    #[arg(long, default_value_t = stack::SIGN_IN_TTL_SECONDS)]
    ttl: i64,
    #[command(flatten)]
    secret: Secret,
}

#[derive(clap::Args)]
struct Up {
    #[command(flatten)]
    paths: Paths,
    /// Use this database instead of starting the project's cluster.
    #[arg(long)]
    db_url: Option<String>,
    /// Serve the components as they are, without building them first.
    #[arg(long)]
    no_build: bool,
    /// Do not start the reference worker.
    #[arg(long)]
    no_worker: bool,
    /// Address to serve on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:54321")]
    listen: SocketAddr,
    /// The Spin manifest (default: <project>/functions/spin.toml).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The Supabase config (default: <project>/supabase/config.toml).
    #[arg(long)]
    supabase_config: Option<PathBuf>,
    #[command(flatten)]
    secret: Secret,
    /// Largest request body a function accepts (bytes); larger is a 413.
    #[arg(long, default_value_t = 6 << 20)]
    max_body_bytes: usize,
    /// How long a function request may take, its body's arrival included,
    /// before the gateway answers 408 (body still arriving) or 504.
    #[arg(long, default_value_t = 150_000)]
    request_timeout_ms: u64,
    /// How long the Storage API waits for the next chunk of a request body
    /// before it answers 408.
    #[arg(long, default_value_t = 30_000)]
    body_idle_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests (and the worker).
    #[arg(long, default_value_t = 10_000)]
    shutdown_grace_ms: u64,
    /// How often the storage-deletion drain (the storage-drain function)
    /// runs while it finds work; idle, it backs off to once a minute. 0: never.
    #[arg(long, default_value_t = 5_000)]
    drain_interval_ms: u64,
    /// Postgres connections per database address shared by all guests.
    #[arg(long, default_value_t = 16)]
    pg_pool_size: usize,
    /// How long a guest waits for a pooled connection before connection-failed.
    #[arg(long, default_value_t = 5_000)]
    pg_pool_wait_ms: u64,
    /// Most requests served at once (instances in wasmtime's pool); past it 503.
    #[arg(long, default_value_t = 256)]
    max_instances: u32,
    /// Where compiled components are cached (default: <home>/wasm-cache).
    #[arg(long)]
    compile_cache: Option<PathBuf>,
    /// Largest object the Storage API accepts (bytes).
    #[arg(long, default_value_t = 1 << 30)]
    max_upload_bytes: u64,
}

#[derive(clap::Args, Clone)]
struct Secret {
    /// The project's JWT secret (HS256).
    #[arg(long, env = "OURVIDZ_JWT_SECRET", default_value = DEFAULT_JWT_SECRET, hide_default_value = true)]
    jwt_secret: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Role {
    Authenticated,
    #[value(name = "service_role")]
    Service,
    Anon,
}

/// How a token is signed.
#[derive(Clone, Copy, ValueEnum)]
enum Alg {
    /// With the project's legacy JWT secret.
    Hs256,
    /// With the stack's ES256 key under its home (made if it does not exist yet).
    Es256,
}

#[derive(clap::Args)]
struct Token {
    #[command(flatten)]
    paths: Paths,
    /// The user id (`sub`); required for role authenticated.
    #[arg(long)]
    user: Option<uuid::Uuid>,
    #[arg(long, value_enum, default_value = "authenticated")]
    role: Role,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    #[arg(long, value_enum, default_value = "hs256")]
    alg: Alg,
    #[command(flatten)]
    secret: Secret,
}

/// Parse the command line and run it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(up) => up_command(up),
        Command::Status(paths) => status(&paths),
        Command::Stop(paths) => stop(&paths),
        Command::Token(token) => mint(&token),
        Command::Link(link) => sign_in_link(&link),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn project_dir(paths: &Paths) -> PathBuf {
    if let Some(dir) = &paths.project_dir {
        return dir.clone();
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    cwd.ancestors()
        .find(|d| d.join("functions/spin.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn home(paths: &Paths, project: &Path) -> PathBuf {
    paths.home.clone().unwrap_or_else(|| project.join(".ourvidz"))
}

fn up_command(up: Up) -> Result<ExitCode, String> {
    let project = project_dir(&up.paths);
    let home = home(&up.paths, &project);
    let options = UpOptions {
        home: home.clone(),
        manifest: up.manifest.unwrap_or_else(|| project.join("functions/spin.toml")),
        supabase_config: up.supabase_config.unwrap_or_else(|| project.join("supabase/config.toml")),
        project,
        db_url: up.db_url,
        build: !up.no_build,
        worker: !up.no_worker,
        listen: up.listen,
        jwt_secret: up.secret.jwt_secret.into_bytes(),
        max_body_bytes: up.max_body_bytes,
        request_timeout: Duration::from_millis(up.request_timeout_ms),
        body_idle_timeout: Duration::from_millis(up.body_idle_timeout_ms),
        shutdown_grace: Duration::from_millis(up.shutdown_grace_ms),
        drain_interval: (up.drain_interval_ms > 0).then(|| Duration::from_millis(up.drain_interval_ms)),
        pool: crate::pg::pool::PoolSettings { max_size: up.pg_pool_size, wait: Duration::from_millis(up.pg_pool_wait_ms) },
        engine: crate::engine::EngineSettings {
            max_instances: up.max_instances,
            cache_dir: up.compile_cache.unwrap_or_else(|| home.join("wasm-cache")),
        },
        max_upload_bytes: up.max_upload_bytes,
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start tokio: {e}"))?;
    runtime.block_on(stack::up(options)).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn status(paths: &Paths) -> Result<ExitCode, String> {
    let project = project_dir(paths);
    let home = home(paths, &project);
    let db = stack::db_script(&project, &home, "status").map(|_| "running").unwrap_or("stopped");
    match StackState::read(&home) {
        Some(state) if state.is_running() => {
            println!("ourvidz is running (pid {})", state.pid);
            println!("         API URL: {}", state.api_url);
            println!("   Functions URL: {}", state.functions_url);
            println!("     Storage URL: {}", state.storage_url);
            println!("          DB URL: {}", state.db_url);
            println!("        database: {db}");
            for (name, process) in &state.processes {
                println!("{name:>16}: {}", describe_process(process));
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            println!("ourvidz is not running (database: {db})");
            Ok(ExitCode::from(3))
        }
    }
}

/// `running (pid 41), restarted 2 times, last exit: signal: 9 (SIGKILL) at …`.
fn describe_process(process: &crate::state::ProcessState) -> String {
    let mut text = match process.pid {
        Some(pid) => format!("{} (pid {pid})", process.status),
        None => process.status.clone(),
    };
    if process.restarts > 0 {
        let times = if process.restarts == 1 { "time" } else { "times" };
        text.push_str(&format!(", restarted {} {times}", process.restarts));
    }
    if let Some(exit) = &process.last_exit {
        text.push_str(&format!(", last exit: {exit}"));
        if let Some(at) = &process.last_exit_at {
            text.push_str(&format!(" at {at}"));
        }
    }
    text
}

fn stop(paths: &Paths) -> Result<ExitCode, String> {
    let project = project_dir(paths);
    let home = home(paths, &project);
    let state = StackState::read(&home);
    if let Some(state) = state.as_ref().filter(|s| s.is_running()) {
        crate::state::terminate(state.pid);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while state.is_running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if state.is_running() {
            return Err(format!("ourvidz (pid {}) did not stop within 60 s", state.pid));
        }
        println!("stopped ourvidz (pid {})", state.pid);
    }
    StackState::remove(&home);
    if state.is_none_or(|s| s.db_managed) {
        stack::db_script(&project, &home, "stop").map_err(|e| e.to_string())?;
        println!("stopped the database");
    }
    Ok(ExitCode::SUCCESS)
}

fn sign_in_link(link: &Link) -> Result<ExitCode, String> {
    let home = home(&link.paths, &project_dir(&link.paths));
    let state = StackState::read(&home)
        .filter(StackState::is_running)
        .ok_or_else(|| format!("no stack is running in {}: start one with `ourvidz up`", home.display()))?;
    if link.ttl <= 0 {
        return Err("--ttl must be positive".into());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start tokio: {e}"))?;
    let secret = link.secret.jwt_secret.as_bytes();
    let url = runtime
        .block_on(stack::sign_in_link(&state.api_url, &state.db_url, &link.email, secret, link.ttl))
        .map_err(|e| e.to_string())?;
    println!("{url}");
    Ok(ExitCode::SUCCESS)
}

fn mint(token: &Token) -> Result<ExitCode, String> {
    let (role, sub) = match token.role {
        Role::Authenticated => {
            let user = token.user.ok_or("--user <uuid> is required for role authenticated")?;
            ("authenticated", Some(user.to_string()))
        }
        Role::Service => ("service_role", token.user.map(|u| u.to_string())),
        Role::Anon => ("anon", token.user.map(|u| u.to_string())),
    };
    if token.ttl <= 0 {
        return Err("--ttl must be positive".into());
    }
    let now = chrono::Utc::now().timestamp();
    let claims = ourvidz_jwt::access_token_claims(role, sub.as_deref(), now, token.ttl);
    let key = match token.alg {
        Alg::Hs256 => ourvidz_jwt::SigningKey::hs256(token.secret.jwt_secret.as_bytes()).map_err(|e| e.to_string())?,
        Alg::Es256 => {
            let project = project_dir(&token.paths);
            crate::keys::load_or_create(&home(&token.paths, &project)).map_err(|e| e.to_string())?
        }
    };
    println!("{}", key.sign(&claims));
    Ok(ExitCode::SUCCESS)
}
