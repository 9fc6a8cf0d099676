//! Sending: the outbox until the echo, offline and disconnected sends, retries and failures.

use super::*;

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
    assert!(matches!(chat.log()[0].key(), EntryKey::Message(_, 1, _)));
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
        [ClientMsg::Say {
            room: LOBBY.into(),
            text: "later".into(),
            cid: cid.clone(),
            image: None,
            reply_to: None
        }]
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
    assert_eq!(
        frames,
        [ClientMsg::Say { room: LOBBY.into(), text: "hello".into(), cid, image: None, reply_to: None }]
    );
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
    assert_eq!(
        frames,
        [ClientMsg::Say { room: LOBBY.into(), text: "slow".into(), cid: slow, image: None, reply_to: None }]
    );
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
