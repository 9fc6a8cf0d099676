//! The protocol's own tests: the contract's examples, round trips, and the parsing of
//! client frames into requests.

use super::*;

/// Decodes `json` as `T`, encodes it back and expects the very same text.
fn round_trip<T>(json: &str) -> T
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let value: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(serde_json::to_string(&value).unwrap(), json);
    value
}

#[test]
fn every_example_of_the_spec_round_trips() {
    let nick: ClientMsg = round_trip(r#"{"type":"nick","nick":"alice"}"#);
    assert_eq!(nick, ClientMsg::Nick { nick: "alice".into() });
    let you: ServerMsg = round_trip(r#"{"type":"you","nick":"alice"}"#);
    assert_eq!(you, ServerMsg::You { nick: "alice".into() });
    let join: ClientMsg = round_trip(r#"{"type":"join","room":"lobby"}"#);
    assert_eq!(join, ClientMsg::Join { room: "lobby".into(), after: None, password: None, max: None });
    let joined: ServerMsg = round_trip(
        r#"{"type":"joined","room":"lobby","members":["alice","bob"],"history":[],"complete":true}"#,
    );
    assert!(matches!(joined, ServerMsg::Joined { complete: true, ref members, .. } if members.len() == 2));
    let rooms: ServerMsg = round_trip(r#"{"type":"rooms","rooms":[{"name":"lobby","members":2}]}"#);
    assert_eq!(
        rooms,
        ServerMsg::Rooms { rooms: vec![RoomInfo { name: "lobby".into(), members: 2, private: false }] }
    );
    let say: ClientMsg = round_trip(r#"{"type":"say","room":"lobby","text":"hi","cid":"a-1"}"#);
    assert_eq!(say.cid(), Some("a-1"));
    let message: ServerMsg = round_trip(
        r#"{"type":"message","room":"lobby","id":1,"nick":"alice","text":"hi","ts":1763760000000,"cid":"a-1"}"#,
    );
    let ServerMsg::Message(m) = message else { panic!("not a message") };
    assert_eq!((m.id, m.ts, m.cid.as_deref()), (1, 1_763_760_000_000, Some("a-1")));
}

#[test]
fn every_other_frame_round_trips() {
    round_trip::<ClientMsg>(r#"{"type":"join","room":"rust","after":41}"#);
    round_trip::<ClientMsg>(r#"{"type":"leave","room":"rust"}"#);
    round_trip::<ClientMsg>(r#"{"type":"typing","room":"rust"}"#);
    round_trip::<ClientMsg>(r#"{"type":"history","room":"rust","before":100,"limit":20}"#);
    round_trip::<ClientMsg>(r#"{"type":"history","room":"rust","before":100}"#);
    assert_eq!(round_trip::<ClientMsg>(r#"{"type":"ping"}"#), ClientMsg::Ping);
    assert_eq!(round_trip::<ServerMsg>(r#"{"type":"pong"}"#), ServerMsg::Pong);
    round_trip::<ServerMsg>(
        r#"{"type":"welcome","protocol":1,"nick":"guest-1234","rooms":[{"name":"lobby","members":0}]}"#,
    );
    round_trip::<ServerMsg>(
        r#"{"type":"welcome","protocol":1,"nick":"ann","rooms":[],"resume":"Zk3q9x0aPq1bC2dE"}"#,
    );
    round_trip::<ServerMsg>(
        r#"{"type":"welcome","protocol":1,"nick":"ann","rooms":[],"resume":"Zk3q9x0aPq1bC2dE"}"#,
    );
    round_trip::<ServerMsg>(r#"{"type":"left","room":"rust"}"#);
    round_trip::<ServerMsg>(r#"{"type":"presence","room":"rust","event":"join","nick":"bob"}"#);
    round_trip::<ServerMsg>(
        r#"{"type":"presence","room":"rust","event":"rename","nick":"bobby","old_nick":"bob"}"#,
    );
    round_trip::<ServerMsg>(r#"{"type":"typing","room":"rust","nick":"bob"}"#);
    round_trip::<ServerMsg>(
        r#"{"type":"history","room":"rust","messages":[{"room":"rust","id":3,"nick":"bob","text":"yo","ts":5}],"complete":false}"#,
    );
    round_trip::<ServerMsg>(r#"{"type":"error","code":"not_in_room","message":"join first","cid":"c9"}"#);
    for code in [
        "bad_request",
        "invalid",
        "nick_taken",
        "not_in_room",
        "rate_limited",
        "too_slow",
        "forbidden",
        "room_full",
    ] {
        round_trip::<ServerMsg>(&format!(r#"{{"type":"error","code":"{code}","message":"m"}}"#));
    }
}

/// serde would also take a JSON array for a tagged enum; the server's decoder refuses
/// anything but an object before it gets here (see `backend::session::decode`).
#[test]
fn refuses_what_the_spec_refuses() {
    for bad in [
        "not json",
        r#"{"nick":"alice"}"#,                          // no type
        r#"{"type":"shout","room":"lobby"}"#,           // unknown type
        r#"{"type":"say","room":"lobby","text":"hi"}"#, // missing cid
        r#"{"type":"join"}"#,                           // missing room
        r#"{"type":"join","room":7}"#,                  // wrong type
        r#"{"type":"join","room":"r","after":-1}"#,     // ids are u64
    ] {
        assert!(serde_json::from_str::<ClientMsg>(bad).is_err(), "accepted {bad}");
    }
}

#[test]
fn server_frames_missing_a_field_or_of_unknown_type_are_refused() {
    for bad in [
        r#"{"type":"message","room":"r","id":1,"nick":"n","ts":5}"#,
        r#"{"type":"joined","room":"r","members":[],"history":[]}"#,
        r#"{"type":"welcome","protocol":1,"nick":"n"}"#,
        r#"{"type":"shout"}"#,
        r#"{"room":"r"}"#,
        r#"{"type":"you","nick":7}"#,
    ] {
        assert!(serde_json::from_str::<ServerMsg>(bad).is_err(), "accepted {bad}");
    }
    let e = serde_json::from_str::<ServerMsg>(r#"{"type":"left"}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `room`"), "{e}");
}

/// The `type`s serde's derive knows for `T`, read from the error it refuses an
/// unknown one with ("unknown variant `?`, expected one of `a`, `b`").
fn every_type<T: for<'de> Deserialize<'de> + std::fmt::Debug>() -> Vec<String> {
    let e = serde_json::from_str::<T>(r#"{"type":"?"}"#).unwrap_err().to_string();
    let (_, expected) = e.split_once("expected one of").unwrap_or_else(|| panic!("{e}"));
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn the_samples_hold_every_frame_type_and_round_trip() {
    let server = samples::server();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    let kinds = sorted(server.iter().map(|m| samples::server_kind(m).to_owned()).collect());
    assert_eq!(kinds, sorted(every_type::<ServerMsg>()), "a server frame type without a sample");
    let client = samples::client();
    let kinds = sorted(client.iter().map(|m| samples::client_kind(m).to_owned()).collect());
    assert_eq!(kinds, sorted(every_type::<ClientMsg>()), "a client frame type without a sample");
    for msg in server {
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.starts_with(&format!(r#"{{"type":"{}""#, samples::server_kind(&msg))), "{json}");
        assert_eq!(serde_json::from_str::<ServerMsg>(&json).unwrap(), msg, "{json}");
    }
    for msg in client {
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.starts_with(&format!(r#"{{"type":"{}""#, samples::client_kind(&msg))), "{json}");
        assert_eq!(serde_json::from_str::<ClientMsg>(&json).unwrap(), msg, "{json}");
    }
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let m: ClientMsg = serde_json::from_str(r#"{"type":"typing","room":"r","extra":1}"#).unwrap();
    assert_eq!(m, ClientMsg::Typing { room: "r".into() });
    let e: ServerMsg = serde_json::from_str(r#"{"type":"error","code":"brand_new","message":"m"}"#).unwrap();
    assert!(matches!(e, ServerMsg::Error { code: ErrorCode::Other, .. }));
}

#[test]
fn every_version_2_frame_round_trips() {
    round_trip::<ClientMsg>(r#"{"type":"members","room":"lobby"}"#);
    let ask = round_trip::<ClientMsg>(r#"{"type":"members","room":"lobby","after":"bob","limit":100}"#);
    let Request::Members(MembersPage { after, limit, .. }) = ask.validate().unwrap() else {
        panic!("not members")
    };
    assert_eq!((after.unwrap().as_str(), limit), ("bob", 100));
    let joined: ServerMsg = round_trip(
        r#"{"type":"joined","room":"lobby","members":["alice"],"history":[],"complete":true,"total":1200}"#,
    );
    assert!(matches!(joined, ServerMsg::Joined { total: Some(1200), .. }));
    round_trip::<ServerMsg>(
        r#"{"type":"members","room":"lobby","members":["carl","dan"],"total":1200,"complete":false}"#,
    );
    let count: ServerMsg = round_trip(
        r#"{"type":"presence_count","room":"lobby","joined":12,"left":3,"renamed":0,"total":1209}"#,
    );
    assert!(matches!(count, ServerMsg::PresenceCount { joined: 12, left: 3, total: 1209, .. }));
    round_trip::<ServerMsg>(
        r#"{"type":"rooms_delta","changed":[{"name":"rust","members":4}],"removed":["go"]}"#,
    );
    let limit = |limit| {
        let ask = ClientMsg::Members { room: "r".into(), after: None, limit };
        match ask.validate() {
            Ok(Request::Members(page)) => page.limit,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!((limit(None), limit(Some(5000)), limit(Some(0))), (50, 200, 1));
    let empty = ClientMsg::Members { room: "r".into(), after: Some("".into()), limit: None };
    assert!(empty.validate().is_err());
}

#[test]
fn validate_applies_the_bounds() {
    let ok = ClientMsg::Say {
        room: " lobby ".into(),
        text: "hi  ".into(),
        cid: "a-1".into(),
        image: None,
        reply_to: None,
    };
    let Request::Say { room, text, cid, .. } = ok.validate().unwrap() else { panic!() };
    assert_eq!((room.as_str(), text.as_str(), cid.as_str()), ("lobby", "hi", "a-1"));
    let long = ClientMsg::Nick { nick: "n".repeat(33) };
    assert_eq!(long.validate().unwrap_err().to_string(), "a nickname must be at most 32 characters");
    assert!(ClientMsg::Join { room: "".into(), after: None, password: None, max: None }.validate().is_err());
    let empty =
        ClientMsg::Say { room: "r".into(), text: "   ".into(), cid: "c".into(), image: None, reply_to: None };
    assert!(empty.validate().is_err());
}

#[test]
fn private_rooms_round_trip_and_their_bounds_apply() {
    let join: ClientMsg = round_trip(r#"{"type":"join","room":"den","password":"s3cret","max":4}"#);
    let Request::Join { password, max, .. } = join.validate().unwrap() else { panic!("not a join") };
    assert_eq!((password.unwrap().expose(), max), ("s3cret", Some(4)));
    let join = |password: Option<&str>, max| ClientMsg::Join {
        room: "den".into(),
        after: None,
        password: password.map(Into::into),
        max,
    };
    assert!(join(Some(""), None).validate().is_err());
    assert!(join(Some(&"p".repeat(129)), None).validate().is_err());
    assert!(join(Some(&"p".repeat(128)), Some(1000)).validate().is_ok());
    for max in [0, 1, 1001, u32::MAX] {
        assert!(join(None, Some(max)).validate().is_err(), "{max}");
    }
    let rooms: ServerMsg = round_trip(
        r#"{"type":"rooms","rooms":[{"name":"lobby","members":2},{"name":"den","members":1,"private":true}]}"#,
    );
    let ServerMsg::Rooms { rooms } = rooms else { panic!("not rooms") };
    assert_eq!((rooms[0].private, rooms[1].private), (false, true));
    round_trip::<ServerMsg>(r#"{"type":"error","code":"forbidden","message":"wrong password"}"#);
}

#[test]
fn a_say_with_an_image_may_have_no_text_and_any_other_image_is_invalid() {
    let say = |text: &str, image: &str| {
        ClientMsg::Say {
            room: "r".into(),
            text: text.into(),
            cid: "c".into(),
            image: Some(image.into()),
            reply_to: None,
        }
        .validate()
    };
    let Ok(Request::Say { text, image, .. }) = say(" ", samples::IMAGE) else { panic!() };
    assert_eq!((text.as_str(), image.unwrap().as_str()), ("", samples::IMAGE));
    assert_eq!(say("hi", "https://elsewhere.example/cat.png"), Err(InvalidName::Image));
    assert_eq!(say("", "/media/x.svg"), Err(InvalidName::Image));
    assert!(say(&"x".repeat(4001), samples::IMAGE).is_err(), "a caption has a text's bounds");
    let json = r#"{"type":"say","room":"r","text":"","cid":"c","image":"/media/a.png"}"#;
    let msg: ClientMsg = serde_json::from_str(json).unwrap();
    assert_eq!(msg.validate(), Err(InvalidName::Image));
}

#[test]
fn history_limit_defaults_and_is_capped() {
    let ask = |limit| ClientMsg::History { room: "r".into(), before: 9, limit }.validate().unwrap();
    assert!(matches!(ask(None), Request::History { limit: 50, .. }));
    assert!(matches!(ask(Some(1000)), Request::History { limit: 200, .. }));
    assert!(matches!(ask(Some(0)), Request::History { limit: 1, .. }));
}

#[test]
fn every_error_code_is_listed_in_order_under_its_wire_name() {
    for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
        assert_eq!(code as usize, i, "{code:?}");
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str(), "{code:?}");
    }
    // `Other` is declared last, so a code added before it without a place in `ALL` fails here.
    assert_eq!(ErrorCode::Other as usize + 1, ErrorCode::ALL.len());
}
