//! `ourvidz up`: the local stack in the foreground, in the order
//! `supabase start` + `spin build` + `spin up` would do it — start the
//! project's Postgres (`scripts/db.sh start`, unless a database URL is
//! given), build the components with the manifest's own build commands,
//! bind the API port, resolve the application variables (the stack supplies
//! the Supabase ones), compile the components, mount the Storage API, start
//! the reference worker (supervised: restarted with backoff when it dies) and
//! the scheduled storage-deletion drain, print the URLs and keys, and serve
//! until Ctrl-C or SIGTERM; then stop in reverse order and leave the data in
//! place. With no auth server locally, `up` also makes (once) a demo user and
//! prints a sign-in link for the app page: the page's URL with an access
//! token in its fragment, as Supabase's implicit grant redirects.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::engine::{EngineError, EngineSettings, Runtime};
use crate::gateway::{ConfigError, GatewayConfig};
use crate::manifest::{Manifest, ManifestError};
use crate::pg::pool::{PgPools, PoolSettings};
use crate::server::{AppState, ServerSettings};
use crate::state::{StackState, StateFile};
use crate::variables::{AppVariables, VariableError};
use crate::worker::{Supervisor, WorkerEnv};

/// Expiry of the demo anon and service_role keys, as `supabase start` mints them.
const DEMO_KEY_EXPIRY: i64 = 1_983_812_996;

/// The user `up` signs the page in as.
pub const DEMO_EMAIL: &str = "demo@example.com";

/// How long a sign-in link's token lasts (`ourvidz link` makes a new one).
pub const SIGN_IN_TTL_SECONDS: i64 = 24 * 3600;

/// Everything `up` is told.
pub struct UpOptions {
    pub project: PathBuf,
    pub home: PathBuf,
    pub manifest: PathBuf,
    pub supabase_config: PathBuf,
    pub db_url: Option<String>,
    pub build: bool,
    pub worker: bool,
    pub listen: SocketAddr,
    pub jwt_secret: Vec<u8>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// How often the storage-deletion drain runs while it finds work
    /// (`None`: never).
    pub drain_interval: Option<Duration>,
    pub pool: PoolSettings,
    pub engine: EngineSettings,
    pub max_upload_bytes: u64,
}

/// Why the stack did not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{0} is already running a stack (pid {1}); run `ourvidz stop` first")]
    AlreadyRunning(String, u32),
    #[error("scripts/db.sh {command} failed: {detail}")]
    Database { command: String, detail: String },
    #[error("building component {component:?} failed: {detail}")]
    Build { component: String, detail: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("the Storage API cannot start: {0}")]
    Storage(String),
    #[error("Realtime cannot start: {0}")]
    Realtime(String),
    #[error("the REST API cannot start: {0}")]
    Rest(String),
    #[error("the sign-in user cannot be made: {0}")]
    SignIn(String),
    #[error(transparent)]
    SigningKey(#[from] crate::keys::KeyFileError),
    #[error("the JWKS cannot be used: {0}")]
    Jwks(#[from] ourvidz_jwt::KeyError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Variables(#[from] VariableError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Run `scripts/db.sh <command>` for the stack in `home`; its stdout.
pub fn db_script(project: &Path, home: &Path, command: &str) -> Result<String, StackError> {
    let output = std::process::Command::new(project.join("scripts/db.sh"))
        .arg(command)
        .env("OURVIDZ_HOME", home)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| StackError::Database { command: command.into(), detail: e.to_string() })?;
    if !output.status.success() {
        return Err(StackError::Database { command: command.into(), detail: output.status.to_string() });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Run each component's `[component.<id>.build]` commands in its workdir
/// (relative to the manifest), as `spin build` does. `CARGO_TARGET_DIR` is
/// cleared so the output lands where the manifest's `source` expects it.
async fn build(manifest: &Manifest) -> Result<(), StackError> {
    for component in manifest.components.values() {
        let Some(build) = &component.build else { continue };
        let workdir = manifest.dir.join(build.workdir.as_deref().unwrap_or(""));
        for command in build.command.iter() {
            eprintln!("building {}: {command}", component.id);
            let status = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&workdir)
                .env_remove("CARGO_TARGET_DIR")
                .status()
                .await?;
            if !status.success() {
                return Err(StackError::Build { component: component.id.clone(), detail: format!("`{command}` {status}") });
            }
        }
    }
    Ok(())
}

fn demo_key(role: &str, secret: &[u8]) -> String {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from("supabase-demo"));
    claims.insert("role".into(), Value::from(role));
    claims.insert("exp".into(), Value::from(DEMO_KEY_EXPIRY));
    ourvidz_jwt::sign(&claims, secret)
}

fn host_port(db_url: &str) -> String {
    url::Url::parse(db_url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(5432))))
        .unwrap_or_else(|| "127.0.0.1:54322".into())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Start everything, serve until a shutdown signal, stop everything.
pub async fn up(options: UpOptions) -> Result<(), StackError> {
    if let Some(state) = StackState::read(&options.home).filter(StackState::is_running) {
        return Err(StackError::AlreadyRunning(options.home.display().to_string(), state.pid));
    }
    let manifest = Manifest::load(&options.manifest)?;
    let gateway = GatewayConfig::load(&options.supabase_config)?;

    let (db_url, db_managed) = match &options.db_url {
        Some(url) => (url.clone(), false),
        None => {
            let out = db_script(&options.project, &options.home, "start")?;
            let url = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned();
            (url, true)
        }
    };
    let result = serve(&options, manifest, gateway, &db_url, db_managed).await;
    StackState::remove(&options.home);
    if db_managed {
        db_script(&options.project, &options.home, "stop")?;
    }
    result
}

async fn serve(
    options: &UpOptions,
    manifest: Manifest,
    gateway: GatewayConfig,
    db_url: &str,
    db_managed: bool,
) -> Result<(), StackError> {
    if options.build {
        build(&manifest).await?;
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| StackError::Listen { addr: options.listen, source })?;
    let addr = listener.local_addr()?;
    let api_url = format!("http://{addr}");
    let secret = &options.jwt_secret;
    let anon_key = demo_key("anon", secret);
    let service_role_key = demo_key("service_role", secret);
    // The project's keys: the legacy HS256 secret and the stack's own ES256
    // key, published as the JWKS every verifying service is given.
    let signing_key = crate::keys::load_or_create(&options.home)?;
    let jwks = crate::keys::jwks(&[&signing_key]);
    let verifier = ourvidz_jwt::Verifier::hs256(secret).with_jwks(&jwks)?;

    let provided: HashMap<&str, String> = HashMap::from([
        ("SPIN_VARIABLE_SUPABASE_URL", api_url.clone()),
        ("SPIN_VARIABLE_SUPABASE_DB_URL", db_url.to_owned()),
        ("SPIN_VARIABLE_JWT_SECRET", String::from_utf8_lossy(secret).into_owned()),
        ("SPIN_VARIABLE_JWKS", jwks.clone()),
        ("SPIN_VARIABLE_SERVICE_ROLE_KEY", service_role_key.clone()),
        ("SPIN_VARIABLE_DB_HOST", host_port(db_url)),
        ("SPIN_VARIABLE_API_HOST", addr.to_string()),
    ]);
    let app_variables =
        AppVariables::resolve(&manifest, |name| provided.get(name).cloned().or_else(|| std::env::var(name).ok()))?;

    let pools = Arc::new(PgPools::new(options.pool));
    let runtime = Runtime::new(&manifest, &app_variables, options.engine.clone(), pools)?;
    let storage = ourvidz_storage_api::router(ourvidz_storage_api::StorageConfig {
        root: options.home.join("storage"),
        database_url: db_url.to_owned(),
        verifier: verifier.clone(),
        jwt_secret: secret.clone(),
        max_upload_bytes: options.max_upload_bytes,
        body_idle_timeout: options.body_idle_timeout,
    })
    .await
    .map_err(|e| StackError::Storage(e.to_string()))?;
    let rest = ourvidz_rest_api::router(ourvidz_rest_api::RestConfig {
        // PostgREST's own setting name for its row cap.
        max_rows: std::env::var("PGRST_DB_MAX_ROWS").ok().and_then(|v| v.parse().ok()),
        ..ourvidz_rest_api::RestConfig::new(db_url, verifier.clone())
    })
    .await
    .map_err(|e| StackError::Rest(e.to_string()))?;
    publish_to_realtime(db_url).await?;
    let sign_in = sign_in_link(&api_url, db_url, DEMO_EMAIL, secret, SIGN_IN_TTL_SECONDS).await?;
    let realtime = ourvidz_realtime::start(ourvidz_realtime::RealtimeConfig::new(db_url, verifier.clone()))
        .await
        .map_err(|e| StackError::Realtime(e.to_string()))?;
    // The Supabase-compatible services, each mounted at its prefix; the ones
    // Supabase's Kong gives CORS to get it here (/rest/v1 answers its own).
    let cors = crate::gateway::service_cors;
    let services = vec![
        ("/storage/v1", storage.layer(cors())),
        // Realtime's other paths answer the JSON 404 they got when they fell through to the functions.
        ("/realtime/v1", realtime.router().fallback(|| async { crate::gateway::GatewayError::NotFound }).layer(cors())),
        ("/rest/v1", rest),
        (crate::keys::AUTH_PREFIX, crate::keys::router(jwks).layer(cors())),
    ];

    // The drain runs where the application serves it (a manifest without the
    // storage-drain function has nothing to schedule).
    let drain_interval = options.drain_interval.filter(|_| manifest.route(crate::drain::DRAIN_PATH).is_some());
    let app = Arc::new(AppState {
        manifest,
        runtime,
        gateway,
        settings: ServerSettings {
            max_body_bytes: options.max_body_bytes,
            request_timeout: options.request_timeout,
            verifier,
        },
    });
    let router = crate::server::router(app, services, crate::server::page(&options.project.join("web")));

    let state = StackState {
        pid: std::process::id(),
        functions_url: format!("{api_url}/functions/v1"),
        storage_url: format!("{api_url}/storage/v1"),
        api_url: api_url.clone(),
        db_url: db_url.to_owned(),
        db_managed,
        processes: Default::default(),
    };
    let state_file = Arc::new(StateFile::create(&options.home, state.clone())?);
    println!("Started ourvidz local development setup.\n");
    println!("         API URL: {}", state.api_url);
    println!("   Functions URL: {}", state.functions_url);
    println!("     Storage URL: {}", state.storage_url);
    println!("          DB URL: {}", state.db_url);
    println!("      JWT secret: {}", String::from_utf8_lossy(secret));
    println!("        anon key: {anon_key}");
    println!("service_role key: {service_role_key}");
    println!("            JWKS: {api_url}{}", crate::keys::JWKS_PATH);
    println!("        Page URL: {api_url}/");
    println!("    Sign-in link: {sign_in}");
    println!("                 ({DEMO_EMAIL}, valid {} h; `ourvidz link [--email ...]` makes another)", SIGN_IN_TTL_SECONDS / 3600);
    println!();

    let worker_env = WorkerEnv { supabase_url: &api_url, anon_key: &anon_key, service_role_key: &service_role_key };
    let worker = options
        .worker
        .then(|| crate::worker::reference_worker(&worker_env))
        .flatten()
        .map(|spec| Supervisor::start(spec, state_file.clone(), options.shutdown_grace));
    let drain = drain_interval.map(|interval| crate::drain::spawn(router.clone(), service_role_key.clone(), interval));

    let finished = crate::server::serve(listener, router, shutdown_signal(), options.shutdown_grace).await?;
    if let Some(drain) = drain {
        drain.abort();
    }
    if !finished {
        eprintln!("shutdown: in-flight requests did not finish within {} ms; dropped", options.shutdown_grace.as_millis());
    }
    // Websockets outlive the HTTP server's graceful stop: close them (clients
    // reconnect) and end the change reader, whose temporary slot goes with it.
    realtime.stop().await;
    if let Some(worker) = worker {
        worker.stop().await;
    }
    Ok(())
}

/// A link that signs the app page at `api_url` in as the user with `email`
/// (made in auth.users if there is none): an access token for `ttl_seconds`,
/// signed with the project's secret, in the URL fragment (never sent to a
/// server), as Supabase's implicit grant redirects to an app — and the
/// project's anon key (`apikey`), which a hosted app has in its config.
pub async fn sign_in_link(api_url: &str, db_url: &str, email: &str, secret: &[u8], ttl_seconds: i64) -> Result<String, StackError> {
    let failed = |e: tokio_postgres::Error| StackError::SignIn(e.to_string());
    let (client, connection) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await.map_err(failed)?;
    let connection = tokio::spawn(connection);
    let row = client
        .query_one(
            "with existing as (select id from auth.users where email = $1 order by created_at, id limit 1),
                  created as (insert into auth.users (id, email, aud, role)
                              select gen_random_uuid(), $1, 'authenticated', 'authenticated'
                              where not exists (select from existing)
                              returning id)
             select id from existing union all select id from created",
            &[&email],
        )
        .await;
    drop(client);
    let _ = connection.await;
    let user: uuid::Uuid = row.map_err(failed)?.get(0);
    let mut claims = ourvidz_jwt::access_token_claims("authenticated", Some(&user.to_string()), chrono::Utc::now().timestamp(), ttl_seconds);
    claims.insert("email".into(), Value::from(email));
    let token = ourvidz_jwt::sign(&claims, secret);
    let anon_key = demo_key("anon", secret);
    Ok(format!("{api_url}/#access_token={token}&token_type=bearer&expires_in={ttl_seconds}&apikey={anon_key}"))
}

/// Make sure the `supabase_realtime` publication exists, as Supabase's image
/// creates it at init, and holds the ourvidz tables: the extension adds them
/// itself only when the publication already exists at install time
/// (pg_extension/sql/realtime.sql).
async fn publish_to_realtime(db_url: &str) -> Result<(), StackError> {
    let failed = |e: tokio_postgres::Error| StackError::Realtime(e.to_string());
    let (client, connection) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await.map_err(failed)?;
    let connection = tokio::spawn(connection);
    let published = client
        .batch_execute(
            "do $$ begin
                 if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
                     create publication supabase_realtime;
                 end if;
                 if to_regprocedure('ourvidz_private.publish_to_realtime()') is not null then
                     perform ourvidz_private.publish_to_realtime();
                 end if;
             end $$",
        )
        .await;
    drop(client);
    let _ = connection.await;
    published.map_err(failed)
}
