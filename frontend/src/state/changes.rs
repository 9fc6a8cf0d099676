//! Messages changed after they were said: an `edited`, `deleted` or `reacted` (live, or
//! from `joined.changes`) applied to a room's log ([`RoomState::change`]), the replies that
//! quote a changed message kept true, and `@nick` mentions found in a text ([`mentions`]).
//!
//! A change may come before its message: a `history` page read from the store before the
//! change was made can arrive after it. Such a change waits in the room
//! ([`RoomState::pending`], bounded) and is applied when its message comes. Applying a
//! change again, or an older one to a message that already went through a newer one, does
//! no harm: a deletion is for good, an edit older than the message's `edited` time is
//! dropped, and a reaction sets whether one nick reacted with one emoji, which the later
//! frames of the same pair set again in their order.

use std::sync::Arc;

use common::changes::Reaction;
use common::{Change, ChatMessage};

use super::room::{Entry, RoomState};

/// A room keeps at most this many changes of messages it does not hold.
pub const MAX_PENDING: usize = 200;

/// Applies `change` to `msg`; whether it changed anything.
pub fn change_message(msg: &mut ChatMessage, change: &Change) -> bool {
    if msg.deleted {
        return false;
    }
    match change {
        Change::Edited(e) => {
            if msg.edited.is_some_and(|t| t > e.edited) {
                return false;
            }
            msg.text.clone_from(&e.text);
            msg.edited = Some(e.edited);
        }
        Change::Deleted(_) => {
            *msg = ChatMessage {
                room: std::mem::take(&mut msg.room),
                nick: std::mem::take(&mut msg.nick),
                deleted: true,
                ..ChatMessage { id: msg.id, ts: msg.ts, ..ChatMessage::default() }
            };
        }
        Change::Reacted(r) => {
            let at = msg.reactions.iter().position(|x| x.emoji == r.emoji);
            match (at, r.on) {
                (None, false) => return false,
                (None, true) => {
                    msg.reactions.push(Reaction { emoji: r.emoji.clone(), nicks: vec![r.nick.clone()] })
                }
                (Some(at), on) => {
                    let nicks = &mut msg.reactions[at].nicks;
                    if nicks.contains(&r.nick) == on {
                        return false;
                    }
                    if on {
                        nicks.push(r.nick.clone());
                    } else {
                        nicks.retain(|n| *n != r.nick);
                        if nicks.is_empty() {
                            msg.reactions.remove(at);
                        }
                    }
                }
            }
        }
    }
    true
}

impl RoomState {
    /// Applies a change of one of this room's messages (or keeps it for when that message
    /// comes), and to the quotes of the replies to it. A changed entry is a new one: the
    /// view shares the old.
    pub(super) fn change(&mut self, change: Change) {
        let id = change.id();
        let mut held = false;
        for e in &mut self.entries {
            if let Entry::Message { msg, own, room, .. } = &**e
                && (msg.id == id || msg.reply_to == Some(id))
            {
                let mut msg = msg.clone();
                let changed = if msg.id == id {
                    held = true;
                    change_message(&mut msg, &change)
                } else {
                    requote(&mut msg, &change)
                };
                if changed {
                    *e = Arc::new(Entry::Message { msg, own: *own, room: *room, rev: change.seq() });
                }
            }
        }
        if !held {
            if self.pending.len() >= MAX_PENDING {
                self.pending.remove(0);
            }
            self.pending.push(change);
        }
    }

    /// Forgets the log (its messages, and the changes waiting for some), to be read anew.
    pub(super) fn reload(&mut self) {
        self.entries.clear();
        self.ids.clear();
        self.pending.clear();
        self.last_id = None;
        self.known = false;
        self.complete = false;
    }

    /// The changes that waited for `msg`, applied to it; the `rev` it then has.
    pub(super) fn pending_for(&mut self, msg: &mut ChatMessage) -> u64 {
        let mut rev = 0;
        self.pending.retain(|c| {
            if c.id() != msg.id {
                return true;
            }
            if change_message(msg, c) {
                rev = c.seq();
            }
            false
        });
        rev
    }
}

/// A reply's quote follows the message it quotes, as the server keeps it; whether it
/// changed.
fn requote(msg: &mut ChatMessage, change: &Change) -> bool {
    let Some(quote) = &mut msg.quote else { return false };
    match change {
        Change::Edited(e) => quote.text = e.text.chars().take(common::changes::QUOTE_CHARS).collect(),
        Change::Deleted(_) => {
            quote.text.clear();
            quote.deleted = true;
        }
        Change::Reacted(_) => return false,
    }
    true
}

/// The `@nick` mentions in `text`, as byte ranges of the nick (after its `@`): an `@` at
/// the start or after a space, then everything up to the next space or ASCII punctuation
/// other than `_` and `-`.
pub fn mentions(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() {
                let b = bytes[end];
                if b.is_ascii_whitespace() || (b.is_ascii_punctuation() && b != b'_' && b != b'-') {
                    break;
                }
                end += 1;
            }
            if end > start {
                found.push((start, end));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// Whether `text` mentions `nick` (`@nick`, ASCII letters in any case).
pub fn mentions_nick(text: &str, nick: &str) -> bool {
    !nick.is_empty()
        && mentions(text).iter().any(|&(s, e)| text.get(s..e).is_some_and(|m| m.eq_ignore_ascii_case(nick)))
}
