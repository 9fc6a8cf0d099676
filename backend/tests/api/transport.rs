//! The WebSocket itself, as a client on a bare TCP socket sees it: the handshake, the
//! frames a server must accept (fragments, pings between them, bytes sent along with the
//! handshake) and the ones it must refuse, each with its close code.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const HANDSHAKE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A WebSocket client written out byte by byte, to send what a library would not (the
/// RFC 6455 cases in `rfc6455` use it too).
pub struct RawWs {
    tcp: TcpStream,
    buf: Vec<u8>,
}

fn handshake(version: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: {HANDSHAKE_KEY}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
}

/// A masked client frame with the given first byte (FIN, RSV, opcode).
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0xA1, 0xB2, 0xC3, 0xD4];
    let mut f = vec![first];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

pub fn text(v: &Value) -> Vec<u8> {
    frame(0x81, v.to_string().as_bytes())
}

impl RawWs {
    /// A raw client in the lobby beside `bob`, a real client, both past their joins: what
    /// the raw one gets the server to deliver, bob sees.
    pub async fn beside_bob(app: &TestApp) -> (Client, RawWs) {
        let mut bob = app.member("bob", "lobby").await;
        let mut ws = RawWs::connect(app, &text(&json!({"type": "join", "room": "lobby"}))).await;
        assert_eq!(ws.json().await["type"], "welcome");
        assert_eq!(ws.json().await["type"], "joined");
        bob.next().await;
        (bob, ws)
    }

    /// Connects and upgrades, sending `early` in the same write as the handshake.
    pub async fn connect(app: &TestApp, early: &[u8]) -> RawWs {
        let mut tcp = TcpStream::connect(app.addr).await.unwrap();
        let mut out = handshake("13").into_bytes();
        out.extend_from_slice(early);
        tcp.write_all(&out).await.unwrap();
        let mut ws = RawWs { tcp, buf: Vec::new() };
        let head = ws.head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        // RFC 6455's own example key and its answer.
        assert!(head.to_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
        ws
    }

    /// Reads an HTTP response head.
    async fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                self.buf.drain(..end + 4);
                return head;
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk)).await.expect("read timed out").unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The next server frame: (opcode, payload). Server frames are final and unmasked.
    pub async fn frame(&mut self) -> (u8, Vec<u8>) {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[0] & 0xF0, 0x80, "final, no reserved bits");
                assert_eq!(self.buf[1] & 0x80, 0, "unmasked");
                let (len, at) = match self.buf[1] & 0x7F {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let op = self.buf[0] & 0x0F;
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return (op, payload);
                }
            }
            assert!(self.fill().await > 0, "the server closed the connection");
        }
    }

    /// The next JSON message, skipping directory pushes and pings.
    pub async fn json(&mut self) -> Value {
        loop {
            let (op, payload) = self.frame().await;
            if op == 0x1 {
                let v: Value = serde_json::from_slice(&payload).unwrap();
                if v["type"] != "rooms" {
                    return v;
                }
            }
        }
    }

    /// The next frame that is not a text frame (those are the chat's: `welcome`,
    /// directory pushes, `error`s), as (opcode, payload).
    pub async fn control(&mut self) -> (u8, Vec<u8>) {
        loop {
            let frame = self.frame().await;
            if frame.0 != 0x1 {
                return frame;
            }
        }
    }

    /// Expects the next control frame to be a close; returns its code, and checks that the
    /// server then ends the TCP connection with nothing more sent.
    pub async fn closed(&mut self) -> u16 {
        let (op, payload) = self.control().await;
        assert_eq!(op, 0x8, "a close, not {op:#x} {payload:?}");
        assert!(payload.len() >= 2, "the server's close has a code: {payload:?}");
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        assert!(std::str::from_utf8(&payload[2..]).is_ok(), "its reason is UTF-8");
        // Our side has not closed: the server's FIN must come anyway.
        let mut rest = std::mem::take(&mut self.buf);
        while self.fill().await > 0 {
            rest.append(&mut self.buf);
        }
        assert!(rest.is_empty(), "nothing after the close: {rest:?}");
        code
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }
}

#[tokio::test]
async fn a_plain_request_to_the_socket_is_told_to_upgrade() {
    let app = spawn_app().await;
    let (status, head, body) = app.get("/ws").await;
    assert_eq!(status, 426, "{head}");
    assert!(body.contains("WebSocket client"), "{body}");
    // An old protocol version is told which one to speak.
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(handshake("8").as_bytes()).await.unwrap();
    let mut ws = RawWs { tcp, buf: Vec::new() };
    let head = ws.head().await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(head.to_lowercase().contains("sec-websocket-version: 13"), "{head}");
}

#[tokio::test]
async fn frames_sent_along_with_the_handshake_are_read() {
    let app = spawn_app().await;
    let early = text(&json!({"type": "join", "room": "early"}));
    let mut ws = RawWs::connect(&app, &early).await;
    assert_eq!(ws.json().await["type"], "welcome");
    let joined = ws.json().await;
    assert_eq!((joined["type"].as_str(), joined["room"].as_str()), (Some("joined"), Some("early")));
}

#[tokio::test]
async fn fragments_are_joined_and_pings_between_them_answered() {
    let app = spawn_app().await;
    let mut bob = app.member("bob", "lobby").await;
    let mut ws = RawWs::connect(&app, &[]).await;
    ws.json().await;
    ws.send(&text(&json!({"type": "join", "room": "lobby"}))).await;
    assert_eq!(ws.json().await["type"], "joined");
    assert_eq!(bob.next().await["event"], "join");
    let say = json!({"type": "say", "room": "lobby", "text": "in three parts", "cid": "f1"}).to_string();
    let (a, rest) = say.as_bytes().split_at(10);
    let (b, c) = rest.split_at(20);
    let mut bytes = frame(0x01, a);
    bytes.extend(frame(0x89, b"are you there"));
    bytes.extend(frame(0x00, b));
    bytes.extend(frame(0x80, c));
    ws.send(&bytes).await;
    assert_eq!(
        ws.frame().await,
        (0xA, b"are you there".to_vec()),
        "the pong comes first, with the ping's payload"
    );
    assert_eq!(ws.json().await["text"], "in three parts");
    assert_eq!(bob.next().await["text"], "in three parts");
}

#[tokio::test]
async fn a_close_is_answered_with_the_same_code_and_the_connection_ends() {
    let app = spawn_app().await;
    let (mut bob, mut ws) = RawWs::beside_bob(&app).await;
    ws.send(&frame(0x88, &[0x03, 0xE8, b'b', b'y', b'e'])).await;
    assert_eq!(ws.closed().await, 1000);
    assert_eq!(bob.next().await["event"], "leave");
}

#[tokio::test]
async fn protocol_violations_close_with_their_code_and_leave_others_alone() {
    let app = spawn_app().await;
    let mut bob = app.member("bob", "lobby").await;
    let unmasked = {
        let payload = br#"{"type":"ping"}"#;
        let mut f = vec![0x81, payload.len() as u8];
        f.extend_from_slice(payload);
        f
    };
    // A header announcing a gigabyte: refused at once, without waiting for it.
    let huge = [0x81, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4];
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("unmasked", unmasked, 1002),
        ("reserved bits", frame(0xC1, b"{}"), 1002),
        ("unknown opcode", frame(0x83, b"{}"), 1002),
        ("not UTF-8", frame(0x81, &[b'"', 0xC3, 0x28, b'"']), 1007),
        ("a gigabyte", huge.to_vec(), 1009),
    ];
    for (what, bytes, code) in cases {
        let mut ws = RawWs::connect(&app, &[]).await;
        ws.json().await;
        ws.send(&bytes).await;
        assert_eq!(ws.closed().await, code, "{what}");
    }
    assert_eq!(bob.say("lobby", "still fine", "s1").await["text"], "still fine");
    bob.expect_quiet(Duration::from_millis(100)).await;
}
