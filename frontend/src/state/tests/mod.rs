//! The chat's behaviour, frame by frame and intent by intent, on the host: plain
//! `#[test]`s with the time passed in (`cargo test -p frontend --lib`).
//!
//! This file holds the shared helpers and the connection's basics; the other files one
//! topic each: `outbox.rs` (sending, retries), `presence.rs` (members, typing, errors),
//! `rooms.rs` (opening, leaving, unread, the directory), `history.rs` (scroll back, resume,
//! the log's bound), `members.rs` (version 2's member pages and counts), `private.rs`
//! (passwords and limits), `moderation.rs` (what owners and moderators are offered, and
//! a kick), `pictures.rs` and `watch.rs` (telling the server whether the room list is seen).

use super::*;
use common::{ChatMessage, ErrorCode, PresenceEvent, RoomInfo, ServerMsg};

use crate::words::{EN, KO};

mod changes;
mod history;
mod members;
mod moderation;
mod outbox;
mod pictures;
mod presence;
mod private;
mod rooms;
mod watch;

fn msg(room: &str, id: u64, nick: &str, text: &str, cid: Option<&str>) -> ChatMessage {
    ChatMessage {
        room: room.into(),
        id,
        nick: nick.into(),
        text: text.into(),
        ts: 1_763_760_000_000 + id,
        cid: cid.map(Into::into),
        ..ChatMessage::default()
    }
}

fn welcome(nick: &str) -> ServerMsg {
    ServerMsg::Welcome {
        protocol: 1,
        nick: nick.into(),
        rooms: vec![],
        resume: Some("token-0123456789abcdef".into()),
        rooms_total: None,
    }
}

fn joined(room: &str, history: Vec<ChatMessage>) -> ServerMsg {
    joined_page(room, history, true)
}

fn joined_page(room: &str, history: Vec<ChatMessage>, complete: bool) -> ServerMsg {
    ServerMsg::Joined {
        room: room.into(),
        members: vec!["bob".into(), "alice".into()],
        history,
        complete,
        total: None,
        roles: vec![],
        changes: vec![],
        changes_complete: true,
    }
}

fn texts(chat: &Chat) -> Vec<String> {
    chat.log()
        .iter()
        .map(|e| match &**e {
            Entry::Message { msg, .. } => msg.text.clone(),
            Entry::Notice { text, .. } => format!("[{text}]"),
            Entry::Outgoing { text, failed: None, .. } => format!("{text}…"),
            Entry::Outgoing { text, failed: Some(why), .. } => format!("{text}!{why}"),
        })
        .collect()
}

/// The nicks of the members list of the room shown.
fn names(chat: &Chat) -> Vec<String> {
    chat.members().into_iter().map(|m| m.nick).collect()
}

fn cid_of(frame: Option<ClientMsg>) -> String {
    frame.and_then(|f| f.cid().map(str::to_owned)).expect("a say")
}

/// A chat that went through `welcome` and `joined` for the lobby.
fn connected(nick: &str) -> Chat {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    chat.apply(welcome(nick), 0.0);
    chat.apply(joined(LOBBY, vec![]), 0.0);
    chat
}

#[test]
fn status_texts() {
    assert_eq!(Status::Connecting.to_string(), "Connecting…");
    assert_eq!(Status::Connected.to_string(), "Connected");
    assert_eq!(Status::ConnectedHttp.to_string(), "Connected · HTTP");
    assert_eq!(Status::Reconnecting { secs: 3 }.to_string(), "Reconnecting in 3 s");
    assert_eq!(Status::Offline.to_string(), "Offline");
    assert_eq!(Status::Removed.to_string(), "Removed by the operator");
    assert_eq!(Status::Banned.to_string(), "Banned by the operator for now");
}

/// Over the HTTP fallback the chat sends as it does over a WebSocket.
#[test]
fn a_chat_connected_over_http_sends() {
    let mut chat = Chat::new("p", None);
    chat.status = Status::ConnectedHttp;
    chat.apply(welcome("bob"), 0.0);
    chat.apply(joined(LOBBY, vec![]), 0.0);
    assert!(matches!(chat.say("hello over http"), Ok(Some(_))), "a say goes out at once");
}

#[test]
fn welcome_asks_for_the_remembered_nick_then_joins_the_lobby() {
    let mut chat = Chat::new("p", Some("alice".into()));
    let frames = chat.apply(welcome("guest-1"), 0.0);
    assert_eq!(
        frames,
        vec![
            ClientMsg::Nick { nick: "alice".into() },
            ClientMsg::Join { room: LOBBY.into(), after: None, password: None, max: None },
        ]
    );
    assert_eq!(chat.nick, "guest-1");
    assert_eq!(chat.resume.as_deref(), Some("token-0123456789abcdef"));
    chat.apply(ServerMsg::You { nick: "alice".into() }, 0.0);
    assert_eq!(chat.nick, "alice");
}

#[test]
fn reconnect_rejoins_every_room_after_the_last_id() {
    let mut chat = connected("alice");
    chat.apply(joined("rust", vec![msg("rust", 7, "bob", "hi", None)]), 0.0);
    chat.disconnected();
    assert!(!chat.room("rust").unwrap().joined);
    let frames = chat.apply(welcome("guest-2"), 0.0);
    assert_eq!(
        frames,
        vec![
            ClientMsg::Join { room: LOBBY.into(), after: None, password: None, max: None },
            ClientMsg::Join { room: "rust".into(), after: Some(7), password: None, max: None },
        ]
    );
}

#[test]
fn messages_are_deduplicated_by_id_and_kept_in_id_order() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::Message(msg(LOBBY, 2, "bob", "two", None)), 0.0);
    chat.apply(ServerMsg::Message(msg(LOBBY, 2, "bob", "two", None)), 0.0);
    chat.apply(
        ServerMsg::History {
            room: LOBBY.into(),
            messages: vec![msg(LOBBY, 1, "bob", "one", None)],
            complete: true,
        },
        0.0,
    );
    chat.apply(joined(LOBBY, vec![msg(LOBBY, 2, "bob", "two", None)]), 0.0);
    assert_eq!(texts(&chat), ["one", "two"]);
    assert_eq!(chat.current_room().unwrap().last_id, Some(2));
}
