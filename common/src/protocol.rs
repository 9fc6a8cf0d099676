//! Every frame of protocol version 1, as closed enums tagged by `"type"` (snake_case).
//!
//! [`ClientMsg`] is what a client may send, decoded with raw strings so the server can
//! tell a malformed frame (`bad_request`) from a well-formed one whose names are out of
//! bounds (`invalid`); [`ClientMsg::validate`] turns it into a [`Request`] of validated
//! newtypes. [`ServerMsg`] is everything the server sends. New fields may be added
//! (documented in PROTOCOL.md); names and meanings never change within version 1.

use serde::{Deserialize, Serialize};

use crate::changes::{Change, Deleted, Edited, Emoji, Quote, Reacted, Reaction};
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
        /// The id of the message (of the same room) this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
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
    // Moderation by a room's owner and moderators (additions to version 1).
    /// From the owner: name (`on`) or remove a moderator of the room.
    Mod { room: String, nick: String, on: bool },
    /// From the owner or a moderator: take a member out of the room.
    Kick { room: String, nick: String },
    /// From the owner or a moderator: take a member out and keep it out for `minutes`.
    Ban { room: String, nick: String, minutes: u64 },
    // Changing a message after it was said (PROTOCOL.md): the `changes` module's frames.
    /// Replace the text of one's own message.
    Edit { room: String, id: u64, text: String },
    /// Take a message back.
    Delete { room: String, id: u64 },
    /// Add (`on`) or remove one's reaction to a message.
    React { room: String, id: u64, emoji: String, on: bool },
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
    Join {
        room: RoomName,
        after: Option<u64>,
        password: Option<Password>,
        max: Option<u32>,
    },
    Leave(RoomName),
    Say {
        room: RoomName,
        text: Text,
        cid: Cid,
        image: Option<ImageRef>,
        reply_to: Option<u64>,
    },
    Typing(RoomName),
    History {
        room: RoomName,
        before: u64,
        limit: u32,
    },
    Ping,
    Members(MembersPage),
    Mod {
        room: RoomName,
        nick: Nick,
        on: bool,
    },
    Kick {
        room: RoomName,
        nick: Nick,
    },
    /// `minutes` within 1 to [`crate::BAN_MINUTES_MAX`].
    Ban {
        room: RoomName,
        nick: Nick,
        minutes: u64,
    },
    Edit {
        room: RoomName,
        id: u64,
        text: Text,
    },
    Delete {
        room: RoomName,
        id: u64,
    },
    React {
        room: RoomName,
        id: u64,
        emoji: Emoji,
        on: bool,
    },
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
            Self::Say { room, text, cid, image, reply_to } => {
                let image = image.as_deref().map(ImageRef::parse).transpose()?;
                Request::Say {
                    room: RoomName::parse(&room)?,
                    text: if image.is_some() { Text::parse_caption(&text)? } else { Text::parse(&text)? },
                    cid: Cid::parse(&cid)?,
                    image,
                    reply_to,
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
            Self::Mod { room, nick, on } => {
                Request::Mod { room: RoomName::parse(&room)?, nick: Nick::parse(&nick)?, on }
            }
            Self::Kick { room, nick } => {
                Request::Kick { room: RoomName::parse(&room)?, nick: Nick::parse(&nick)? }
            }
            // Out of bounds is served as the nearest bound, as `history`'s `limit` is.
            Self::Ban { room, nick, minutes } => Request::Ban {
                room: RoomName::parse(&room)?,
                nick: Nick::parse(&nick)?,
                minutes: minutes.clamp(1, crate::BAN_MINUTES_MAX),
            },
            Self::Edit { room, id, text } => {
                Request::Edit { room: RoomName::parse(&room)?, id, text: Text::parse(&text)? }
            }
            Self::Delete { room, id } => Request::Delete { room: RoomName::parse(&room)?, id },
            Self::React { room, id, emoji, on } => {
                Request::React { room: RoomName::parse(&room)?, id, emoji: Emoji::parse(&emoji)?, on }
            }
            Self::Rooms { after, query, limit } => Request::Rooms(RoomsAsk::parse(after, query, limit)?),
            Self::RoomsWatch { on } => Request::RoomsWatch(on),
        })
    }
}

/// A chat message as stored and as sent (`message`, and the items of `history`). The
/// fields after `image` are the changes it went through (absent when it went through
/// none, so a client that knows nothing of them reads it as before).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// When its text was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<u64>,
    /// Taken back: `text` is empty and `image` absent (a tombstone, so that paging stays
    /// exact).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Its reactions, each emoji with who reacted, in the order they were first given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The id of the message it answers, and that message's [`Quote`] (boxed: most
    /// messages have none, and a message is moved around a lot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Box<Quote>>,
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

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
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
    /// No such person or message where the request says (a nick; a change of a message, a reply).
    NotFound,
    /// A code this build does not know (a newer server); treat as a generic refusal.
    /// Stays the last variant (see `ALL`).
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// Every code, in declaration order (`code as usize` indexes it).
    pub const ALL: [ErrorCode; 11] = [
        Self::BadRequest,
        Self::Invalid,
        Self::NickTaken,
        Self::NotInRoom,
        Self::RateLimited,
        Self::TooSlow,
        Self::Forbidden,
        Self::RoomFull,
        Self::Unavailable,
        Self::NotFound,
        Self::Other,
    ];

    /// The code's name on the wire (what serde writes), for the server's metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Invalid => "invalid",
            Self::NickTaken => "nick_taken",
            Self::NotInRoom => "not_in_room",
            Self::RateLimited => "rate_limited",
            Self::TooSlow => "too_slow",
            Self::Forbidden => "forbidden",
            Self::RoomFull => "room_full",
            Self::Unavailable => "unavailable",
            Self::NotFound => "not_found",
            Self::Other => "other",
        }
    }
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
        /// The room's owner and moderators among its members (an addition to version 1).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        roles: Vec<RoleInfo>,
        /// For a `join` with `after`: the changes (`edited`, `deleted`, `reacted`) with
        /// `seq > after` of messages with `id <= after`, oldest first; `changes_complete`
        /// is `false` (and present) when some were left out.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<Change>,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        changes_complete: bool,
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
    // Moderation (owners, moderators and the operator).
    /// The receiver was taken out of `room` by `by` (absent: by the operator); the
    /// room's other members get a `presence` `leave`. `until` (ms since the epoch, server
    /// clock) makes it a ban: a `join` of the room is `forbidden` until then.
    Kicked {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<u64>,
    },
    /// `nick`'s role in `room` changed (its owner named or removed a moderator).
    Role {
        room: String,
        nick: String,
        role: Role,
    },
    // Changing a message after it was said (PROTOCOL.md): told to every member of the room.
    Edited(Edited),
    Deleted(Deleted),
    Reacted(Reacted),
}

/// What a member may do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the room: names moderators, kicks, bans.
    Owner,
    /// Kicks and bans.
    Moderator,
    Member,
}

/// One of `joined.roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleInfo {
    pub nick: String,
    pub role: Role,
}

impl From<Change> for ServerMsg {
    fn from(change: Change) -> Self {
        match change {
            Change::Edited(c) => Self::Edited(c),
            Change::Deleted(c) => Self::Deleted(c),
            Change::Reacted(c) => Self::Reacted(c),
        }
    }
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
/// tests (`protocol/tests.rs`) compare the kinds of the samples with the list of `type`s that serde's
/// own derive refuses an unknown one with, so a variant without a sample fails them.
#[cfg(any(test, feature = "samples"))]
pub mod samples;

#[cfg(test)]
mod tests;
