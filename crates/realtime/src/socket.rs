//! One websocket connection, as Phoenix.Socket and RealtimeWeb.RealtimeChannel
//! handle it: `heartbeat` on topic `phoenix`; `phx_join` on `realtime:<name>`
//! with `config.postgres_changes`, `config.broadcast` and an `access_token`;
//! `access_token` to refresh it; `broadcast`; `phx_leave`. Replies, `system`
//! messages and error texts are supabase/realtime's. A channel lives as long
//! as its token: at `exp` (or on a refresh with a bad token) it is shut down
//! with a `system` error and `phx_close`, and its bindings stop receiving.
//!
//! The connection reads frames in one task and writes from a bounded queue in
//! another ([`Outbox`]); a reader that falls behind by more than the queue's
//! bound is disconnected (close code 1008), and so is one that is silent for
//! `idle_timeout` (realtime-js sends a heartbeat every 25 s).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};

use crate::auth::{self, Access, AuthError};
use crate::changes::SlotState;
use crate::db;
use crate::hub::{Binding, ChannelKey, Listener, Member, Outbox};
use crate::params::{self, ChangeParams};
use crate::protocol::{self, Inbound, Payload, Vsn};
use crate::Shared;

/// Close code for a client that reads too slowly (policy violation).
const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// Close code when the service stops ("going away": clients reconnect).
const CLOSE_GOING_AWAY: u16 = 1001;
/// How long a closing connection may take to accept its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

struct Channel {
    join_ref: Value,
    sub_topic: String,
    access: Access,
    ack_broadcast: bool,
    /// `config.postgres_changes` as joined, to check again when a refresh changes the role.
    requested: Vec<Map<String, Value>>,
    /// The resolved bindings (empty when the channel has no postgres_changes).
    bindings: Vec<Binding>,
}

struct Connection {
    shared: Arc<Shared>,
    conn: u64,
    vsn: Vsn,
    outbox: Outbox,
    /// The `apikey` the socket connected with: the token of joins that bring none.
    socket_access: Access,
    channels: HashMap<String, Channel>,
}

/// Serve one upgraded connection until either side closes it.
pub async fn serve(shared: Arc<Shared>, ws: WebSocket, vsn: Vsn, socket_access: Access) {
    let limits = shared.config.limits.clone();
    let (outbox, mut queue) = Outbox::new(limits.max_queued_bytes);
    let (mut sink, mut stream) = ws.split();
    let closed = tokio_util::sync::CancellationToken::new();

    let writer = {
        let (outbox, closed, shutdown) = (outbox.clone(), closed.clone(), shared.shutdown.clone());
        tokio::spawn(async move {
            let close_code = loop {
                let message = tokio::select! {
                    biased;
                    () = outbox.overflowed.cancelled() => break Some((CLOSE_SLOW_CONSUMER, "slow consumer")),
                    () = shutdown.cancelled() => break Some((CLOSE_GOING_AWAY, "server stopping")),
                    () = closed.cancelled() => break None,
                    message = queue.recv() => match message {
                        Some(message) => message,
                        None => break None,
                    },
                };
                outbox.sent(&message);
                // A send blocks while the client does not read; the overflow
                // must still be noticed then. Dropping the send is safe: the
                // frame stays in the socket's write buffer, ahead of the close.
                tokio::select! {
                    sent = sink.send(message) => if sent.is_err() { break None },
                    () = outbox.overflowed.cancelled() => break Some((CLOSE_SLOW_CONSUMER, "slow consumer")),
                    () = shutdown.cancelled() => break Some((CLOSE_GOING_AWAY, "server stopping")),
                    () = closed.cancelled() => break None,
                }
            };
            if let Some((code, reason)) = close_code {
                let close = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(close)).await;
            }
            closed.cancel();
        })
    };

    let mut connection =
        Connection { conn: shared.hub.next_conn(), shared, vsn, outbox, socket_access, channels: HashMap::new() };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            () = closed.cancelled() => break,
            _ = ticker.tick() => {
                if last_heard.elapsed() > limits.idle_timeout {
                    break;
                }
                connection.expire_tokens(auth::now());
            }
            frame = stream.next() => match frame {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    last_heard = Instant::now();
                    match protocol::decode(vsn, &message) {
                        Some(inbound) => connection.handle(inbound).await,
                        None => tracing::debug!("realtime: ignoring a frame that is not a Phoenix message"),
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => last_heard = Instant::now(),
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            }
        }
    }
    closed.cancel();
    for topic in connection.channels.keys() {
        connection.shared.hub.leave(&ChannelKey { conn: connection.conn, topic: topic.clone() });
    }
    let _ = writer.await;
}

impl Connection {
    fn send(&self, message: Message) {
        self.outbox.send(message);
    }

    fn reply(&self, inbound: &Inbound, status: &str, response: Value) {
        self.send(protocol::reply(self.vsn, &inbound.join_ref, &inbound.reference, &inbound.topic, status, response));
    }

    fn key(&self, topic: &str) -> ChannelKey {
        ChannelKey { conn: self.conn, topic: topic.to_owned() }
    }

    async fn handle(&mut self, inbound: Inbound) {
        if inbound.topic == "phoenix" && inbound.event == "heartbeat" {
            return self.reply(&inbound, "ok", json!({}));
        }
        match inbound.event.as_str() {
            "phx_join" => return self.join(inbound).await,
            "phx_leave" => return self.leave(&inbound),
            _ => {}
        }
        let Some(channel) = self.channels.get(&inbound.topic) else {
            // Phoenix answers a message for a topic this socket has not joined so.
            return self.send(protocol::reply(self.vsn, &Value::Null, &inbound.reference, &inbound.topic, "error", json!({"reason": "unmatched topic"})));
        };
        if !inbound.join_ref.is_null() && inbound.join_ref != channel.join_ref {
            return; // a message for an earlier join of this topic
        }
        match inbound.event.as_str() {
            "access_token" => self.refresh(&inbound).await,
            "broadcast" => self.broadcast(&inbound),
            "presence" => self.reply(&inbound, "error", json!({"reason": "Presence is not available on this server"})),
            event => tracing::debug!(event, "realtime: unexpected message from client"),
        }
    }

    async fn join(&mut self, inbound: Inbound) {
        let topic = inbound.topic.clone();
        let Some(sub_topic) = topic.strip_prefix("realtime:").map(str::to_owned) else {
            return self.send(protocol::reply(self.vsn, &Value::Null, &inbound.reference, &topic, "error", json!({"reason": "unmatched topic"})));
        };
        if self.channels.contains_key(&topic) {
            // A second join of a joined topic replaces the first, as in Phoenix.
            self.end_channel(&topic, None);
        }
        let refuse = |this: &Self, reason: String| this.reply(&inbound, "error", json!({"reason": reason}));
        if sub_topic.is_empty() {
            return refuse(self, "TopicNameRequired: You must provide a topic name".into());
        }
        if self.channels.len() >= self.shared.config.limits.max_channels_per_connection {
            return refuse(self, "ChannelRateLimitReached: Too many channels".into());
        }
        let empty = Map::new();
        let payload = match &inbound.payload {
            Payload::Json(Value::Object(payload)) => payload,
            _ => &empty,
        };
        let config = payload.get("config").and_then(Value::as_object).unwrap_or(&empty);
        let flag = |section: &str, key: &str| config.get(section).and_then(|s| s.get(key)).and_then(Value::as_bool).unwrap_or(false);

        let access = match payload.get("access_token").or_else(|| payload.get("user_token")).and_then(Value::as_str) {
            Some(token) if !token.starts_with("sb_") => auth::authorize(&self.shared.config.verifier, token, auth::now()),
            _ => self.socket_access_now(),
        };
        let access = match access {
            Ok(access) => access,
            Err(error) => return refuse(self, error.join_reason()),
        };
        if config.get("private").and_then(Value::as_bool).unwrap_or(false) {
            // Private channels are authorised by policies on realtime.messages, which this server does not keep.
            return refuse(self, format!("Unauthorized: You do not have permissions to read from this Channel topic: {sub_topic}"));
        }

        let requested: Vec<&Map<String, Value>> = config
            .get("postgres_changes")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default();
        let reply_bindings: Vec<Value> = requested
            .iter()
            .map(|params| {
                let mut echoed = (*params).clone();
                echoed.insert("id".into(), Value::from(params::binding_id(params)));
                Value::Object(echoed)
            })
            .collect();
        let subscribed = if requested.is_empty() { Ok(Vec::new()) } else { self.subscribe(&access, &requested).await };
        let wait = flag("postgres_changes_options", "wait");
        if let (true, Err(reason)) = (wait, &subscribed) {
            return refuse(self, reason.clone());
        }

        let key = self.key(&topic);
        self.shared.hub.join(&key, Member { outbox: self.outbox.clone(), vsn: self.vsn, receive_own: flag("broadcast", "self") });
        let bindings = subscribed.as_ref().cloned().unwrap_or_default();
        if !bindings.is_empty() {
            self.listen(&topic, &access, bindings.clone());
        }
        self.reply(&inbound, "ok", json!({"postgres_changes": reply_bindings}));
        if !requested.is_empty() {
            let (status, message) = match &subscribed {
                Ok(_) => ("ok", "Subscribed to PostgreSQL".to_owned()),
                Err(reason) => ("error", reason.clone()),
            };
            let system = json!({"extension": "postgres_changes", "status": status, "message": message, "channel": sub_topic});
            let system = protocol::push(self.vsn, &inbound.join_ref, &topic, "system", &system);
            let mut slot = self.shared.slot.subscribe();
            if subscribed.is_err() || *slot.borrow() == SlotState::Ready {
                self.send(system);
            } else {
                // Confirmed once changes are being read.
                let outbox = self.outbox.clone();
                tokio::spawn(async move {
                    if slot.wait_for(|state| *state == SlotState::Ready).await.is_ok() {
                        outbox.send(system);
                    }
                });
            }
        }
        let requested = requested.into_iter().cloned().collect();
        let channel =
            Channel { join_ref: inbound.join_ref, sub_topic, access, ack_broadcast: flag("broadcast", "ack"), requested, bindings };
        self.channels.insert(topic, channel);
    }

    /// The socket's own token, re-checked now (it may have expired since connect).
    fn socket_access_now(&self) -> Result<Access, AuthError> {
        auth::authorize(&self.shared.config.verifier, &self.socket_access.token, auth::now())
    }

    /// Resolve every requested binding to published tables, all or none.
    async fn subscribe(&self, access: &Access, requested: &[&Map<String, Value>]) -> Result<Vec<Binding>, String> {
        if requested.len() > self.shared.config.limits.max_changes_per_channel {
            return Err(format!("Too many postgres_changes bindings on one channel (at most {})", self.shared.config.limits.max_changes_per_channel));
        }
        let mut bindings = Vec::new();
        for params in requested {
            let parsed = ChangeParams::parse(params)?;
            let tables = db::subscription_tables(&self.shared.pool, &self.shared.config.publication, &access.role, &parsed)
                .await
                .map_err(|e| e.0)?;
            let id = params::binding_id(params);
            bindings.extend(tables.into_iter().map(|(schema, table)| Binding {
                id,
                event: parsed.event.clone(),
                schema,
                table,
                filters: parsed.filters.clone(),
            }));
        }
        Ok(bindings)
    }

    fn listen(&self, topic: &str, access: &Access, bindings: Vec<Binding>) {
        let listener = Listener {
            topic: topic.to_owned(),
            vsn: self.vsn,
            outbox: self.outbox.clone(),
            role: access.role.clone(),
            claims: access.claims.clone(),
            bindings,
        };
        self.shared.hub.listen(self.key(topic), listener);
    }

    fn leave(&mut self, inbound: &Inbound) {
        let joined = self.channels.get(&inbound.topic).is_some_and(|c| inbound.join_ref.is_null() || inbound.join_ref == c.join_ref);
        self.reply(inbound, "ok", json!({}));
        if joined {
            self.end_channel(&inbound.topic, None);
        }
    }

    /// Close a channel: a `system` error first when there is a reason, then `phx_close`.
    fn end_channel(&mut self, topic: &str, reason: Option<String>) {
        let Some(channel) = self.channels.remove(topic) else { return };
        self.shared.hub.leave(&self.key(topic));
        if let Some(message) = reason {
            let system = json!({"extension": "system", "status": "error", "message": message, "channel": channel.sub_topic});
            self.send(protocol::push(self.vsn, &channel.join_ref, topic, "system", &system));
        }
        self.send(protocol::close(self.vsn, &channel.join_ref, topic));
    }

    fn expire_tokens(&mut self, now: i64) {
        let expired: Vec<(String, i64)> =
            self.channels.iter().filter(|(_, c)| c.access.exp <= now).map(|(t, c)| (t.clone(), now - c.access.exp)).collect();
        for (topic, ago) in expired {
            self.end_channel(&topic, Some(AuthError::Expired { seconds_ago: Some(ago) }.message()));
        }
    }

    async fn refresh(&mut self, inbound: &Inbound) {
        let Payload::Json(payload) = &inbound.payload else { return };
        let Some(token) = payload.get("access_token").and_then(Value::as_str).filter(|t| !t.starts_with("sb_")) else { return };
        let topic = inbound.topic.clone();
        let Some(channel) = self.channels.get(&topic) else { return };
        if token == channel.access.token {
            return;
        }
        let (role, mut bindings, requested) = (channel.access.role.clone(), channel.bindings.clone(), channel.requested.clone());
        let access = match auth::authorize(&self.shared.config.verifier, token, auth::now()) {
            Ok(access) => access,
            Err(error) => return self.end_channel(&topic, Some(error.message())),
        };
        if !bindings.is_empty() {
            if access.role != role {
                // What the bindings may filter on depends on the role: check them again.
                match self.subscribe(&access, &requested.iter().collect::<Vec<_>>()).await {
                    Ok(resolved) => bindings = resolved,
                    Err(reason) => return self.end_channel(&topic, Some(reason)),
                }
            }
            self.listen(&topic, &access, bindings.clone());
        }
        if let Some(channel) = self.channels.get_mut(&topic) {
            channel.access = access;
            channel.bindings = bindings;
        }
    }

    fn broadcast(&self, inbound: &Inbound) {
        let topic = inbound.topic.as_str();
        match &inbound.payload {
            Payload::Json(payload) => {
                let text = payload.to_string();
                self.shared.hub.broadcast(topic, Some(self.conn), |vsn| Some(protocol::broadcast_raw(vsn, topic, "broadcast", &text)));
            }
            Payload::UserBroadcast { event, payload } => {
                self.shared.hub.broadcast(topic, Some(self.conn), |vsn| protocol::user_broadcast(vsn, topic, event, payload));
            }
        }
        if self.channels.get(topic).is_some_and(|c| c.ack_broadcast) {
            self.reply(inbound, "ok", json!({}));
        }
    }
}
