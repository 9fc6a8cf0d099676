//! Names people can trust: the server's checks of nicks and room names beyond `common`'s
//! bounds, which need Unicode's tables (kept out of `common`, which the app links).
//!
//! A name is normalised (NFC) before anything else, so that the same letters typed on two
//! keyboards are one name; then refused as `invalid` when it holds a character that hides
//! or rearranges what others see (bidi controls, zero-width and other default-ignorable
//! characters, unassigned and private-use code points) or nothing visible at all. Emoji
//! keep their joiners and variation selectors. Nicks are unique under [`NickKey::key`]:
//! case-folded, then Unicode's confusable skeleton (UTS #39), so `alice`, `Ａlice` and
//! `аlice` (Cyrillic a) are one nick. Room names keep their case-sensitive identity, and
//! [`Looks`] lets the hub refuse a new room that looks like one with members.
//! Message texts are left as written.
//!
//! This module holds no state but [`Looks`], which the hub keeps: it maps names to names
//! and keys.

use std::collections::HashMap;

use common::{InvalidName, Nick, Request, RoomName};
use icu_properties::props::{
    BidiControl, DefaultIgnorableCodePoint, Emoji, EmojiModifier, ExtendedPictographic, GeneralCategory,
    GeneralCategoryGroup,
};
use icu_properties::{CodePointMapData, CodePointSetData};
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// The key under which nicks are unique, for every node of a cluster alike (a `--redis`
/// cluster's nick table is keyed by it): the nick case-folded, then its confusable
/// skeleton, lowercased again (a prototype may be a capital). It replaces `common`'s old
/// lowercase key, so the app never links the skeleton's tables.
pub trait NickKey {
    fn key(&self) -> String;
}

impl NickKey for Nick {
    fn key(&self) -> String {
        let folded: String = self.as_str().chars().flat_map(char::to_lowercase).collect();
        unicode_security::skeleton(&folded).flat_map(char::to_lowercase).collect()
    }
}

/// Applies the checks to every name a request carries (a `members` cursor is only
/// normalised: it names a member, and a refused one would never match anyway). A name
/// that passes as it is is moved through untouched: this runs on every `say`.
pub fn screen(request: Request) -> Result<Request, InvalidName> {
    Ok(match request {
        Request::Nick(nick) => Request::Nick(self::nick(nick)?),
        Request::Join { room, after, password, max } => {
            Request::Join { room: self::room(room)?, after, password, max }
        }
        Request::Leave(room) => Request::Leave(self::room(room)?),
        Request::Say { room, text, cid, image, reply_to } => {
            Request::Say { room: self::room(room)?, text, cid, image, reply_to }
        }
        Request::Typing(room) => Request::Typing(self::room(room)?),
        Request::History { room, before, limit } => {
            Request::History { room: self::room(room)?, before, limit }
        }
        Request::Members(mut page) => {
            page.room = self::room(page.room)?;
            page.after = match page.after {
                Some(nick) if !is_nfc(nick.as_str()) => {
                    Some(Nick::parse(&nick.as_str().nfc().collect::<String>())?)
                }
                after => after,
            };
            Request::Members(page)
        }
        Request::Rooms(mut ask) => {
            // A room named in NFC is found by a query in NFC.
            ask.query = ask.query.map(self::room).transpose()?;
            Request::Rooms(ask)
        }
        Request::Ping => Request::Ping,
        // The nick names someone who has it (looked up by its key), as a cursor does.
        Request::Mod { room, nick, on } => Request::Mod { room: self::room(room)?, nick, on },
        Request::Kick { room, nick } => Request::Kick { room: self::room(room)?, nick },
        Request::Ban { room, nick, minutes } => Request::Ban { room: self::room(room)?, nick, minutes },
        Request::Edit { room, id, text } => Request::Edit { room: self::room(room)?, id, text },
        Request::Delete { room, id } => Request::Delete { room: self::room(room)?, id },
        Request::React { room, id, emoji, on } => Request::React { room: self::room(room)?, id, emoji, on },
        Request::RoomsWatch(on) => Request::RoomsWatch(on),
    })
}

/// A nick, normalised and checked.
pub fn nick(nick: Nick) -> Result<Nick, InvalidName> {
    match normalised("a nickname", nick.as_str())? {
        None => Ok(nick),
        Some(nfc) => Nick::parse(&nfc),
    }
}

/// A room name, normalised and checked.
pub fn room(room: RoomName) -> Result<RoomName, InvalidName> {
    match normalised("a room name", room.as_str())? {
        None => Ok(room),
        Some(nfc) => RoomName::parse(&nfc),
    }
}

/// Checks `name` in NFC: `None` when it is fine as it is, its NFC form when that differs
/// (to be parsed again: composing may shorten it, and rarely lengthen it). Printable
/// ASCII, most names, needs neither normalising nor Unicode's tables.
fn normalised(what: &'static str, name: &str) -> Result<Option<String>, InvalidName> {
    if name.is_ascii() {
        // `common` refused control characters: only spaces can be invisible here.
        return if name.bytes().any(|b| b.is_ascii_graphic()) {
            Ok(None)
        } else {
            Err(InvalidName::NothingVisible(what))
        };
    }
    if is_nfc(name) {
        check(what, name)?;
        return Ok(None);
    }
    let nfc: String = name.nfc().collect();
    check(what, &nfc)?;
    Ok(Some(nfc))
}

/// The live rooms by their look (the confusable skeleton of the name, case kept: rooms
/// are case-sensitive), so that a new room that looks like one with members is refused
/// in one lookup under the hub's lock. Usually one room per look; more when a cluster's
/// nodes created look-alikes at the same moment, or rooms from before this rule.
#[derive(Debug, Default)]
pub struct Looks(HashMap<String, Vec<RoomName>>);

impl Looks {
    /// A room got its first member (the hub computes the look itself: [`Looks::add_look`]).
    #[cfg(test)]
    pub fn add(&mut self, room: &RoomName) {
        self.add_look(look(room), room);
    }

    /// A room got its first member; `look` is its [`look`].
    pub fn add_look(&mut self, look: String, room: &RoomName) {
        self.0.entry(look).or_default().push(room.clone());
    }

    /// A room lost its last member.
    pub fn remove(&mut self, room: &RoomName) {
        let look = look(room);
        let Some(rooms) = self.0.get_mut(&look) else { return };
        rooms.retain(|r| r != room);
        if rooms.is_empty() {
            self.0.remove(&look);
        }
    }

    /// A live room that `room`, a name that is not live itself, would be taken for (the
    /// hub computes the look itself: [`Looks::like_look`]).
    #[cfg(test)]
    pub fn like(&self, room: &RoomName) -> Option<&RoomName> {
        self.like_look(&look(room), room)
    }

    /// A live room that `room`, a name that is not live itself and whose [`look`] is
    /// `look`, would be taken for.
    pub fn like_look(&self, look: &str, room: &RoomName) -> Option<&RoomName> {
        self.0.get(look).and_then(|rooms| rooms.iter().find(|r| *r != room))
    }
}

/// A room's look: its confusable skeleton. Worth computing once per join of a room that is
/// new here (its check against the live rooms, then its entry among them).
pub fn look(room: &RoomName) -> String {
    unicode_security::skeleton(room.as_str()).collect()
}

/// Refuses what hides or rearranges a name, and a name with nothing visible.
fn check(what: &'static str, name: &str) -> Result<(), InvalidName> {
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    let bidi = CodePointSetData::new::<BidiControl>();
    let category = CodePointMapData::<GeneralCategory>::new();
    let chars: Vec<char> = name.chars().collect();
    let mut visible = false;
    for (i, &c) in chars.iter().enumerate() {
        let gc = category.get(c);
        let hidden = bidi.contains(c)
            || (ignorable.contains(c) && !emoji_glue(&chars, i))
            || matches!(
                gc,
                GeneralCategory::Unassigned | GeneralCategory::PrivateUse | GeneralCategory::Surrogate
            )
            || BLANKS.contains(&c);
        if hidden {
            return Err(InvalidName::Invisible(what));
        }
        let shows = GeneralCategoryGroup::Letter.contains(gc)
            || GeneralCategoryGroup::Number.contains(gc)
            || GeneralCategoryGroup::Punctuation.contains(gc)
            || GeneralCategoryGroup::Symbol.contains(gc);
        visible |= shows;
    }
    if visible { Ok(()) } else { Err(InvalidName::NothingVisible(what)) }
}

/// Characters that are symbols by category but draw nothing, and are not
/// default-ignorable: the Braille blank (a favourite of invisible nicknames) and the
/// musical null notehead.
const BLANKS: [char; 2] = ['\u{2800}', '\u{1D159}'];

/// Whether the default-ignorable character at `i` is part of an emoji: a variation
/// selector right after an emoji character (VS15/VS16 choose text or emoji presentation;
/// a keycap's digit is one), or a zero-width joiner between two pictographs (a family, a
/// profession with its skin tone).
fn emoji_glue(chars: &[char], i: usize) -> bool {
    let emoji = CodePointSetData::new::<Emoji>();
    let pictograph = CodePointSetData::new::<ExtendedPictographic>();
    let modifier = CodePointSetData::new::<EmojiModifier>();
    let selector = |c: char| c == '\u{FE0E}' || c == '\u{FE0F}';
    match chars[i] {
        c if selector(c) => i > 0 && emoji.contains(chars[i - 1]),
        '\u{200D}' => {
            // The pictograph the joiner follows, past its selector and skin tone.
            let after = chars[..i]
                .iter()
                .rev()
                .find(|&&c| !selector(c) && !modifier.contains(c))
                .is_some_and(|&c| pictograph.contains(c));
            after && chars.get(i + 1).is_some_and(|&c| pictograph.contains(c))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, InvalidName> {
        nick(Nick::parse(s)?).map(String::from)
    }

    fn key(s: &str) -> String {
        Nick::parse(s).unwrap().key()
    }

    #[test]
    fn names_are_normalised_first() {
        assert_eq!(n("cafe\u{301}").unwrap(), "caf\u{e9}");
        assert_eq!(room(RoomName::parse("Cafe\u{301}").unwrap()).unwrap().as_str(), "Caf\u{e9}");
        // A compatibility form is kept as typed (NFC, not NFKC): the key makes it one nick.
        assert_eq!(n("\u{FF21}lice").unwrap(), "\u{FF21}lice");
    }

    #[test]
    fn hidden_and_direction_changing_characters_are_refused() {
        for bad in [
            "ali\u{202E}ecila",
            "a\u{2066}b\u{2069}",
            "al\u{200B}ice",
            "al\u{200C}ice",
            "al\u{200D}ice",
            "al\u{200E}ice",
            "al\u{2060}ice",
            "al\u{2064}ice",
            "al\u{FEFF}ice",
            "al\u{AD}ice",
            "al\u{34F}ice",
            "al\u{61C}ice",
            "al\u{180E}ice",
            "a\u{FE0F}",
            "😀\u{FE0F}\u{FE0F}",
            "😀\u{200D}",
            "\u{3164}",
            "al\u{E0041}ice",
            "\u{E000}",
            "\u{10FFFD}x",
            "\u{2800}",
            "x\u{2800}x",
        ] {
            assert_eq!(n(bad), Err(InvalidName::Invisible("a nickname")), "{bad:?}");
        }
        for blank in ["\u{301}", "\u{301}\u{3000}\u{301}", "\u{2003}\u{20DD}"] {
            assert_eq!(n(blank), Err(InvalidName::NothingVisible("a nickname")), "{blank:?}");
        }
    }

    #[test]
    fn plain_names_in_any_script_and_emoji_are_taken() {
        for good in [
            "alice",
            "Alice Smith",
            "김민준",
            "さくら",
            "山田太郎",
            "محمد",
            "Ζωή",
            "Łukasz",
            "😀",
            "❤\u{FE0F}",
            "👍\u{1F3FD}",
            "👨\u{200D}👩\u{200D}👧",
            "🧑\u{1F3FE}\u{200D}💻",
            "1\u{FE0F}\u{20E3}",
            "🇰🇷",
            "r2-d2!",
        ] {
            assert_eq!(n(good).as_deref(), Ok(good), "{good:?}");
        }
    }

    #[test]
    fn a_room_that_looks_like_a_live_one_is_found() {
        let r = |s: &str| RoomName::parse(s).unwrap();
        let mut looks = Looks::default();
        looks.add(&r("general"));
        assert_eq!(looks.like(&r("gen\u{435}ral")), Some(&r("general")), "Cyrillic e");
        assert_eq!(looks.like(&r("genera\u{217C}")), Some(&r("general")), "small roman numeral fifty");
        assert_eq!(looks.like(&r("general")), None, "the room itself");
        assert_eq!(looks.like(&r("General")), None, "rooms are case-sensitive");
        assert_eq!(looks.like(&r("generals")), None);
        looks.add(&r("gen\u{435}ral"));
        looks.remove(&r("general"));
        assert_eq!(looks.like(&r("general")), Some(&r("gen\u{435}ral")), "the other one is still live");
        looks.remove(&r("gen\u{435}ral"));
        assert_eq!(looks.like(&r("general")), None);
    }

    #[test]
    fn look_alikes_share_a_key_and_others_do_not() {
        let alice = key("alice");
        for same in
            ["Alice", "ALICE", "\u{FF21}lice", "\u{430}lice", "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}"]
        {
            assert_eq!(key(same), alice, "{same:?}");
        }
        assert_eq!(key("paypal"), key("\u{440}\u{430}\u{443}\u{440}\u{430}l"));
        for other in ["alicia", "bob", "김민준", "😀"] {
            assert_ne!(key(other), alice, "{other:?}");
        }
        assert_ne!(key("김민준"), key("김민수"));
        assert!(!key("a b").contains('\t'), "the cluster's scripts split on tabs");
    }
}
