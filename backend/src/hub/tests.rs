use super::*;
use crate::conn::link::Flushed;

fn hub() -> Hub {
    let (store, history) = Store::memory(100);
    Hub::new(store, history, 100)
}

fn join(hub: &Hub) -> (ConnId, Link) {
    let link = Link::detached(64);
    (hub.connect(link.clone(), None, Version::V1).flushed(), link)
}

fn drain(link: &mut Link) -> Vec<ServerMsg> {
    link.sent().iter().map(decode).collect()
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

#[test]
fn resume_tokens_are_32_lowercase_hex_digits_and_differ() {
    let (a, b) = (new_token(), new_token());
    for t in [&a, &b] {
        assert_eq!(t.len(), 32, "{t}");
        assert!(t.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{t}");
        assert!(valid_token(t), "a token the server gives is one it takes back: {t}");
    }
    assert_ne!(a, b);
}

#[test]
fn guest_nicks_are_unique() {
    let hub = hub();
    let mut nicks = std::collections::HashSet::new();
    for _ in 0..500 {
        let (id, _rx) = join(&hub);
        assert!(nicks.insert(hub.nick(id).unwrap()));
    }
    // Few guests online: the short form, "guest-" and four digits.
    assert!(nicks.iter().all(|n| n.len() == "guest-0000".len()), "{nicks:?}");
}

#[test]
fn guest_nicks_grow_a_digit_before_the_four_digit_ones_run_short() {
    let hub = hub();
    let mut links = Vec::new();
    for _ in 0..2_600 {
        links.push(join(&hub));
    }
    let (id, _link) = join(&hub);
    let nick = hub.nick(id).unwrap();
    assert_eq!(nick.len(), "guest-00000".len(), "{nick}");
    let all: std::collections::HashSet<String> = links.iter().map(|(id, _)| hub.nick(*id).unwrap()).collect();
    assert_eq!(all.len(), links.len(), "unique");
}

#[test]
fn a_broadcast_is_encoded_once_and_shared() {
    let hub = hub();
    let (a, mut ra) = join(&hub);
    let (b, mut rb) = join(&hub);
    for id in [a, b] {
        hub.handle(id, Request::Join { room: room("r"), after: None, password: None, max: None })
            .flushed()
            .unwrap();
    }
    drain(&mut ra);
    drain(&mut rb);
    let say = Request::Say {
        room: room("r"),
        text: common::Text::parse("hi").unwrap(),
        cid: common::Cid::parse("c").unwrap(),
        image: None,
        reply_to: None,
    };
    hub.handle(a, say).flushed().unwrap();
    let (fa, fb) = (ra.sent().remove(0), rb.sent().remove(0));
    // The same bytes, not two encodings of the same message.
    assert_eq!(fa.as_ptr(), fb.as_ptr());
}

/// Connects `n` members of `version` and joins them to `r`, their frames drained.
fn members_of(hub: &Hub, version: Version, n: usize) -> Vec<Link> {
    (0..n)
        .map(|_| {
            let mut link = Link::detached(256);
            let id = hub.connect(link.clone(), None, version).flushed();
            hub.handle(id, Request::Join { room: room("r"), after: None, password: None, max: None })
                .flushed()
                .unwrap();
            drain(&mut link);
            link
        })
        .collect()
}

/// Every link got one frame of this type, all the very same bytes; returns them.
fn shared_frame(links: &mut [Link], ty: &str) -> Frame {
    let frames: Vec<Frame> = links
        .iter_mut()
        .map(|l| {
            let sent = l.sent();
            let ours: Vec<_> = sent.into_iter().filter(|f| frame_type(f) == ty).collect();
            assert_eq!(ours.len(), 1, "one {ty}");
            ours.into_iter().next().unwrap()
        })
        .collect();
    assert!(frames.windows(2).all(|w| w[0].as_ptr() == w[1].as_ptr()), "{ty} encoded once");
    frames[0].clone()
}

fn frame_type(frame: &Frame) -> String {
    let v: serde_json::Value = serde_json::from_slice(crate::ws::payload(frame)).unwrap();
    v["type"].as_str().unwrap().to_owned()
}

#[test]
fn each_version_has_its_frame_encoded_once() {
    let hub = hub();
    let mut v1 = members_of(&hub, Version::V1, 3);
    let mut v2 = members_of(&hub, Version::V2, 3);
    hub.locked(|s| s.push_directory(&mut None, Instant::now())).flushed();
    for link in v1.iter_mut().chain(v2.iter_mut()) {
        drain(link);
    }
    // A join in a small room: the same `presence` bytes for both versions.
    members_of(&hub, Version::V2, 1);
    let mut everyone: Vec<Link> = v1.iter().chain(&v2).cloned().collect();
    shared_frame(&mut everyone, "presence");
    // The directory: one full list for version 1, one delta for version 2.
    hub.locked(|s| s.push_directory(&mut None, Instant::now())).flushed();
    let full = shared_frame(&mut v1, "rooms");
    let delta = shared_frame(&mut v2, "rooms_delta");
    assert!(matches!(decode(&delta), ServerMsg::RoomsDelta { ref changed, .. } if changed[0].members == 7));
    assert!(matches!(decode(&full), ServerMsg::Rooms { ref rooms } if rooms.len() == 2));
}

#[test]
fn a_big_room_is_in_the_directory_once_a_second_and_the_others_at_every_push() {
    let (store, history) = Store::memory(100);
    let hub = Hub::new(store, history, 3);
    // A small room "s" the watchers are shown in their welcome (version 2 connections get
    // the changes of the rooms they hold only).
    let join_s = || {
        let id = hub.connect(Link::detached(256), None, Version::V2).flushed();
        hub.handle(id, Request::Join { room: room("s"), after: None, password: None, max: None })
            .flushed()
            .unwrap();
    };
    join_s();
    hub.locked(|s| s.push_directory(&mut None, Instant::now())).flushed();
    // Five members: above the threshold of 3.
    let mut watchers = members_of(&hub, Version::V2, 5);
    let t0 = Instant::now();
    assert!(!hub.locked(|s| s.push_directory(&mut None, t0)).flushed(), "nothing waits");
    let deltas = |watchers: &mut Vec<Link>| -> Vec<Vec<(String, u32)>> {
        let got: Vec<_> = watchers
            .iter_mut()
            .map(|link| {
                drain(link)
                    .into_iter()
                    .filter_map(|m| match m {
                        ServerMsg::RoomsDelta { changed, .. } => {
                            Some(changed.into_iter().map(|r| (r.name, r.members)).collect::<Vec<_>>())
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(got.windows(2).all(|w| w[0] == w[1]), "every watcher gets the same: {got:?}");
        got.into_iter().next().unwrap()
    };
    assert_eq!(deltas(&mut watchers), [[("r".to_owned(), 5)]]);
    // The big room grows and a small one changes: the small one is shown at once.
    members_of(&hub, Version::V2, 1);
    join_s();
    assert!(
        hub.locked(|s| s.push_directory(&mut None, t0 + Duration::from_millis(100))).flushed(),
        "r waits"
    );
    assert_eq!(deltas(&mut watchers), [[("s".to_owned(), 2)]]);
    assert!(
        hub.locked(|s| s.push_directory(&mut None, t0 + Duration::from_millis(900))).flushed(),
        "r still waits"
    );
    assert!(deltas(&mut watchers).is_empty(), "nothing new to show");
    // A second after it was last shown, its count now.
    assert!(!hub.locked(|s| s.push_directory(&mut None, t0 + Duration::from_secs(1))).flushed());
    assert_eq!(deltas(&mut watchers), [[("r".to_owned(), 6)]]);
}

#[test]
fn a_big_room_counts_presence_for_version_2_only() {
    let (store, history) = Store::memory(100);
    let hub = Hub::new(store, history, 3);
    let mut v1 = members_of(&hub, Version::V1, 1);
    let mut v2 = members_of(&hub, Version::V2, 2);
    for link in v1.iter_mut().chain(v2.iter_mut()) {
        drain(link);
    }
    members_of(&hub, Version::V2, 4);
    // Version 1 got each join; version 2 nothing yet, then one shared count.
    assert_eq!(drain(&mut v1[0]).len(), 4);
    assert!(v2.iter_mut().all(|l| drain(l).is_empty()));
    hub.locked(State::flush_counted).1.flush();
    let count = shared_frame(&mut v2, "presence_count");
    assert!(matches!(decode(&count), ServerMsg::PresenceCount { joined: 4, left: 0, total: 7, .. }));
    hub.locked(State::flush_counted).1.flush();
    assert!(v2.iter_mut().all(|l| drain(l).is_empty()), "nothing new, nothing sent");
}

#[test]
fn joined_lists_the_members_case_insensitively() {
    let hub = hub();
    let mut last = None;
    for nick in ["bob", "Alice", "carl", "alan", "Émile", "BEA"] {
        let (id, link) = join(&hub);
        hub.handle(id, Request::Nick(Nick::parse(nick).unwrap())).flushed().unwrap();
        hub.handle(id, Request::Join { room: room("r"), after: None, password: None, max: None })
            .flushed()
            .unwrap();
        last = Some(link);
    }
    let got = drain(&mut last.unwrap());
    let Some(ServerMsg::Joined { members, .. }) = got.iter().find(|m| matches!(m, ServerMsg::Joined { .. }))
    else {
        panic!("no joined in {got:?}")
    };
    assert_eq!(members, &["alan", "Alice", "BEA", "bob", "carl", "Émile"]);
}

#[test]
fn a_client_that_comes_back_gets_its_nick_back_unless_taken() {
    let hub = hub();
    let token = "resume-token-0123456789";
    let a = hub.connect(Link::detached(64), Some(token), Version::V1).flushed();
    hub.handle(a, Request::Nick(Nick::parse("Ann").unwrap())).flushed().unwrap();
    hub.disconnect(a).flush();
    let again = hub.connect(Link::detached(64), Some(token), Version::V1).flushed();
    assert_eq!(hub.nick(again).as_deref(), Some("Ann"));
    // Taken by someone else while it was away: a guest nick instead.
    hub.disconnect(again).flush();
    let (other, _l) = join(&hub);
    hub.handle(other, Request::Nick(Nick::parse("ann").unwrap())).flushed().unwrap();
    let third = hub.connect(Link::detached(64), Some(token), Version::V1).flushed();
    assert!(hub.nick(third).unwrap().starts_with("guest-"));
}

#[test]
fn a_message_that_reaches_the_room_after_joined_held_it_is_not_given_twice() {
    let hub = hub();
    let (a, mut ra) = join(&hub);
    hub.handle(a, Request::Join { room: room("r"), after: None, password: None, max: None })
        .flushed()
        .unwrap();
    let say = |cid: &str| Request::Say {
        room: room("r"),
        text: common::Text::parse("hi").unwrap(),
        cid: common::Cid::parse(cid).unwrap(),
        image: None,
        reply_to: None,
    };
    hub.handle(a, say("c1")).flushed().unwrap();
    let (b, mut rb) = join(&hub);
    hub.handle(b, Request::Join { room: room("r"), after: None, password: None, max: None })
        .flushed()
        .unwrap();
    drain(&mut ra);
    let got = drain(&mut rb);
    assert!(matches!(&got[..], [_, ServerMsg::Joined { history, .. }] if history.len() == 1), "{got:?}");
    // A cluster's fan-out brings message 1 late (its store had it for the join), then 2.
    let late = |id: u64| {
        let msg = common::ChatMessage {
            room: "r".into(),
            id,
            nick: "n".into(),
            text: "t".into(),
            ts: 1,
            ..common::ChatMessage::default()
        };
        Outcome::Stored(SenderKey::from(""), msg)
    };
    hub.deliver(vec![late(1), late(2)]).flush();
    for link in [&mut ra, &mut rb] {
        let ids: Vec<u64> = drain(link)
            .into_iter()
            .filter_map(|m| match m {
                ServerMsg::Message(m) => Some(m.id),
                _ => None,
            })
            .collect();
        assert_eq!(ids, [2]);
    }
}

#[test]
fn disconnect_frees_the_nick_and_leaves_rooms() {
    let hub = hub();
    let (a, _ra) = join(&hub);
    let (b, mut rb) = join(&hub);
    hub.handle(a, Request::Nick(Nick::parse("Ann").unwrap())).flushed().unwrap();
    for id in [a, b] {
        hub.handle(id, Request::Join { room: room("r"), after: None, password: None, max: None })
            .flushed()
            .unwrap();
    }
    drain(&mut rb);
    hub.disconnect(a).flush();
    let got = drain(&mut rb);
    assert!(
        matches!(&got[..], [ServerMsg::Presence { event: PresenceEvent::Leave, nick, .. }] if nick == "Ann")
    );
    assert!(hub.handle(b, Request::Nick(Nick::parse("ann").unwrap())).flushed().is_ok());
    assert_eq!(hub.connections(), 1);
}
