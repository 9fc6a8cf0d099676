//! One sample of every frame, for the codec tests of both sides (the server's encoder and
//! the app's hand-written decoder must agree on each).

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
        ServerMsg::Kicked { .. } => "kicked",
        ServerMsg::Role { .. } => "role",
        ServerMsg::Edited(_) => "edited",
        ServerMsg::Deleted(_) => "deleted",
        ServerMsg::Reacted(_) => "reacted",
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
        ClientMsg::Mod { .. } => "mod",
        ClientMsg::Kick { .. } => "kick",
        ClientMsg::Ban { .. } => "ban",
        ClientMsg::Edit { .. } => "edit",
        ClientMsg::Delete { .. } => "delete",
        ClientMsg::React { .. } => "react",
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
        ..ChatMessage::default()
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
            roles: vec![
                RoleInfo { nick: "ann".into(), role: Role::Owner },
                RoleInfo { nick: "bob".into(), role: Role::Moderator },
            ],
            changes: vec![],
            changes_complete: true,
        },
        // Resumed: what changed while away, some left out.
        ServerMsg::Joined {
            room: "rust".into(),
            members: vec!["ann".into()],
            history: vec![],
            complete: true,
            total: None,
            roles: vec![],
            changes: vec![
                Change::Edited(Edited {
                    room: "rust".into(),
                    id: 3,
                    text: AWKWARD.into(),
                    edited: 1_763_760_000_500,
                    seq: 8,
                }),
                Change::Deleted(Deleted { room: "rust".into(), id: 4, seq: 9 }),
                Change::Reacted(Reacted {
                    room: "rust".into(),
                    id: 3,
                    emoji: "👍".into(),
                    nick: "ann".into(),
                    on: false,
                    seq: 10,
                }),
            ],
            changes_complete: false,
        },
        // Version 2: the first page of members and the room's size.
        ServerMsg::Joined {
            room: "lobby".into(),
            members: vec!["Ada".into(), "bob".into()],
            history: vec![],
            complete: true,
            total: Some(1200),
            roles: vec![],
            changes: vec![],
            changes_complete: true,
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
        ServerMsg::Kicked { room: "rust".into(), by: Some("ann".into()) },
        ServerMsg::Kicked { room: "rust".into(), by: None },
        ServerMsg::Role { room: "rust".into(), nick: "bob".into(), role: Role::Moderator },
        ServerMsg::Role { room: "rust".into(), nick: "bob".into(), role: Role::Member },
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
        // Changed: edited, with reactions, a reply quoting another, a tombstone, a
        // reply to a message deleted since.
        ServerMsg::Message(ChatMessage {
            edited: Some(1_763_760_000_900),
            reactions: vec![
                Reaction { emoji: "👍".into(), nicks: vec!["ann".into(), "bob".into()] },
                Reaction { emoji: "👨‍👩‍👧".into(), nicks: vec!["carl".into()] },
            ],
            reply_to: Some(3),
            quote: Some(Box::new(Quote::of("ann", AWKWARD))),
            ..message(8, Some("c-8"))
        }),
        ServerMsg::Message(ChatMessage { text: String::new(), deleted: true, ..message(9, None) }),
        ServerMsg::Message(ChatMessage {
            reply_to: Some(9),
            quote: Some(Box::new(Quote { nick: "bob".into(), text: String::new(), deleted: true })),
            ..message(10, None)
        }),
        ServerMsg::Edited(Edited {
            room: "rust".into(),
            id: 8,
            text: AWKWARD.into(),
            edited: 1_763_760_000_900,
            seq: 11,
        }),
        ServerMsg::Deleted(Deleted { room: "rust".into(), id: 9, seq: 12 }),
        ServerMsg::Reacted(Reacted {
            room: "rust".into(),
            id: 8,
            emoji: "👍".into(),
            nick: "bob".into(),
            on: true,
            seq: 13,
        }),
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
        ServerMsg::error(ErrorCode::NotFound, "nobody called carl is here", None),
        ServerMsg::error(ErrorCode::NotFound, "no such message", None),
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
        ClientMsg::Join { room: "den".into(), after: None, password: Some(AWKWARD.into()), max: Some(1000) },
        ClientMsg::Leave { room: "café & co".into() },
        ClientMsg::Say {
            room: "r".into(),
            text: AWKWARD.into(),
            cid: "a-1".into(),
            image: None,
            reply_to: None,
        },
        ClientMsg::Say {
            room: "r".into(),
            text: String::new(),
            cid: "a-2".into(),
            image: Some(IMAGE.into()),
            reply_to: None,
        },
        ClientMsg::Say {
            room: "r".into(),
            text: "yes".into(),
            cid: "a-3".into(),
            image: None,
            reply_to: Some(41),
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
        ClientMsg::Mod { room: "den".into(), nick: "bob".into(), on: true },
        ClientMsg::Kick { room: "den".into(), nick: "carl".into() },
        ClientMsg::Ban { room: "den".into(), nick: "carl".into(), minutes: 60 },
        ClientMsg::Edit { room: "r".into(), id: 41, text: AWKWARD.into() },
        ClientMsg::Delete { room: "r".into(), id: 41 },
        ClientMsg::React { room: "r".into(), id: 41, emoji: "👍".into(), on: true },
        ClientMsg::React { room: "r".into(), id: 41, emoji: "👍".into(), on: false },
    ]
}
