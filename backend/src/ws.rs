//! The WebSocket protocol (RFC 6455), the server's side, and nothing else: the opening
//! handshake's accept key, frames out (encoded once, shared by every receiver), and a
//! decoder for the client's frames that enforces the rules a server must.
//!
//! The server speaks it itself rather than through a WebSocket library so that one
//! broadcast is one buffer written, as is, to every member's socket straight from the
//! hub (see `link`): no per-delivery copy, task or lock of a library's stream.

use bytes::Bytes;
use sha1::{Digest, Sha1};

/// Opcodes (RFC 6455 section 5.2).
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Close codes the transport itself uses (the chat's own are in `common::close`).
pub mod code {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const BAD_DATA: u16 = 1007;
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    data_encoding::BASE64.encode(&sha.finalize())
}

/// A ping with no payload, as the server sends it.
pub const PING: &[u8] = &[0x80 | opcode::PING, 0];

/// The most a server frame header takes: 2 bytes, and 8 of length.
const MAX_HEADER: usize = 10;

/// A whole, unmasked, final frame.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(MAX_HEADER + payload.len());
    buf.resize(MAX_HEADER, 0);
    buf.extend_from_slice(payload);
    seal(opcode, buf)
}

/// A text frame whose payload `write` appends to the buffer it is given: the payload is
/// written once, in place, right after room for the header.
pub fn text_frame(write: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.resize(MAX_HEADER, 0);
    write(&mut buf);
    seal(opcode::TEXT, buf)
}

/// Fills in the header in front of the payload at `buf[MAX_HEADER..]`; no copy.
fn seal(opcode: u8, mut buf: Vec<u8>) -> Bytes {
    let len = buf.len() - MAX_HEADER;
    let mut header = [0u8; MAX_HEADER];
    header[0] = 0x80 | opcode;
    let n = if len < 126 {
        header[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    let start = MAX_HEADER - n;
    buf[start..MAX_HEADER].copy_from_slice(&header[..n]);
    Bytes::from(buf).slice(start..)
}

/// A close frame: the code, then a reason of at most 123 bytes (cut at a char boundary).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    frame(opcode::CLOSE, &payload)
}

/// The payload of a frame this module made, for tests.
#[cfg(test)]
pub fn payload(frame: &[u8]) -> &[u8] {
    match frame.get(1).map(|b| b & 0x7F) {
        Some(126) => &frame[4..],
        Some(127) => &frame[10..],
        Some(_) => &frame[2..],
        None => &[],
    }
}

/// One message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary,
    Ping(Vec<u8>),
    Pong,
    /// The client's close code (none if it sent none) and reason.
    Close(Option<u16>),
}

/// Why a client's bytes are refused; each has its close code.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("frame too large")]
    TooBig,
    #[error("text is not UTF-8")]
    BadUtf8,
}

impl WsError {
    /// For the close frame and the log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Protocol(why) => why,
            Self::TooBig => "frame too large",
            Self::BadUtf8 => "text is not UTF-8",
        }
    }

    pub fn close_code(&self) -> u16 {
        match self {
            Self::Protocol(_) => code::PROTOCOL_ERROR,
            Self::TooBig => common::close::TOO_BIG,
            Self::BadUtf8 => code::BAD_DATA,
        }
    }
}

/// Turns the client's bytes into messages. Holds no memory between messages: an idle
/// connection's decoder is three empty vectors.
#[derive(Debug)]
pub struct Decoder {
    /// Received, not yet decoded.
    buf: Vec<u8>,
    /// A fragmented data message so far: its opcode and payload.
    partial: Option<(u8, Vec<u8>)>,
    max: usize,
}

impl Decoder {
    /// `max`: the largest message (and so frame) accepted.
    pub fn new(max: usize) -> Self {
        Self { buf: Vec::new(), partial: None, max }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if the bytes fed so far hold one.
    pub fn next(&mut self) -> Result<Option<Message>, WsError> {
        loop {
            let Some((head, used)) = self.frame()? else {
                if self.buf.is_empty() {
                    // Give the memory back: most connections are idle most of the time.
                    self.buf = Vec::new();
                }
                return Ok(None);
            };
            if let Some(message) = self.message(head, used)? {
                return Ok(Some(message));
            }
        }
    }

    /// Parses the next frame's header once the whole frame is in; unmasks its payload in
    /// place. Returns the header and the frame's length in `buf`.
    fn frame(&mut self) -> Result<Option<(Head, usize)>, WsError> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv, op) = (b[0] & 0x80 != 0, b[0] & 0x70, b[0] & 0x0F);
        let (masked, len7) = (b[1] & 0x80 != 0, b[1] & 0x7F);
        if rsv != 0 {
            return Err(WsError::Protocol("reserved bits set without an extension"));
        }
        if !masked {
            return Err(WsError::Protocol("client frames must be masked"));
        }
        let is_control = op & 0x8 != 0;
        if !matches!(
            op,
            opcode::CONTINUATION
                | opcode::TEXT
                | opcode::BINARY
                | opcode::CLOSE
                | opcode::PING
                | opcode::PONG
        ) {
            return Err(WsError::Protocol("unknown opcode"));
        }
        if is_control && (!fin || len7 > 125) {
            return Err(WsError::Protocol("control frames must be final and at most 125 bytes"));
        }
        let (len, at) = match len7 {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                (u64::from_be_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        // Refused before its payload arrives: nothing past the limit is ever buffered.
        let so_far = self.partial.as_ref().map_or(0, |(_, p)| p.len());
        if len > (self.max - so_far.min(self.max)) as u64 {
            return Err(WsError::TooBig);
        }
        let len = len as usize;
        let total = at + 4 + len;
        if b.len() < total {
            return Ok(None);
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        let start = at + 4;
        for (i, byte) in self.buf[start..total].iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
        Ok(Some((Head { fin, op, start }, total)))
    }

    /// Applies one whole frame (`buf[..used]`), returning a message once one is complete.
    fn message(&mut self, head: Head, used: usize) -> Result<Option<Message>, WsError> {
        let payload = &self.buf[head.start..used];
        let done = match head.op {
            opcode::PING => Some(Message::Ping(payload.to_vec())),
            opcode::PONG => Some(Message::Pong),
            opcode::CLOSE => Some(close_message(payload)?),
            opcode::CONTINUATION => {
                let Some((op, mut data)) = self.partial.take() else {
                    return Err(WsError::Protocol("continuation without a message to continue"));
                };
                data.extend_from_slice(payload);
                if head.fin {
                    Some(data_message(op, data)?)
                } else {
                    self.partial = Some((op, data));
                    None
                }
            }
            op => {
                if self.partial.is_some() {
                    return Err(WsError::Protocol("a new message inside a fragmented one"));
                }
                if head.fin {
                    Some(data_message(op, payload.to_vec())?)
                } else {
                    self.partial = Some((op, payload.to_vec()));
                    None
                }
            }
        };
        self.buf.drain(..used);
        Ok(done)
    }
}

#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    op: u8,
    /// Where the payload starts in the buffer.
    start: usize,
}

fn data_message(op: u8, data: Vec<u8>) -> Result<Message, WsError> {
    if op == opcode::TEXT {
        String::from_utf8(data).map(Message::Text).map_err(|_| WsError::BadUtf8)
    } else {
        Ok(Message::Binary)
    }
}

fn close_message(payload: &[u8]) -> Result<Message, WsError> {
    match payload {
        [] => Ok(Message::Close(None)),
        [_] => Err(WsError::Protocol("a close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !valid {
                return Err(WsError::Protocol("invalid close code"));
            }
            std::str::from_utf8(reason).map_err(|_| WsError::BadUtf8)?;
            Ok(Message::Close(Some(code)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, with the given first byte.
    fn client(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, WsError> {
        let mut d = Decoder::new(16 * 1024);
        d.feed(bytes);
        let mut out = Vec::new();
        while let Some(m) = d.next()? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn the_accept_key_of_the_rfc_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn server_frames_have_the_shortest_header_for_their_length() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let payload = vec![b'x'; len];
            let f = frame(opcode::TEXT, &payload);
            assert_eq!(f.len(), header + len, "payload of {len}");
            assert_eq!(f[0], 0x81);
            assert_eq!(payload_of(&f), &payload[..]);
        }
        assert_eq!(PING, &frame(opcode::PING, b"")[..]);
        let f = text_frame(|b| b.extend_from_slice(b"{\"type\":\"pong\"}"));
        assert_eq!(&f[..], b"\x81\x0f{\"type\":\"pong\"}");
    }

    fn payload_of(f: &[u8]) -> &[u8] {
        payload(f)
    }

    #[test]
    fn close_frames_carry_the_code_and_a_cut_reason() {
        let f = close_frame(1013, "too slow");
        assert_eq!(&f[..], b"\x88\x0a\x03\xf5too slow");
        let long = "é".repeat(100);
        let f = close_frame(1000, &long);
        assert!(f.len() <= 2 + 125);
        assert!(std::str::from_utf8(&payload(&f)[2..]).is_ok());
    }

    #[test]
    fn decodes_texts_split_anywhere() {
        let mut bytes = client(0x81, b"hello");
        bytes.extend(client(0x81, "wörld".as_bytes()));
        for cut in 0..bytes.len() {
            let mut d = Decoder::new(100);
            let mut got = Vec::new();
            for part in [&bytes[..cut], &bytes[cut..]] {
                d.feed(part);
                while let Some(m) = d.next().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, [Message::Text("hello".into()), Message::Text("wörld".into())], "cut at {cut}");
        }
    }

    #[test]
    fn joins_fragments_around_control_frames() {
        let mut bytes = client(0x01, b"hel");
        bytes.extend(client(0x89, b"p"));
        bytes.extend(client(0x00, b"lo "));
        bytes.extend(client(0x80, b"there"));
        assert_eq!(
            decode_all(&bytes).unwrap(),
            [Message::Ping(b"p".to_vec()), Message::Text("hello there".into())]
        );
    }

    #[test]
    fn lengths_of_16_and_64_bits() {
        let text = "x".repeat(300);
        assert_eq!(decode_all(&client(0x81, text.as_bytes())).unwrap(), [Message::Text(text)]);
        let mut d = Decoder::new(100_000);
        let big = "y".repeat(70_000);
        d.feed(&client(0x81, big.as_bytes()));
        assert_eq!(d.next().unwrap(), Some(Message::Text(big)));
    }

    #[test]
    fn refuses_what_a_server_must_refuse() {
        let cases: [(Vec<u8>, WsError); 8] = [
            (vec![0x81, 0x02, b'h', b'i'], WsError::Protocol("client frames must be masked")),
            (client(0xC1, b"hi"), WsError::Protocol("reserved bits set without an extension")),
            (client(0x83, b"hi"), WsError::Protocol("unknown opcode")),
            (client(0x09, b"p"), WsError::Protocol("control frames must be final and at most 125 bytes")),
            (client(0x80, b"x"), WsError::Protocol("continuation without a message to continue")),
            (
                [client(0x01, b"a"), client(0x81, b"b")].concat(),
                WsError::Protocol("a new message inside a fragmented one"),
            ),
            (client(0x81, &[0xFF, 0xFE]), WsError::BadUtf8),
            (client(0x88, &[0x03]), WsError::Protocol("a close payload of one byte")),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_all(&bytes).unwrap_err(), want);
        }
        assert_eq!(
            decode_all(&client(0x88, &[0x03, 0xEE])).unwrap_err(),
            WsError::Protocol("invalid close code")
        );
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_from_its_header() {
        let mut d = Decoder::new(10);
        // Only the header of a huge frame: refused without waiting for (or buffering) it.
        d.feed(&[0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(d.next().unwrap_err(), WsError::TooBig);
        // Fragments add up to the limit.
        let mut d = Decoder::new(10);
        d.feed(&client(0x01, b"123456"));
        d.feed(&client(0x80, b"7890a"));
        assert_eq!(d.next().unwrap_err(), WsError::TooBig);
        assert_eq!(WsError::TooBig.close_code(), 1009);
    }

    #[test]
    fn close_frames_decode_with_or_without_a_code() {
        assert_eq!(decode_all(&client(0x88, b"")).unwrap(), [Message::Close(None)]);
        let mut p = 1000u16.to_be_bytes().to_vec();
        p.extend_from_slice(b"bye");
        assert_eq!(decode_all(&client(0x88, &p)).unwrap(), [Message::Close(Some(1000))]);
    }

    #[test]
    fn an_idle_decoder_holds_no_buffer() {
        let mut d = Decoder::new(100);
        d.feed(&client(0x81, b"hi"));
        assert!(d.next().unwrap().is_some());
        assert!(d.next().unwrap().is_none());
        assert_eq!(d.buf.capacity(), 0);
    }
}
