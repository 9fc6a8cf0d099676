//! The chat's behaviour, frame by frame and intent by intent, on the host: plain
//! `#[test]`s with the time passed in (`cargo test -p frontend --lib`).

use super::*;
use common::{ChatMessage, ErrorCode, PresenceEvent, RoomInfo, ServerMsg};

fn msg(room: &str, id: u64, nick: &str, text: &str, cid: Option<&str>) -> ChatMessage {
    ChatMessage {
        room: room.into(),
        id,
        nick: nick.into(),
        text: text.into(),
        ts: 1_763_760_000_000 + id,
        cid: cid.map(Into::into),
        image: None,
    }
}

fn welcome(nick: &str) -> ServerMsg {
    ServerMsg::Welcome {
        protocol: 1,
        nick: nick.into(),
        rooms: vec![],
        resume: Some("token-0123456789abcdef".into()),
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
    assert_eq!(Status::Reconnecting { secs: 3 }.to_string(), "Reconnecting in 3 s");
    assert_eq!(Status::Offline.to_string(), "Offline");
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

#[test]
fn say_goes_to_the_outbox_until_echoed() {
    let mut chat = connected("alice");
    let frame = chat.say("hello  ").unwrap().expect("sent at once");
    let ClientMsg::Say { room, text, cid, .. } = frame else { panic!("not a say") };
    assert_eq!((room.as_str(), text.as_str()), (LOBBY, "hello"));
    assert_eq!(chat.outbox.items.len(), 1);
    assert_eq!(texts(&chat), ["hello…"], "shown at once, as being sent");
    assert!(chat.log()[0].is_own());
    let mut echo = msg(LOBBY, 1, "alice", "hello", Some(&cid));
    chat.apply(ServerMsg::Message(echo.clone()), 0.0);
    assert!(chat.outbox.items.is_empty());
    assert_eq!(texts(&chat), ["hello"], "the echo replaces the pending entry");
    assert!(matches!(chat.log()[0].key(), EntryKey::Message(_, 1)));
    assert!(chat.log()[0].is_own());
    echo.id = 2;
    echo.nick = "bob".into();
    echo.cid = None;
    chat.apply(ServerMsg::Message(echo), 0.0);
    assert!(!chat.log()[1].is_own(), "someone else's message");
}

#[test]
fn cids_are_unique() {
    let mut chat = connected("alice");
    let a = cid_of(chat.say("a").unwrap());
    let b = cid_of(chat.say("a").unwrap());
    assert_ne!(a, b);
}

#[test]
fn say_refuses_empty_and_too_long_text() {
    let mut chat = connected("alice");
    assert_eq!(chat.say(" \n "), Err(SayError::Empty));
    let long = "x".repeat(4001);
    assert_eq!(chat.say(&long), Err(SayError::TooLong { chars: 4001 }));
    assert!(chat.outbox.items.is_empty());
    assert!(chat.say(&"x".repeat(4000)).is_ok());
}

#[test]
fn say_while_disconnected_shows_pending_and_goes_out_on_joined_with_the_same_cid() {
    let mut chat = connected("alice");
    chat.disconnected();
    assert_eq!(chat.say("later"), Ok(None));
    assert_eq!(texts(&chat), ["later…"]);
    let cid = chat.outbox.items[0].cid.clone();
    chat.apply(welcome("alice"), 0.0);
    let frames = chat.apply(joined(LOBBY, vec![]), 0.0);
    assert_eq!(
        frames,
        [ClientMsg::Say { room: LOBBY.into(), text: "later".into(), cid: cid.clone(), image: None }]
    );
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "alice", "later", Some(&cid))), 0.0);
    assert_eq!(texts(&chat), ["later"]);
}

#[test]
fn say_while_the_browser_is_offline_waits_even_if_the_socket_is_open() {
    let mut chat = connected("alice");
    chat.status = Status::Offline;
    assert_eq!(chat.say("in a tunnel"), Ok(None));
    assert_eq!(chat.typing(0.0), None);
    assert_eq!(texts(&chat), ["in a tunnel…"]);
}

#[test]
fn a_resume_page_with_our_stored_message_ends_its_wait() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "one", None)), 0.0);
    let cid = cid_of(chat.say("mine").unwrap());
    chat.disconnected();
    chat.apply(welcome("alice"), 0.0);
    // The server stored it before the connection dropped; its echo was lost.
    let frames = chat.apply(joined(LOBBY, vec![msg(LOBBY, 2, "alice", "mine", Some(&cid))]), 0.0);
    assert!(frames.is_empty(), "not sent again: {frames:?}");
    assert!(chat.outbox.items.is_empty());
    assert_eq!(texts(&chat), ["one", "mine"]);
    assert!(chat.log()[1].is_own());
}

#[test]
fn a_message_the_server_could_not_store_is_sent_again_with_its_cid() {
    let mut chat = connected("alice");
    let cid = cid_of(chat.say("hello").unwrap());
    chat.apply(ServerMsg::error(ErrorCode::Unavailable, "store down", Some(cid.clone())), 100.0);
    assert!(chat.alert.is_none(), "not an alert: it is still on its way");
    assert_eq!(texts(&chat), ["hello…"]);
    assert_eq!(chat.next_deadline(), Some(100.0 + RETRY_MS));
    let frames = chat.tick(100.0 + RETRY_MS);
    assert_eq!(frames, [ClientMsg::Say { room: LOBBY.into(), text: "hello".into(), cid, image: None }]);
}

#[test]
fn invalid_marks_a_message_failed_and_rate_limited_retries_it() {
    let mut chat = connected("alice");
    let bad = cid_of(chat.say("bad").unwrap());
    let slow = cid_of(chat.say("slow").unwrap());
    chat.apply(ServerMsg::error(ErrorCode::Invalid, "text must not be empty", Some(bad.clone())), 100.0);
    chat.apply(ServerMsg::error(ErrorCode::RateLimited, "slow down", Some(slow.clone())), 100.0);
    assert!(chat.alert.is_none(), "shown in the log, not as an alert");
    assert_eq!(texts(&chat), ["bad!text must not be empty", "slow…"]);
    assert_eq!(chat.log()[0].key(), EntryKey::Outgoing(bad.clone(), true, None));
    assert_eq!(chat.next_deadline(), Some(100.0 + RETRY_MS));
    assert!(chat.tick(100.0 + RETRY_MS - 1.0).is_empty(), "not yet");
    let frames = chat.tick(100.0 + RETRY_MS);
    assert_eq!(frames, [ClientMsg::Say { room: LOBBY.into(), text: "slow".into(), cid: slow, image: None }]);
    assert_eq!(chat.next_deadline(), None);
    // A failed message is never re-sent, not even after a reconnect.
    chat.disconnected();
    chat.apply(welcome("alice"), 0.0);
    let frames = chat.apply(joined(LOBBY, vec![]), 0.0);
    assert!(frames.iter().all(|f| f.cid() != Some(bad.as_str())), "{frames:?}");
    chat.discard(&bad);
    assert_eq!(texts(&chat), ["slow…"]);
}

#[test]
fn presence_updates_members_and_logs_notices() {
    let mut chat = connected("alice");
    let presence = |event, nick: &str, old: Option<&str>| ServerMsg::Presence {
        room: LOBBY.into(),
        event,
        nick: nick.into(),
        old_nick: old.map(Into::into),
    };
    chat.apply(presence(PresenceEvent::Join, "Carol", None), 0.0);
    chat.apply(presence(PresenceEvent::Join, "carol", None), 0.0);
    chat.apply(presence(PresenceEvent::Rename, "bobby", Some("bob")), 0.0);
    assert_eq!(chat.members(), ["alice", "bobby", "Carol", "carol"], "by name, case aside");
    chat.apply(presence(PresenceEvent::Leave, "Carol", None), 0.0);
    assert_eq!(chat.members(), ["alice", "bobby", "carol"]);
    chat.apply(presence(PresenceEvent::Leave, "carol", None), 0.0);
    assert_eq!(
        texts(&chat),
        ["[Carol joined]", "[carol joined]", "[bob is now bobby]", "[Carol left]", "[carol left]"]
    );
    assert_eq!(chat.current_room().unwrap().members, ["alice", "bobby"]);
    assert_eq!(chat.members(), ["alice", "bobby"]);
}

#[test]
fn typing_expires_by_tick_and_is_renewed() {
    let mut chat = connected("alice");
    let typing = |nick: &str| ServerMsg::Typing { room: LOBBY.into(), nick: nick.into() };
    chat.apply(typing("bob"), 1000.0);
    let room = chat.current_room().unwrap();
    assert_eq!(room.typing(2000.0), ["bob"]);
    assert!(room.typing(1000.0 + TYPING_MS).is_empty());
    assert_eq!(chat.typing_line(), "bob is typing…");
    assert_eq!(chat.next_deadline(), Some(1000.0 + TYPING_MS));
    // Renewed at 4 s: still there at 5.5 s, gone at 9 s.
    chat.apply(typing("bob"), 4000.0);
    chat.apply(typing("ann"), 4500.0);
    chat.tick(5500.0);
    assert_eq!(chat.typing_line(), "bob and ann are typing…");
    assert_eq!(chat.next_deadline(), Some(4000.0 + TYPING_MS));
    chat.tick(4000.0 + TYPING_MS);
    assert_eq!(chat.typing_line(), "ann is typing…");
    chat.tick(4500.0 + TYPING_MS);
    assert_eq!(chat.typing_line(), "");
    assert_eq!(chat.next_deadline(), None);
}

#[test]
fn a_message_ends_its_authors_typing() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::Typing { room: LOBBY.into(), nick: "bob".into() }, 0.0);
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "hi", None)), 10.0);
    assert_eq!(chat.typing_line(), "");
}

#[test]
fn typing_text_says_who() {
    assert_eq!(typing_text(&[]), "");
    assert_eq!(typing_text(&["bob"]), "bob is typing…");
    assert_eq!(typing_text(&["bob", "ann"]), "bob and ann are typing…");
    assert_eq!(typing_text(&["bob", "ann", "cy"]), "3 people are typing…");
}

#[test]
fn typing_is_sent_at_most_every_two_seconds_per_room() {
    let mut chat = connected("alice");
    assert_eq!(chat.typing(0.0), Some(ClientMsg::Typing { room: LOBBY.into() }));
    assert_eq!(chat.typing(1999.0), None);
    assert!(chat.typing(2000.0).is_some());
    chat.apply(joined("rust", vec![]), 0.0);
    chat.open_room("rust").unwrap();
    assert_eq!(chat.typing(2001.0), Some(ClientMsg::Typing { room: "rust".into() }), "another room");
}

#[test]
fn nick_taken_shows_beside_the_form_and_is_not_retried() {
    let mut chat = connected("guest-1");
    let frame = chat.request_nick(" bob ").unwrap();
    assert_eq!(frame, Some(ClientMsg::Nick { nick: "bob".into() }));
    chat.apply(ServerMsg::error(ErrorCode::NickTaken, "bob is taken", None), 0.0);
    assert_eq!(chat.nick_error.as_deref(), Some("bob is taken"));
    assert!(chat.alert.is_none());
    chat.disconnected();
    let frames = chat.apply(welcome("guest-2"), 0.0);
    assert!(
        !frames.iter().any(|f| matches!(f, ClientMsg::Nick { .. })),
        "a refused nick is not asked for again"
    );
    assert!(chat.request_nick("").is_err());
    assert_eq!(chat.nick_error.as_deref(), Some("A nickname must not be empty."));
}

#[test]
fn other_errors_become_a_dismissible_alert() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::error(ErrorCode::BadRequest, "what?", None), 0.0);
    let alert = chat.alert.clone().expect("an alert");
    assert_eq!(alert.text, "what?");
    chat.dismiss_alert(alert.seq + 1);
    assert!(chat.alert.is_some(), "another alert's timer changes nothing");
    chat.dismiss_alert(alert.seq);
    assert!(chat.alert.is_none());
}

#[test]
fn unread_counts_others_messages_of_rooms_not_shown_and_resets_on_switch() {
    let mut chat = connected("alice");
    chat.apply(joined("rust", vec![]), 0.0);
    chat.apply(ServerMsg::Message(msg("rust", 1, "bob", "psst", None)), 0.0);
    chat.apply(ServerMsg::Message(msg("rust", 2, "alice", "from my other tab", None)), 0.0);
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "hi", None)), 0.0);
    assert_eq!(chat.room("rust").unwrap().unread, 1);
    assert_eq!(chat.room(LOBBY).unwrap().unread, 0);
    assert_eq!(chat.unread_total(), 1);
    assert_eq!(page_title(chat.unread_total()), "(1) Chat");
    let rust = chat.room_list().into_iter().find(|e| e.name == "rust").unwrap();
    assert_eq!(rust.unread, 1);
    assert_eq!(chat.open_room("rust"), Ok(None), "already joined: nothing to send");
    assert_eq!(chat.current, "rust");
    assert_eq!(chat.unread_total(), 0);
    assert_eq!(page_title(0), "Chat");
}

#[test]
fn missed_messages_of_a_room_not_shown_count_as_unread_after_a_resume() {
    let mut chat = connected("alice");
    chat.apply(joined("rust", vec![msg("rust", 1, "bob", "one", None)]), 0.0);
    chat.disconnected();
    chat.apply(welcome("alice"), 0.0);
    chat.apply(joined("rust", vec![msg("rust", 2, "bob", "two", None)]), 0.0);
    assert_eq!(chat.room("rust").unwrap().unread, 1, "the first page of a room is not unread");
}

#[test]
fn open_room_joins_once_switches_and_validates() {
    let mut chat = connected("alice");
    assert_eq!(
        chat.open_room("  rust "),
        Ok(Some(ClientMsg::Join { room: "rust".into(), after: None, password: None, max: None }))
    );
    assert_eq!(chat.current, "rust");
    assert_eq!(chat.open_room("rust"), Ok(None));
    let long = "r".repeat(65);
    assert_eq!(chat.open_room(&long), Err("A room name must be at most 64 characters.".into()));
    assert_eq!(chat.room_error.as_deref(), Some("A room name must be at most 64 characters."));
    assert_eq!(chat.current, "rust", "a refused name changes nothing");
    assert!(chat.open_room("").is_err());
    chat.open_room(LOBBY).unwrap();
    assert!(chat.room_error.is_none());
    // Asked before the connection: joined at `welcome` like every other room.
    let mut offline = Chat::new("p", None);
    assert_eq!(offline.open_room("go"), Ok(None));
    let frames = offline.apply(welcome("x"), 0.0);
    assert!(frames.contains(&ClientMsg::Join { room: "go".into(), after: None, password: None, max: None }));
}

#[test]
fn the_servers_invalid_for_a_room_is_shown_beside_the_form() {
    let mut chat = connected("alice");
    chat.open_room("weird").unwrap();
    chat.apply(ServerMsg::error(ErrorCode::Invalid, "a room name must not be odd", None), 0.0);
    assert_eq!(chat.room_error.as_deref(), Some("a room name must not be odd"));
    assert!(chat.room("weird").is_none());
    assert_eq!(chat.current, LOBBY);
    assert!(chat.alert.is_none());
}

#[test]
fn leaving_switches_to_the_most_recent_room_or_rejoins_the_lobby() {
    let mut chat = connected("alice");
    chat.open_room("a").unwrap();
    chat.apply(joined("a", vec![]), 0.0);
    chat.open_room("b").unwrap();
    chat.apply(joined("b", vec![]), 0.0);
    chat.open_room("a").unwrap();
    assert_eq!(chat.leave(), [ClientMsg::Leave { room: "a".into() }]);
    assert_eq!(chat.current, "a", "still shown until the server agrees");
    assert!(chat.apply(ServerMsg::Left { room: "a".into() }, 0.0).is_empty());
    assert_eq!(chat.current, "b");
    assert!(chat.room("a").is_none());
    chat.apply(ServerMsg::Left { room: "b".into() }, 0.0);
    assert_eq!(chat.current, LOBBY);
    let frames = chat.apply(ServerMsg::Left { room: LOBBY.into() }, 0.0);
    assert_eq!(
        frames,
        [ClientMsg::Join { room: LOBBY.into(), after: None, password: None, max: None }],
        "never in no room"
    );
    assert_eq!(chat.current, LOBBY);
}

#[test]
fn the_room_list_merges_the_directory_and_joined_rooms() {
    let mut chat = connected("alice");
    chat.apply(
        ServerMsg::Rooms {
            rooms: vec![
                RoomInfo { name: "zed".into(), members: 1, private: false },
                RoomInfo { name: LOBBY.into(), members: 3, private: false },
                RoomInfo { name: "art".into(), members: 2, private: false },
            ],
        },
        0.0,
    );
    chat.open_room("new").unwrap();
    chat.apply(joined("new", vec![]), 0.0);
    let list = chat.room_list();
    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [LOBBY, "art", "new", "zed"]);
    assert_eq!(
        list[0],
        RoomEntry { name: LOBBY.into(), members: 3, joined: true, unread: 0, current: false, private: false }
    );
    assert_eq!(
        list[1],
        RoomEntry {
            name: "art".into(),
            members: 2,
            joined: false,
            unread: 0,
            current: false,
            private: false
        }
    );
    assert_eq!(
        list[2],
        RoomEntry { name: "new".into(), members: 2, joined: true, unread: 0, current: true, private: false }
    );
}

#[test]
fn scroll_back_asks_once_before_the_oldest_id_and_prepends() {
    let mut chat = connected("alice");
    chat.open_room("r").unwrap();
    let page: Vec<_> = (51..=100).map(|id| msg("r", id, "bob", &id.to_string(), None)).collect();
    chat.apply(joined_page("r", page, false), 0.0);
    assert_eq!(chat.current_room().unwrap().older(), Older::More);
    let ask = chat.load_older();
    assert_eq!(ask, Some(ClientMsg::History { room: "r".into(), before: 51, limit: Some(HISTORY_PAGE) }));
    assert_eq!(chat.current_room().unwrap().older(), Older::Loading);
    assert_eq!(chat.load_older(), None, "one request in flight per room");
    // The page overlaps what we hold by one message: it is not shown twice.
    let older: Vec<_> = (1..=51).map(|id| msg("r", id, "bob", &id.to_string(), None)).collect();
    chat.apply(ServerMsg::History { room: "r".into(), messages: older, complete: true }, 0.0);
    let shown = texts(&chat);
    assert_eq!(shown.len(), 100);
    assert_eq!((shown[0].as_str(), shown[99].as_str()), ("1", "100"));
    assert_eq!(chat.current_room().unwrap().older(), Older::Complete);
    assert_eq!(chat.load_older(), None, "nothing older");
}

#[test]
fn members_stay_as_last_known_while_disconnected_and_the_rejoin_replaces_them() {
    let mut chat = connected("alice");
    let carol = ServerMsg::Presence {
        room: LOBBY.into(),
        event: PresenceEvent::Join,
        nick: "carol".into(),
        old_nick: None,
    };
    chat.apply(carol, 0.0);
    assert_eq!(chat.members(), ["alice", "bob", "carol"]);
    chat.disconnected();
    assert_eq!(chat.members(), ["alice", "bob", "carol"], "last known, not an empty room");
    let lobby = chat.room_list().into_iter().find(|r| r.name == LOBBY).unwrap();
    assert_eq!(lobby.members, 3, "nor a count of 0");
    chat.apply(welcome("alice"), 0.0);
    chat.apply(joined(LOBBY, vec![]), 0.0);
    assert_eq!(chat.members(), ["alice", "bob"], "carol left meanwhile");
}

#[test]
fn a_lost_connection_lets_scroll_back_ask_again() {
    let mut chat = connected("alice");
    chat.apply(joined_page(LOBBY, vec![msg(LOBBY, 9, "bob", "x", None)], false), 0.0);
    assert!(chat.load_older().is_some());
    chat.disconnected();
    assert_eq!(chat.load_older(), None, "not while disconnected");
    chat.apply(welcome("alice"), 0.0);
    chat.apply(joined(LOBBY, vec![]), 0.0);
    assert_eq!(chat.current_room().unwrap().older(), Older::More, "a resume does not change it");
    assert!(chat.load_older().is_some());
}

#[test]
fn an_incomplete_resume_page_asks_for_the_next_one() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "x", None)), 0.0);
    chat.disconnected();
    chat.apply(welcome("alice"), 0.0);
    let page: Vec<_> = (2..=501).map(|id| msg(LOBBY, id, "bob", "x", None)).collect();
    let frames = chat.apply(joined_page(LOBBY, page, false), 0.0);
    assert_eq!(frames, [ClientMsg::Join { room: LOBBY.into(), after: Some(501), password: None, max: None }]);
    let frames = chat.apply(joined_page(LOBBY, vec![msg(LOBBY, 502, "bob", "x", None)], true), 0.0);
    assert!(frames.is_empty());
    // A gap the server cannot fill (nothing new in the page) is not asked for forever.
    assert!(chat.apply(joined_page(LOBBY, vec![], false), 0.0).is_empty());
}

#[test]
fn the_log_is_bounded_and_then_has_older_messages_to_fetch() {
    let mut chat = connected("alice");
    assert_eq!(chat.current_room().unwrap().older(), Older::Complete);
    for id in 1..=(MAX_ENTRIES as u64 + 5) {
        chat.apply(ServerMsg::Message(msg(LOBBY, id, "bob", "x", None)), 0.0);
    }
    let room = chat.current_room().unwrap();
    assert_eq!(room.entries.len(), MAX_ENTRIES);
    assert_eq!(room.entries[0].key(), EntryKey::Message(room.serial, 6));
    assert_eq!(room.older(), Older::More);
}

#[test]
fn the_outbox_is_bounded_and_a_failed_message_does_not_count() {
    let mut chat = connected("alice");
    let first = cid_of(chat.say("0").unwrap());
    for i in 1..MAX_OUTBOX {
        assert!(chat.say(&i.to_string()).is_ok(), "message {i}");
    }
    assert_eq!(chat.say("one too many"), Err(SayError::OutboxFull));
    assert_eq!(texts(&chat).len(), MAX_OUTBOX, "the refused one is not shown");
    chat.apply(ServerMsg::error(ErrorCode::Invalid, "no", Some(first)), 0.0);
    assert!(chat.say("room again").is_ok(), "a failed message waits for nothing");
}

#[test]
fn a_resume_token_taken_over_is_not_used_again() {
    let mut chat = connected("alice");
    assert_eq!(chat.resume(), Some("token-0123456789abcdef"));
    chat.forget_resume();
    chat.disconnected();
    assert_eq!(chat.resume(), None, "the next connection is a new client");
    chat.apply(welcome("guest-2"), 0.0);
    assert_eq!(chat.resume(), Some("token-0123456789abcdef"), "the new welcome's token");
}

/// Nicks `m000`, `m001`, … in the order the server sorts them.
fn nicks(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("m{i:03}")).collect()
}

/// A chat on a version 2 connection that joined the lobby, whose first page holds
/// `m000`..`m049` of `total` members.
fn connected_v2(total: u32) -> Chat {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    chat.apply(ServerMsg::Welcome { protocol: 2, nick: "alice".into(), rooms: vec![], resume: None }, 0.0);
    let first = nicks(0..total.min(50));
    chat.apply(
        ServerMsg::Joined {
            room: LOBBY.into(),
            members: first,
            history: vec![],
            complete: true,
            total: Some(total),
        },
        0.0,
    );
    chat
}

fn page(members: Vec<String>, total: u32, complete: bool) -> ServerMsg {
    ServerMsg::Members { room: LOBBY.into(), members, total, complete }
}

#[test]
fn member_pages_load_one_at_a_time_after_the_last_nick_until_complete() {
    let mut chat = connected_v2(120);
    assert_eq!((chat.members().len(), chat.member_total(), chat.more_members()), (50, 120, true));
    let ask = chat.load_members();
    assert_eq!(ask, Some(ClientMsg::Members { room: LOBBY.into(), after: Some("m049".into()), limit: None }));
    assert_eq!(chat.load_members(), None, "one request in flight at a time");
    // The page repeats a nick already held (a snapshot taken after a join was told).
    let mut second = nicks(49..100);
    second.push("M100".into());
    chat.apply(page(second, 121, false), 0.0);
    let members = chat.members();
    assert_eq!(members.len(), 101, "m049 once");
    assert_eq!(members[100], "M100", "the case-insensitive order kept");
    assert_eq!(chat.member_total(), 121);
    let ask = chat.load_members();
    assert_eq!(ask, Some(ClientMsg::Members { room: LOBBY.into(), after: Some("M100".into()), limit: None }));
    chat.apply(page(nicks(101..121), 121, true), 0.0);
    assert_eq!(chat.members().len(), 121);
    assert!(!chat.more_members());
    assert_eq!(chat.load_members(), None, "nothing after the last page");
}

#[test]
fn member_pages_are_not_asked_of_a_version_1_server_nor_while_offline() {
    let mut chat = connected("alice");
    assert!(!chat.more_members());
    assert_eq!(chat.member_total(), 2, "version 1 counts the list");
    assert_eq!(chat.load_members(), None);

    let mut chat = connected_v2(60);
    chat.disconnected();
    assert_eq!(chat.load_members(), None, "not joined on this connection");
    // A request in flight when the connection dropped does not block the next one.
    let mut chat = connected_v2(60);
    assert!(chat.load_members().is_some());
    chat.disconnected();
    chat.apply(ServerMsg::Welcome { protocol: 2, nick: "alice".into(), rooms: vec![], resume: None }, 0.0);
    chat.apply(
        ServerMsg::Joined {
            room: LOBBY.into(),
            members: nicks(0..50),
            history: vec![],
            complete: true,
            total: Some(60),
        },
        0.0,
    );
    assert!(chat.load_members().is_some());
}

#[test]
fn counted_presence_updates_the_total_and_logs_one_notice() {
    let mut chat = connected_v2(300);
    let count = |joined, left, renamed, total| ServerMsg::PresenceCount {
        room: LOBBY.into(),
        joined,
        left,
        renamed,
        total,
    };
    chat.apply(count(12, 3, 0, 309), 0.0);
    chat.apply(count(1, 0, 0, 310), 0.0);
    chat.apply(count(0, 1, 2, 309), 0.0);
    chat.apply(count(0, 2, 0, 307), 0.0);
    assert_eq!(
        texts(&chat),
        [
            "[12 people joined, 3 left]",
            "[1 person joined]",
            "[1 person left, 2 changed their nickname]",
            "[2 people left]"
        ]
    );
    assert_eq!(chat.member_total(), 307);
    assert!(chat.more_members(), "the newcomers can be loaded");
    assert_eq!(chat.members().len(), 50, "the pages held stay as they were");
    assert_eq!(chat.room_list()[0].members, 307, "a joined room not in the directory shows the total");
    // Newcomers may sort anywhere: the next request is a fresh, longer list from the start.
    let ask = chat.load_members();
    assert_eq!(ask, Some(ClientMsg::Members { room: LOBBY.into(), after: None, limit: Some(100) }));
    let mut fresh = nicks(0..99);
    fresh.insert(0, "aaron".into());
    fresh.retain(|n| n != "m003");
    chat.apply(page(fresh, 307, false), 0.0);
    let members = chat.members();
    assert_eq!(members.len(), 99, "the fresh list replaced the one held");
    assert_eq!(members[0], "aaron");
    assert!(!members.contains(&"m003".to_owned()), "who left is gone");
    // Then paging goes on after it.
    let ask = chat.load_members();
    assert_eq!(ask, Some(ClientMsg::Members { room: LOBBY.into(), after: Some("m098".into()), limit: None }));
}

#[test]
fn told_presence_in_a_paged_room_keeps_the_total_and_the_pages_consistent() {
    let mut chat = connected_v2(60);
    let presence = |event, nick: &str| ServerMsg::Presence {
        room: LOBBY.into(),
        event,
        nick: nick.into(),
        old_nick: None,
    };
    chat.apply(presence(PresenceEvent::Join, "a-new"), 0.0);
    // Sorting after the pages held: it comes with a later page, which starts after m049.
    chat.apply(presence(PresenceEvent::Join, "zed"), 0.0);
    chat.apply(presence(PresenceEvent::Leave, "m001"), 0.0);
    let members = chat.members();
    assert_eq!(chat.member_total(), 61);
    assert_eq!(members.len(), 50);
    assert_eq!(members[0], "a-new");
    assert!(!members.contains(&"zed".to_owned()));
    assert_eq!(
        chat.load_members(),
        Some(ClientMsg::Members { room: LOBBY.into(), after: Some("m049".into()), limit: None })
    );
}

#[test]
fn rooms_delta_applies_to_the_directory_in_its_order() {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    let info = |name: &str, members| RoomInfo { name: name.into(), members, private: false };
    let rooms = vec![info(LOBBY, 3), info("go", 1), info("rust", 2)];
    chat.apply(ServerMsg::Welcome { protocol: 2, nick: "alice".into(), rooms, resume: None }, 0.0);
    chat.apply(
        ServerMsg::RoomsDelta {
            changed: vec![info("Ada", 1), info("rust", 4), info(LOBBY, 0)],
            removed: vec!["go".into()],
        },
        0.0,
    );
    let list: Vec<(String, u32)> = chat.room_list().into_iter().map(|e| (e.name, e.members)).collect();
    assert_eq!(list, [(LOBBY.to_owned(), 0), ("Ada".to_owned(), 1), ("rust".to_owned(), 4)]);
}

#[test]
fn counts_are_grouped_by_thousands() {
    assert_eq!(count_text(0), "0");
    assert_eq!(count_text(999), "999");
    assert_eq!(count_text(1200), "1,200");
    assert_eq!(count_text(1_234_567), "1,234,567");
}

fn join(room: &str, password: Option<&str>, max: Option<u32>) -> ClientMsg {
    ClientMsg::Join { room: room.into(), after: None, password: password.map(Into::into), max }
}

/// A chat whose directory lists the private room "den".
fn with_private_den() -> Chat {
    let mut chat = connected("alice");
    let rooms = vec![
        RoomInfo { name: LOBBY.into(), members: 1, private: false },
        RoomInfo { name: "den".into(), members: 2, private: true },
    ];
    chat.apply(ServerMsg::Rooms { rooms }, 0.0);
    chat
}

#[test]
fn creating_a_room_may_give_it_a_password_and_a_limit_checked_first() {
    let mut chat = connected("alice");
    assert_eq!(chat.open_room_with("den", "s3cret", "4"), Ok(Some(join("den", Some("s3cret"), Some(4)))));
    assert_eq!(chat.current, "den");
    assert_eq!(chat.open_room_with("pair", "", " 2 "), Ok(Some(join("pair", None, Some(2)))));
    for max in ["1", "1001", "two"] {
        assert_eq!(
            chat.open_room_with("x", "", max),
            Err("A room's member limit must be from 2 to 1000.".into()),
            "{max}"
        );
    }
    let long = "p".repeat(129);
    assert_eq!(chat.open_room_with("x", &long, ""), Err("A password must be at most 128 characters.".into()));
    assert!(chat.room("x").is_none(), "refused: nothing joined");
    // The room list shows the lock of a room joined with a password before the directory does.
    let den = chat.room_list().into_iter().find(|e| e.name == "den").unwrap();
    assert!(den.private);
}

#[test]
fn a_private_room_of_the_directory_asks_for_its_password_first() {
    let mut chat = with_private_den();
    let den = chat.room_list().into_iter().find(|e| e.name == "den").unwrap();
    assert!(den.private, "the list shows the lock");
    assert_eq!(chat.open_room("den"), Ok(None), "nothing sent without the password");
    assert_eq!(chat.prompt(), Some("den"));
    assert_eq!(chat.room_error(), Some("#den is private: enter its password."));
    assert_eq!(chat.current, LOBBY, "not shown before it is joined");
    // The form asks; the view says so.
    chat.prompted();
    assert_eq!(chat.prompt(), None);
    assert_eq!(chat.open_room_with("den", "pw", ""), Ok(Some(join("den", Some("pw"), None))));
    assert_eq!((chat.room_error(), chat.current.as_str()), (None, "den"));
}

#[test]
fn a_wrong_password_asks_again_and_a_full_room_says_so() {
    let mut chat = with_private_den();
    chat.open_room_with("den", "wrong", "").unwrap();
    chat.apply(ServerMsg::error(ErrorCode::Forbidden, "wrong password for the room den", None), 0.0);
    assert_eq!(chat.prompt(), Some("den"), "asked again");
    assert_eq!(chat.room_error(), Some("wrong password for the room den"));
    assert!(chat.room("den").is_none());
    assert_eq!(chat.current, LOBBY);
    // Too many wrong ones: said in the form too.
    chat.prompted();
    chat.open_room_with("den", "wrong again", "").unwrap();
    chat.apply(
        ServerMsg::error(ErrorCode::RateLimited, "too many wrong passwords; wait a minute", None),
        0.0,
    );
    assert_eq!(chat.room_error(), Some("too many wrong passwords; wait a minute"));
    assert_eq!(chat.prompt(), Some("den"));
    chat.prompted();
    chat.open_room_with("den", "pw", "").unwrap();
    chat.apply(ServerMsg::error(ErrorCode::RoomFull, "the room den is full (2 members at most)", None), 0.0);
    assert_eq!(chat.prompt(), None);
    assert_eq!(
        chat.alert.as_ref().map(|a| a.text.as_str()),
        Some("the room den is full (2 members at most)")
    );
    assert_eq!(chat.room_error(), Some("the room den is full (2 members at most)"));
    assert!(chat.room("den").is_none());
    // A `rate_limited` of another request while a public room is being joined leaves it be.
    chat.open_room("open").unwrap();
    chat.apply(ServerMsg::error(ErrorCode::RateLimited, "slow down", None), 0.0);
    assert!(chat.room("open").is_some());
    assert_eq!(chat.apply(joined("open", vec![]), 0.0), []);
}

#[test]
fn a_deep_link_to_a_private_room_asks_for_its_password() {
    // Opened from the address before the connection: the directory is not known yet.
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    chat.open_room("den").unwrap();
    let frames = chat.apply(welcome("alice"), 0.0);
    assert!(frames.contains(&join("den", None, None)), "{frames:?}");
    chat.apply(joined(LOBBY, vec![]), 0.0);
    chat.apply(
        ServerMsg::error(ErrorCode::Forbidden, "the room den is private: it needs its password", None),
        0.0,
    );
    assert_eq!(chat.prompt(), Some("den"));
    assert_eq!(chat.room_error(), Some("the room den is private: it needs its password"));
    assert_eq!(chat.open_room_with("den", "pw", ""), Ok(Some(join("den", Some("pw"), None))));
}

#[test]
fn the_password_is_sent_again_with_every_rejoin_after_a_reconnect() {
    let mut chat = with_private_den();
    chat.open_room_with("den", "pw", "").unwrap();
    chat.apply(joined("den", vec![msg("den", 3, "bob", "hi", None)]), 0.0);
    chat.disconnected();
    let frames = chat.apply(welcome("alice"), 0.0);
    let rejoin =
        ClientMsg::Join { room: "den".into(), after: Some(3), password: Some("pw".into()), max: None };
    assert!(frames.contains(&rejoin), "{frames:?}");
    assert!(frames.contains(&ClientMsg::Join { room: LOBBY.into(), after: None, password: None, max: None }));
}

#[test]
fn a_picture_waits_for_its_upload_then_is_said_and_shown_until_its_echo() {
    let mut chat = connected("alice");
    let cid = chat.start_upload("blob:local".into()).unwrap();
    let pending = |chat: &Chat| match &*chat.log()[0] {
        Entry::Outgoing { image, progress, failed, retry, .. } => {
            (image.clone(), *progress, failed.clone(), *retry)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(pending(&chat), (Some("blob:local".into()), Some(0), None, true));
    chat.upload(&cid, Upload::Progress(40));
    assert_eq!(chat.log()[0].key(), EntryKey::Outgoing(cid.clone(), false, Some(40)));
    // A reconnect meanwhile sends nothing for it: there is no URL to say yet.
    chat.disconnected();
    let frames = chat.apply(welcome("alice"), 0.0);
    let frames = [frames, chat.apply(joined(LOBBY, vec![]), 0.0)].concat();
    assert!(!frames.iter().any(|f| matches!(f, ClientMsg::Say { .. })), "{frames:?}");
    let url = "/media/ab.png".to_owned();
    let say = chat.upload(&cid, Upload::Done(url.clone())).expect("said at once");
    assert_eq!(
        say,
        ClientMsg::Say {
            room: LOBBY.into(),
            text: String::new(),
            cid: cid.clone(),
            image: Some(url.clone())
        }
    );
    assert_eq!(
        pending(&chat),
        (Some("blob:local".into()), None, None, false),
        "sending, no longer uploading"
    );
    let echo = ChatMessage { image: Some(url.clone()), ..msg(LOBBY, 1, "alice", "", Some(&cid)) };
    chat.apply(ServerMsg::Message(echo), 0.0);
    assert!(matches!(&*chat.log()[0], Entry::Message { msg, own: true, .. } if msg.image == Some(url)));
    assert!(chat.outbox.items.is_empty());
}

#[test]
fn a_failed_upload_is_shown_with_a_retry_and_can_be_discarded() {
    let mut chat = connected("alice");
    let cid = chat.start_upload("blob:x".into()).unwrap();
    chat.upload(&cid, Upload::Failed("too big"));
    assert_eq!(texts(&chat), ["!too big"]);
    assert!(matches!(&*chat.log()[0], Entry::Outgoing { retry: true, progress: None, .. }));
    chat.upload(&cid, Upload::Retry);
    assert!(matches!(&*chat.log()[0], Entry::Outgoing { failed: None, progress: Some(0), .. }));
    chat.upload(&cid, Upload::Failed("again"));
    chat.discard(&cid);
    assert!(chat.log().is_empty());
}

#[test]
fn a_picture_uploaded_while_offline_is_said_on_the_next_joined() {
    let mut chat = connected("alice");
    let cid = chat.start_upload("blob:y".into()).unwrap();
    chat.disconnected();
    assert_eq!(chat.upload(&cid, Upload::Done("/media/cd.gif".into())), None);
    chat.apply(welcome("alice"), 0.0);
    let frames = chat.apply(joined(LOBBY, vec![]), 0.0);
    assert!(
        frames.iter().any(|f| matches!(f, ClientMsg::Say { image: Some(i), .. } if i == "/media/cd.gif")),
        "{frames:?}"
    );
}
