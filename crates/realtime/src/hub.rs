//! Who is listening: the members of each topic (for broadcast) and the
//! postgres_changes bindings of each joined channel (for the change reader),
//! plus the bounded queue through which anything reaches a connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::ws::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::{self, Vsn};

/// The frames waiting to be written to one connection. Bounded in bytes: a
/// send that would pass the bound is refused and the connection is told to
/// close (`overflowed`), so a slow reader costs at most the bound.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Message>,
    queued: Arc<AtomicUsize>,
    limit: usize,
    pub overflowed: CancellationToken,
}

impl Outbox {
    pub fn new(limit: usize) -> (Outbox, mpsc::UnboundedReceiver<Message>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Outbox { tx, queued: Arc::new(AtomicUsize::new(0)), limit, overflowed: CancellationToken::new() }, rx)
    }

    /// Queue `message`; false when the connection is gone or over its bound.
    pub fn send(&self, message: Message) -> bool {
        let size = protocol::size(&message);
        if self.queued.fetch_add(size, Ordering::AcqRel) + size > self.limit {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            self.overflowed.cancel();
            return false;
        }
        if self.tx.send(message).is_err() {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Called by the writer once `message` has left the queue.
    pub fn sent(&self, message: &Message) {
        self.queued.fetch_sub(protocol::size(message), Ordering::AcqRel);
    }
}

/// A channel joined by a connection: (connection id, topic).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelKey {
    pub conn: u64,
    pub topic: String,
}

/// A member of a topic, for broadcast.
#[derive(Clone)]
pub struct Member {
    pub outbox: Outbox,
    pub vsn: Vsn,
    /// `config.broadcast.self`: whether its own broadcasts come back.
    pub receive_own: bool,
}

/// One postgres_changes binding, resolved to one published table.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub id: u32,
    pub event: String,
    pub schema: String,
    pub table: String,
    pub filters: Vec<[String; 3]>,
}

/// The postgres_changes side of a joined channel: who it is (role and claims
/// of its current token) and what it listens to. Replaced whole on refresh.
pub struct Listener {
    pub topic: String,
    pub vsn: Vsn,
    pub outbox: Outbox,
    pub role: String,
    pub claims: Arc<serde_json::Value>,
    pub bindings: Vec<Binding>,
}

#[derive(Default)]
pub struct Hub {
    next_conn: AtomicU64,
    members: Mutex<HashMap<String, HashMap<u64, Member>>>,
    listeners: RwLock<HashMap<ChannelKey, Arc<Listener>>>,
}

impl Hub {
    pub fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn join(&self, key: &ChannelKey, member: Member) {
        self.members.lock().expect("members lock").entry(key.topic.clone()).or_default().insert(key.conn, member);
    }

    pub fn leave(&self, key: &ChannelKey) {
        let mut members = self.members.lock().expect("members lock");
        if let Some(topic) = members.get_mut(&key.topic) {
            topic.remove(&key.conn);
            if topic.is_empty() {
                members.remove(&key.topic);
            }
        }
        drop(members);
        self.listeners.write().expect("listeners lock").remove(key);
    }

    /// Send to every member of `topic` (but `from`, unless it asked for its own).
    pub fn broadcast(&self, topic: &str, from: Option<u64>, encode: impl Fn(Vsn) -> Option<Message>) {
        let members: Vec<(u64, Member)> = match self.members.lock().expect("members lock").get(topic) {
            Some(members) => members.iter().map(|(conn, member)| (*conn, member.clone())).collect(),
            None => return,
        };
        let mut encoded: HashMap<Vsn, Option<Message>> = HashMap::new();
        for (conn, member) in members {
            if Some(conn) == from && !member.receive_own {
                continue;
            }
            if let Some(message) = encoded.entry(member.vsn).or_insert_with(|| encode(member.vsn)) {
                member.outbox.send(message.clone());
            }
        }
    }

    pub fn listen(&self, key: ChannelKey, listener: Listener) {
        self.listeners.write().expect("listeners lock").insert(key, Arc::new(listener));
    }

    /// The listeners now, for one batch of changes.
    pub fn listeners(&self) -> Vec<Arc<Listener>> {
        self.listeners.read().expect("listeners lock").values().cloned().collect()
    }
}
