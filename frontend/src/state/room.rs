//! One room's log as this client holds it: its messages in id order (each id once),
//! the notices between them, how much older history the server still has, its members
//! and who is typing in it.
//!
//! A [`RoomState`] only records what it is told; what to send, and when, is decided by
//! [`Chat`](super::Chat). Nothing here knows about the outbox or the connection.

use std::sync::Arc;

use common::{Change, ChatMessage, Role, RoleInfo};

/// A room keeps at most this many log entries as new ones arrive; older ones are dropped
/// from memory (the server keeps the history, and scroll-back fetches them again).
pub const MAX_ENTRIES: usize = 1000;
/// A `typing` frame counts for this long unless renewed (PROTOCOL.md: at most 5 s).
pub const TYPING_MS: f64 = 5000.0;

/// What identifies an entry of a room's log for keyed rendering: never its index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKey {
    /// A chat message, by its room's [`RoomState::serial`], its server id (unique within a
    /// room only) and the `seq` of the last change shown (so that a change redraws it).
    Message(u64, u64, u64),
    /// A notice, by a sequence number local to this client.
    Notice(u64),
    /// A message not acknowledged yet, by its `cid`; whether it failed and its upload's
    /// progress are part of the key so that the view redraws it when they change.
    Outgoing(String, bool, Option<u8>),
}

/// One line of a room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message {
        msg: ChatMessage,
        /// Sent by this user (from this page, or under the nick this user holds).
        own: bool,
        /// The [`RoomState::serial`] of its room.
        room: u64,
        /// The `seq` of the last change applied to it (0: none).
        rev: u64,
    },
    /// Someone joined, left or renamed.
    Notice { seq: u64, text: String },
    /// Said here and not acknowledged by the server yet: shown as being sent (a picture:
    /// `image`, with its upload's `progress`), or with the reason it was refused
    /// (`failed`; a failed upload, `retry`, can be tried again).
    Outgoing {
        cid: String,
        nick: String,
        text: String,
        failed: Option<String>,
        image: Option<String>,
        progress: Option<u8>,
        retry: bool,
    },
}

impl Entry {
    pub fn key(&self) -> EntryKey {
        match self {
            Self::Message { msg, room, rev, .. } => EntryKey::Message(*room, msg.id, *rev),
            Self::Notice { seq, .. } => EntryKey::Notice(*seq),
            Self::Outgoing { cid, failed, progress, .. } => {
                EntryKey::Outgoing(cid.clone(), failed.is_some(), *progress)
            }
        }
    }

    /// The server id of a chat message.
    pub fn id(&self) -> Option<u64> {
        match self {
            Self::Message { msg, .. } => Some(msg.id),
            _ => None,
        }
    }

    /// Written by this user: shown on the own side of the log.
    pub fn is_own(&self) -> bool {
        matches!(self, Self::Message { own: true, .. } | Self::Outgoing { .. })
    }
}

/// How much of a room's older history the log can still fetch, for the top of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// Not known yet (the room is not joined).
    Unknown,
    /// Older messages exist on the server: scrolling to the top fetches them.
    More,
    /// A `history` request is in flight.
    Loading,
    /// The log starts at the room's first message.
    Complete,
}

/// One room this client has joined (or will rejoin on the next connection).
///
/// Plain `Vec`s throughout, searched linearly or by bisection: a room holds about
/// [`MAX_ENTRIES`] entries, and maps and hash sets would cost the web app more code size
/// than they save time.
#[derive(Debug, Clone, Default)]
pub struct RoomState {
    pub(super) name: String,
    /// Tells this room from every other one this page has held, for the keys of its log
    /// entries ([`EntryKey::Message`]): message ids are only unique within a room.
    pub(super) serial: u64,
    /// The log, oldest first; `Arc` so that handing a copy to the view is cheap.
    pub(super) entries: Vec<Arc<Entry>>,
    /// The ids of the messages in `entries`, sorted.
    pub(super) ids: Vec<u64>,
    /// Nicks of the members, as of the last `joined` and `presence`, in [`by_name`] order:
    /// all of them in version 1, the pages loaded so far in version 2.
    pub(super) members: Vec<String>,
    /// The room's member count as the server last gave it (version 2, kept by `presence`
    /// in between); `None` in version 1, where `members` is the whole room.
    pub(super) total: Option<u32>,
    /// More members exist after the last one of `members` (version 2: pages to load).
    pub(super) more: bool,
    /// A `members` request is in flight (one at a time per room).
    pub(super) paging: bool,
    /// Presence was counted since the list was loaded (a big room): who came, left or
    /// renamed is not named, so the list may miss some and hold some who left. The next
    /// page asked for is then a fresh list from the start.
    pub(super) stale: bool,
    /// The `members` request in flight is such a fresh list: its answer replaces the list.
    pub(super) refreshing: bool,
    /// The highest message id seen: `join.after` on a reconnect resumes from it.
    pub(super) last_id: Option<u64>,
    /// Messages from others that arrived while another room was shown.
    pub(super) unread: u32,
    /// The server answered `join` on the current connection.
    pub(super) joined: bool,
    /// The log holds the room's first message: there is nothing older to fetch.
    pub(super) complete: bool,
    /// The first `joined` has told whether older messages exist.
    pub(super) known: bool,
    /// A `history` request is in flight (one at a time per room).
    pub(super) loading: bool,
    /// Who is typing, with the time (ms) their last `typing` arrived.
    pub(super) typing: Vec<(String, f64)>,
    /// The password this room was joined (or created) with: sent again with every rejoin
    /// after a reconnect. In memory only, for this page's life.
    pub(super) password: Option<String>,
    /// Changes of messages not held, oldest first, applied when their message comes.
    pub(super) pending: Vec<Change>,
    /// The room's owner and moderators, as `joined` and `role` told.
    pub(super) roles: Vec<RoleInfo>,
    /// A message not yet seen mentions us (`@nick`).
    pub(super) mentioned: bool,
}

impl RoomState {
    pub(super) fn new(name: &str, serial: u64) -> Self {
        Self { name: name.to_owned(), serial, ..Self::default() }
    }

    /// Adds a message in id order; returns false (and drops it) if its id is known.
    pub(super) fn insert(&mut self, mut msg: ChatMessage, own: bool) -> bool {
        let id = msg.id;
        match self.ids.binary_search(&id) {
            Ok(_) => return false,
            Err(at) => self.ids.insert(at, id),
        }
        let rev = self.pending_for(&mut msg);
        let entry = Arc::new(Entry::Message { msg, own, room: self.serial, rev });
        if self.last_id.is_none_or(|last| id > last) {
            self.last_id = Some(id);
            self.entries.push(entry);
        } else {
            // Older than a message we hold (a `history` page): before the first newer one.
            let at = self
                .entries
                .iter()
                .position(|e| matches!(&**e, Entry::Message { msg, .. } if msg.id > id))
                .unwrap_or(self.entries.len());
            self.entries.insert(at, entry);
        }
        true
    }

    pub(super) fn notice(&mut self, seq: u64, text: String) {
        self.entries.push(Arc::new(Entry::Notice { seq, text }));
        self.trim();
    }

    /// Drops the oldest entries beyond [`MAX_ENTRIES`]. Called when entries arrive at the
    /// new end only: a page of older history the user scrolled back for must stay.
    pub(super) fn trim(&mut self) {
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            for gone in self.entries.drain(..excess) {
                if let Entry::Message { msg, .. } = &*gone
                    && let Ok(at) = self.ids.binary_search(&msg.id)
                {
                    self.ids.remove(at);
                    // The server still has it: scroll-back can bring it back.
                    self.complete = false;
                }
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server answered `join` on the current connection.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The state of the top of the log.
    pub fn older(&self) -> Older {
        match (self.known, self.loading, self.complete) {
            (false, _, _) => Older::Unknown,
            (true, true, _) => Older::Loading,
            (true, false, true) => Older::Complete,
            (true, false, false) => Older::More,
        }
    }

    /// The role of `nick` in the room, as `joined` and `role` told it.
    pub fn role(&self, nick: &str) -> Role {
        self.roles.iter().find(|i| i.nick == nick).map_or(Role::Member, |i| i.role)
    }

    /// How many members the room has: the server's count, or the list's length.
    pub fn member_total(&self) -> u32 {
        self.total.unwrap_or_else(|| u32::try_from(self.members.len()).unwrap_or(u32::MAX))
    }

    /// Someone joined (told one by one): in the list if they sort among the pages loaded
    /// (one sorting after them comes with a later page, which starts after the last nick
    /// held: adding it now would skip the members between).
    pub(super) fn member_joined(&mut self, nick: &str) {
        let beyond = self.more && self.members.last().is_some_and(|last| by_name(nick, last).is_gt());
        if !beyond {
            self.add_member(nick);
        }
    }

    pub(super) fn add_member(&mut self, nick: &str) {
        if !self.members.iter().any(|m| m == nick) {
            let at = self.members.partition_point(|m| by_name(m, nick).is_lt());
            self.members.insert(at, nick.to_owned());
        }
    }

    pub(super) fn remove_member(&mut self, nick: &str) {
        self.members.retain(|m| m != nick);
        self.stop_typing(nick);
    }

    pub(super) fn rename_member(&mut self, old: &str, new: &str) {
        self.members.retain(|m| m != old);
        self.member_joined(new);
        self.stop_typing(old);
    }

    pub(super) fn typing_seen(&mut self, nick: String, now_ms: f64) {
        self.stop_typing(&nick);
        self.typing.push((nick, now_ms));
    }

    pub(super) fn stop_typing(&mut self, nick: &str) {
        self.typing.retain(|(n, _)| n != nick);
    }

    /// Nicks that sent `typing` within the last [`TYPING_MS`] before `now_ms`, in the
    /// order they started.
    pub fn typing(&self, now_ms: f64) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|&&(_, at)| now_ms - at < TYPING_MS)
            .map(|(nick, _)| nick.as_str())
            .collect()
    }
}

/// The order of names in lists: case-insensitively (ASCII only: it is for display, and
/// the Unicode case tables would cost the web app more than they are worth here).
pub(super) fn by_name(a: &str, b: &str) -> std::cmp::Ordering {
    let fold = |s: &str| s.bytes().map(|b| b.to_ascii_lowercase()).collect::<Vec<u8>>();
    fold(a).cmp(&fold(b)).then_with(|| a.cmp(b))
}
