//! Phoenix channel frames in the two serializers realtime-js speaks, chosen
//! by the `vsn` query parameter of the socket URL:
//!
//! - `1.0.0`: JSON objects `{join_ref, ref, topic, event, payload}` (replies and
//!   pushes carry `topic, event, payload, ref`, as Phoenix's V1 serializer writes).
//! - `2.0.0` (realtime-js' default): JSON arrays `[join_ref, ref, topic, event,
//!   payload]` in text frames, plus supabase/realtime's binary frames for user
//!   broadcasts — the client sends `user_broadcast_push` (kind 3) for every
//!   `channel.send({type: 'broadcast'})` and reads `user_broadcast` (kind 4).
//!
//! Layouts follow RealtimeWeb.Socket.V2Serializer and realtime-js' serializer.ts.

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

const USER_BROADCAST_PUSH: u8 = 3;
const USER_BROADCAST: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vsn {
    V1,
    V2,
}

impl Vsn {
    /// The serializer for the socket URL's `vsn` (absent means 1.0.0, as in Phoenix).
    pub fn from_param(vsn: Option<&str>) -> Option<Vsn> {
        match vsn {
            None | Some("1.0.0") => Some(Vsn::V1),
            Some("2.0.0") => Some(Vsn::V2),
            Some(_) => None,
        }
    }
}

/// A broadcast's user payload: JSON, or opaque bytes (binary frames only).
#[derive(Debug, Clone, PartialEq)]
pub enum UserPayload {
    Json(Value),
    Binary(Bytes),
}

/// What a client frame carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    /// A `user_broadcast_push`: the user's event name and payload.
    UserBroadcast { event: String, payload: UserPayload },
}

/// One client frame. `join_ref` and `ref` are echoed as they came (strings in
/// phoenix.js, but the protocol does not insist).
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub join_ref: Value,
    pub reference: Value,
    pub topic: String,
    pub event: String,
    pub payload: Payload,
}

/// Decode a client frame; `None` for anything that is not a frame of `vsn`.
pub fn decode(vsn: Vsn, message: &Message) -> Option<Inbound> {
    match (vsn, message) {
        (Vsn::V1, Message::Text(text)) => {
            let Value::Object(mut map) = serde_json::from_str(text.as_str()).ok()? else { return None };
            Some(Inbound {
                join_ref: map.remove("join_ref").unwrap_or(Value::Null),
                reference: map.remove("ref").unwrap_or(Value::Null),
                topic: string(map.remove("topic")?)?,
                event: string(map.remove("event")?)?,
                payload: Payload::Json(map.remove("payload").unwrap_or(Value::Null)),
            })
        }
        (Vsn::V2, Message::Text(text)) => {
            let Value::Array(parts) = serde_json::from_str(text.as_str()).ok()? else { return None };
            let [join_ref, reference, topic, event, payload]: [Value; 5] = parts.try_into().ok()?;
            Some(Inbound { join_ref, reference, topic: string(topic)?, event: string(event)?, payload: Payload::Json(payload) })
        }
        (Vsn::V2, Message::Binary(bytes)) => decode_user_broadcast_push(bytes),
        _ => None,
    }
}

fn string(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn decode_user_broadcast_push(bytes: &Bytes) -> Option<Inbound> {
    let header = bytes.get(..7)?;
    if header[0] != USER_BROADCAST_PUSH {
        return None;
    }
    let sizes: Vec<usize> = header[1..6].iter().map(|&b| b as usize).collect();
    let json = header[6] == 1;
    let mut at = 7;
    let mut field = |size: usize| -> Option<&[u8]> {
        let part = bytes.get(at..at + size)?;
        at += size;
        Some(part)
    };
    let text = |part: &[u8]| String::from_utf8(part.to_vec()).ok();
    let join_ref = text(field(sizes[0])?)?;
    let reference = text(field(sizes[1])?)?;
    let topic = text(field(sizes[2])?)?;
    let event = text(field(sizes[3])?)?;
    field(sizes[4])?; // metadata: realtime does not use it either
    let data = bytes.slice(at..);
    let payload = if json { UserPayload::Json(serde_json::from_slice(&data).ok()?) } else { UserPayload::Binary(data) };
    let opt = |s: String| if s.is_empty() { Value::Null } else { Value::String(s) };
    Some(Inbound {
        join_ref: opt(join_ref),
        reference: opt(reference),
        topic,
        event: "broadcast".into(),
        payload: Payload::UserBroadcast { event, payload },
    })
}

/// A `phx_reply` to the frame `to`.
pub fn reply(vsn: Vsn, join_ref: &Value, reference: &Value, topic: &str, status: &str, response: Value) -> Message {
    message(vsn, join_ref, reference, topic, "phx_reply", &json!({"status": status, "response": response}))
}

/// A push on a joined channel (`system`), carrying its join ref.
pub fn push(vsn: Vsn, join_ref: &Value, topic: &str, event: &str, payload: &Value) -> Message {
    message(vsn, join_ref, &Value::Null, topic, event, payload)
}

/// `phx_close` for a channel the server ended: Phoenix sends it with the join ref as both refs.
pub fn close(vsn: Vsn, join_ref: &Value, topic: &str) -> Message {
    message(vsn, join_ref, join_ref, topic, "phx_close", &json!({}))
}

fn message(vsn: Vsn, join_ref: &Value, reference: &Value, topic: &str, event: &str, payload: &Value) -> Message {
    let text = match vsn {
        Vsn::V1 => json!({"topic": topic, "event": event, "payload": payload, "ref": reference}).to_string(),
        Vsn::V2 => json!([join_ref, reference, topic, event, payload]).to_string(),
    };
    Message::Text(text.into())
}

/// A fan-out message (no refs) whose payload is already JSON text, so one
/// serialisation of a change serves every subscriber.
pub fn broadcast_raw(vsn: Vsn, topic: &str, event: &str, payload_json: &str) -> Message {
    let topic = Value::from(topic).to_string();
    let text = match vsn {
        Vsn::V1 => format!(r#"{{"topic":{topic},"event":"{event}","payload":{payload_json},"ref":null}}"#),
        Vsn::V2 => format!(r#"[null,null,{topic},"{event}",{payload_json}]"#),
    };
    Message::Text(Utf8Bytes::from(text))
}

/// A user broadcast as a receiver on `vsn` reads it: binary `user_broadcast`
/// frames on 2.0.0; on 1.0.0 the JSON `{type, event, payload}` (binary user
/// payloads cannot be written there and are skipped, as supabase/realtime does).
pub fn user_broadcast(vsn: Vsn, topic: &str, event: &str, payload: &UserPayload) -> Option<Message> {
    match vsn {
        Vsn::V2 => {
            let (encoding, data) = match payload {
                UserPayload::Json(value) => (1u8, Bytes::from(value.to_string())),
                UserPayload::Binary(bytes) => (0u8, bytes.clone()),
            };
            let (topic, event) = (topic.as_bytes(), event.as_bytes());
            let (topic_len, event_len) = (u8::try_from(topic.len()).ok()?, u8::try_from(event.len()).ok()?);
            let mut frame = BytesMut::with_capacity(5 + topic.len() + event.len() + data.len());
            frame.put_slice(&[USER_BROADCAST, topic_len, event_len, 0, encoding]);
            frame.put_slice(topic);
            frame.put_slice(event);
            frame.put_slice(&data);
            Some(Message::Binary(frame.freeze()))
        }
        Vsn::V1 => match payload {
            UserPayload::Json(value) => {
                let body = json!({"type": "broadcast", "event": event, "payload": value}).to_string();
                Some(broadcast_raw(Vsn::V1, topic, "broadcast", &body))
            }
            UserPayload::Binary(_) => None,
        },
    }
}

/// The bytes a message occupies in a connection's queue.
pub fn size(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) => bytes.len(),
        _ => 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_text_frames_are_five_element_arrays() {
        let frame = Message::Text(r#"["1","2","realtime:room","phx_join",{"config":{}}]"#.into());
        let inbound = decode(Vsn::V2, &frame).unwrap();
        assert_eq!((inbound.join_ref, inbound.reference), (json!("1"), json!("2")));
        assert_eq!((inbound.topic.as_str(), inbound.event.as_str()), ("realtime:room", "phx_join"));
        assert_eq!(decode(Vsn::V2, &Message::Text(r#"["1","2","t","e"]"#.into())), None);
        assert_eq!(decode(Vsn::V2, &Message::Text("{}".into())), None);
    }

    #[test]
    fn v1_frames_are_objects_and_replies_omit_join_ref() {
        let frame = Message::Text(r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}"#.into());
        let inbound = decode(Vsn::V1, &frame).unwrap();
        assert_eq!((inbound.topic.as_str(), inbound.reference), ("phoenix", json!("7")));
        let Message::Text(text) = reply(Vsn::V1, &json!("1"), &json!("7"), "phoenix", "ok", json!({})) else { panic!() };
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, json!({"topic": "phoenix", "event": "phx_reply", "payload": {"status": "ok", "response": {}}, "ref": "7"}));
    }

    fn push_frame(join_ref: &str, reference: &str, topic: &str, event: &str, json_payload: bool, data: &[u8]) -> Bytes {
        let mut frame = vec![3, join_ref.len() as u8, reference.len() as u8, topic.len() as u8, event.len() as u8, 0, json_payload as u8];
        for part in [join_ref, reference, topic, event] {
            frame.extend_from_slice(part.as_bytes());
        }
        frame.extend_from_slice(data);
        Bytes::from(frame)
    }

    #[test]
    fn user_broadcast_push_decodes_json_and_binary_payloads() {
        let inbound = decode(Vsn::V2, &Message::Binary(push_frame("1", "3", "realtime:room", "progress", true, br#"{"pct":40}"#))).unwrap();
        assert_eq!(inbound.event, "broadcast");
        assert_eq!(inbound.payload, Payload::UserBroadcast { event: "progress".into(), payload: UserPayload::Json(json!({"pct": 40})) });
        let inbound = decode(Vsn::V2, &Message::Binary(push_frame("", "", "realtime:room", "raw", false, &[0, 1, 2]))).unwrap();
        assert_eq!(inbound.join_ref, Value::Null);
        assert_eq!(inbound.payload, Payload::UserBroadcast { event: "raw".into(), payload: UserPayload::Binary(Bytes::from_static(&[0, 1, 2])) });
    }

    #[test]
    fn truncated_binary_frames_are_refused() {
        let frame = push_frame("1", "3", "realtime:room", "progress", true, b"{}");
        assert_eq!(decode(Vsn::V2, &Message::Binary(frame.slice(..10))), None);
        assert_eq!(decode(Vsn::V2, &Message::Binary(Bytes::from_static(&[9, 0, 0]))), None);
    }

    #[test]
    fn user_broadcast_frame_has_realtimes_layout() {
        let Some(Message::Binary(frame)) = user_broadcast(Vsn::V2, "realtime:r", "ev", &UserPayload::Json(json!({"a": 1}))) else { panic!() };
        assert_eq!(&frame[..5], &[4, 10, 2, 0, 1]);
        assert_eq!(&frame[5..15], b"realtime:r");
        assert_eq!(&frame[15..17], b"ev");
        assert_eq!(&frame[17..], br#"{"a":1}"#);
        assert_eq!(user_broadcast(Vsn::V1, "t", "ev", &UserPayload::Binary(Bytes::new())), None);
    }

    #[test]
    fn raw_broadcast_embeds_the_payload_text() {
        let Message::Text(text) = broadcast_raw(Vsn::V2, "realtime:x", "postgres_changes", r#"{"ids":[1]}"#) else { panic!() };
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!([null, null, "realtime:x", "postgres_changes", {"ids": [1]}]));
    }
}
