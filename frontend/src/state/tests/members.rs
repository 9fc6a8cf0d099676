//! Version 2's members: pages loaded one at a time, counted presence and the total.

use super::*;

/// Nicks `m000`, `m001`, … in the order the server sorts them.
fn nicks(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("m{i:03}")).collect()
}

/// A chat on a version 2 connection that joined the lobby, whose first page holds
/// `m000`..`m049` of `total` members.
fn connected_v2(total: u32) -> Chat {
    let mut chat = Chat::new("p", None);
    chat.status = Status::Connected;
    chat.apply(
        ServerMsg::Welcome {
            protocol: 2,
            nick: "alice".into(),
            rooms: vec![],
            resume: None,
            rooms_total: None,
        },
        0.0,
    );
    let first = nicks(0..total.min(50));
    chat.apply(
        ServerMsg::Joined {
            room: LOBBY.into(),
            members: first,
            history: vec![],
            complete: true,
            total: Some(total),
            roles: vec![],
            changes: vec![],
            changes_complete: true,
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
    assert_eq!((names(&chat).len(), chat.member_total(), chat.more_members()), (50, 120, true));
    let ask = chat.load_members();
    assert_eq!(ask, Some(ClientMsg::Members { room: LOBBY.into(), after: Some("m049".into()), limit: None }));
    assert_eq!(chat.load_members(), None, "one request in flight at a time");
    // The page repeats a nick already held (a snapshot taken after a join was told).
    let mut second = nicks(49..100);
    second.push("M100".into());
    chat.apply(page(second, 121, false), 0.0);
    let members = names(&chat);
    assert_eq!(members.len(), 101, "m049 once");
    assert_eq!(members[100], "M100", "the case-insensitive order kept");
    assert_eq!(chat.member_total(), 121);
    let ask = chat.load_members();
    assert_eq!(ask, Some(ClientMsg::Members { room: LOBBY.into(), after: Some("M100".into()), limit: None }));
    chat.apply(page(nicks(101..121), 121, true), 0.0);
    assert_eq!(names(&chat).len(), 121);
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
    chat.apply(
        ServerMsg::Welcome {
            protocol: 2,
            nick: "alice".into(),
            rooms: vec![],
            resume: None,
            rooms_total: None,
        },
        0.0,
    );
    chat.apply(
        ServerMsg::Joined {
            room: LOBBY.into(),
            members: nicks(0..50),
            history: vec![],
            complete: true,
            total: Some(60),
            roles: vec![],
            changes: vec![],
            changes_complete: true,
        },
        0.0,
    );
    assert!(chat.load_members().is_some());
}

#[test]
fn counted_notices_count_people_in_each_language() {
    assert_eq!(counted_text(&EN, 1, 0, 0), "1 person joined");
    assert_eq!(counted_text(&EN, 0, 2, 1), "2 people left, 1 changed their nickname");
    // Korean has no plural; every count takes the counter 명.
    assert_eq!(counted_text(&KO, 1, 0, 0), "1명 입장");
    assert_eq!(counted_text(&KO, 12, 3, 2), "12명 입장, 3명 퇴장, 2명 닉네임 변경");
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
    assert_eq!(names(&chat).len(), 50, "the pages held stay as they were");
    assert_eq!(chat.room_list()[0].members, 307, "a joined room not in the directory shows the total");
    // Newcomers may sort anywhere: the next request is a fresh, longer list from the start.
    let ask = chat.load_members();
    assert_eq!(ask, Some(ClientMsg::Members { room: LOBBY.into(), after: None, limit: Some(100) }));
    let mut fresh = nicks(0..99);
    fresh.insert(0, "aaron".into());
    fresh.retain(|n| n != "m003");
    chat.apply(page(fresh, 307, false), 0.0);
    let members = names(&chat);
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
    let members = names(&chat);
    assert_eq!(chat.member_total(), 61);
    assert_eq!(members.len(), 50);
    assert_eq!(members[0], "a-new");
    assert!(!members.contains(&"zed".to_owned()));
    assert_eq!(
        chat.load_members(),
        Some(ClientMsg::Members { room: LOBBY.into(), after: Some("m049".into()), limit: None })
    );
}
