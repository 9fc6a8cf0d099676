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
/// connection's decoder is an empty vector and no partial message.
#[derive(Debug)]
pub struct Decoder {
    /// Received, not yet decoded.
    buf: Vec<u8>,
    /// A fragmented data message so far.
    partial: Option<Partial>,
    max: usize,
}

/// The fragments of a data message received so far.
#[derive(Debug)]
struct Partial {
    op: u8,
    data: Vec<u8>,
    /// How much of a text message's `data` is known to be valid UTF-8: all of it but an
    /// unfinished character at the end, which the next fragment may finish.
    checked: usize,
}

impl Partial {
    fn new(op: u8, data: Vec<u8>) -> Result<Self, WsError> {
        let mut partial = Self { op, data, checked: 0 };
        partial.check()?;
        Ok(partial)
    }

    fn extend(&mut self, payload: &[u8]) -> Result<(), WsError> {
        self.data.extend_from_slice(payload);
        self.check()
    }

    /// Refuses a text message as soon as a fragment makes its UTF-8 invalid, rather than
    /// once it is whole: RFC 6455 section 8.1 fails the connection on invalid UTF-8, and
    /// Autobahn's 6.4 cases check it happens this early, before the client sends (and
    /// the server buffers) the rest. Each byte is checked once however the message is cut.
    fn check(&mut self) -> Result<(), WsError> {
        if self.op != opcode::TEXT {
            return Ok(());
        }
        match std::str::from_utf8(&self.data[self.checked..]) {
            Ok(_) => self.checked = self.data.len(),
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(WsError::BadUtf8),
        }
        Ok(())
    }
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
        // Fragments out of order are refused from the header too.
        match (op, self.partial.is_some()) {
            (opcode::CONTINUATION, false) => {
                return Err(WsError::Protocol("continuation without a message to continue"));
            }
            (opcode::TEXT | opcode::BINARY, true) => {
                return Err(WsError::Protocol("a new message inside a fragmented one"));
            }
            _ => {}
        }
        let (len, at) = match len7 {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                (u64::from_be_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        // Refused before its payload arrives: nothing past the limit is ever buffered. A
        // continuation adds to the message so far; a control frame between fragments is a
        // message of its own (at most 125 bytes, checked above), so the partial message's
        // size does not limit it.
        let so_far = match (&self.partial, op) {
            (Some(partial), opcode::CONTINUATION) => partial.data.len(),
            _ => 0,
        };
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
            // `frame` has checked that a continuation has a message to continue and that
            // a new message does not start inside one.
            opcode::CONTINUATION => {
                let Some(mut partial) = self.partial.take() else {
                    return Err(WsError::Protocol("continuation without a message to continue"));
                };
                partial.extend(payload)?;
                if head.fin {
                    Some(data_message(partial.op, partial.data)?)
                } else {
                    self.partial = Some(partial);
                    None
                }
            }
            op if head.fin => Some(data_message(op, payload.to_vec())?),
            op => {
                self.partial = Some(Partial::new(op, payload.to_vec())?);
                None
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

/// Whether a client may close with `code`: the codes RFC 6455 section 7.4.1 defines for
/// an endpoint to send (1000-1003, 1007-1011), the ones IANA registered since (1012
/// service restart, 1013 try again later, 1014 bad gateway), and those left to libraries
/// (3000-3999) and applications (4000-4999). 1004 is reserved, 1005, 1006 and 1015 must
/// never be sent, and the rest are unassigned.
fn is_legal_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn close_message(payload: &[u8]) -> Result<Message, WsError> {
    match payload {
        [] => Ok(Message::Close(None)),
        [_] => Err(WsError::Protocol("a close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_legal_close_code(code) {
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
    fn close_codes_of_every_class() {
        for code in 0..=u16::MAX {
            let legal = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(b"why");
            let got = decode_all(&client(0x88, &payload));
            if legal {
                assert_eq!(got.unwrap(), [Message::Close(Some(code))], "{code}");
            } else {
                assert_eq!(got.unwrap_err(), WsError::Protocol("invalid close code"), "{code}");
            }
        }
        // The IANA registry's additions are legal; the codes no endpoint may send are not.
        assert!([1012, 1013, 1014].into_iter().all(is_legal_close_code));
        assert!(![1004, 1005, 1006, 1015, 1016, 2999, 5000].into_iter().any(is_legal_close_code));
        let not_utf8 = [0x03, 0xE8, 0xC3, 0x28];
        assert_eq!(decode_all(&client(0x88, &not_utf8)).unwrap_err(), WsError::BadUtf8);
    }

    #[test]
    fn a_ping_between_fragments_is_not_limited_by_the_message_so_far() {
        let start = client(0x01, &[b'a'; 190]);
        let ping = client(0x89, &[b'p'; 125]);
        let mut d = Decoder::new(200);
        d.feed(&[start.clone(), ping.clone(), client(0x80, &[b'b'; 10])].concat());
        assert_eq!(d.next().unwrap(), Some(Message::Ping(vec![b'p'; 125])));
        let text = format!("{}{}", "a".repeat(190), "b".repeat(10));
        assert_eq!(d.next().unwrap(), Some(Message::Text(text)));
        // The data frames still add up to the limit.
        let mut d = Decoder::new(200);
        d.feed(&[start, ping, client(0x80, &[b'b'; 11])].concat());
        assert_eq!(d.next().unwrap(), Some(Message::Ping(vec![b'p'; 125])));
        assert_eq!(d.next().unwrap_err(), WsError::TooBig);
    }

    #[test]
    fn fragments_out_of_order_are_refused_from_their_header() {
        let mut d = Decoder::new(100);
        d.feed(&client(0x01, b"a"));
        assert_eq!(d.next().unwrap(), None);
        // Only the header of a new text frame: no need to wait for its payload.
        d.feed(&[0x81, 0x80 | 50]);
        assert_eq!(d.next().unwrap_err(), WsError::Protocol("a new message inside a fragmented one"));
        let mut d = Decoder::new(100);
        d.feed(&[0x80, 0x80 | 50]);
        assert_eq!(d.next().unwrap_err(), WsError::Protocol("continuation without a message to continue"));
    }

    #[test]
    fn utf8_is_checked_across_fragments_and_refused_early() {
        // A four-byte character cut into four fragments is whole again at the end.
        let clef = "𝄞".as_bytes();
        let mut bytes = client(0x01, &clef[..1]);
        bytes.extend(client(0x00, &clef[1..2]));
        bytes.extend(client(0x00, &clef[2..3]));
        bytes.extend(client(0x80, &clef[3..]));
        assert_eq!(decode_all(&bytes).unwrap(), [Message::Text("𝄞".into())]);
        // A character that the last fragment leaves unfinished is not.
        let bytes = [client(0x01, b"ok"), client(0x80, &clef[..3])].concat();
        assert_eq!(decode_all(&bytes).unwrap_err(), WsError::BadUtf8);
        // Bytes that no continuation can repair: refused from the first fragment alone.
        for bad in [&[0xC3, 0x28][..], &[0xED, 0xA0, 0x80], &[0xF4, 0x90], &[0xFF], &[b'a', 0x80]] {
            let mut d = Decoder::new(100);
            d.feed(&client(0x01, bad));
            assert_eq!(d.next().unwrap_err(), WsError::BadUtf8, "{bad:x?}");
        }
        // Binary messages are not text.
        let bytes = [client(0x02, &[0xFF]), client(0x80, &[0xFE])].concat();
        assert_eq!(decode_all(&bytes).unwrap(), [Message::Binary]);
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

/// Properties of the decoder over generated input: how the bytes are cut never matters,
/// nothing panics, and whatever a client may legally send comes out as it went in.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    /// Small enough that generated fragments sometimes add up past it.
    const MAX: usize = 1024;

    /// A client frame with the given first byte and mask; `long` writes the length in
    /// 64 bits whatever it is (legal for a data frame, not for a control frame).
    fn masked(first: u8, payload: &[u8], mask: Option<[u8; 4]>, long: bool) -> Vec<u8> {
        let bit = if mask.is_some() { 0x80 } else { 0 };
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 && !long => f.push(bit | n as u8),
            n if n <= 0xFFFF && !long => {
                f.push(bit | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(bit | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = mask.unwrap_or_default();
        if bit != 0 {
            f.extend_from_slice(&mask);
        }
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// Feeds `chunks` one at a time, taking every message after each, until the first
    /// error: what a session would have acted on, and why it stopped, if it did.
    fn decode_chunks<'a>(
        max: usize,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Vec<Message>, Option<WsError>) {
        let mut d = Decoder::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            d.feed(chunk);
            loop {
                match d.next() {
                    Ok(Some(m)) => out.push(m),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    /// `bytes` cut at the given points (in any order, maybe the same twice).
    fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        at.push(bytes.len());
        let mut start = 0;
        at.into_iter()
            .map(|end| {
                let part = &bytes[start..end];
                start = end;
                part
            })
            .collect()
    }

    /// A frame as a client might send it, or nearly: mostly legal headers, sometimes
    /// any first byte at all, no mask or a 64-bit length; payloads mostly UTF-8.
    fn any_frame() -> impl Strategy<Value = Vec<u8>> {
        let first = prop_oneof![
            8 => (any::<bool>(), prop::sample::select(vec![0u8, 1, 2, 8, 9, 10]))
                .prop_map(|(fin, op)| if fin || op & 0x8 != 0 { 0x80 | op } else { op }),
            1 => any::<u8>(),
        ];
        let payload = prop_oneof![
            3 => "(?s).{0,40}".prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..300),
        ];
        (first, payload, any::<[u8; 4]>(), prop::bool::weighted(0.95), prop::bool::weighted(0.1)).prop_map(
            |(first, payload, mask, masked_, long)| masked(first, &payload, masked_.then_some(mask), long),
        )
    }

    /// A message as a client may legally send it.
    #[derive(Debug, Clone)]
    enum Sent {
        /// A text (or binary) message cut into fragments at `cuts` (even inside a
        /// character), with the pings of `pings` sent between the fragments.
        Data {
            text: bool,
            payload: Vec<u8>,
            cuts: Vec<Index>,
            pings: Vec<Vec<u8>>,
        },
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    fn control_payload() -> impl Strategy<Value = Vec<u8>> + Clone {
        prop::collection::vec(any::<u8>(), 0..=125)
    }

    fn sent() -> impl Strategy<Value = Sent> {
        let legal_code = prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999];
        let cuts = prop::collection::vec(any::<Index>(), 0..4);
        let pings = prop::collection::vec(control_payload(), 0..3);
        prop_oneof![
            4 => ("(?s).{0,300}", cuts.clone(), pings.clone()).prop_map(|(text, cuts, pings)| {
                Sent::Data { text: true, payload: String::into_bytes(text), cuts, pings }
            }),
            1 => (prop::collection::vec(any::<u8>(), 0..300), cuts, pings)
                .prop_map(|(payload, cuts, pings)| Sent::Data { text: false, payload, cuts, pings }),
            1 => control_payload().prop_map(Sent::Ping),
            1 => control_payload().prop_map(Sent::Pong),
            // A reason of at most 30 characters fits the 123 bytes a close leaves for it.
            1 => prop::option::of((legal_code, "(?s).{0,30}")).prop_map(Sent::Close),
        ]
    }

    /// The bytes of `messages`, each frame masked with the next of `masks`, and the
    /// messages the decoder must make of them, in order.
    fn encode(messages: &[Sent], masks: &[[u8; 4]]) -> (Vec<u8>, Vec<Message>) {
        let mut masks = masks.iter().copied().cycle();
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        let mut put = |first: u8, payload: &[u8]| bytes.extend(masked(first, payload, masks.next(), false));
        for m in messages {
            match m {
                Sent::Data { text, payload, cuts, pings } => {
                    let parts = split(payload, cuts);
                    let last = parts.len() - 1;
                    for (i, part) in parts.into_iter().enumerate() {
                        let op = match (i, text) {
                            (0, true) => opcode::TEXT,
                            (0, false) => opcode::BINARY,
                            _ => opcode::CONTINUATION,
                        };
                        put(if i == last { 0x80 | op } else { op }, part);
                        if let Some(ping) = pings.get(i).filter(|_| i < last) {
                            put(0x80 | opcode::PING, ping);
                            want.push(Message::Ping(ping.clone()));
                        }
                    }
                    want.push(if *text {
                        Message::Text(String::from_utf8(payload.clone()).unwrap())
                    } else {
                        Message::Binary
                    });
                }
                Sent::Ping(p) => {
                    put(0x80 | opcode::PING, p);
                    want.push(Message::Ping(p.clone()));
                }
                Sent::Pong(p) => {
                    put(0x80 | opcode::PONG, p);
                    want.push(Message::Pong);
                }
                Sent::Close(close) => {
                    let payload = close.as_ref().map_or_else(Vec::new, |(code, reason)| {
                        [&code.to_be_bytes()[..], reason.as_bytes()].concat()
                    });
                    put(0x80 | opcode::CLOSE, &payload);
                    want.push(Message::Close(close.as_ref().map(|(code, _)| *code)));
                }
            }
        }
        (bytes, want)
    }

    proptest! {
        #[test]
        fn any_split_decodes_as_the_whole(
            frames in prop::collection::vec(any_frame(), 0..12),
            cuts in prop::collection::vec(any::<Index>(), 0..8),
        ) {
            let bytes = frames.concat();
            let whole = decode_chunks(MAX, [&bytes[..]]);
            prop_assert_eq!(&decode_chunks(MAX, split(&bytes, &cuts)), &whole);
            prop_assert_eq!(&decode_chunks(MAX, bytes.chunks(1)), &whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..8),
            masked_ in any::<bool>(),
            max in 0usize..2000,
        ) {
            let mut chunks = chunks;
            // Past the mask check, so the rest of the header is read too.
            if let Some(b) = chunks.first_mut().and_then(|c| c.get_mut(1)).filter(|_| masked_) {
                *b |= 0x80;
            }
            let (messages, _) = decode_chunks(max, chunks.iter().map(Vec::as_slice));
            for m in messages {
                if let Message::Text(t) = m {
                    prop_assert!(t.len() <= max);
                }
            }
        }

        #[test]
        fn masked_messages_round_trip(
            messages in prop::collection::vec(sent(), 0..10),
            masks in prop::collection::vec(any::<[u8; 4]>(), 1..8),
            cuts in prop::collection::vec(any::<Index>(), 0..8),
        ) {
            let (bytes, want) = encode(&messages, &masks);
            let want = (want, None);
            prop_assert_eq!(&decode_chunks(common::MAX_FRAME_BYTES, [&bytes[..]]), &want);
            prop_assert_eq!(&decode_chunks(common::MAX_FRAME_BYTES, split(&bytes, &cuts)), &want);
        }
    }
}
