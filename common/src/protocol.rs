//! Every frame of protocol version 1, as closed enums tagged by `"type"` (snake_case).
//!
//! [`ClientMsg`] is what a client may send, decoded with raw strings so the server can
//! tell a malformed frame (`bad_request`) from a well-formed one whose names are out of
//! bounds (`invalid`); [`ClientMsg::validate`] turns it into a [`Request`] of validated
//! newtypes. [`ServerMsg`] is everything the server sends. New fields may be added
//! (documented in PROTOCOL.md); names and meanings never change within version 1.

use serde::{Deserialize, Serialize};

use crate::names::{Cid, InvalidName, Nick, RoomName, Text};
use crate::v2::{MEMBERS_MAX, MEMBERS_PAGE, MembersPage};
use crate::{HISTORY_DEFAULT, HISTORY_MAX};

/// A frame from a client, as it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Ask for a new nickname.
    Nick { nick: String },
    /// Enter a room (creating it). With `after`, resume from that message id.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// Leave a room.
    Leave { room: String },
    /// Send a message to a room the client is in.
    Say { room: String, text: String, cid: String },
    /// The user is typing in a room.
    Typing { room: String },
    /// Older messages: those with `id < before`, up to `limit`.
    History {
        room: String,
        before: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// An addition to version 1: "are you there?", answered with `pong`. Browsers cannot
    /// see WebSocket pings, so this is how a client notices a silent server.
    Ping,
    /// Version 2: the next page of a room's members, those after the nick `after`
    /// (case-insensitively, in the order of `joined.members`), up to `limit`.
    Members {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
}

/// A client frame whose names and texts passed the bounds of PROTOCOL.md (`Members` is
/// version 2's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Nick(Nick),
    Join { room: RoomName, after: Option<u64> },
    Leave(RoomName),
    Say { room: RoomName, text: Text, cid: Cid },
    Typing(RoomName),
    History { room: RoomName, before: u64, limit: u32 },
    Ping,
    Members(MembersPage),
}

impl ClientMsg {
    /// The `cid` of a `say`, so that even a refused `say` can be answered with its `cid`.
    pub fn cid(&self) -> Option<&str> {
        match self {
            Self::Say { cid, .. } => Some(cid),
            _ => None,
        }
    }

    /// Applies the bounds of PROTOCOL.md; the error is the `invalid` error's message.
    pub fn validate(self) -> Result<Request, InvalidName> {
        Ok(match self {
            Self::Nick { nick } => Request::Nick(Nick::parse(&nick)?),
            Self::Join { room, after } => Request::Join { room: RoomName::parse(&room)?, after },
            Self::Leave { room } => Request::Leave(RoomName::parse(&room)?),
            Self::Say { room, text, cid } => Request::Say {
                room: RoomName::parse(&room)?,
                text: Text::parse(&text)?,
                cid: Cid::parse(&cid)?,
            },
            Self::Typing { room } => Request::Typing(RoomName::parse(&room)?),
            Self::History { room, before, limit } => Request::History {
                room: RoomName::parse(&room)?,
                before,
                // "at most 200": a larger ask is served as 200 rather than refused.
                limit: limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX),
            },
            Self::Ping => Request::Ping,
            Self::Members { room, after, limit } => Request::Members(MembersPage {
                room: RoomName::parse(&room)?,
                after: after.as_deref().map(Nick::parse).transpose()?,
                limit: limit.unwrap_or(MEMBERS_PAGE).clamp(1, MEMBERS_MAX),
            }),
        })
    }
}

/// A chat message as stored and as sent (`message`, and the items of `history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room: String,
    /// Assigned by the server, strictly increasing within the room.
    pub id: u64,
    pub nick: String,
    pub text: String,
    /// Milliseconds since the Unix epoch, server clock.
    pub ts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

/// One entry of the room directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub members: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceEvent {
    Join,
    Leave,
    Rename,
}

/// Why a request was refused. Programs branch on this; `message` is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, unknown `type`, missing field, binary frame.
    BadRequest,
    /// A name or text out of bounds.
    Invalid,
    NickTaken,
    NotInRoom,
    RateLimited,
    /// Sent just before the server drops a client that cannot keep up.
    TooSlow,
    /// The server cannot reach its message store for now: nothing was done, and the
    /// same request (the same `cid`) may be sent again in a moment.
    Unavailable,
    /// A code this build does not know (a newer server); treat as a generic refusal.
    #[serde(other)]
    Other,
}

/// A frame from the server.
///
/// Serialized by serde's derive; deserialized by hand (below) through one flat struct,
/// because the derive for an internally tagged enum buffers every field through generic
/// machinery that costs the web app about 30 KB of wasm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The first frame after the upgrade. `resume` is this connection's resume token: a
    /// client that reconnects to `/ws?resume=<token>` is the same sender (its `cid`s stay
    /// de-duplicated) and gets its nick back, even while its old socket is still open.
    Welcome {
        protocol: u32,
        nick: String,
        rooms: Vec<RoomInfo>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// The receiver's own nick changed.
    You {
        nick: String,
    },
    /// The room directory, pushed whenever it changes.
    Rooms {
        rooms: Vec<RoomInfo>,
    },
    /// The answer to `join`. In version 2, `members` is the first page and `total` the
    /// room's member count (more pages with `members` when it is larger); version 1 has
    /// every member and no `total`.
    Joined {
        room: String,
        members: Vec<String>,
        history: Vec<ChatMessage>,
        complete: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u32>,
    },
    /// The answer to `leave`.
    Left {
        room: String,
    },
    Message(ChatMessage),
    Presence {
        room: String,
        event: PresenceEvent,
        nick: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old_nick: Option<String>,
    },
    Typing {
        room: String,
        nick: String,
    },
    /// The answer to `history`.
    History {
        room: String,
        messages: Vec<ChatMessage>,
        complete: bool,
    },
    /// The answer to `ping` (an addition to version 1).
    Pong,
    /// Version 2: a page of a room's members, the answer to `members`; `complete` when no
    /// member comes after it.
    Members {
        room: String,
        members: Vec<String>,
        total: u32,
        complete: bool,
    },
    /// Version 2: the joins, leaves and renames of a room above the presence threshold
    /// since its last count (at most one a second per room), and its member count now.
    PresenceCount {
        room: String,
        joined: u32,
        left: u32,
        renamed: u32,
        total: u32,
    },
    /// Version 2: the directory's changes since the last push (`welcome.rooms` is the
    /// first full list): rooms that appeared or whose count changed, and rooms gone.
    RoomsDelta {
        changed: Vec<RoomInfo>,
        removed: Vec<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
}

/// Every field any server frame has, all optional: decoded in one pass, then checked
/// against the `type` by [`RawServerMsg::into_msg`].
#[derive(Deserialize)]
struct RawServerMsg {
    #[serde(rename = "type")]
    ty: String,
    protocol: Option<u32>,
    nick: Option<String>,
    rooms: Option<Vec<RoomInfo>>,
    resume: Option<String>,
    room: Option<String>,
    members: Option<Vec<String>>,
    history: Option<Vec<ChatMessage>>,
    messages: Option<Vec<ChatMessage>>,
    complete: Option<bool>,
    id: Option<u64>,
    text: Option<String>,
    ts: Option<u64>,
    cid: Option<String>,
    event: Option<PresenceEvent>,
    old_nick: Option<String>,
    code: Option<ErrorCode>,
    message: Option<String>,
    total: Option<u32>,
    joined: Option<u32>,
    left: Option<u32>,
    renamed: Option<u32>,
    changed: Option<Vec<RoomInfo>>,
    removed: Option<Vec<String>>,
}

impl RawServerMsg {
    fn into_msg(self) -> Result<ServerMsg, String> {
        let ty = self.ty;
        Ok(match ty.as_str() {
            "welcome" => ServerMsg::Welcome {
                protocol: need(self.protocol, "protocol", &ty)?,
                nick: need(self.nick, "nick", &ty)?,
                rooms: need(self.rooms, "rooms", &ty)?,
                resume: self.resume,
            },
            "you" => ServerMsg::You { nick: need(self.nick, "nick", &ty)? },
            "rooms" => ServerMsg::Rooms { rooms: need(self.rooms, "rooms", &ty)? },
            "joined" => ServerMsg::Joined {
                room: need(self.room, "room", &ty)?,
                members: need(self.members, "members", &ty)?,
                history: need(self.history, "history", &ty)?,
                complete: need(self.complete, "complete", &ty)?,
                total: self.total,
            },
            "left" => ServerMsg::Left { room: need(self.room, "room", &ty)? },
            "message" => ServerMsg::Message(ChatMessage {
                room: need(self.room, "room", &ty)?,
                id: need(self.id, "id", &ty)?,
                nick: need(self.nick, "nick", &ty)?,
                text: need(self.text, "text", &ty)?,
                ts: need(self.ts, "ts", &ty)?,
                cid: self.cid,
            }),
            "presence" => ServerMsg::Presence {
                room: need(self.room, "room", &ty)?,
                event: need(self.event, "event", &ty)?,
                nick: need(self.nick, "nick", &ty)?,
                old_nick: self.old_nick,
            },
            "typing" => {
                ServerMsg::Typing { room: need(self.room, "room", &ty)?, nick: need(self.nick, "nick", &ty)? }
            }
            "history" => ServerMsg::History {
                room: need(self.room, "room", &ty)?,
                messages: need(self.messages, "messages", &ty)?,
                complete: need(self.complete, "complete", &ty)?,
            },
            "error" => ServerMsg::Error {
                code: need(self.code, "code", &ty)?,
                message: need(self.message, "message", &ty)?,
                cid: self.cid,
            },
            "pong" => ServerMsg::Pong,
            "members" => ServerMsg::Members {
                room: need(self.room, "room", &ty)?,
                members: need(self.members, "members", &ty)?,
                total: need(self.total, "total", &ty)?,
                complete: need(self.complete, "complete", &ty)?,
            },
            "presence_count" => ServerMsg::PresenceCount {
                room: need(self.room, "room", &ty)?,
                joined: need(self.joined, "joined", &ty)?,
                left: need(self.left, "left", &ty)?,
                renamed: need(self.renamed, "renamed", &ty)?,
                total: need(self.total, "total", &ty)?,
            },
            "rooms_delta" => ServerMsg::RoomsDelta {
                changed: need(self.changed, "changed", &ty)?,
                removed: need(self.removed, "removed", &ty)?,
            },
            other => return Err(format!("unknown frame type `{other}`")),
        })
    }
}

fn need<T>(v: Option<T>, field: &str, ty: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("missing field `{field}` in a `{ty}` frame"))
}

impl<'de> Deserialize<'de> for ServerMsg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawServerMsg::deserialize(d)?.into_msg().map_err(serde::de::Error::custom)
    }
}

impl ServerMsg {
    pub fn error(code: ErrorCode, message: impl Into<String>, cid: Option<String>) -> Self {
        Self::Error { code, message: message.into(), cid }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `json` as `T`, encodes it back and expects the very same text.
    fn round_trip<T>(json: &str) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let value: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(serde_json::to_string(&value).unwrap(), json);
        value
    }

    #[test]
    fn every_example_of_the_spec_round_trips() {
        let nick: ClientMsg = round_trip(r#"{"type":"nick","nick":"alice"}"#);
        assert_eq!(nick, ClientMsg::Nick { nick: "alice".into() });
        let you: ServerMsg = round_trip(r#"{"type":"you","nick":"alice"}"#);
        assert_eq!(you, ServerMsg::You { nick: "alice".into() });
        let join: ClientMsg = round_trip(r#"{"type":"join","room":"lobby"}"#);
        assert_eq!(join, ClientMsg::Join { room: "lobby".into(), after: None });
        let joined: ServerMsg = round_trip(
            r#"{"type":"joined","room":"lobby","members":["alice","bob"],"history":[],"complete":true}"#,
        );
        assert!(
            matches!(joined, ServerMsg::Joined { complete: true, ref members, .. } if members.len() == 2)
        );
        let rooms: ServerMsg = round_trip(r#"{"type":"rooms","rooms":[{"name":"lobby","members":2}]}"#);
        assert_eq!(rooms, ServerMsg::Rooms { rooms: vec![RoomInfo { name: "lobby".into(), members: 2 }] });
        let say: ClientMsg = round_trip(r#"{"type":"say","room":"lobby","text":"hi","cid":"a-1"}"#);
        assert_eq!(say.cid(), Some("a-1"));
        let message: ServerMsg = round_trip(
            r#"{"type":"message","room":"lobby","id":1,"nick":"alice","text":"hi","ts":1763760000000,"cid":"a-1"}"#,
        );
        let ServerMsg::Message(m) = message else { panic!("not a message") };
        assert_eq!((m.id, m.ts, m.cid.as_deref()), (1, 1_763_760_000_000, Some("a-1")));
    }

    #[test]
    fn every_other_frame_round_trips() {
        round_trip::<ClientMsg>(r#"{"type":"join","room":"rust","after":41}"#);
        round_trip::<ClientMsg>(r#"{"type":"leave","room":"rust"}"#);
        round_trip::<ClientMsg>(r#"{"type":"typing","room":"rust"}"#);
        round_trip::<ClientMsg>(r#"{"type":"history","room":"rust","before":100,"limit":20}"#);
        round_trip::<ClientMsg>(r#"{"type":"history","room":"rust","before":100}"#);
        assert_eq!(round_trip::<ClientMsg>(r#"{"type":"ping"}"#), ClientMsg::Ping);
        assert_eq!(round_trip::<ServerMsg>(r#"{"type":"pong"}"#), ServerMsg::Pong);
        round_trip::<ServerMsg>(
            r#"{"type":"welcome","protocol":1,"nick":"guest-1234","rooms":[{"name":"lobby","members":0}]}"#,
        );
        round_trip::<ServerMsg>(
            r#"{"type":"welcome","protocol":1,"nick":"ann","rooms":[],"resume":"Zk3q9x0aPq1bC2dE"}"#,
        );
        round_trip::<ServerMsg>(
            r#"{"type":"welcome","protocol":1,"nick":"ann","rooms":[],"resume":"Zk3q9x0aPq1bC2dE"}"#,
        );
        round_trip::<ServerMsg>(r#"{"type":"left","room":"rust"}"#);
        round_trip::<ServerMsg>(r#"{"type":"presence","room":"rust","event":"join","nick":"bob"}"#);
        round_trip::<ServerMsg>(
            r#"{"type":"presence","room":"rust","event":"rename","nick":"bobby","old_nick":"bob"}"#,
        );
        round_trip::<ServerMsg>(r#"{"type":"typing","room":"rust","nick":"bob"}"#);
        round_trip::<ServerMsg>(
            r#"{"type":"history","room":"rust","messages":[{"room":"rust","id":3,"nick":"bob","text":"yo","ts":5}],"complete":false}"#,
        );
        round_trip::<ServerMsg>(r#"{"type":"error","code":"not_in_room","message":"join first","cid":"c9"}"#);
        for code in ["bad_request", "invalid", "nick_taken", "not_in_room", "rate_limited", "too_slow"] {
            round_trip::<ServerMsg>(&format!(r#"{{"type":"error","code":"{code}","message":"m"}}"#));
        }
    }

    /// serde would also take a JSON array for a tagged enum; the server's decoder refuses
    /// anything but an object before it gets here (see `backend::session::decode`).
    #[test]
    fn refuses_what_the_spec_refuses() {
        for bad in [
            "not json",
            r#"{"nick":"alice"}"#,                          // no type
            r#"{"type":"shout","room":"lobby"}"#,           // unknown type
            r#"{"type":"say","room":"lobby","text":"hi"}"#, // missing cid
            r#"{"type":"join"}"#,                           // missing room
            r#"{"type":"join","room":7}"#,                  // wrong type
            r#"{"type":"join","room":"r","after":-1}"#,     // ids are u64
        ] {
            assert!(serde_json::from_str::<ClientMsg>(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn server_frames_missing_a_field_or_of_unknown_type_are_refused() {
        for bad in [
            r#"{"type":"message","room":"r","id":1,"nick":"n","ts":5}"#,
            r#"{"type":"joined","room":"r","members":[],"history":[]}"#,
            r#"{"type":"welcome","protocol":1,"nick":"n"}"#,
            r#"{"type":"shout"}"#,
            r#"{"room":"r"}"#,
            r#"{"type":"you","nick":7}"#,
        ] {
            assert!(serde_json::from_str::<ServerMsg>(bad).is_err(), "accepted {bad}");
        }
        let e = serde_json::from_str::<ServerMsg>(r#"{"type":"left"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `room` in a `left` frame"), "{e}");
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let m: ClientMsg = serde_json::from_str(r#"{"type":"typing","room":"r","extra":1}"#).unwrap();
        assert_eq!(m, ClientMsg::Typing { room: "r".into() });
        let e: ServerMsg =
            serde_json::from_str(r#"{"type":"error","code":"brand_new","message":"m"}"#).unwrap();
        assert!(matches!(e, ServerMsg::Error { code: ErrorCode::Other, .. }));
    }

    #[test]
    fn every_version_2_frame_round_trips() {
        round_trip::<ClientMsg>(r#"{"type":"members","room":"lobby"}"#);
        let ask = round_trip::<ClientMsg>(r#"{"type":"members","room":"lobby","after":"bob","limit":100}"#);
        let Request::Members(MembersPage { after, limit, .. }) = ask.validate().unwrap() else {
            panic!("not members")
        };
        assert_eq!((after.unwrap().as_str(), limit), ("bob", 100));
        let joined: ServerMsg = round_trip(
            r#"{"type":"joined","room":"lobby","members":["alice"],"history":[],"complete":true,"total":1200}"#,
        );
        assert!(matches!(joined, ServerMsg::Joined { total: Some(1200), .. }));
        round_trip::<ServerMsg>(
            r#"{"type":"members","room":"lobby","members":["carl","dan"],"total":1200,"complete":false}"#,
        );
        let count: ServerMsg = round_trip(
            r#"{"type":"presence_count","room":"lobby","joined":12,"left":3,"renamed":0,"total":1209}"#,
        );
        assert!(matches!(count, ServerMsg::PresenceCount { joined: 12, left: 3, total: 1209, .. }));
        round_trip::<ServerMsg>(
            r#"{"type":"rooms_delta","changed":[{"name":"rust","members":4}],"removed":["go"]}"#,
        );
        let limit = |limit| {
            let ask = ClientMsg::Members { room: "r".into(), after: None, limit };
            match ask.validate() {
                Ok(Request::Members(page)) => page.limit,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!((limit(None), limit(Some(5000)), limit(Some(0))), (50, 200, 1));
        let empty = ClientMsg::Members { room: "r".into(), after: Some("".into()), limit: None };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn validate_applies_the_bounds() {
        let ok = ClientMsg::Say { room: " lobby ".into(), text: "hi  ".into(), cid: "a-1".into() };
        let Request::Say { room, text, cid } = ok.validate().unwrap() else { panic!() };
        assert_eq!((room.as_str(), text.as_str(), cid.as_str()), ("lobby", "hi", "a-1"));
        let long = ClientMsg::Nick { nick: "n".repeat(33) };
        assert_eq!(long.validate().unwrap_err().to_string(), "a nickname must be at most 32 characters");
        assert!(ClientMsg::Join { room: "".into(), after: None }.validate().is_err());
        let empty = ClientMsg::Say { room: "r".into(), text: "   ".into(), cid: "c".into() };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn history_limit_defaults_and_is_capped() {
        let ask = |limit| ClientMsg::History { room: "r".into(), before: 9, limit }.validate().unwrap();
        assert!(matches!(ask(None), Request::History { limit: 50, .. }));
        assert!(matches!(ask(Some(1000)), Request::History { limit: 200, .. }));
        assert!(matches!(ask(Some(0)), Request::History { limit: 1, .. }));
    }
}
