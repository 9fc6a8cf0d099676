//! The client side of RFC 6455 that the generator's hot path needs, as pure functions:
//! the upgrade request and the check of its answer, and frames parsed in place from a
//! read buffer and encoded (masked) into a reusable one.
//!
//! Why not tokio-tungstenite's `WebSocketStream` for the receivers: it zero-fills its
//! read buffer before every read, allocates per frame and validates UTF-8, which cost the
//! generator about 8 µs per delivery against about 4 µs here, and the generator must
//! receive several hundred thousand deliveries a second on one core. The key and the
//! accept check still come from tungstenite. Nothing here touches a socket.

use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

/// Frame opcodes (RFC 6455 §5.2).
pub mod op {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A frame from the server, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub fin: bool,
    pub opcode: u8,
    pub payload: &'a [u8],
}

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Servers must not mask (RFC 6455 §5.1).
    Masked,
    /// A length this client will not buffer.
    TooLong(u64),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Masked => write!(f, "the server sent a masked frame"),
            Self::TooLong(n) => write!(f, "a frame of {n} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The largest frame the generator accepts (the servers send at most 16 KiB + JSON).
pub const MAX_FRAME: u64 = 1 << 20;

/// Parses one frame at the start of `buf`: the frame and the bytes it took, or `None`
/// when `buf` does not hold a whole frame yet.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let [b0, b1, rest @ ..] = buf else { return Ok(None) };
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let (len, header) = match b1 & 0x7F {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 4),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(l) => (u64::from_be_bytes(l.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    let end = header + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let frame = Frame { fin: b0 & 0x80 != 0, opcode: b0 & 0x0F, payload: &buf[header..end] };
    Ok(Some((frame, end)))
}

/// Appends one final, masked client frame to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// The upgrade request for `path` on `host`, offering `protocol` if any, and the key
/// whose accept value the answer must carry.
pub fn request(host: &str, path: &str, protocol: Option<&str>) -> (String, String) {
    let key = generate_key();
    let offer = protocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n{offer}\r\n"
    );
    (req, key)
}

/// Checks the server's answer to the upgrade. `Ok(None)` until `buf` holds the whole
/// head; then the head's length (frames may follow in the same buffer). A `protocol`
/// offered must be the one chosen: a server that ignored it would be measured speaking
/// another version than the report says.
pub fn check_response(buf: &[u8], key: &str, protocol: Option<&str>) -> Result<Option<usize>, String> {
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else { return Ok(None) };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("the upgrade was refused: {status}"));
    }
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let header = |wanted: &str| {
        headers.iter().find(|(name, _)| name.trim().eq_ignore_ascii_case(wanted)).map(|(_, v)| v.trim())
    };
    let accept = header("sec-websocket-accept");
    if accept != Some(derive_accept_key(key.as_bytes()).as_str()) {
        return Err(format!("wrong Sec-WebSocket-Accept: {accept:?}"));
    }
    let chosen = header("sec-websocket-protocol");
    if chosen != protocol {
        return Err(format!("the server chose the subprotocol {chosen:?}, not {protocol:?}"));
    }
    Ok(Some(end + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn frames_of_every_length_form_parse_and_partial_ones_wait() {
        for len in [0usize, 5, 125, 126, 1000, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut bytes = server_frame(op::TEXT, &payload);
            bytes.extend_from_slice(&server_frame(op::PING, b"p"));
            let (frame, used) = parse(&bytes).unwrap().unwrap();
            assert_eq!(frame, Frame { fin: true, opcode: op::TEXT, payload: &payload });
            let (next, _) = parse(&bytes[used..]).unwrap().unwrap();
            assert_eq!((next.opcode, next.payload), (op::PING, &b"p"[..]));
            for cut in [0, 1, used / 2, used - 1] {
                assert_eq!(parse(&bytes[..cut]), Ok(None), "len {len}, cut {cut}");
            }
        }
    }

    #[test]
    fn masked_or_huge_server_frames_are_refused() {
        assert_eq!(parse(&[0x81, 0x85, 1, 2, 3, 4, 0]), Err(FrameError::Masked));
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(MAX_FRAME + 1).to_be_bytes());
        assert_eq!(parse(&huge), Err(FrameError::TooLong(MAX_FRAME + 1)));
    }

    #[test]
    fn client_frames_are_masked_and_unmask_back() {
        for len in [3usize, 200, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 7) as u8 + b'a').collect();
            let mask = [0x12, 0x34, 0x56, 0x78];
            let mut out = Vec::new();
            encode(&mut out, op::TEXT, &payload, mask);
            assert_eq!(out[0], 0x81);
            assert!(out[1] & 0x80 != 0, "the mask bit is set");
            let header = match len {
                n if n < 126 => 2,
                n if n <= 0xFFFF => 4,
                _ => 10,
            };
            assert_eq!(out[header..header + 4], mask);
            let unmasked: Vec<u8> =
                out[header + 4..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn the_upgrade_answer_is_checked() {
        let (req, key) = request("127.0.0.1:9", "/ws", None);
        assert!(req.starts_with("GET /ws HTTP/1.1\r\n") && req.ends_with("\r\n\r\n"));
        assert!(req.contains(&format!("Sec-WebSocket-Key: {key}\r\n")));
        let accept = derive_accept_key(key.as_bytes());
        let mut ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nsec-websocket-accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        ok.extend_from_slice(b"\x81\x02hi");
        let head = check_response(&ok, &key, None).unwrap().unwrap();
        assert_eq!(&ok[head..], b"\x81\x02hi", "frames after the head are kept");
        assert_eq!(check_response(&ok[..20], &key, None), Ok(None));
        assert!(
            check_response(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", &key, None)
                .unwrap_err()
                .contains("503")
        );
        let wrong = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(check_response(wrong.as_bytes(), &key, None).is_err());
        // Version 2 is offered; an answer without it is version 1 and must not pass.
        let (req, key) = request("h", "/ws", Some("chat.v2"));
        assert!(req.contains("\r\nSec-WebSocket-Protocol: chat.v2\r\n\r\n"), "{req}");
        let accept = derive_accept_key(key.as_bytes());
        let v1 = format!("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
        assert!(check_response(v1.as_bytes(), &key, Some("chat.v2")).unwrap_err().contains("subprotocol"));
        let v2 = format!(
            "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: chat.v2\r\n\r\n"
        );
        assert_eq!(check_response(v2.as_bytes(), &key, Some("chat.v2")), Ok(Some(v2.len())));
    }
}
