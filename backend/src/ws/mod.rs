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

    /// Lets `read` append received bytes to the buffer directly (as
    /// `TcpStream::try_read_buf` does, into its spare capacity), instead of through a copy.
    pub fn read_with<T>(&mut self, read: impl FnOnce(&mut Vec<u8>) -> T) -> T {
        read(&mut self.buf)
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
mod tests;

#[cfg(test)]
mod properties;
