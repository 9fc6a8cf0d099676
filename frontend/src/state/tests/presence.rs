//! Members' presence, typing, and the server's errors as the user sees them.

use super::*;

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
    assert_eq!(names(&chat), ["alice", "bobby", "Carol", "carol"], "by name, case aside");
    chat.apply(presence(PresenceEvent::Leave, "Carol", None), 0.0);
    assert_eq!(names(&chat), ["alice", "bobby", "carol"]);
    chat.apply(presence(PresenceEvent::Leave, "carol", None), 0.0);
    assert_eq!(
        texts(&chat),
        ["[Carol joined]", "[carol joined]", "[bob is now bobby]", "[Carol left]", "[carol left]"]
    );
    assert_eq!(chat.current_room().unwrap().members, ["alice", "bobby"]);
    assert_eq!(names(&chat), ["alice", "bobby"]);
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
    assert_eq!(typing_text(&EN, &[]), "");
    assert_eq!(typing_text(&EN, &["bob"]), "bob is typing…");
    assert_eq!(typing_text(&EN, &["bob", "ann"]), "bob and ann are typing…");
    assert_eq!(typing_text(&EN, &["bob", "ann", "cy"]), "3 people are typing…");
    assert_eq!(typing_text(&KO, &["bob"]), "bob님이 입력 중…");
    assert_eq!(typing_text(&KO, &["bob", "ann"]), "bob님과 ann님이 입력 중…");
    assert_eq!(typing_text(&KO, &["bob", "ann", "cy"]), "3명이 입력 중…");
}

#[test]
fn names_that_may_turn_text_around_are_isolated_in_the_apps_sentences() {
    const RLO: &str = "\u{202E}";
    let (fsi, pdi) = ("\u{2068}", "\u{2069}");
    let mallory = format!("{RLO}mallory");
    let mut chat = connected("alice");
    let presence = |event, nick: &str, old: Option<&str>| ServerMsg::Presence {
        room: LOBBY.into(),
        event,
        nick: nick.into(),
        old_nick: old.map(Into::into),
    };
    chat.apply(presence(PresenceEvent::Join, &mallory, None), 0.0);
    chat.apply(presence(PresenceEvent::Rename, "سارة", Some("bob")), 0.0);
    chat.apply(presence(PresenceEvent::Leave, &mallory, None), 0.0);
    assert_eq!(
        texts(&chat),
        [
            format!("[{fsi}{mallory}{pdi} joined]"),
            format!("[bob is now {fsi}سارة{pdi}]"),
            format!("[{fsi}{mallory}{pdi} left]"),
        ]
    );
    // The nick itself is kept as written, for the members panel and the log's lines.
    assert!(names(&chat).contains(&"سارة".to_owned()));
    chat.apply(ServerMsg::Typing { room: LOBBY.into(), nick: mallory.clone() }, 0.0);
    chat.apply(ServerMsg::Typing { room: LOBBY.into(), nick: "ann".into() }, 0.0);
    assert_eq!(chat.typing_line(), format!("{fsi}{mallory}{pdi} and ann are typing…"));
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
fn a_kick_leaves_the_room() {
    let mut chat = connected("alice");
    chat.apply(joined("den", vec![]), 0.0);
    assert!(chat.rooms.iter().any(|r| r.name == "den"));
    chat.apply(ServerMsg::Kicked { room: "den".into(), by: Some("bob".into()), until: None }, 0.0);
    assert!(!chat.rooms.iter().any(|r| r.name == "den"), "out of the room");
}
