//! The HTTP server of the local stack (axum): `GET /health`, the Storage API
//! nested at `/storage/v1`, the app page (`web/`) at `/`, and every other path
//! routed to the Spin components by the manifest's triggers, behind the
//! gateway rules.
//!
//! Per function request: `verify_jwt` is enforced, except for `OPTIONS` (the
//! CORS preflight, which the function answers itself, as on Supabase); the
//! body is read up to the limit; the component gets the
//! request with Spin's `spin-*` headers (full URL, path info, matched route,
//! component route, base path, client address) and `x-request-id`; the whole
//! call is bounded by the request timeout. Every request leaves one JSON log
//! line on stdout ([`log`]: request id, method, path, function, status, duration) and
//! carries its id back in `x-request-id` and `sb-request-id`. Shutdown stops
//! accepting at once and lets in-flight requests finish until a deadline.

use std::io::Write;
use std::net::SocketAddr;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{header, HeaderName, HeaderValue, Method};
use http_body_util::Full;
use tower_http::services::{ServeDir, ServeFile};

use crate::engine::{InvokeError, Runtime};
use crate::gateway::{self, GatewayConfig, GatewayError};
use crate::manifest::{HttpTrigger, Manifest};

/// Knobs of the gateway that Supabase's config file has no keys for.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub verifier: ourvidz_jwt::Verifier,
}

/// What every request handler shares.
pub struct AppState {
    pub manifest: Manifest,
    pub runtime: Runtime,
    pub gateway: GatewayConfig,
    pub settings: ServerSettings,
}

/// Which function served a request, for the log line.
#[derive(Clone)]
struct ServedBy(String);

/// Why the host answered with an error, for the log line only.
#[derive(Clone)]
struct ErrorDetail(String);

/// The whole application: health, the app `page`, the Supabase-compatible
/// services mounted at their prefixes (`/storage/v1`, ...), the functions for
/// every other path, and request logging around all of it.
pub fn router(app: Arc<AppState>, services: Vec<(&'static str, Router)>, page: Router) -> Router {
    let mut router = Router::new().route("/health", get(health)).fallback(functions).with_state(app).merge(page);
    for (prefix, service) in services {
        // As a service, not a nested Router: `nest` turns the service's `/`
        // into the bare prefix, so `/rest/v1/` would reach the functions' 404.
        router = router.nest_service(prefix, service);
    }
    router.layer(middleware::from_fn(log_request))
}

/// The app page as static files of the `web` folder, for GET and HEAD:
/// `/` is its index.html, `/app/...` its modules and styles, and
/// `/vendor/supabase.js` the browser build of the supabase-js that
/// web/package.json pins (installed by scripts/setup.sh).
pub fn page(web: &Path) -> Router {
    Router::new()
        .route_service("/", ServeFile::new(web.join("index.html")))
        .nest_service("/app", ServeDir::new(web.join("app")))
        .route_service("/vendor/supabase.js", ServeFile::new(web.join("node_modules/@supabase/supabase-js/dist/umd/supabase.js")))
}

async fn health(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let functions: Vec<&String> = app.manifest.components.keys().collect();
    Json(serde_json::json!({"status": "ok", "application": app.manifest.name, "functions": functions}))
}

async fn functions(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let Some((trigger, path_info)) = app.manifest.route(&path) else {
        return GatewayError::NotFound.into_response();
    };
    let mut response = match invoke(&app, trigger, &path_info, request).await {
        Ok(response) => response,
        Err((error, detail)) => {
            let mut response = error.into_response();
            response.extensions_mut().insert(ErrorDetail(detail));
            response
        }
    };
    response.extensions_mut().insert(ServedBy(trigger.component.clone()));
    response
}

async fn invoke(
    app: &AppState,
    trigger: &HttpTrigger,
    path_info: &str,
    request: Request,
) -> Result<Response, (GatewayError, String)> {
    let plain = |e: GatewayError| {
        let detail = e.to_string();
        (e, detail)
    };
    // The request timeout bounds the whole call, the body's arrival included.
    let timeout = app.settings.request_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    // A browser's preflight carries no token; Supabase's edge runtime lets it
    // through to the function, whose answer it is.
    if request.method() != Method::OPTIONS && app.gateway.verify_jwt(&trigger.component) {
        gateway::authorize(request.headers(), &app.settings.verifier, chrono::Utc::now().timestamp()).map_err(plain)?;
    }
    let limit = app.settings.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(plain(GatewayError::PayloadTooLarge { limit }));
    }
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (mut parts, body) = request.into_parts();
    let body = gateway::read_body(body, limit, deadline, timeout).await?;

    let authority = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let full_url = format!("http://{authority}{path_and_query}");
    parts.uri = full_url.parse().map_err(|e: http::uri::InvalidUri| (GatewayError::UnreadableBody, e.to_string()))?;
    let spin_headers = [
        ("spin-full-url", full_url.as_str()),
        ("spin-path-info", path_info),
        ("spin-matched-route", trigger.raw_route.as_str()),
        ("spin-raw-component-route", trigger.raw_route.as_str()),
        ("spin-component-route", trigger.route.base()),
        ("spin-base-path", "/"),
    ];
    for (name, value) in spin_headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            parts.headers.insert(HeaderName::from_static(name), value);
        }
    }
    if let Some(client) = client.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
        parts.headers.insert(HeaderName::from_static("spin-client-addr"), client);
    }
    let request = http::Request::from_parts(parts, Full::new(body));

    let response = match tokio::time::timeout_at(deadline, app.runtime.handle(&trigger.component, request)).await {
        Err(_) => return Err(plain(GatewayError::Timeout { after: timeout })),
        Ok(Err(e)) => {
            let error = match e {
                InvokeError::Instantiate(_) => GatewayError::Unavailable,
                InvokeError::Trap(_) | InvokeError::Handler(_) => GatewayError::FunctionFailed,
            };
            return Err((error, e.to_string()));
        }
        Ok(Ok(response)) => response,
    };
    Ok(response.map(Body::from))
}

async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = uuid::Uuid::new_v4().to_string();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let id_header = HeaderValue::from_str(&id).ok();
    if let Some(value) = &id_header {
        request.headers_mut().insert(HeaderName::from_static("x-request-id"), value.clone());
    }
    let mut response = next.run(request).await;
    if let Some(value) = id_header {
        response.headers_mut().insert(HeaderName::from_static("x-request-id"), value.clone());
        response.headers_mut().insert(HeaderName::from_static("sb-request-id"), value);
    }
    let status = response.status().as_u16();
    let mut fields = serde_json::json!({
        "request_id": id,
        "method": method,
        "path": path,
        "function": response.extensions().get::<ServedBy>().map(|s| s.0.clone()),
        "status": status,
        "duration_ms": (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
    });
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        fields["error"] = serde_json::Value::from(detail.clone());
    }
    let level = if status >= 500 { "error" } else if status >= 400 { "warn" } else { "info" };
    log(level, "request", fields);
    response
}

/// Write one JSON log line on stdout — `ts`, `level`, `msg`, then `fields`
/// (an object) — the format of every line the stack logs: requests, and the
/// events of the processes it supervises.
pub fn log(level: &str, msg: &str, fields: serde_json::Value) {
    let mut line = serde_json::json!({
        "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": level,
        "msg": msg,
    });
    if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    // A closed stdout must not take the server down with it.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Serve `app` on `listener` until `shutdown` resolves, then stop accepting
/// and give in-flight requests `grace` to finish. Returns how the server
/// ended: `Ok(true)` when every request finished in time.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<bool> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
    let mut task = tokio::spawn(async move { server.await });
    tokio::select! {
        finished = &mut task => return finished.map_err(std::io::Error::other)?.map(|()| true),
        () = shutdown => {}
    }
    let _ = stop.send(());
    match tokio::time::timeout(grace, &mut task).await {
        Ok(finished) => finished.map_err(std::io::Error::other)?.map(|()| true),
        Err(_) => {
            task.abort();
            Ok(false)
        }
    }
}
