//! Messages changed after they were said: edits, deletions and reactions, live, before
//! their message, and from `joined.changes`; replies and their quotes; roles; mentions.

use common::changes::{Deleted, Edited, Quote, Reacted};
use common::{Change, Role, RoleInfo};

use super::*;
use crate::state::changes::{MAX_PENDING, mentions};

fn edited(room: &str, id: u64, text: &str, at: u64, seq: u64) -> Change {
    Change::Edited(Edited { room: room.into(), id, text: text.into(), edited: at, seq })
}

fn deleted(room: &str, id: u64, seq: u64) -> Change {
    Change::Deleted(Deleted { room: room.into(), id, seq })
}

fn reacted(room: &str, id: u64, emoji: &str, nick: &str, on: bool, seq: u64) -> Change {
    Change::Reacted(Reacted { room: room.into(), id, emoji: emoji.into(), nick: nick.into(), on, seq })
}

/// The message `id` of the room shown, as the log holds it.
fn shown(chat: &Chat, id: u64) -> ChatMessage {
    chat.held(id).cloned().expect("held")
}

fn reactions(chat: &Chat, id: u64) -> Vec<(String, Vec<String>)> {
    shown(chat, id).reactions.into_iter().map(|r| (r.emoji, r.nicks)).collect()
}

fn key_of(chat: &Chat, id: u64) -> EntryKey {
    chat.log().iter().find(|e| e.id() == Some(id)).map(|e| e.key()).expect("held")
}

#[test]
fn live_changes_are_shown_and_redraw_their_message() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "helo", None)), 0.0);
    chat.apply(ServerMsg::Message(msg(LOBBY, 2, "bob", "two", None)), 0.0);
    let before = key_of(&chat, 1);
    chat.apply(edited(LOBBY, 1, "hello", 50, 3).into(), 0.0);
    assert_eq!(shown(&chat, 1).text, "hello");
    assert_eq!(shown(&chat, 1).edited, Some(50));
    assert_ne!(key_of(&chat, 1), before, "a changed message is drawn anew");
    chat.apply(reacted(LOBBY, 2, "👍", "bob", true, 4).into(), 0.0);
    chat.apply(reacted(LOBBY, 2, "👍", "alice", true, 5).into(), 0.0);
    chat.apply(reacted(LOBBY, 2, "🎉", "bob", true, 6).into(), 0.0);
    assert_eq!(
        reactions(&chat, 2),
        [("👍".into(), vec!["bob".to_owned(), "alice".into()]), ("🎉".into(), vec!["bob".into()])]
    );
    chat.apply(reacted(LOBBY, 2, "🎉", "bob", false, 7).into(), 0.0);
    assert_eq!(reactions(&chat, 2), [("👍".into(), vec!["bob".to_owned(), "alice".into()])]);
    chat.apply(deleted(LOBBY, 1, 8).into(), 0.0);
    let gone = shown(&chat, 1);
    assert!(gone.deleted && gone.text.is_empty() && gone.edited.is_none());
    // A deletion is for good: a late edit or reaction does not bring it back.
    chat.apply(edited(LOBBY, 1, "back", 60, 9).into(), 0.0);
    chat.apply(reacted(LOBBY, 1, "👍", "bob", true, 10).into(), 0.0);
    let gone = shown(&chat, 1);
    assert!(gone.deleted && gone.text.is_empty() && gone.reactions.is_empty());
    assert_eq!(texts(&chat), ["", "two"], "still in its place: paging stays exact");
}

/// A `history` page read before a change can arrive after it: the change waits for its
/// message rather than being lost.
#[test]
fn a_change_before_its_message_is_applied_when_the_message_comes() {
    let mut chat = connected("alice");
    chat.apply(joined_page(LOBBY, vec![msg(LOBBY, 10, "bob", "ten", None)], false), 0.0);
    chat.apply(edited(LOBBY, 4, "four, fixed", 70, 11).into(), 0.0);
    chat.apply(reacted(LOBBY, 5, "😮", "carl", true, 12).into(), 0.0);
    chat.apply(deleted(LOBBY, 6, 13).into(), 0.0);
    // The page was read before the edit, after the reaction: both end the same.
    let mut five = msg(LOBBY, 5, "bob", "five", None);
    five.reactions = vec![common::changes::Reaction { emoji: "😮".into(), nicks: vec!["carl".into()] }];
    // And a message edited later than the change we hold keeps its newer text.
    let mut seven = msg(LOBBY, 7, "bob", "seven, newest", None);
    seven.edited = Some(90);
    chat.apply(edited(LOBBY, 7, "seven, older", 80, 14).into(), 0.0);
    let page = vec![msg(LOBBY, 4, "bob", "four", None), five, msg(LOBBY, 6, "bob", "six", None), seven];
    chat.apply(ServerMsg::History { room: LOBBY.into(), messages: page, complete: true }, 0.0);
    assert_eq!(texts(&chat), ["four, fixed", "five", "", "seven, newest", "ten"]);
    assert_eq!(reactions(&chat, 5), [("😮".into(), vec!["carl".to_owned()])]);
    assert!(shown(&chat, 6).deleted);
    assert!(chat.current_room().unwrap().pending.is_empty(), "nothing waits any more");
}

#[test]
fn changes_waiting_for_their_message_are_bounded() {
    let mut chat = connected("alice");
    for id in 1..=(MAX_PENDING as u64 + 50) {
        chat.apply(deleted(LOBBY, id, 1000 + id).into(), 0.0);
    }
    assert_eq!(chat.current_room().unwrap().pending.len(), MAX_PENDING);
}

#[test]
fn a_resume_applies_the_changes_made_while_away() {
    let mut chat = connected("alice");
    for id in 1..=3 {
        chat.apply(ServerMsg::Message(msg(LOBBY, id, "bob", &id.to_string(), None)), 0.0);
    }
    chat.disconnected();
    let frames = chat.apply(welcome("alice"), 0.0);
    assert!(frames.contains(&ClientMsg::Join {
        room: LOBBY.into(),
        after: Some(3),
        password: None,
        max: None
    }));
    let ServerMsg::Joined { room, members, complete, total, roles, .. } = joined(LOBBY, vec![]) else {
        unreachable!()
    };
    let changes =
        vec![deleted(LOBBY, 1, 5), edited(LOBBY, 2, "two", 9, 6), reacted(LOBBY, 3, "❤️", "bob", true, 7)];
    let history = vec![msg(LOBBY, 4, "bob", "4", None)];
    let resumed =
        ServerMsg::Joined { room, members, history, complete, total, roles, changes, changes_complete: true };
    assert!(chat.apply(resumed, 0.0).is_empty());
    assert_eq!(texts(&chat), ["", "two", "3", "4"]);
    assert_eq!(reactions(&chat, 3), [("❤️".into(), vec!["bob".to_owned()])]);
}

/// Too much changed while away for `joined` to tell: the room is read anew with a `join`
/// without `after`, whose answer replaces the log.
#[test]
fn incomplete_changes_reload_the_room() {
    let mut chat = connected("alice");
    chat.open_room_with("r", "secret-password", "").unwrap();
    chat.apply(joined("r", vec![msg("r", 1, "bob", "old", None), msg("r", 2, "bob", "two", None)]), 0.0);
    chat.disconnected();
    chat.apply(welcome("alice"), 0.0);
    let ServerMsg::Joined { room, members, complete, total, roles, .. } = joined("r", vec![]) else {
        unreachable!()
    };
    let partial = ServerMsg::Joined {
        room,
        members,
        history: vec![msg("r", 3, "bob", "three", None)],
        complete,
        total,
        roles,
        changes: vec![edited("r", 2, "two!", 9, 5)],
        changes_complete: false,
    };
    let frames = chat.apply(partial, 0.0);
    assert_eq!(
        frames,
        [ClientMsg::Join {
            room: "r".into(),
            after: None,
            password: Some("secret-password".into()),
            max: None
        }]
    );
    assert!(texts(&chat).is_empty(), "what was held may be stale: read anew");
    let mut one = msg("r", 1, "bob", "", None);
    one.deleted = true;
    chat.apply(
        joined("r", vec![one, msg("r", 2, "bob", "two!", None), msg("r", 3, "bob", "three", None)]),
        0.0,
    );
    assert_eq!(texts(&chat), ["", "two!", "three"]);
    assert_eq!(chat.current_room().unwrap().older(), Older::Complete);
}

#[test]
fn a_reply_says_what_it_answers_and_its_quote_follows_that_message() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "lunch?", None)), 0.0);
    chat.reply(Some(1));
    assert_eq!(chat.replying().map(|m| m.text.as_str()), Some("lunch?"));
    let say = chat.say("yes").unwrap().unwrap();
    assert!(matches!(say, ClientMsg::Say { reply_to: Some(1), .. }), "{say:?}");
    assert!(chat.replying().is_none(), "the composer no longer answers it");
    let mut reply = msg(LOBBY, 2, "alice", "yes", say.cid());
    reply.reply_to = Some(1);
    reply.quote = Some(Box::new(Quote::of("bob", "lunch?")));
    chat.apply(ServerMsg::Message(reply), 0.0);
    chat.apply(edited(LOBBY, 1, "lunch at noon?", 5, 3).into(), 0.0);
    assert_eq!(shown(&chat, 2).quote.unwrap().text, "lunch at noon?");
    chat.apply(deleted(LOBBY, 1, 4).into(), 0.0);
    let quote = shown(&chat, 2).quote.unwrap();
    assert!(quote.deleted && quote.text.is_empty(), "{quote:?}");
    // A reply can be cancelled.
    chat.reply(Some(2));
    chat.reply(None);
    assert!(matches!(chat.say("plain").unwrap(), Some(ClientMsg::Say { reply_to: None, .. })));
}

#[test]
fn edits_deletions_and_reactions_go_out_for_the_room_shown() {
    let mut chat = connected("alice");
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "alice", "mine", None)), 0.0);
    let edit = ClientMsg::Edit { room: LOBBY.into(), id: 1, text: "mine!".into() };
    assert_eq!(chat.edit(1, "mine!"), Some(edit));
    assert_eq!(chat.edit(1, "mine"), None, "the same text is no edit");
    assert_eq!(chat.edit(1, "   "), None, "nor an empty one");
    assert_eq!(chat.delete(1), Some(ClientMsg::Delete { room: LOBBY.into(), id: 1 }));
    let react = |on| ClientMsg::React { room: LOBBY.into(), id: 1, emoji: "👍".into(), on };
    assert_eq!(chat.react(1, "👍"), Some(react(true)));
    chat.apply(reacted(LOBBY, 1, "👍", "alice", true, 2).into(), 0.0);
    assert_eq!(chat.react(1, "👍"), Some(react(false)), "a tap on our own reaction takes it back");
    chat.disconnected();
    assert_eq!(chat.delete(1), None, "not while disconnected");
}

#[test]
fn owners_and_moderators_may_delete_anyone_s_message() {
    let mut chat = connected("alice");
    assert!(chat.may_delete(true));
    assert!(!chat.may_delete(false));
    let ServerMsg::Joined { room, members, history, complete, total, .. } = joined("r", vec![]) else {
        unreachable!()
    };
    chat.open_room("r").unwrap();
    let roles = vec![RoleInfo { nick: "alice".into(), role: Role::Owner }];
    let room = room.replace(LOBBY, "r");
    chat.apply(
        ServerMsg::Joined {
            room,
            members,
            history,
            complete,
            total,
            roles,
            changes: vec![],
            changes_complete: true,
        },
        0.0,
    );
    assert!(chat.may_delete(false), "the owner");
    chat.apply(ServerMsg::Role { room: "r".into(), nick: "alice".into(), role: Role::Member }, 0.0);
    assert!(!chat.may_delete(false));
    chat.apply(ServerMsg::Role { room: "r".into(), nick: "alice".into(), role: Role::Moderator }, 0.0);
    assert!(chat.may_delete(false), "a moderator");
}

#[test]
fn a_room_that_mentions_us_is_marked_until_shown() {
    let mut chat = connected("alice");
    chat.open_room("r").unwrap();
    chat.apply(joined("r", vec![]), 0.0);
    chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "hi all", None)), 0.0);
    let lobby = |chat: &Chat| chat.room_list().into_iter().find(|r| r.name == LOBBY).unwrap();
    assert_eq!((lobby(&chat).unread, lobby(&chat).mentioned), (1, false));
    chat.apply(ServerMsg::Message(msg(LOBBY, 2, "bob", "@Alice, lunch?", None)), 0.0);
    assert_eq!((lobby(&chat).unread, lobby(&chat).mentioned), (2, true));
    chat.open_room(LOBBY).unwrap();
    assert_eq!((lobby(&chat).unread, lobby(&chat).mentioned), (0, false));
}

#[test]
fn mentions_are_an_at_sign_and_a_name() {
    fn found(text: &str) -> Vec<&str> {
        mentions(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }
    assert_eq!(found("@ann hi @bob_2, and @민수 too"), ["ann", "bob_2", "민수"]);
    assert_eq!(found("mail ann@example.org or @ alone, @@x"), Vec::<&str>::new());
    assert_eq!(found("(@carl) @dee."), ["dee"]);
}
