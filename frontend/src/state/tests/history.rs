//! History: scrolling back, resume pages after a reconnect, and the log's bound.

use super::*;

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
    assert_eq!(names(&chat), ["alice", "bob", "carol"]);
    chat.disconnected();
    assert_eq!(names(&chat), ["alice", "bob", "carol"], "last known, not an empty room");
    let lobby = chat.room_list().into_iter().find(|r| r.name == LOBBY).unwrap();
    assert_eq!(lobby.members, 3, "nor a count of 0");
    chat.apply(welcome("alice"), 0.0);
    chat.apply(joined(LOBBY, vec![]), 0.0);
    assert_eq!(names(&chat), ["alice", "bob"], "carol left meanwhile");
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
    assert_eq!(room.entries[0].key(), EntryKey::Message(room.serial, 6, 0));
    assert_eq!(room.older(), Older::More);
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
