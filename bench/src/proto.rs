//! The wire formats the load generator speaks, as pure functions over strings and bytes:
//! protocol v1 (ours and the Node `ws` peer), Socket.IO v4 over its WebSocket transport
//! (Engine.IO v4 packets), and the floor's plain lines. Also the benchmark marker that
//! every sent text carries, and how a receiver finds it without parsing the frame.
//!
//! Protocol v1 frames are built from `common`'s types, never by hand. Nothing here opens
//! a socket or keeps state; the generator in `load` does.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};

/// What a server speaks, so what the generator sends and expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// Protocol v1 over WebSocket at `/ws` (ours and the Node `ws` peer).
    V1,
    /// Protocol v2: v1's frames, with `chat.v2` offered at the upgrade (ours only).
    V2,
    /// Protocol v2 over the HTTP stream (ours only): the receivers read `GET
    /// /http/stream?v=2` and join by `POST /http/send`; the senders stay on a version 2
    /// WebSocket, so the figures are the stream's delivery and nothing else.
    Stream,
    /// Socket.IO v4, WebSocket transport only.
    SocketIo,
    /// The floor: newline-terminated lines over plain TCP.
    Line,
}

impl Proto {
    /// The WebSocket path to upgrade on, or `None` for plain TCP.
    pub fn path(self) -> Option<&'static str> {
        match self {
            Self::V1 | Self::V2 | Self::Stream => Some("/ws"),
            Self::SocketIo => Some("/socket.io/?EIO=4&transport=websocket"),
            Self::Line => None,
        }
    }

    /// The WebSocket subprotocol to offer, which the server must choose in its answer.
    pub fn subprotocol(self) -> Option<&'static str> {
        match self {
            Self::V2 | Self::Stream => Some("chat.v2"),
            Self::V1 | Self::SocketIo | Self::Line => None,
        }
    }

    /// Whether frames are protocol v1's JSON (v2 only adds frames and fields).
    pub fn is_v1_family(self) -> bool {
        matches!(self, Self::V1 | Self::V2 | Self::Stream)
    }

    /// The frame that leaves `room`; only our protocols have it.
    pub fn leave(self, room: &str) -> Option<String> {
        self.is_v1_family().then(|| v1(&common::ClientMsg::Leave { room: room.to_owned() }))
    }

    /// The frame that joins `room`.
    pub fn join(self, room: &str) -> String {
        match self {
            Self::V1 | Self::V2 | Self::Stream => {
                v1(&common::ClientMsg::Join { room: room.to_owned(), after: None, password: None, max: None })
            }
            Self::SocketIo => sio::event("join", &serde_json::Value::from(room)),
            Self::Line => format!("J {room}\n"),
        }
    }

    /// The frame that says `text` (which must need no JSON escaping) in `room`.
    pub fn say(self, room: &str, text: &str, cid: u64) -> String {
        match self {
            Self::V1 | Self::V2 | Self::Stream => v1(&common::ClientMsg::Say {
                room: room.to_owned(),
                text: text.to_owned(),
                cid: format!("c{cid}"),
                image: None,
                reply_to: None,
            }),
            Self::SocketIo => {
                sio::event("say", &serde_json::json!({"room": room, "text": text, "cid": format!("c{cid}")}))
            }
            Self::Line => format!("S {room} {text}\n"),
        }
    }

    /// The frame that asks for up to `limit` messages of `room` older than `before`; only
    /// protocol v1 has it.
    pub fn history(self, room: &str, before: u64, limit: u32) -> Option<String> {
        match self {
            Self::V1 | Self::V2 | Self::Stream => {
                Some(v1(&common::ClientMsg::History { room: room.to_owned(), before, limit: Some(limit) }))
            }
            Self::SocketIo | Self::Line => None,
        }
    }

    /// Whether a frame is the server's `too_slow`: it drops the connection right after.
    pub fn is_too_slow(self, frame: &[u8]) -> bool {
        self.is_error(frame) && memchr::memmem::find(frame, b"too_slow").is_some()
    }

    /// Whether a frame that carries no marker is a refusal from the server.
    pub fn is_error(self, frame: &[u8]) -> bool {
        let needle: &[u8] = match self {
            Self::V1 | Self::V2 | Self::Stream => br#""type":"error""#,
            Self::SocketIo => br#"["error_""#,
            Self::Line => b"E ",
        };
        memchr::memmem::find(frame, needle).is_some()
    }
}

fn v1(msg: &common::ClientMsg) -> String {
    // Plain structs of strings and integers always serialize.
    serde_json::to_string(msg).expect("client frames serialize")
}

/// Whether a protocol v1 frame has the given `type`, by a substring test: the generator
/// only needs to recognise `welcome` and `joined` during set-up, not to decode them.
pub fn v1_is(frame: &str, ty: &str) -> bool {
    let Some(at) = frame.find(r#""type":""#) else { return false };
    frame[at + 8..].strip_prefix(ty).is_some_and(|rest| rest.starts_with('"'))
}

/// A top-level string or number field of a protocol v1 frame, by a substring search
/// (the first `"name":`): a string's text (without escapes) or a number's digits. Enough
/// for a greeting's `resume` and a message's `id`, which the generator keeps.
pub fn v1_field(frame: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":");
    let rest = &frame[frame.find(&key)? + key.len()..];
    match rest.strip_prefix('"') {
        Some(text) => Some(text[..text.find('"')?].to_owned()),
        None => {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            (digits > 0).then(|| rest[..digits].to_owned())
        }
    }
}

/// Every sent text starts with this, then `PHASE:MICROS:SEQ:` and padding.
pub const MARKER: &[u8] = b"bench:";

/// Writes the text of one benchmark message into `out` (cleared first): the marker, the
/// phase, the send time in microseconds on the generator's clock, a sequence number, and
/// `x` padding up to `len` bytes.
pub fn body(out: &mut String, phase: u32, sent_us: u64, seq: u64, len: usize) {
    use std::fmt::Write;
    out.clear();
    // Writing to a String cannot fail.
    let _ = write!(out, "bench:{phase}:{sent_us}:{seq}:");
    while out.len() < len {
        out.push('x');
    }
}

/// Finds the marker in a received frame and returns its phase and send time. A frame
/// without one (presence, directory, pings) gives `None`.
pub fn find_marker(frame: &[u8]) -> Option<(u32, u64)> {
    // Building a searcher costs more than searching a short frame: build it once.
    static FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(MARKER));
    let at = FINDER.find(frame)? + MARKER.len();
    let (phase, rest) = number(&frame[at..])?;
    let (sent, _) = number(rest)?;
    Some((u32::try_from(phase).ok()?, sent))
}

/// Parses decimal digits up to a `:`; returns the value and what follows the `:`.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?,
            b':' if i > 0 => return Some((value, &bytes[i + 1..])),
            _ => return None,
        }
    }
    None
}

/// Socket.IO v4 over Engine.IO v4, the subset a WebSocket-only client needs.
///
/// An Engine.IO packet is one type digit and a payload: `0` open (JSON handshake),
/// `1` close, `2` ping, `3` pong, `4` message. A Socket.IO packet rides in a message:
/// `4` + its own type digit (`0` connect, `1` disconnect, `2` event, `3` ack,
/// `4` connect error), an optional `/namespace,`, an optional ack id, then JSON.
pub mod sio {
    /// Engine.IO packets as they arrive on the WebSocket.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Eio<'a> {
        Open(&'a str),
        Close,
        Ping(&'a str),
        Pong(&'a str),
        Message(&'a str),
        Upgrade,
        Noop,
    }

    /// Socket.IO packets (the payload of an Engine.IO message), default namespace.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Packet<'a> {
        Connect(&'a str),
        Disconnect,
        /// An event: its JSON array `["name", args...]`.
        Event(&'a str),
        Ack(&'a str),
        ConnectError(&'a str),
    }

    /// The client's connect request for the default namespace.
    pub const CONNECT: &str = "40";
    /// The answer to the server's ping.
    pub const PONG: &str = "3";

    pub fn decode_eio(frame: &str) -> Option<Eio<'_>> {
        let (ty, payload) = frame.split_at_checked(1)?;
        Some(match ty {
            "0" => Eio::Open(payload),
            "1" => Eio::Close,
            "2" => Eio::Ping(payload),
            "3" => Eio::Pong(payload),
            "4" => Eio::Message(payload),
            "5" => Eio::Upgrade,
            "6" => Eio::Noop,
            _ => return None,
        })
    }

    /// Decodes a whole WebSocket frame as a Socket.IO packet of the default namespace.
    pub fn decode(frame: &str) -> Option<Packet<'_>> {
        let Eio::Message(msg) = decode_eio(frame)? else { return None };
        let (ty, mut rest) = msg.split_at_checked(1)?;
        if rest.starts_with('/') {
            // Another namespace than "/": not ours.
            let (ns, after) = rest.split_once(',').unwrap_or((rest, ""));
            if ns != "/" {
                return None;
            }
            rest = after;
        }
        // An ack id is the digits before the JSON.
        let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        Some(match ty {
            "0" => Packet::Connect(json),
            "1" => Packet::Disconnect,
            "2" => Packet::Event(json),
            "3" => Packet::Ack(json),
            "4" => Packet::ConnectError(json),
            _ => return None,
        })
    }

    /// The name of an event from its JSON array, without parsing the arguments.
    pub fn event_name(array: &str) -> Option<&str> {
        let rest = array.strip_prefix("[\"")?;
        let end = rest.find('"')?;
        Some(&rest[..end])
    }

    /// Encodes an event with one argument: `42["name",arg]`.
    pub fn event(name: &str, arg: &serde_json::Value) -> String {
        // A name and a JSON value always serialize.
        let array = serde_json::to_string(&(name, arg)).expect("events serialize");
        format!("42{array}")
    }
}

#[cfg(test)]
mod tests {
    use super::sio::{self, Eio, Packet};
    use super::*;

    #[test]
    fn the_marker_round_trips_inside_any_frame() {
        let mut text = String::new();
        body(&mut text, 3, 1_234_567, 42, 64);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("bench:3:1234567:42:x"));
        let v1 = format!(r#"{{"type":"message","room":"r0","id":7,"nick":"g","text":"{text}","ts":1}}"#);
        assert_eq!(find_marker(v1.as_bytes()), Some((3, 1_234_567)));
        let sio = Proto::SocketIo.say("r0", &text, 1);
        assert_eq!(find_marker(sio.as_bytes()), Some((3, 1_234_567)));
        assert_eq!(find_marker(format!("M {text}\n").as_bytes()), Some((3, 1_234_567)));
    }

    #[test]
    fn frames_without_a_whole_marker_are_not_deliveries() {
        assert_eq!(find_marker(br#"{"type":"presence","nick":"bench"}"#), None);
        assert_eq!(find_marker(b"bench:1:"), None);
        assert_eq!(find_marker(b"bench::5:"), None);
        assert_eq!(find_marker(b"bench:1:99999999999999999999999:"), None);
    }

    #[test]
    fn v1_frames_come_from_the_common_types() {
        assert_eq!(Proto::V1.join("r1"), r#"{"type":"join","room":"r1"}"#);
        let say: common::ClientMsg = serde_json::from_str(&Proto::V1.say("r1", "hi", 9)).unwrap();
        assert_eq!(
            say,
            common::ClientMsg::Say {
                room: "r1".into(),
                text: "hi".into(),
                cid: "c9".into(),
                image: None,
                reply_to: None
            }
        );
        assert!(v1_is(r#"{"type":"welcome","protocol":1}"#, "welcome"));
        assert!(!v1_is(r#"{"type":"welcomed"}"#, "welcome"));
        let welcome = r#"{"type":"welcome","protocol":2,"nick":"guest-1","resume":"9f0c"}"#;
        assert_eq!(v1_field(welcome, "resume").as_deref(), Some("9f0c"));
        assert_eq!(v1_field(welcome, "protocol").as_deref(), Some("2"));
        assert_eq!(v1_field(welcome, "cid"), None);
        assert!(Proto::V1.is_error(br#"{"type":"error","code":"too_slow"}"#));
        assert!(Proto::V1.is_too_slow(br#"{"type":"error","code":"too_slow","message":"m"}"#));
        assert!(!Proto::V1.is_too_slow(br#"{"type":"error","code":"rate_limited","message":"m"}"#));
        assert!(!Proto::V1.is_too_slow(br#"{"type":"message","text":"too_slow"}"#));
        let history: common::ClientMsg =
            serde_json::from_str(&Proto::V1.history("big", 251, 200).unwrap()).unwrap();
        assert_eq!(history, common::ClientMsg::History { room: "big".into(), before: 251, limit: Some(200) });
        assert_eq!(Proto::SocketIo.history("big", 1, 1), None);
        assert_eq!(Proto::V2.join("r1"), Proto::V1.join("r1"), "v2 keeps v1's frames");
        assert_eq!(Proto::V2.leave("r1").as_deref(), Some(r#"{"type":"leave","room":"r1"}"#));
        assert_eq!((Proto::V2.subprotocol(), Proto::V1.subprotocol()), (Some("chat.v2"), None));
        assert_eq!(Proto::SocketIo.leave("r1"), None);
    }

    #[test]
    fn engine_io_packets_decode() {
        let open = r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;
        assert!(matches!(sio::decode_eio(open), Some(Eio::Open(p)) if p.starts_with(r#"{"sid""#)));
        assert_eq!(sio::decode_eio("2"), Some(Eio::Ping("")));
        assert_eq!(sio::decode_eio("3probe"), Some(Eio::Pong("probe")));
        assert_eq!(sio::decode_eio("1"), Some(Eio::Close));
        assert_eq!(sio::decode_eio(""), None);
        assert_eq!(sio::decode_eio("9"), None);
    }

    #[test]
    fn socket_io_packets_decode() {
        assert_eq!(sio::decode(r#"40{"sid":"x"}"#), Some(Packet::Connect(r#"{"sid":"x"}"#)));
        assert_eq!(
            sio::decode(r#"42["joined",{"room":"r0"}]"#),
            Some(Packet::Event(r#"["joined",{"room":"r0"}]"#))
        );
        assert_eq!(sio::decode(r#"4212["x"]"#), Some(Packet::Event(r#"["x"]"#)));
        assert_eq!(sio::decode(r#"42/,["x"]"#), Some(Packet::Event(r#"["x"]"#)));
        assert_eq!(sio::decode(r#"42/admin,["x"]"#), None);
        assert_eq!(sio::decode(r#"44{"message":"no"}"#), Some(Packet::ConnectError(r#"{"message":"no"}"#)));
        assert_eq!(sio::decode("2"), None, "a ping is no Socket.IO packet");
        assert_eq!(sio::event_name(r#"["joined",{"room":"r0"}]"#), Some("joined"));
        assert_eq!(sio::event_name("[1]"), None);
    }

    #[test]
    fn socket_io_events_encode() {
        assert_eq!(Proto::SocketIo.join("r0"), r#"42["join","r0"]"#);
        let say = Proto::SocketIo.say("r0", "hi", 1);
        let Some(Packet::Event(array)) = sio::decode(&say) else { panic!("{say}") };
        assert_eq!(sio::event_name(array), Some("say"));
        let value: serde_json::Value = serde_json::from_str(array).unwrap();
        assert_eq!(value, serde_json::json!(["say", {"room": "r0", "text": "hi", "cid": "c1"}]));
    }
}
