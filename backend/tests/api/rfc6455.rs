//! RFC 6455 as the Autobahn testsuite checks a server, case by case over a raw socket
//! (Autobahn itself needs Python 2): pings, reserved bits and opcodes, fragmentation with
//! control frames between fragments, UTF-8 validity, and the closing handshake with codes
//! of every class. Every refusal is a close with its code, after which the server ends
//! the TCP connection; what a client may legally send goes through to the chat.

use serde_json::json;

use crate::helpers::*;
use crate::transport::{RawWs, frame, text};

/// Connects, sends `bytes` and returns the code of the server's close (checking that the
/// server then ends the connection).
async fn close_code_for(app: &TestApp, bytes: &[u8]) -> u16 {
    let mut ws = RawWs::connect(app, &[]).await;
    ws.send(bytes).await;
    ws.closed().await
}

/// A close frame with `code` and `reason`.
fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    frame(0x88, &[&code.to_be_bytes()[..], reason].concat())
}

/// `bytes` as fragments of one message: the first with opcode `op`, the last final.
fn fragments(op: u8, parts: &[&[u8]]) -> Vec<u8> {
    let last = parts.len() - 1;
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let op = if i == 0 { op } else { 0x0 };
        out.extend(frame(if i == last { 0x80 | op } else { op }, part));
    }
    out
}

#[tokio::test]
async fn pings_up_to_125_bytes_are_answered_with_their_payload_and_longer_ones_refused() {
    let app = spawn_app().await;
    let mut ws = RawWs::connect(&app, &[]).await;
    for len in [0, 1, 124, 125] {
        // Every byte value, not just text.
        let payload: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
        ws.send(&frame(0x89, &payload)).await;
        assert_eq!(ws.control().await, (0xA, payload), "a ping of {len} bytes");
    }
    // Ten pings in one write: ten pongs, in order.
    let pings: Vec<u8> = (0..10u8).flat_map(|i| frame(0x89, &[i])).collect();
    ws.send(&pings).await;
    for i in 0..10u8 {
        assert_eq!(ws.control().await, (0xA, vec![i]));
    }
    // A pong nobody asked for is fine, and not answered.
    ws.send(&frame(0x8A, b"unsolicited")).await;
    ws.send(&text(&json!({"type": "ping"}))).await;
    assert_eq!(ws.json().await["type"], "pong");
    ws.send(&frame(0x89, &[b'x'; 126])).await;
    assert_eq!(ws.closed().await, 1002, "a ping of 126 bytes");
    // Control frames may not be fragmented.
    assert_eq!(close_code_for(&app, &frame(0x09, b"part")).await, 1002, "a fragmented ping");
    assert_eq!(close_code_for(&app, &frame(0x0A, b"part")).await, 1002, "a fragmented pong");
}

#[tokio::test]
async fn reserved_bits_and_opcodes_are_refused_with_1002() {
    let app = spawn_app().await;
    for op in (0x3..=0x7).chain(0xB..=0xF) {
        assert_eq!(close_code_for(&app, &frame(0x80 | op, b"")).await, 1002, "opcode {op:#x}");
        assert_eq!(close_code_for(&app, &frame(0x80 | op, b"payload")).await, 1002, "opcode {op:#x}");
    }
    for rsv in (1..=7).map(|r| r << 4) {
        let ping = frame(0x89 | rsv, b"");
        let says = frame(0x81 | rsv, br#"{"type":"ping"}"#);
        assert_eq!(close_code_for(&app, &says).await, 1002, "a text with RSV {rsv:#x}");
        assert_eq!(close_code_for(&app, &ping).await, 1002, "a ping with RSV {rsv:#x}");
    }
    // What came before the bad frame is answered; nothing after it is.
    let mut ws = RawWs::connect(&app, &[]).await;
    ws.send(&[frame(0x89, b"before"), frame(0x85, b""), frame(0x89, b"after")].concat()).await;
    assert_eq!(ws.control().await, (0xA, b"before".to_vec()));
    assert_eq!(ws.closed().await, 1002);
}

#[tokio::test]
async fn fragments_with_control_frames_between_them() {
    let app = spawn_app().await;
    let (mut bob, mut ws) = RawWs::beside_bob(&app).await;

    // One byte per fragment, with a ping and a pong between every two.
    let say = json!({"type": "say", "room": "lobby", "text": "bit by bit", "cid": "b1"}).to_string();
    let mut bytes = Vec::new();
    let last = say.len() - 1;
    for (i, byte) in say.bytes().enumerate() {
        let op = if i == 0 { 0x1 } else { 0x0 };
        bytes.extend(frame(if i == last { 0x80 | op } else { op }, &[byte]));
        if i < last {
            bytes.extend(frame(0x89, &(i as u16).to_be_bytes()));
            bytes.extend(frame(0x8A, b"pong"));
        }
    }
    ws.send(&bytes).await;
    for i in 0..last as u16 {
        assert_eq!(ws.control().await, (0xA, i.to_be_bytes().to_vec()));
    }
    assert_eq!(ws.json().await["text"], "bit by bit");
    assert_eq!(bob.next().await["text"], "bit by bit");

    // A 125-byte ping after a fragment that leaves less than 125 bytes of the message's
    // limit: the ping is not part of the message, so it is answered and the message,
    // exactly at the limit, goes through.
    let max = common::MAX_FRAME_BYTES;
    let mut ping = br#"{"type":"ping""#.to_vec();
    ping.resize(max - 1, b' ');
    ping.push(b'}');
    let (head, tail) = ping.split_at(max - 10);
    let bytes = [frame(0x01, head), frame(0x89, &[b'p'; 125]), frame(0x80, tail)].concat();
    ws.send(&bytes).await;
    assert_eq!(ws.control().await, (0xA, vec![b'p'; 125]));
    assert_eq!(ws.json().await["type"], "pong");
    // One byte more is over the limit, counted over the data frames.
    ping.push(b' ');
    let (head, tail) = ping.split_at(max - 10);
    let bytes = [frame(0x01, head), frame(0x89, b"p"), frame(0x80, tail)].concat();
    ws.send(&bytes).await;
    assert_eq!(ws.control().await, (0xA, b"p".to_vec()));
    assert_eq!(ws.closed().await, 1009);
}

#[tokio::test]
async fn fragments_out_of_order_are_refused_with_1002() {
    let app = spawn_app().await;
    let cases: [(&str, Vec<u8>); 6] = [
        ("a final continuation with nothing to continue", frame(0x80, b"x")),
        ("a continuation with nothing to continue", frame(0x00, b"x")),
        ("a text inside a fragmented text", [frame(0x01, b"a"), frame(0x81, b"b")].concat()),
        ("a text start inside a fragmented text", [frame(0x01, b"a"), frame(0x01, b"b")].concat()),
        ("a binary inside a fragmented text", [frame(0x01, b"a"), frame(0x82, b"b")].concat()),
        (
            "a continuation after a whole message",
            [frame(0x81, br#"{"type":"ping"}"#), frame(0x80, b"x")].concat(),
        ),
    ];
    for (what, bytes) in cases {
        assert_eq!(close_code_for(&app, &bytes).await, 1002, "{what}");
    }
}

#[tokio::test]
async fn a_close_in_the_middle_of_a_fragmented_message_is_answered_and_the_message_dropped() {
    let app = spawn_app().await;
    let (mut bob, mut ws) = RawWs::beside_bob(&app).await;
    let say = json!({"type": "say", "room": "lobby", "text": "never finished", "cid": "n1"}).to_string();
    let (a, b) = say.as_bytes().split_at(12);
    ws.send(&[frame(0x01, a), close(1000, b"gone"), frame(0x80, b)].concat()).await;
    assert_eq!(ws.closed().await, 1000);
    assert_eq!(bob.next().await["event"], "leave", "the message is not delivered");
}

/// Sequences no UTF-8 decoder may accept, after the Autobahn 6.x cases: overlong forms,
/// surrogates, code points past U+10FFFF, stray and missing continuation bytes, and bytes
/// that never occur.
const NOT_UTF8: [&[u8]; 16] = [
    &[0xC0, 0xAF],
    &[0xE0, 0x80, 0xAF],
    &[0xF0, 0x80, 0x80, 0xAF],
    &[0xC1, 0xBF],
    &[0xED, 0xA0, 0x80],
    &[0xED, 0xBF, 0xBF],
    &[0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80],
    &[0xF4, 0x90, 0x80, 0x80],
    &[0xF5, 0x80, 0x80, 0x80],
    &[0x80],
    &[0xBF],
    &[0xCE, 0xBA, 0xE1],
    &[0xCE],
    &[0xE1, 0xBD, b'x'],
    &[0xFE],
    &[0xFF],
];

#[tokio::test]
async fn text_that_is_not_utf8_is_refused_with_1007() {
    let app = spawn_app().await;
    for bad in NOT_UTF8 {
        // Inside what would otherwise be a valid frame.
        let say = [&br#"{"type":"say","room":"lobby","text":"a"#[..], bad, br#"","cid":"c"}"#].concat();
        assert_eq!(close_code_for(&app, &frame(0x81, &say)).await, 1007, "{bad:x?}");
        // In the last of three fragments, the first two being fine.
        let (a, b) = br#"{"type":"say","room":"lobby","text":""#.split_at(10);
        let bytes = fragments(0x1, &[a, b, bad]);
        assert_eq!(close_code_for(&app, &bytes).await, 1007, "{bad:x?} in the last fragment");
    }
    // Bytes no later fragment can repair are refused at once: the rest never comes.
    for bad in [&[0xC0, 0xAF][..], &[0xED, 0xA0, 0x80], &[0xF4, 0x90], &[0x80], &[0xFF]] {
        let first = [&b"{\"type\":\"say\",\"text\":\""[..], bad].concat();
        assert_eq!(close_code_for(&app, &frame(0x01, &first)).await, 1007, "{bad:x?} in the first fragment");
    }
}

#[tokio::test]
async fn utf8_split_across_fragments_is_accepted_when_whole() {
    let app = spawn_app().await;
    let (mut bob, mut ws) = RawWs::beside_bob(&app).await;
    // The edges of each encoded length, a noncharacter and a byte order mark: all valid.
    let said = "κόσμε \u{A0}\u{7FF}\u{800}\u{FFFD}\u{FFFE}\u{FFFF}\u{FEFF}\u{10000}\u{10FFFF} 𝄞 end";
    let say = json!({"type": "say", "room": "lobby", "text": said, "cid": "u1"}).to_string();
    let bytes = say.as_bytes();
    // Cut inside the four bytes of 𝄞, one byte per fragment, and inside κ.
    let clef = say.find('𝄞').unwrap();
    let kappa = say.find('κ').unwrap() + 1;
    let parts = [
        &bytes[..kappa],
        &bytes[kappa..clef + 1],
        &bytes[clef + 1..clef + 2],
        &bytes[clef + 2..clef + 3],
        &bytes[clef + 3..],
    ];
    assert!(parts.iter().all(|p| std::str::from_utf8(p).is_err()), "each part alone is not UTF-8");
    ws.send(&fragments(0x1, &parts)).await;
    assert_eq!(ws.json().await["text"], said);
    assert_eq!(bob.next().await["text"], said);
}

#[tokio::test]
async fn legal_close_codes_are_echoed_and_the_connection_ends() {
    let app = spawn_app().await;
    let legal =
        [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    for code in legal {
        assert_eq!(close_code_for(&app, &close(code, b"")).await, code);
        assert_eq!(close_code_for(&app, &close(code, "até logo 👋".as_bytes())).await, code);
    }
    // The longest reason a close can carry: 123 bytes.
    assert_eq!(close_code_for(&app, &close(1000, &[b'r'; 123])).await, 1000);
    // No code at all is answered as a normal close.
    assert_eq!(close_code_for(&app, &frame(0x88, b"")).await, 1000);
}

#[tokio::test]
async fn illegal_close_frames_are_refused() {
    let app = spawn_app().await;
    for code in [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        assert_eq!(close_code_for(&app, &close(code, b"")).await, 1002, "code {code}");
    }
    assert_eq!(close_code_for(&app, &frame(0x88, &[0x03])).await, 1002, "a payload of one byte");
    assert_eq!(close_code_for(&app, &close(1000, &[b'r'; 124])).await, 1002, "a payload of 126 bytes");
    assert_eq!(
        close_code_for(&app, &close(1000, &[b'o', 0xC3, 0x28])).await,
        1007,
        "a reason that is not UTF-8"
    );
    assert_eq!(
        close_code_for(&app, &close(1000, &[0xED, 0xA0, 0x80])).await,
        1007,
        "a surrogate in the reason"
    );
}

#[tokio::test]
async fn nothing_after_a_close_is_acted_on() {
    let app = spawn_app().await;
    let (mut bob, mut ws) = RawWs::beside_bob(&app).await;
    let after = text(&json!({"type": "say", "room": "lobby", "text": "too late", "cid": "l1"}));
    ws.send(&[close(1000, b""), frame(0x89, b"still there?"), after].concat()).await;
    // `closed` checks that no pong comes after the close, nor anything else.
    assert_eq!(ws.closed().await, 1000);
    assert_eq!(bob.next().await["event"], "leave", "bob never sees the message");
}
