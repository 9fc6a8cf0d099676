//! What the room's owner and moderators are offered (the members list's actions, the
//! frames they send), and a person taken out of a room: told by whom, and not rejoined.

use super::*;
use common::{Role, RoleInfo};

/// `me`, connected and shown the room "den" with alice, bob and carol in it, whose owner
/// and moderators `roles` names.
fn in_den(me: &str, roles: &[(&str, Role)]) -> Chat {
    let mut chat = connected(me);
    chat.open_room("den").unwrap();
    chat.apply(
        ServerMsg::Joined {
            room: "den".into(),
            members: vec!["alice".into(), "bob".into(), "carol".into()],
            history: vec![],
            complete: true,
            total: None,
            roles: roles.iter().map(|(nick, role)| RoleInfo { nick: (*nick).into(), role: *role }).collect(),
            changes: vec![],
            changes_complete: true,
        },
        0.0,
    );
    chat
}

/// What the members list offers for each member, in its order.
fn offered(chat: &Chat) -> Vec<(String, bool, Acts)> {
    chat.members().into_iter().map(|m| (m.nick, m.me, m.acts)).collect()
}

#[test]
fn the_owner_is_offered_everyone_else_a_moderator_plain_members_and_a_member_nothing() {
    let roles = [("alice", Role::Owner), ("bob", Role::Moderator)];
    let owner = in_den("alice", &roles);
    assert_eq!(
        offered(&owner),
        [
            ("alice".into(), true, Acts::Nothing),
            ("bob".into(), false, Acts::Own(true)),
            ("carol".into(), false, Acts::Own(false)),
        ]
    );
    // A moderator never removes the owner nor another moderator (the server refuses it).
    let moderator = in_den("bob", &roles);
    assert_eq!(
        offered(&moderator),
        [
            ("alice".into(), false, Acts::Nothing),
            ("bob".into(), true, Acts::Nothing),
            ("carol".into(), false, Acts::Remove),
        ]
    );
    let member = in_den("carol", &roles);
    assert!(offered(&member).iter().all(|(_, _, acts)| *acts == Acts::Nothing), "{:?}", offered(&member));
    // The lobby has no owner: nobody is offered anything there.
    let mut lobby = connected("alice");
    lobby.open_room(LOBBY).unwrap();
    assert!(lobby.members().iter().all(|m| m.acts == Acts::Nothing));
}

#[test]
fn the_offers_follow_role_frames_and_renames() {
    let mut chat = in_den("alice", &[("alice", Role::Owner)]);
    let carol = |chat: &Chat| chat.members().into_iter().find(|m| m.nick == "carol").map(|m| m.acts);
    assert_eq!(carol(&chat), Some(Acts::Own(false)));
    chat.apply(ServerMsg::Role { room: "den".into(), nick: "carol".into(), role: Role::Moderator }, 0.0);
    assert_eq!(carol(&chat), Some(Acts::Own(true)), "carol is a moderator now");
    chat.apply(ServerMsg::Role { room: "den".into(), nick: "carol".into(), role: Role::Member }, 0.0);
    assert_eq!(carol(&chat), Some(Acts::Own(false)), "and no longer");

    // Our role follows our rename (the server keeps it by session).
    chat.apply(
        ServerMsg::Presence {
            room: "den".into(),
            event: PresenceEvent::Rename,
            nick: "ally".into(),
            old_nick: Some("alice".into()),
        },
        0.0,
    );
    chat.apply(ServerMsg::You { nick: "ally".into() }, 0.0);
    assert_eq!(carol(&chat), Some(Acts::Own(false)), "still the owner as ally");
    assert!(chat.may_delete(false));
}

#[test]
fn remove_ban_and_moderate_send_their_frames_for_the_room_shown() {
    let mut chat = in_den("alice", &[("alice", Role::Owner)]);
    assert_eq!(
        chat.remove("carol", false),
        Some(ClientMsg::Kick { room: "den".into(), nick: "carol".into() })
    );
    assert_eq!(
        chat.remove("carol", true),
        Some(ClientMsg::Ban { room: "den".into(), nick: "carol".into(), minutes: 24 * 60 }),
        "a ban for a day"
    );
    assert_eq!(
        chat.moderate("bob", true),
        Some(ClientMsg::Mod { room: "den".into(), nick: "bob".into(), on: true })
    );
    assert_eq!(
        chat.moderate("bob", false),
        Some(ClientMsg::Mod { room: "den".into(), nick: "bob".into(), on: false })
    );
    chat.disconnected();
    assert_eq!(chat.remove("carol", false), None, "not kept for later");
    assert_eq!(chat.moderate("bob", true), None);
}

#[test]
fn a_kick_says_who_took_us_out_of_which_room_and_the_room_is_not_rejoined() {
    let mut chat = in_den("carol", &[("alice", Role::Owner)]);
    assert_eq!(chat.current(), "den");
    let frames =
        chat.apply(ServerMsg::Kicked { room: "den".into(), by: Some("alice".into()), until: None }, 0.0);
    assert_eq!(frames, vec![], "nothing sent: joining again is the person's own choice");
    assert_eq!(chat.alert().map(|a| a.text.as_str()), Some("alice removed you from #den"));
    assert!(chat.room("den").is_none(), "out of the room");
    assert_eq!(chat.current(), LOBBY, "the lobby shown instead");
    assert!(!chat.room_list().iter().any(|r| r.name == "den" && r.joined));

    // A reconnect rejoins what is left, not the room we were taken out of.
    chat.disconnected();
    let frames = chat.apply(welcome("carol"), 0.0);
    assert!(!frames.iter().any(|f| matches!(f, ClientMsg::Join { room, .. } if room == "den")), "{frames:?}");

    // The operator's kick does not name anybody.
    let mut chat = in_den("carol", &[]);
    chat.apply(ServerMsg::Kicked { room: "den".into(), by: None, until: None }, 0.0);
    assert_eq!(chat.alert().map(|a| a.text.as_str()), Some("The operator removed you from #den"));
}

#[test]
fn a_ban_from_the_room_says_so_and_the_room_is_not_rejoined() {
    let mut chat = in_den("carol", &[("alice", Role::Owner)]);
    let frames = chat.apply(
        ServerMsg::Kicked { room: "den".into(), by: Some("alice".into()), until: Some(86_400_000) },
        0.0,
    );
    assert_eq!(frames, vec![]);
    assert_eq!(chat.alert().map(|a| a.text.as_str()), Some("alice banned you from #den for now"));
    assert!(chat.room("den").is_none(), "out of the room");
    let mut chat = in_den("carol", &[]);
    chat.apply(ServerMsg::Kicked { room: "den".into(), by: None, until: Some(1) }, 0.0);
    assert_eq!(chat.alert().map(|a| a.text.as_str()), Some("The operator banned you from #den for now"));
}

#[test]
fn the_kick_alert_isolates_names_that_may_turn_text_around() {
    let mut chat = in_den("carol", &[]);
    chat.apply(ServerMsg::Kicked { room: "den".into(), by: Some("سارة".into()), until: None }, 0.0);
    assert_eq!(chat.alert().map(|a| a.text.as_str()), Some("\u{2068}سارة\u{2069} removed you from #den"));
}

#[test]
fn a_public_room_that_refuses_us_says_why_without_asking_for_a_password() {
    let mut chat = connected("carol");
    let rooms = vec![RoomInfo { name: "den".into(), members: 2, private: false }];
    chat.apply(ServerMsg::Rooms { rooms }, 0.0);
    chat.open_room("den").unwrap();
    let why = "you are banned from the room den for now";
    chat.apply(ServerMsg::error(ErrorCode::Forbidden, why, None), 0.0);
    assert_eq!(chat.alert().map(|a| a.text.as_str()), Some(why), "seen on a phone too");
    assert_eq!(chat.room_error(), Some(why));
    assert_eq!(chat.prompt(), None, "a public room has no password to ask for");
    assert!(chat.room("den").is_none());
    assert_eq!(chat.current(), LOBBY);
}
