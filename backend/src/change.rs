//! Changing a message after it was said (`edit`, `delete`, `react`): what a change asks
//! ([`ChangeRequest`]), who may make it ([`may_edit`], [`may_delete`]), the bounds of
//! reactions ([`Reactions`]) and whether a reaction is one emoji ([`one_emoji`]), and why
//! one is refused ([`Refusal`]).
//!
//! A leaf that both the hub and the stores use: the hub judges what it can in memory (the
//! sender is a member, the emoji is one emoji), and the store judges the rest where the
//! message is (its sender, whether it is still there, its reactions), under the same
//! rules: the memory store under the hub's lock, SQLite's writer in the transaction that
//! writes the change, Redis's script. So each rule exists once, here, and knows neither
//! the hub nor a store.

use std::sync::Arc;

use common::changes::Reaction;
use common::{Nick, RoomName, Text};
use tokio::sync::mpsc;

/// At most this many distinct emoji on one message.
pub const EMOJI_PER_MESSAGE: usize = 20;
/// At most this many reactions of one person on one message.
pub const REACTIONS_PER_PERSON: usize = 10;

/// Who asks for a change: the session (its resume token, which is who sent a message) and
/// its nick now.
#[derive(Debug, Clone)]
pub struct Actor {
    pub sender: Arc<str>,
    pub nick: Nick,
    /// Speaks for the room: its owner or a moderator of it, or the operator (who holds no
    /// session: its `sender` is empty, a token no session has). May delete any message.
    pub moderates: bool,
}

impl Actor {
    /// The operator, deleting through the admin API.
    pub fn operator() -> Self {
        Self { sender: Arc::from(""), nick: Nick::parse("operator").expect("a valid nick"), moderates: true }
    }
}

/// What a change does.
#[derive(Debug, Clone)]
pub enum Action {
    Edit(Text),
    Delete,
    /// `emoji` was found to be one emoji ([`one_emoji`]).
    React {
        emoji: String,
        on: bool,
    },
}

/// A change of message `id` of `room`, as the hub hands it to the store.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub actor: Actor,
    pub room: RoomName,
    pub id: u64,
    pub action: Action,
    /// When it was asked (an edit's `edited`), milliseconds since the Unix epoch.
    pub ts: u64,
}

/// Why a change was refused (PROTOCOL.md's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such message in that room, or it was deleted.
    NotFound,
    /// Not this person's to change.
    Forbidden,
    /// More distinct emoji on the message than [`EMOJI_PER_MESSAGE`].
    TooManyEmoji,
    /// More reactions of this person on the message than [`REACTIONS_PER_PERSON`].
    TooManyReactions,
}

/// Whether `actor` may edit a message sent by `author` (a resume token): its sender only.
pub fn may_edit(actor: &Actor, author: &str) -> bool {
    *actor.sender == *author
}

/// Whether `actor` may delete a message sent by `author` (a resume token). Every
/// deletion's permission is decided here and only here: its sender, the room's owner and
/// moderators, and the operator.
pub fn may_delete(actor: &Actor, author: &str) -> bool {
    actor.moderates || *actor.sender == *author
}

/// Whether `s` is one emoji as Unicode lists them (a single pictograph, a keycap, a flag,
/// a sequence joined with zero-width joiners, with or without a skin tone), and not a
/// letter, several emoji or an emoji with something else. A missing or extra variation
/// selector (U+FE0F) is tolerated, as keyboards differ in sending it.
pub fn one_emoji(s: &str) -> bool {
    if emojis::get(s).is_some() {
        return true;
    }
    let bare: String = s.chars().filter(|c| *c != '\u{FE0F}').collect();
    !bare.is_empty() && emojis::get(&bare).is_some()
}

/// How many orphaned pictures may wait for the media folder's sweeper; past that one is
/// left in the folder (and logged): a deletion never waits on a disk.
const ORPHANS_QUEUED: usize = 1024;

/// Where the pictures that no message names any more go (a deleted message's): the media
/// folder's sweeper removes them. Without one (tests of the hub alone), they stay.
#[derive(Debug, Clone, Default)]
pub struct Orphans(Option<mpsc::Sender<String>>);

impl Orphans {
    /// A queue of orphaned pictures' URLs and its receiving end, for the sweeper.
    pub fn channel() -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(ORPHANS_QUEUED);
        (Self(Some(tx)), rx)
    }

    /// Hands `url` to the sweeper.
    pub fn remove(&self, url: String) {
        if let Some(tx) = &self.0
            && tx.try_send(url).is_err()
        {
            tracing::warn!("the media sweeper is behind: a deleted message's picture stays in the folder");
        }
    }
}

/// One person's reaction to a message, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub emoji: String,
    /// The session that gave it (a person is a resume token, whatever its nick).
    pub sender: Arc<str>,
    /// Its nick when it gave it, as shown.
    pub nick: String,
}

/// A message's reactions, in the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reactions(pub Vec<Given>);

impl Reactions {
    /// Applies `actor`'s `on` or off of `emoji` within the bounds: `Ok(true)` when it
    /// changed something, `Ok(false)` when it was already so (no change: no `seq`, no
    /// frame).
    pub fn toggle(&mut self, actor: &Actor, emoji: &str, on: bool) -> Result<bool, Refusal> {
        let mine = |g: &Given| *g.sender == *actor.sender;
        let at = self.0.iter().position(|g| mine(g) && g.emoji == emoji);
        match (at, on) {
            (Some(_), true) | (None, false) => Ok(false),
            (Some(at), false) => {
                self.0.remove(at);
                Ok(true)
            }
            (None, true) => {
                if self.0.iter().filter(|g| mine(g)).count() >= REACTIONS_PER_PERSON {
                    return Err(Refusal::TooManyReactions);
                }
                let new_emoji = !self.0.iter().any(|g| g.emoji == emoji);
                if new_emoji && self.distinct() >= EMOJI_PER_MESSAGE {
                    return Err(Refusal::TooManyEmoji);
                }
                self.0.push(Given {
                    emoji: emoji.to_owned(),
                    sender: actor.sender.clone(),
                    nick: actor.nick.to_string(),
                });
                Ok(true)
            }
        }
    }

    fn distinct(&self) -> usize {
        let mut seen: Vec<&str> = Vec::new();
        for g in &self.0 {
            if !seen.contains(&g.emoji.as_str()) {
                seen.push(&g.emoji);
            }
        }
        seen.len()
    }

    /// As a message carries them: each emoji (in the order first given) with its nicks.
    pub fn view(&self) -> Vec<Reaction> {
        let mut out: Vec<Reaction> = Vec::new();
        for g in &self.0 {
            match out.iter_mut().find(|r| r.emoji == g.emoji) {
                Some(r) => r.nicks.push(g.nick.clone()),
                None => out.push(Reaction { emoji: g.emoji.clone(), nicks: vec![g.nick.clone()] }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(sender: &str) -> Actor {
        Actor { sender: sender.into(), nick: Nick::parse(sender).unwrap(), moderates: false }
    }

    #[test]
    fn one_emoji_is_one_emoji() {
        for ok in ["👍", "👍🏽", "❤️", "❤", "👨‍👩‍👧", "🇰🇷", "1️⃣", "🏳️‍🌈"]
        {
            assert!(one_emoji(ok), "{ok}");
        }
        for bad in ["a", "👍👍", "👍 ", "x👍", "", "\u{FE0F}", ":)", "1"] {
            assert!(!one_emoji(bad), "{bad}");
        }
    }

    #[test]
    fn only_the_sender_may_edit_or_delete() {
        assert!(may_edit(&actor("ann"), "ann") && may_delete(&actor("ann"), "ann"));
        assert!(!may_edit(&actor("bob"), "ann") && !may_delete(&actor("bob"), "ann"));
    }

    #[test]
    fn reactions_toggle_within_their_bounds() {
        let mut r = Reactions::default();
        let (ann, bob) = (actor("ann"), actor("bob"));
        assert_eq!(r.toggle(&ann, "👍", true), Ok(true));
        assert_eq!(r.toggle(&ann, "👍", true), Ok(false), "the same again is no change");
        assert_eq!(r.toggle(&bob, "👍", false), Ok(false));
        assert_eq!(r.toggle(&bob, "👍", true), Ok(true));
        assert_eq!(r.view(), vec![Reaction { emoji: "👍".into(), nicks: vec!["ann".into(), "bob".into()] }]);
        let emoji: Vec<String> = emojis::iter().skip(100).take(30).map(|e| e.as_str().to_owned()).collect();
        for e in &emoji[..9] {
            assert_eq!(r.toggle(&ann, e, true), Ok(true));
        }
        assert_eq!(r.toggle(&ann, &emoji[9], true), Err(Refusal::TooManyReactions));
        for e in &emoji[9..18] {
            assert_eq!(r.toggle(&bob, e, true), Ok(true), "{e}");
        }
        // 19 distinct: a 20th is taken, a 21st refused, one already there is fine.
        assert_eq!(r.toggle(&actor("carl"), &emoji[18], true), Ok(true));
        assert_eq!(r.toggle(&actor("carl"), &emoji[20], true), Err(Refusal::TooManyEmoji));
        assert_eq!(r.toggle(&actor("carl"), &emoji[0], true), Ok(true));
        assert_eq!(r.toggle(&ann, "👍", false), Ok(true));
        assert_eq!(r.view()[0].nicks, vec!["bob".to_owned()]);
    }
}
