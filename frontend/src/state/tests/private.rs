//! Private rooms: a password and a member limit, asked for, sent again on every rejoin.

use super::*;

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
