//! What protocol version 2 adds: how it is negotiated and the bounds of its pages.
//!
//! Version 2 is for big rooms. Its frames are variants of the same tagged enums as version
//! 1's ([`crate::ClientMsg::Members`], [`crate::ServerMsg::Members`],
//! [`crate::ServerMsg::PresenceCount`], [`crate::ServerMsg::RoomsDelta`], and the optional
//! `total` of `joined`), so both sides decode one closed set of frames; which of them a
//! connection gets depends on the version it negotiated. `docs/protocol.md` is the
//! reference. Like the rest of this crate, this file only describes the wire.

use serde::{Deserialize, Serialize};

use crate::names::{Nick, RoomName};

/// The WebSocket subprotocol a client offers (`Sec-WebSocket-Protocol`) to speak version 2.
pub const SUBPROTOCOL: &str = "chat.v2";
/// `welcome.protocol` on a version 2 connection.
pub const PROTOCOL_V2: u32 = 2;
/// Members in `joined` (the first page) and in a `members` page without `limit`.
pub const MEMBERS_PAGE: u32 = 50;
/// The largest `limit` a `members` request may ask for; a larger one is served as this.
pub const MEMBERS_MAX: u32 = 200;

/// Rooms in version 2's `welcome` besides the lobby and the session's own, the busiest
/// first: a short list, so that a `welcome` is about the same size with ten rooms or with
/// a hundred thousand.
pub const WELCOME_ROOMS: u32 = 10;
/// Rooms in a `rooms_page` without `limit`.
pub const ROOMS_PAGE: u32 = 50;
/// The largest `limit` a `rooms` request may ask for; a larger one is served as this.
pub const ROOMS_MAX: u32 = 200;
/// The most rooms a connection is kept informed of (`rooms_delta`) besides its own: past
/// it, the rooms it was sent longest ago are forgotten.
pub const ROOMS_HELD: usize = 1000;

/// A validated `rooms` request: up to `limit` rooms in name order (case-insensitive) after
/// the room `after`, only those whose name starts with `query` (case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomsAsk {
    pub after: Option<RoomName>,
    pub query: Option<RoomName>,
    pub limit: u32,
}

impl RoomsAsk {
    /// Applies the bounds: `after` and `query` are room names or prefixes of one (1 to 64
    /// characters, no control characters), and `limit` is brought within 1 to [`ROOMS_MAX`].
    pub fn parse(
        after: Option<String>,
        query: Option<String>,
        limit: Option<u32>,
    ) -> Result<Self, crate::InvalidName> {
        Ok(Self {
            after: after.as_deref().map(RoomName::parse).transpose()?,
            query: query.as_deref().map(RoomName::parse).transpose()?,
            limit: limit.unwrap_or(ROOMS_PAGE).clamp(1, ROOMS_MAX),
        })
    }
}

/// A validated `members` request: up to `limit` members of `room` after the nick `after`
/// (case-insensitively, in the order of `joined.members`; the nick may have left since),
/// or from the start without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembersPage {
    pub room: RoomName,
    pub after: Option<Nick>,
    pub limit: u32,
}

/// The protocol version a connection speaks, fixed by its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    /// PROTOCOL.md's version 1, exactly: what a client gets unless it offers `chat.v2`.
    V1,
    /// Version 2: member pages, directory changes, counted presence in big rooms.
    V2,
}

impl Version {
    /// Every version this code speaks, oldest first.
    pub const ALL: [Version; 2] = [Self::V1, Self::V2];

    /// The version for a handshake's `Sec-WebSocket-Protocol` values (comma-separated
    /// tokens, maybe over several headers): version 2 only when `chat.v2` is among them.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Self {
        let v2 = offered.into_iter().flat_map(|v| v.split(',')).any(|t| t.trim() == SUBPROTOCOL);
        if v2 { Self::V2 } else { Self::V1 }
    }

    /// The number `welcome.protocol` carries.
    pub fn number(self) -> u32 {
        match self {
            Self::V1 => crate::PROTOCOL_VERSION,
            Self::V2 => PROTOCOL_V2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_offer_of_chat_v2_gives_version_2() {
        assert_eq!(Version::negotiate([]), Version::V1);
        assert_eq!(Version::negotiate(["chat.v1"]), Version::V1);
        assert_eq!(Version::negotiate(["chat.v2"]), Version::V2);
        assert_eq!(Version::negotiate(["mqtt, chat.v2 ,x"]), Version::V2);
        assert_eq!(Version::negotiate(["mqtt", "chat.v2"]), Version::V2);
        // Subprotocol names are case-sensitive tokens (RFC 6455 section 4.1).
        assert_eq!(Version::negotiate(["CHAT.V2"]), Version::V1);
        assert_eq!(Version::number(Version::V2), 2);
        assert_eq!(Version::number(Version::V1), 1);
    }

    #[test]
    fn a_rooms_request_is_bounded() {
        let ask = RoomsAsk::parse(None, Some(" Ru ".into()), Some(1000)).unwrap();
        assert_eq!((ask.query.unwrap().as_str(), ask.limit), ("Ru", ROOMS_MAX));
        assert_eq!(RoomsAsk::parse(None, None, None).unwrap().limit, ROOMS_PAGE);
        assert!(RoomsAsk::parse(None, Some(String::new()), None).is_err(), "an empty query");
        assert!(RoomsAsk::parse(None, Some("x".repeat(65)), None).is_err(), "a query too long");
        assert!(RoomsAsk::parse(Some("a\u{7}".into()), None, None).is_err(), "a control character");
    }
}
