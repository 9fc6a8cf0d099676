//! Version 2's `rooms_watch`: the server is told when the room list cannot be seen (a
//! phone's closed drawer, a hidden page), once per change and again on every connection,
//! and the list is made current when it is seen again; what one's own rooms show (unread,
//! mentions) goes on meanwhile.

use super::*;

fn info(name: &str, members: u32) -> RoomInfo {
    RoomInfo { name: name.into(), members, private: false }
}

fn welcome_v2(rooms: Vec<RoomInfo>) -> ServerMsg {
    ServerMsg::Welcome { protocol: 2, nick: "alice".into(), rooms, resume: None, rooms_total: Some(30) }
}

fn watch(on: bool) -> Option<ClientMsg> {
    Some(ClientMsg::RoomsWatch { on })
}

/// The answer to `rooms_watch` on: a whole first list.
fn first_view(rooms: Vec<RoomInfo>) -> ServerMsg {
    ServerMsg::RoomsPage { rooms, next: None, total: 30, query: None }
}

fn listed(chat: &Chat) -> Vec<(String, u32)> {
    chat.room_list().into_iter().map(|e| (e.name, e.members)).collect()
}

fn v2_chat() -> Chat {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    chat
}

#[test]
fn a_phone_stops_watching_while_its_drawer_is_closed_and_gets_a_current_list_when_it_opens() {
    let mut chat = v2_chat();
    assert_eq!(chat.show_rooms(true, true, false), None, "nothing to tell before the welcome");
    let frames = chat.apply(welcome_v2(vec![info(LOBBY, 1), info("gone", 2)]), 0.0);
    assert_eq!(frames.last().cloned(), watch(false), "the connection starts watching: told at once");
    assert_eq!(frames.iter().filter(|f| matches!(f, ClientMsg::RoomsWatch { .. })).count(), 1);
    chat.apply(joined(LOBBY, vec![]), 0.0);
    assert_eq!(chat.show_rooms(true, true, false), None, "already told");
    assert_eq!(chat.show_rooms(false, true, false), None, "hidden either way");

    // Opened: told once, and the answer replaces the list (the server forgot what it
    // sent; "gone" went while the list was hidden).
    assert_eq!(chat.show_rooms(true, true, true), watch(true));
    assert_eq!(chat.show_rooms(true, true, true), None, "not twice");
    let frames = chat.apply(first_view(vec![info(LOBBY, 1), info("fresh", 3)]), 0.0);
    assert_eq!(frames, vec![]);
    assert_eq!(listed(&chat), [(LOBBY.into(), 1), ("fresh".into(), 3)]);
    assert!(chat.rooms_more(), "30 rooms, two listed: the pages start again");
    // A later page of the list is a page again, added to it.
    chat.apply(ServerMsg::RoomsPage { rooms: vec![info("zoo", 1)], next: None, total: 30, query: None }, 0.0);
    assert_eq!(listed(&chat).len(), 3);

    // Closed again: told; a message of a room we are in still counts while it is closed.
    assert_eq!(chat.show_rooms(true, true, false), watch(false));
    chat.open_room("rust").unwrap();
    chat.apply(joined("rust", vec![]), 0.0);
    chat.open_room(LOBBY).unwrap();
    chat.apply(ServerMsg::Message(msg("rust", 1, "bob", "hi @alice", None)), 0.0);
    let rust = chat.room_list().into_iter().find(|e| e.name == "rust").expect("rust listed");
    assert_eq!((rust.unread, rust.mentioned), (1, true));
}

#[test]
fn a_hidden_page_stops_watching_on_any_screen() {
    let mut chat = v2_chat();
    let frames = chat.apply(welcome_v2(vec![info(LOBBY, 1)]), 0.0);
    assert!(!frames.contains(&ClientMsg::RoomsWatch { on: false }), "a wide screen shows its list");
    assert_eq!(chat.show_rooms(true, false, false), None, "a wide screen has no drawer");
    assert_eq!(chat.show_rooms(false, false, false), watch(false));
    assert_eq!(chat.show_rooms(true, false, false), watch(true));
}

#[test]
fn after_a_reconnect_the_server_is_told_again_and_only_once() {
    let mut chat = v2_chat();
    chat.apply(welcome_v2(vec![info(LOBBY, 1)]), 0.0);
    assert_eq!(chat.show_rooms(false, false, false), watch(false));
    chat.disconnected();
    chat.set_status(Status::Connecting);
    assert_eq!(chat.show_rooms(true, false, false), None, "nothing goes out while disconnected");
    assert_eq!(chat.show_rooms(false, false, false), None);
    chat.set_status(Status::Connected);
    let frames = chat.apply(welcome_v2(vec![info(LOBBY, 1)]), 0.0);
    assert_eq!(frames.iter().filter(|f| **f == ClientMsg::RoomsWatch { on: false }).count(), 1);
    // An `on` whose answer a reconnect lost: the new `welcome` is the list, and a plain
    // first page afterwards is a page again.
    assert_eq!(chat.show_rooms(true, false, false), watch(true));
    chat.disconnected();
    let frames = chat.apply(welcome_v2(vec![info(LOBBY, 1), info("a", 1)]), 0.0);
    assert!(!frames.iter().any(|f| matches!(f, ClientMsg::RoomsWatch { .. })), "watching is the default");
    chat.apply(ServerMsg::RoomsPage { rooms: vec![info("b", 1)], next: None, total: 30, query: None }, 0.0);
    assert_eq!(listed(&chat).len(), 3, "added, not replacing");
}

#[test]
fn a_search_shown_is_asked_again_with_the_fresh_list() {
    let mut chat = v2_chat();
    chat.apply(welcome_v2(vec![info(LOBBY, 1)]), 0.0);
    chat.find_rooms("ru");
    chat.apply(
        ServerMsg::RoomsPage {
            rooms: vec![info("rust", 2)],
            next: None,
            total: 30,
            query: Some("ru".into()),
        },
        0.0,
    );
    assert_eq!(chat.show_rooms(false, false, false), watch(false));
    assert_eq!(chat.show_rooms(true, false, false), watch(true));
    let frames = chat.apply(first_view(vec![info(LOBBY, 1)]), 0.0);
    assert_eq!(frames, [ClientMsg::Rooms { after: None, query: Some("ru".into()), limit: None }]);
}

#[test]
fn version_1_is_never_told() {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    chat.show_rooms(true, true, false);
    let frames = chat.apply(welcome("alice"), 0.0);
    assert!(!frames.iter().any(|f| matches!(f, ClientMsg::RoomsWatch { .. })));
    assert_eq!(chat.show_rooms(true, true, true), None);
    assert_eq!(chat.show_rooms(false, true, false), None);
}
