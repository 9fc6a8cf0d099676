//! Rooms: unread counts, opening and leaving, the room list and its directory.

use super::*;

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
    assert_eq!(page_title(&EN, chat.unread_total()), "(1) Chat");
    let rust = chat.room_list().into_iter().find(|e| e.name == "rust").unwrap();
    assert_eq!(rust.unread, 1);
    assert_eq!(chat.open_room("rust"), Ok(None), "already joined: nothing to send");
    assert_eq!(chat.current, "rust");
    assert_eq!(chat.unread_total(), 0);
    assert_eq!(page_title(&EN, 0), "Chat");
    assert_eq!(page_title(&KO, 3), "(3) 채팅");
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
        RoomEntry {
            name: LOBBY.into(),
            members: 3,
            joined: true,
            unread: 0,
            mentioned: false,
            current: false,
            private: false
        }
    );
    assert_eq!(
        list[1],
        RoomEntry {
            name: "art".into(),
            members: 2,
            joined: false,
            unread: 0,
            mentioned: false,
            current: false,
            private: false
        }
    );
    assert_eq!(
        list[2],
        RoomEntry {
            name: "new".into(),
            members: 2,
            joined: true,
            unread: 0,
            mentioned: false,
            current: true,
            private: false
        }
    );
}

#[test]
fn rooms_delta_applies_to_the_directory_in_its_order() {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    let info = |name: &str, members| RoomInfo { name: name.into(), members, private: false };
    let rooms = vec![info(LOBBY, 3), info("go", 1), info("rust", 2)];
    chat.apply(
        ServerMsg::Welcome { protocol: 2, nick: "alice".into(), rooms, resume: None, rooms_total: None },
        0.0,
    );
    chat.apply(
        ServerMsg::RoomsDelta {
            changed: vec![info("Ada", 1), info("rust", 4), info(LOBBY, 0)],
            removed: vec!["go".into()],
            total: None,
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

#[test]
fn the_room_list_pages_and_searches_in_version_2() {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    let info = |name: &str, members| RoomInfo { name: name.into(), members, private: false };
    let rooms = vec![info(LOBBY, 3), info("go", 1)];
    chat.apply(
        ServerMsg::Welcome { protocol: 2, nick: "alice".into(), rooms, resume: None, rooms_total: Some(120) },
        0.0,
    );
    assert!(chat.rooms_more(), "120 rooms, two shown");
    let ask = chat.more_rooms();
    assert_eq!(ask, Some(ClientMsg::Rooms { after: None, query: None, limit: None }));
    assert_eq!(chat.more_rooms(), None, "one page at a time");
    let page = |rooms, next: Option<&str>, query: Option<&str>| ServerMsg::RoomsPage {
        rooms,
        next: next.map(Into::into),
        total: 120,
        query: query.map(Into::into),
    };
    chat.apply(page(vec![info("Ada", 2), info("go", 1)], Some("go"), None), 0.0);
    assert!(chat.room_list().iter().any(|e| e.name == "Ada"));
    assert_eq!(
        chat.more_rooms(),
        Some(ClientMsg::Rooms { after: Some("go".into()), query: None, limit: None })
    );
    // A search: the list shows the rooms whose name starts with it, in any case.
    let ask = chat.find_rooms(" RU ");
    assert_eq!(ask, Some(ClientMsg::Rooms { after: None, query: Some("RU".into()), limit: None }));
    // The whole list's late page is taken, but does not move the search's cursor.
    chat.apply(page(vec![info("rust", 4)], Some("rust"), None), 0.0);
    assert_eq!(chat.more_rooms(), None, "the search's own page is still awaited");
    chat.apply(page(vec![info("Ruby", 1), info("rust", 4)], None, Some("RU")), 0.0);
    let names: Vec<String> = chat.room_list().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["Ruby", "rust"]);
    assert!(!chat.rooms_more(), "the search's last page");
    assert_eq!(chat.find_rooms(""), None, "the whole list again: nothing to ask");
    assert!(chat.room_list().len() >= 5);
    assert!(chat.rooms_more(), "the whole list has more, from the start");
}

#[test]
fn version_1_has_no_pages() {
    let mut chat = connected("alice");
    assert!(!chat.rooms_more());
    assert_eq!(chat.more_rooms(), None);
    assert_eq!(chat.find_rooms("ru"), None, "version 1's list is whole: it is only filtered");
}
