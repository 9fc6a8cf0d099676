//! Validated newtypes for the names and texts of the protocol.
//!
//! Each `parse` applies the bounds of PROTOCOL.md ("Names") once, at the edge; code that
//! holds a [`Nick`] or a [`RoomName`] never checks again. They hold no I/O and no
//! policy beyond those bounds. What needs Unicode's tables (normalisation, invisible
//! characters, the look-alike key under which nicks are unique) is the server's business:
//! the app must not link those tables.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name or text was refused; its `Display` is a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidName {
    Empty(&'static str),
    TooLong(&'static str, usize),
    Control(&'static str),
    /// A number outside its bounds: what, the least and the most allowed.
    OutOfRange(&'static str, u32, u32),
    /// A `say.image` that is not a URL this server's `POST /api/media` answered with.
    Image,
    /// A name with an invisible, direction-changing, unassigned or private-use character
    /// (the server's check: it needs Unicode's tables, which the app does without).
    Invisible(&'static str),
    /// A name of nothing but spaces, marks and the like.
    NothingVisible(&'static str),
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty(what) => write!(f, "{what} must not be empty"),
            Self::TooLong(what, max) => write!(f, "{what} must be at most {max} characters"),
            Self::Control(what) => write!(f, "{what} must not contain control characters"),
            Self::OutOfRange(what, min, max) => write!(f, "{what} must be from {min} to {max}"),
            Self::Invisible(what) => {
                write!(f, "{what} must not contain invisible, unassigned or direction-changing characters")
            }
            Self::NothingVisible(what) => write!(f, "{what} must contain a visible character"),
            Self::Image => {
                f.write_str("an image must be a URL that POST /api/media of this server answered with")
            }
        }
    }
}

impl std::error::Error for InvalidName {}

fn bounded(what: &'static str, s: &str, max: usize, allow_newlines: bool) -> Result<String, InvalidName> {
    if s.is_empty() {
        return Err(InvalidName::Empty(what));
    }
    if s.chars().count() > max {
        return Err(InvalidName::TooLong(what, max));
    }
    let bad = |c: char| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t'));
    if s.chars().any(bad) {
        return Err(InvalidName::Control(what));
    }
    Ok(s.to_owned())
}

macro_rules! newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, InvalidName> {
                Self::parse(&s)
            }
        }
    };
}

newtype!(
    /// A nickname: 1 to 32 characters after trimming, no control characters. Unique on
    /// a server, case- and look-alike-insensitively (the server's key).
    Nick
);
newtype!(
    /// A room name: 1 to 64 characters after trimming, no control characters, compared
    /// case-sensitively.
    RoomName
);
newtype!(
    /// A message text: 1 to 4000 characters after trimming trailing whitespace. Newlines
    /// and tabs are text; other control characters are refused.
    Text
);
newtype!(
    /// A client's correlation id for a `say`: 1 to 64 characters, no control characters.
    Cid
);

impl Nick {
    pub const MAX: usize = 32;

    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        bounded("a nickname", s.trim(), Self::MAX, false).map(Self)
    }
}

impl RoomName {
    pub const MAX: usize = 64;

    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        bounded("a room name", s.trim(), Self::MAX, false).map(Self)
    }

    pub fn lobby() -> Self {
        Self(crate::LOBBY.to_owned())
    }
}

impl Text {
    pub const MAX: usize = 4000;

    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        bounded("a message", s.trim_end(), Self::MAX, true).map(Self)
    }

    /// The text of a message that carries an image: it may be empty (only whitespace is
    /// empty too); otherwise the same bounds as [`Text::parse`].
    pub fn parse_caption(s: &str) -> Result<Self, InvalidName> {
        if s.trim_end().is_empty() { Ok(Self(String::new())) } else { Self::parse(s) }
    }
}

impl Cid {
    pub const MAX: usize = 64;

    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        bounded("a cid", s, Self::MAX, false).map(Self)
    }
}

/// A private room's password as a client sent it: 1 to 128 characters, kept as given (no
/// trimming: a space is part of a password). It is never serialized, and its `Debug`
/// does not show it, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MAX: usize = 128;

    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        if s.is_empty() {
            return Err(InvalidName::Empty("a password"));
        }
        if s.chars().count() > Self::MAX {
            return Err(InvalidName::TooLong("a password", Self::MAX));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The most members a private room may be given (`join.max`), and the least.
pub const ROOM_MAX: std::ops::RangeInclusive<u32> = 2..=1000;

/// Checks a `join.max` against [`ROOM_MAX`].
pub fn room_max(max: u32) -> Result<u32, InvalidName> {
    if ROOM_MAX.contains(&max) {
        Ok(max)
    } else {
        Err(InvalidName::OutOfRange("a room's member limit", *ROOM_MAX.start(), *ROOM_MAX.end()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_is_trimmed_and_bounded() {
        assert_eq!(Nick::parse("  alice ").unwrap().as_str(), "alice");
        assert_eq!(Nick::parse("   "), Err(InvalidName::Empty("a nickname")));
        assert!(Nick::parse(&"é".repeat(32)).is_ok(), "32 characters, not bytes");
        assert_eq!(Nick::parse(&"a".repeat(33)), Err(InvalidName::TooLong("a nickname", 32)));
        assert_eq!(Nick::parse("a\u{7}b"), Err(InvalidName::Control("a nickname")));
        assert!(Nick::parse("a\nb").is_err(), "no newline in a nick");
    }

    #[test]
    fn room_is_case_sensitive_and_bounded() {
        assert_ne!(RoomName::parse("Rust").unwrap(), RoomName::parse("rust").unwrap());
        assert!(RoomName::parse(&"r".repeat(64)).is_ok());
        assert!(RoomName::parse(&"r".repeat(65)).is_err());
        assert!(RoomName::parse("").is_err());
        assert!(RoomName::parse("a\u{0}").is_err());
    }

    #[test]
    fn text_keeps_leading_space_and_newlines() {
        assert_eq!(Text::parse("  hi\nthere  \n").unwrap().as_str(), "  hi\nthere");
        assert!(Text::parse(" \n\t ").is_err());
        assert!(Text::parse(&"x".repeat(4000)).is_ok());
        assert!(Text::parse(&"x".repeat(4001)).is_err());
        assert!(Text::parse("bell\u{7}").is_err());
    }

    #[test]
    fn a_caption_may_be_empty_but_is_bounded_like_a_text() {
        assert_eq!(Text::parse_caption("  \n ").unwrap().as_str(), "");
        assert_eq!(Text::parse_caption("look ").unwrap().as_str(), "look");
        assert!(Text::parse_caption(&"x".repeat(4001)).is_err());
        assert!(Text::parse_caption("bell\u{7}").is_err());
    }

    #[test]
    fn cid_bounds() {
        assert!(Cid::parse("a-1").is_ok());
        assert!(Cid::parse("").is_err());
        assert!(Cid::parse(&"c".repeat(65)).is_err());
    }

    #[test]
    fn password_bounds_and_redacted_debug() {
        assert_eq!(Password::parse(" a ").unwrap().expose(), " a ", "kept as given");
        assert_eq!(Password::parse(""), Err(InvalidName::Empty("a password")));
        assert!(Password::parse(&"é".repeat(128)).is_ok(), "128 characters, not bytes");
        assert_eq!(Password::parse(&"p".repeat(129)), Err(InvalidName::TooLong("a password", 128)));
        assert!(!format!("{:?}", Password::parse("hunter2").unwrap()).contains("hunter2"));
    }

    #[test]
    fn room_max_bounds() {
        assert_eq!(room_max(2), Ok(2));
        assert_eq!(room_max(1000), Ok(1000));
        for bad in [0, 1, 1001] {
            assert_eq!(
                room_max(bad).unwrap_err().to_string(),
                "a room's member limit must be from 2 to 1000"
            );
        }
    }

    #[test]
    fn newtypes_refuse_bad_values_when_deserialized() {
        assert!(serde_json::from_str::<Nick>("\"bob\"").is_ok());
        assert!(serde_json::from_str::<Nick>("\"\"").is_err());
        assert_eq!(serde_json::to_string(&Nick::parse("bob").unwrap()).unwrap(), "\"bob\"");
    }
}
