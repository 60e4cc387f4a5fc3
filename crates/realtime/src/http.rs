//! The HTTP face of Realtime: the websocket upgrade at `/websocket`
//! (`?apikey=<key>&vsn=1.0.0|2.0.0`, the key checked before upgrading, as
//! RealtimeWeb.UserSocket.connect does; refusals are JSON `{"error": ...}`)
//! and `POST /api/broadcast` (`{"messages": [{topic, event, payload,
//! private}]}` → 202), which realtime-js' `httpSend` and server code use to
//! broadcast without a socket. Private topics are authorised by policies on
//! `realtime.messages`, which this server does not keep, so their messages
//! are accepted and not delivered, as Realtime does with unauthorised ones.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{self, AuthError};
use crate::protocol::{self, Vsn};
use crate::{socket, Shared};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/websocket", get(websocket))
        .route("/api/broadcast", post(broadcast))
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed") })
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found") })
        .with_state(shared)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The connect-time texts of RealtimeWeb.UserSocket.handle_error.
fn unauthorized(refusal: AuthError) -> Response {
    let message = match refusal {
        AuthError::Expired { .. } => "Token has expired".to_owned(),
        other => other.message(),
    };
    error(StatusCode::UNAUTHORIZED, message)
}

async fn websocket(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(vsn) = Vsn::from_param(params.get("vsn").map(String::as_str)) else {
        return error(StatusCode::BAD_REQUEST, "Unsupported serializer version (vsn): use 1.0.0 or 2.0.0");
    };
    let apikey = headers.get("x-api-key").and_then(|v| v.to_str().ok()).or(params.get("apikey").map(String::as_str));
    let Some(apikey) = apikey else {
        return error(StatusCode::UNAUTHORIZED, "API key is missing");
    };
    let access = match auth::authorize(&shared.config.verifier, apikey, auth::now()) {
        Ok(access) => access,
        Err(e) => return unauthorized(e),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let max = shared.config.limits.max_frame_bytes;
    upgrade.max_message_size(max).max_frame_size(max).on_upgrade(move |ws| socket::serve(shared, ws, vsn, access))
}

#[derive(Deserialize)]
struct BroadcastRequest {
    messages: Vec<BroadcastMessage>,
}

#[derive(Deserialize)]
struct BroadcastMessage {
    topic: String,
    event: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    private: bool,
}

async fn broadcast(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token = header("authorization").and_then(ourvidz_jwt::bearer_token).or(header("apikey"));
    let Some(token) = token else {
        return error(StatusCode::UNAUTHORIZED, "API key is missing");
    };
    if let Err(e) = auth::authorize(&shared.config.verifier, token, auth::now()) {
        return unauthorized(e);
    }
    let request: BroadcastRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid broadcast request: {e}")),
    };
    for message in request.messages.into_iter().filter(|m| !m.private) {
        let topic = format!("realtime:{}", message.topic);
        let payload = json!({"type": "broadcast", "event": message.event, "payload": message.payload}).to_string();
        shared.hub.broadcast(&topic, None, |vsn| Some(protocol::broadcast_raw(vsn, &topic, "broadcast", &payload)));
    }
    StatusCode::ACCEPTED.into_response()
}
