//! Every frame of protocol version 1, as closed enums tagged by `"type"` (snake_case).
//!
//! [`ClientMsg`] is what a client may send, decoded with raw strings so the server can
//! tell a malformed frame (`bad_request`) from a well-formed one whose names are out of
//! bounds (`invalid`); [`ClientMsg::validate`] turns it into a [`Request`] of validated
//! newtypes. [`ServerMsg`] is everything the server sends. New fields may be added
//! (documented in PROTOCOL.md); names and meanings never change within version 1.

use serde::{Deserialize, Serialize};

use crate::media::ImageRef;
use crate::names::{Cid, InvalidName, Nick, Password, RoomName, Text, room_max};
use crate::v2::{MEMBERS_MAX, MEMBERS_PAGE, MembersPage, RoomsAsk};
use crate::{HISTORY_DEFAULT, HISTORY_MAX};

/// A frame from a client, as it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Ask for a new nickname.
    Nick { nick: String },
    /// Enter a room (creating it). With `after`, resume from that message id. An addition
    /// to version 1: `password` makes a room it creates private and opens a private room;
    /// `max` bounds the members of a room it creates.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
    },
    /// Leave a room.
    Leave { room: String },
    /// Send a message to a room the client is in. With `image` (a URL that this server's
    /// `POST /api/media` answered with), `text` may be empty.
    Say {
        room: String,
        text: String,
        cid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<String>,
    },
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
    /// Version 2: a page of the room directory in name order, those after the room `after`,
    /// only those whose name starts with `query` (case-insensitively), up to `limit`.
    Rooms {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Version 2: whether the client shows its room list (`rooms_delta` only while it does).
    RoomsWatch { on: bool },
}

/// A client frame whose names and texts passed the bounds of PROTOCOL.md (`Members` is
/// version 2's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Nick(Nick),
    Join { room: RoomName, after: Option<u64>, password: Option<Password>, max: Option<u32> },
    Leave(RoomName),
    Say { room: RoomName, text: Text, cid: Cid, image: Option<ImageRef> },
    Typing(RoomName),
    History { room: RoomName, before: u64, limit: u32 },
    Ping,
    Members(MembersPage),
    Rooms(RoomsAsk),
    RoomsWatch(bool),
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
            Self::Join { room, after, password, max } => Request::Join {
                room: RoomName::parse(&room)?,
                after,
                password: password.as_deref().map(Password::parse).transpose()?,
                max: max.map(room_max).transpose()?,
            },
            Self::Leave { room } => Request::Leave(RoomName::parse(&room)?),
            Self::Say { room, text, cid, image } => {
                let image = image.as_deref().map(ImageRef::parse).transpose()?;
                Request::Say {
                    room: RoomName::parse(&room)?,
                    text: if image.is_some() { Text::parse_caption(&text)? } else { Text::parse(&text)? },
                    cid: Cid::parse(&cid)?,
                    image,
                }
            }
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
            Self::Rooms { after, query, limit } => Request::Rooms(RoomsAsk::parse(after, query, limit)?),
            Self::RoomsWatch { on } => Request::RoomsWatch(on),
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
    /// An uploaded image (`/media/<name>`), shown with `text` as its caption (which may
    /// then be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// One entry of the room directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub members: u32,
    /// An addition to version 1: the room asks a password of those who join it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub private: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
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
    /// A private room's password is missing or wrong, or a private room's `history` was
    /// asked for by someone who is not a member.
    Forbidden,
    /// The room holds as many members as its creator allowed.
    RoomFull,
    /// The server cannot reach its message store for now: nothing was done, and the
    /// same request (the same `cid`) may be sent again in a moment.
    Unavailable,
    /// A code this build does not know (a newer server); treat as a generic refusal.
    #[serde(other)]
    Other,
}

/// A frame from the server. Both ways through serde's derive: the server encodes with
/// serde_json, the web app decodes the browser's `JSON.parse` result with
/// serde-wasm-bindgen (see bench/TUNING.md for what that costs), so this is the one
/// definition of every server frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        /// Version 2: how many rooms the directory holds (`rooms` is its first page).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rooms_total: Option<u32>,
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
        /// How many rooms the directory holds now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u32>,
    },
    /// Version 2: the answer to `rooms` (and to `rooms_watch` on, then without `next`):
    /// `next` is the `after` of the following page, absent after the last one.
    RoomsPage {
        rooms: Vec<RoomInfo>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        total: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
}

impl ServerMsg {
    pub fn error(code: ErrorCode, message: impl Into<String>, cid: Option<String>) -> Self {
        Self::Error { code, message: message.into(), cid }
    }
}

/// One frame of every kind, for the tests of each codec (serde_json here and on the
/// server, the web app's own in the browser). Not part of the protocol: compiled for tests
/// and for crates that enable the `samples` feature in their dev-dependencies.
///
/// Two guards keep the lists whole. [`kind`](samples::server_kind) matches every variant
/// without a wildcard, so a new variant does not compile until it is named there; and the
/// tests below compare the kinds of the samples with the list of `type`s that serde's
/// own derive refuses an unknown one with, so a variant without a sample fails them.
#[cfg(any(test, feature = "samples"))]
pub mod samples {
    use super::*;

    /// The `type` of a server frame, by a match over every variant.
    pub fn server_kind(msg: &ServerMsg) -> &'static str {
        match msg {
            ServerMsg::Welcome { .. } => "welcome",
            ServerMsg::You { .. } => "you",
            ServerMsg::Rooms { .. } => "rooms",
            ServerMsg::Joined { .. } => "joined",
            ServerMsg::Left { .. } => "left",
            ServerMsg::Message(_) => "message",
            ServerMsg::Presence { .. } => "presence",
            ServerMsg::Typing { .. } => "typing",
            ServerMsg::History { .. } => "history",
            ServerMsg::Pong => "pong",
            ServerMsg::Error { .. } => "error",
            ServerMsg::Members { .. } => "members",
            ServerMsg::PresenceCount { .. } => "presence_count",
            ServerMsg::RoomsDelta { .. } => "rooms_delta",
            ServerMsg::RoomsPage { .. } => "rooms_page",
        }
    }

    /// The `type` of a client frame, by a match over every variant.
    pub fn client_kind(msg: &ClientMsg) -> &'static str {
        match msg {
            ClientMsg::Nick { .. } => "nick",
            ClientMsg::Join { .. } => "join",
            ClientMsg::Leave { .. } => "leave",
            ClientMsg::Say { .. } => "say",
            ClientMsg::Typing { .. } => "typing",
            ClientMsg::History { .. } => "history",
            ClientMsg::Ping => "ping",
            ClientMsg::Members { .. } => "members",
            ClientMsg::Rooms { .. } => "rooms",
            ClientMsg::RoomsWatch { .. } => "rooms_watch",
        }
    }

    /// What JSON escapes, and what it does not need to.
    const AWKWARD: &str = "\"quoted\" \\ tab\t nl\n bell\u{7} é 😀 </script>";

    fn message(id: u64, cid: Option<&str>) -> ChatMessage {
        ChatMessage {
            room: "rust".into(),
            id,
            nick: "bob".into(),
            text: AWKWARD.into(),
            // A time as the server gives it (ms since 1970), whatever the id: both stay
            // within what a JavaScript number holds exactly.
            ts: 1_763_760_000_000 + id % 1000,
            cid: cid.map(Into::into),
            image: None,
        }
    }

    /// A URL as `POST /api/media` answers it.
    pub const IMAGE: &str = "/media/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.png";

    /// Every [`ServerMsg`] variant, each optional field present and absent, every
    /// [`PresenceEvent`] and every [`ErrorCode`] the server sends.
    pub fn server() -> Vec<ServerMsg> {
        let presence = |event, nick: &str, old_nick: Option<&str>| ServerMsg::Presence {
            room: "rust".into(),
            event,
            nick: nick.into(),
            old_nick: old_nick.map(Into::into),
        };
        vec![
            ServerMsg::Welcome {
                protocol: crate::PROTOCOL_VERSION,
                nick: "guest-1234".into(),
                rooms: vec![
                    RoomInfo { name: "lobby".into(), members: 2, private: false },
                    RoomInfo { name: "den".into(), members: 1, private: true },
                ],
                resume: None,
                rooms_total: None,
            },
            ServerMsg::Welcome {
                protocol: 2,
                nick: "ann".into(),
                rooms: vec![],
                resume: Some("Zk3q9x0aPq1bC2dE".into()),
                rooms_total: Some(10_000),
            },
            ServerMsg::You { nick: "ann".into() },
            ServerMsg::Rooms {
                rooms: vec![
                    RoomInfo { name: "lobby".into(), members: 0, private: false },
                    RoomInfo { name: "café & co".into(), members: u32::MAX, private: false },
                    RoomInfo { name: "secret \"den\"".into(), members: 3, private: true },
                ],
            },
            ServerMsg::Joined {
                room: "rust".into(),
                members: vec!["ann".into(), "bob".into()],
                history: vec![message(3, None), message(4, Some("a-1"))],
                complete: true,
                total: None,
            },
            // Version 2: the first page of members and the room's size.
            ServerMsg::Joined {
                room: "lobby".into(),
                members: vec!["Ada".into(), "bob".into()],
                history: vec![],
                complete: true,
                total: Some(1200),
            },
            ServerMsg::Members {
                room: "lobby".into(),
                members: vec!["carl".into(), "Dan".into()],
                total: 1200,
                complete: false,
            },
            ServerMsg::PresenceCount { room: "lobby".into(), joined: 12, left: 3, renamed: 0, total: 1209 },
            ServerMsg::RoomsDelta {
                changed: vec![
                    RoomInfo { name: "rust".into(), members: 4, private: false },
                    RoomInfo { name: "den".into(), members: 2, private: true },
                ],
                removed: vec!["go".into()],
                total: Some(3),
            },
            ServerMsg::RoomsDelta { changed: vec![], removed: vec![], total: None },
            ServerMsg::RoomsPage {
                rooms: vec![RoomInfo { name: "Rust".into(), members: 4, private: false }],
                next: Some("Rust".into()),
                total: 10_000,
                query: Some("ru".into()),
            },
            ServerMsg::RoomsPage { rooms: vec![], next: None, total: 1, query: None },
            ServerMsg::Left { room: "rust".into() },
            // The largest id a JavaScript number holds exactly.
            ServerMsg::Message(message(9_007_199_254_740_991, Some("c-1"))),
            ServerMsg::Message(message(5, None)),
            // A picture without a caption, and one with.
            ServerMsg::Message(ChatMessage {
                text: String::new(),
                image: Some(IMAGE.into()),
                ..message(6, Some("c-6"))
            }),
            ServerMsg::Message(ChatMessage { image: Some(IMAGE.into()), ..message(7, None) }),
            presence(PresenceEvent::Join, "bob", None),
            presence(PresenceEvent::Leave, "bob", None),
            presence(PresenceEvent::Rename, "bobby", Some("bob")),
            ServerMsg::Typing { room: "rust".into(), nick: "bob".into() },
            ServerMsg::History {
                room: "rust".into(),
                messages: vec![message(1, None), message(2, Some("b-2"))],
                complete: false,
            },
            ServerMsg::History { room: "rust".into(), messages: vec![], complete: true },
            ServerMsg::Pong,
            ServerMsg::error(ErrorCode::BadRequest, "what?", None),
            ServerMsg::error(ErrorCode::Invalid, "too long", Some("c-2".into())),
            ServerMsg::error(ErrorCode::NickTaken, "taken", None),
            ServerMsg::error(ErrorCode::NotInRoom, "join first", Some("c-3".into())),
            ServerMsg::error(ErrorCode::RateLimited, "slow down", Some("c-4".into())),
            ServerMsg::error(ErrorCode::TooSlow, "bye", None),
            ServerMsg::error(ErrorCode::Unavailable, "retry soon", Some("c-5".into())),
            ServerMsg::error(ErrorCode::Forbidden, "wrong password", None),
            ServerMsg::error(ErrorCode::RoomFull, "full", None),
        ]
    }

    /// Every [`ClientMsg`] variant, each optional field present and absent.
    pub fn client() -> Vec<ClientMsg> {
        vec![
            ClientMsg::Nick { nick: "ann".into() },
            ClientMsg::Join { room: "rust".into(), after: None, password: None, max: None },
            ClientMsg::Join {
                room: "rust".into(),
                after: Some(9_007_199_254_740_991),
                password: None,
                max: None,
            },
            ClientMsg::Join {
                room: "den".into(),
                after: None,
                password: Some(AWKWARD.into()),
                max: Some(1000),
            },
            ClientMsg::Leave { room: "café & co".into() },
            ClientMsg::Say { room: "r".into(), text: AWKWARD.into(), cid: "a-1".into(), image: None },
            ClientMsg::Say {
                room: "r".into(),
                text: String::new(),
                cid: "a-2".into(),
                image: Some(IMAGE.into()),
            },
            ClientMsg::Typing { room: "r".into() },
            ClientMsg::History { room: "r".into(), before: 100, limit: Some(50) },
            ClientMsg::History { room: "r".into(), before: 0, limit: None },
            ClientMsg::Ping,
            ClientMsg::Members { room: "lobby".into(), after: Some("carl".into()), limit: Some(3) },
            ClientMsg::Members { room: "lobby".into(), after: None, limit: None },
            ClientMsg::Rooms { after: Some("go".into()), query: Some("Ru".into()), limit: Some(20) },
            ClientMsg::Rooms { after: None, query: None, limit: None },
            ClientMsg::RoomsWatch { on: false },
        ]
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
        assert_eq!(join, ClientMsg::Join { room: "lobby".into(), after: None, password: None, max: None });
        let joined: ServerMsg = round_trip(
            r#"{"type":"joined","room":"lobby","members":["alice","bob"],"history":[],"complete":true}"#,
        );
        assert!(
            matches!(joined, ServerMsg::Joined { complete: true, ref members, .. } if members.len() == 2)
        );
        let rooms: ServerMsg = round_trip(r#"{"type":"rooms","rooms":[{"name":"lobby","members":2}]}"#);
        assert_eq!(
            rooms,
            ServerMsg::Rooms { rooms: vec![RoomInfo { name: "lobby".into(), members: 2, private: false }] }
        );
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
        for code in [
            "bad_request",
            "invalid",
            "nick_taken",
            "not_in_room",
            "rate_limited",
            "too_slow",
            "forbidden",
            "room_full",
        ] {
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
        assert!(e.to_string().contains("missing field `room`"), "{e}");
    }

    /// The `type`s serde's derive knows for `T`, read from the error it refuses an
    /// unknown one with ("unknown variant `?`, expected one of `a`, `b`").
    fn every_type<T: for<'de> Deserialize<'de> + std::fmt::Debug>() -> Vec<String> {
        let e = serde_json::from_str::<T>(r#"{"type":"?"}"#).unwrap_err().to_string();
        let (_, expected) = e.split_once("expected one of").unwrap_or_else(|| panic!("{e}"));
        expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    }

    #[test]
    fn the_samples_hold_every_frame_type_and_round_trip() {
        let server = samples::server();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v.dedup();
            v
        };
        let kinds = sorted(server.iter().map(|m| samples::server_kind(m).to_owned()).collect());
        assert_eq!(kinds, sorted(every_type::<ServerMsg>()), "a server frame type without a sample");
        let client = samples::client();
        let kinds = sorted(client.iter().map(|m| samples::client_kind(m).to_owned()).collect());
        assert_eq!(kinds, sorted(every_type::<ClientMsg>()), "a client frame type without a sample");
        for msg in server {
            let json = serde_json::to_string(&msg).unwrap();
            assert!(json.starts_with(&format!(r#"{{"type":"{}""#, samples::server_kind(&msg))), "{json}");
            assert_eq!(serde_json::from_str::<ServerMsg>(&json).unwrap(), msg, "{json}");
        }
        for msg in client {
            let json = serde_json::to_string(&msg).unwrap();
            assert!(json.starts_with(&format!(r#"{{"type":"{}""#, samples::client_kind(&msg))), "{json}");
            assert_eq!(serde_json::from_str::<ClientMsg>(&json).unwrap(), msg, "{json}");
        }
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
        let ok =
            ClientMsg::Say { room: " lobby ".into(), text: "hi  ".into(), cid: "a-1".into(), image: None };
        let Request::Say { room, text, cid, .. } = ok.validate().unwrap() else { panic!() };
        assert_eq!((room.as_str(), text.as_str(), cid.as_str()), ("lobby", "hi", "a-1"));
        let long = ClientMsg::Nick { nick: "n".repeat(33) };
        assert_eq!(long.validate().unwrap_err().to_string(), "a nickname must be at most 32 characters");
        assert!(
            ClientMsg::Join { room: "".into(), after: None, password: None, max: None }.validate().is_err()
        );
        let empty = ClientMsg::Say { room: "r".into(), text: "   ".into(), cid: "c".into(), image: None };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn private_rooms_round_trip_and_their_bounds_apply() {
        let join: ClientMsg = round_trip(r#"{"type":"join","room":"den","password":"s3cret","max":4}"#);
        let Request::Join { password, max, .. } = join.validate().unwrap() else { panic!("not a join") };
        assert_eq!((password.unwrap().expose(), max), ("s3cret", Some(4)));
        let join = |password: Option<&str>, max| ClientMsg::Join {
            room: "den".into(),
            after: None,
            password: password.map(Into::into),
            max,
        };
        assert!(join(Some(""), None).validate().is_err());
        assert!(join(Some(&"p".repeat(129)), None).validate().is_err());
        assert!(join(Some(&"p".repeat(128)), Some(1000)).validate().is_ok());
        for max in [0, 1, 1001, u32::MAX] {
            assert!(join(None, Some(max)).validate().is_err(), "{max}");
        }
        let rooms: ServerMsg = round_trip(
            r#"{"type":"rooms","rooms":[{"name":"lobby","members":2},{"name":"den","members":1,"private":true}]}"#,
        );
        let ServerMsg::Rooms { rooms } = rooms else { panic!("not rooms") };
        assert_eq!((rooms[0].private, rooms[1].private), (false, true));
        round_trip::<ServerMsg>(r#"{"type":"error","code":"forbidden","message":"wrong password"}"#);
    }

    #[test]
    fn a_say_with_an_image_may_have_no_text_and_any_other_image_is_invalid() {
        let say = |text: &str, image: &str| {
            ClientMsg::Say { room: "r".into(), text: text.into(), cid: "c".into(), image: Some(image.into()) }
                .validate()
        };
        let Ok(Request::Say { text, image, .. }) = say(" ", samples::IMAGE) else { panic!() };
        assert_eq!((text.as_str(), image.unwrap().as_str()), ("", samples::IMAGE));
        assert_eq!(say("hi", "https://elsewhere.example/cat.png"), Err(InvalidName::Image));
        assert_eq!(say("", "/media/x.svg"), Err(InvalidName::Image));
        assert!(say(&"x".repeat(4001), samples::IMAGE).is_err(), "a caption has a text's bounds");
        let json = r#"{"type":"say","room":"r","text":"","cid":"c","image":"/media/a.png"}"#;
        let msg: ClientMsg = serde_json::from_str(json).unwrap();
        assert_eq!(msg.validate(), Err(InvalidName::Image));
    }

    #[test]
    fn history_limit_defaults_and_is_capped() {
        let ask = |limit| ClientMsg::History { room: "r".into(), before: 9, limit }.validate().unwrap();
        assert!(matches!(ask(None), Request::History { limit: 50, .. }));
        assert!(matches!(ask(Some(1000)), Request::History { limit: 200, .. }));
        assert!(matches!(ask(Some(0)), Request::History { limit: 1, .. }));
    }
}
