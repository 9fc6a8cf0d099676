//! Changing a message after it was said (PROTOCOL.md, "Changing a message after it was
//! said"): the server's frames that tell a room of an edit, a deletion or a reaction
//! ([`Change`], also the items of `joined.changes`), what a message carries of them
//! ([`Reaction`], [`Quote`]), and the bounds of a reaction's emoji as `common` can check
//! them ([`Emoji`]).
//!
//! Plain serde types only: the app decodes them with the rest of the protocol, and whether
//! an emoji is one emoji needs Unicode's emoji tables, which are the server's business
//! (the app's first load must not link them).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::InvalidName;

/// A message's text was replaced by its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edited {
    pub room: String,
    /// The message's id.
    pub id: u64,
    /// The new text.
    pub text: String,
    /// When it was edited (milliseconds since the Unix epoch, server clock).
    pub edited: u64,
    /// The change's own number in the room's sequence.
    pub seq: u64,
}

/// A message was taken back: its text and picture are gone from the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub room: String,
    pub id: u64,
    pub seq: u64,
}

/// Someone added (`on`) or removed a reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reacted {
    pub room: String,
    pub id: u64,
    pub emoji: String,
    pub nick: String,
    pub on: bool,
    pub seq: u64,
}

/// One change of a message, as `edited`, `deleted` or `reacted` frames and as the items
/// of `joined.changes` (the same JSON: each with its `"type"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Edited(Edited),
    Deleted(Deleted),
    Reacted(Reacted),
}

impl Change {
    /// The room it happened in.
    pub fn room(&self) -> &str {
        match self {
            Self::Edited(c) => &c.room,
            Self::Deleted(c) => &c.room,
            Self::Reacted(c) => &c.room,
        }
    }

    /// The id of the message it concerns.
    pub fn id(&self) -> u64 {
        match self {
            Self::Edited(c) => c.id,
            Self::Deleted(c) => c.id,
            Self::Reacted(c) => c.id,
        }
    }

    /// Its own number in the room's sequence.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Edited(c) => c.seq,
            Self::Deleted(c) => c.seq,
            Self::Reacted(c) => c.seq,
        }
    }
}

/// One emoji of a message's reactions, and who reacted with it (in the order they did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub nicks: Vec<String>,
}

/// What a reply carries of the message it answers, so that a client need not fetch it:
/// its sender's nick and the first [`QUOTE_CHARS`] characters of its text, or, once that
/// message was deleted, `deleted` and no text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub nick: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "crate::protocol::is_false")]
    pub deleted: bool,
}

/// A quote holds at most this many characters of the quoted text.
pub const QUOTE_CHARS: usize = 100;

impl Quote {
    /// The quote of a message by `nick` saying `text`.
    pub fn of(nick: &str, text: &str) -> Self {
        Self { nick: nick.to_owned(), text: text.chars().take(QUOTE_CHARS).collect(), deleted: false }
    }
}

/// A reaction's emoji as sent, within the bounds `common` can check: 1 to
/// [`Emoji::MAX`] characters, no control characters. Whether it is one emoji is checked by
/// the server (it needs Unicode's emoji data).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Emoji(String);

impl Emoji {
    /// The longest emoji sequences (a family with skin tones, a subdivision flag) hold
    /// about ten code points; anything much longer is not one emoji.
    pub const MAX: usize = 16;

    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        if s.is_empty() {
            return Err(InvalidName::Empty("an emoji"));
        }
        if s.chars().count() > Self::MAX {
            return Err(InvalidName::TooLong("an emoji", Self::MAX));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidName::Control("an emoji"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Emoji {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChatMessage, ClientMsg, Request, ServerMsg};

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
    fn changes_of_a_message_round_trip_and_their_bounds_apply() {
        let edit: ClientMsg = round_trip(r#"{"type":"edit","room":"r","id":4,"text":"fixed "}"#);
        let Request::Edit { id, text, .. } = edit.validate().unwrap() else { panic!("not an edit") };
        assert_eq!((id, text.as_str()), (4, "fixed"));
        round_trip::<ClientMsg>(r#"{"type":"delete","room":"r","id":4}"#);
        let react: ClientMsg = round_trip(r#"{"type":"react","room":"r","id":4,"emoji":"👍","on":true}"#);
        assert!(matches!(react.validate(), Ok(Request::React { on: true, .. })));
        let say: ClientMsg = round_trip(r#"{"type":"say","room":"r","text":"yes","cid":"c","reply_to":4}"#);
        assert!(matches!(say.validate(), Ok(Request::Say { reply_to: Some(4), .. })));
        let edit = |text: &str| ClientMsg::Edit { room: "r".into(), id: 1, text: text.into() }.validate();
        assert!(edit(" ").is_err() && edit(&"x".repeat(4001)).is_err());
        let react = |emoji: &str| {
            ClientMsg::React { room: "r".into(), id: 1, emoji: emoji.into(), on: true }.validate()
        };
        assert!(react("").is_err() && react(&"👍".repeat(17)).is_err());
        round_trip::<ServerMsg>(r#"{"type":"edited","room":"r","id":4,"text":"fixed","edited":17,"seq":9}"#);
        round_trip::<ServerMsg>(r#"{"type":"deleted","room":"r","id":4,"seq":10}"#);
        round_trip::<ServerMsg>(
            r#"{"type":"reacted","room":"r","id":4,"emoji":"👍","nick":"bob","on":false,"seq":11}"#,
        );
        let tomb: ServerMsg = round_trip(
            r#"{"type":"message","room":"r","id":4,"nick":"ann","text":"","ts":5,"deleted":true}"#,
        );
        assert!(matches!(tomb, ServerMsg::Message(ChatMessage { deleted: true, .. })));
        round_trip::<ServerMsg>(
            r#"{"type":"message","room":"r","id":5,"nick":"ann","text":"yes","ts":5,"edited":7,"reactions":[{"emoji":"👍","nicks":["bob"]}],"reply_to":4,"quote":{"nick":"ann","text":"","deleted":true}}"#,
        );
        let joined: ServerMsg = round_trip(
            r#"{"type":"joined","room":"r","members":[],"history":[],"complete":true,"changes":[{"type":"deleted","room":"r","id":4,"seq":10}],"changes_complete":false}"#,
        );
        assert!(
            matches!(joined, ServerMsg::Joined { changes_complete: false, ref changes, .. } if changes.len() == 1)
        );
        // Without changes, `joined` is as it always was.
        let plain: ServerMsg =
            round_trip(r#"{"type":"joined","room":"r","members":[],"history":[],"complete":true}"#);
        assert!(matches!(plain, ServerMsg::Joined { changes_complete: true, .. }));
    }

    #[test]
    fn a_quote_holds_the_first_hundred_characters() {
        let q = Quote::of("bob", &"é".repeat(150));
        assert_eq!((q.nick.as_str(), q.text.chars().count(), q.deleted), ("bob", 100, false));
        assert_eq!(serde_json::to_string(&Quote::of("a", "hi")).unwrap(), r#"{"nick":"a","text":"hi"}"#);
    }

    #[test]
    fn emoji_bounds() {
        assert!(Emoji::parse("👍").is_ok());
        assert!(Emoji::parse("").is_err());
        assert!(Emoji::parse(&"x".repeat(17)).is_err());
        assert!(Emoji::parse("a\u{0}").is_err());
    }

    #[test]
    fn a_change_is_its_frame() {
        let c = Change::Deleted(Deleted { room: "r".into(), id: 3, seq: 9 });
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"type":"deleted","room":"r","id":3,"seq":9}"#);
        assert_eq!((c.room(), c.id(), c.seq()), ("r", 3, 9));
    }
}
