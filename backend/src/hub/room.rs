//! One room's members and how the room tells them things: broadcasts to everyone or to
//! one protocol version, presence (one by one up to the threshold, counted above it for
//! version 2), and member pages in the order of `joined.members`.
//!
//! What one join, leave or rename costs here is bounded for version 2 members whatever
//! the room's size: a sorted index gives a page without sorting the room, and in a big
//! room an event is a counter increment (the count goes out later, see
//! [`super::Hub::run_presence`]). Only version 1 members, whose contract is one `presence`
//! per event and every member in `joined`, still cost one frame each per event. A big
//! room's `typing` reaches its version 2 members at most once per typer every 3 s, for a
//! few typers a second.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::time::{Duration, Instant};

use common::{ChatMessage, Nick, ServerMsg};

use super::{ConnId, queue};
use crate::conn::link::{Deliveries, Frame, Link};
use crate::encode::encode;
use crate::store::{Roles, RoomSettings};

/// A member whose `joined` is being read holds back at most this many frames; past that it
/// is too slow (it resumes with `join.after`, as after any drop).
const HELD_MAX: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct Room {
    /// Ordered by connection, not hashed: a broadcast walks the members (and then their
    /// sockets) in the order they connected, which is the order their memory and the
    /// kernel's sockets were allocated in. In a room of 10,000 that walk was 18% cheaper
    /// than a hash map's scattered order (bench/TUNING.md).
    pub(super) members: BTreeMap<ConnId, Member>,
    /// Every member by its sort key: pages and version 1's full list without a sort.
    sorted: BTreeSet<(String, ConnId)>,
    /// The members that speak version 1 (they get every `presence` whatever the size),
    /// in the same order as `members`.
    legacy: BTreeSet<ConnId>,
    /// Members on other nodes of a cluster (see `replica`): in the index and the
    /// count, never sent anything from here.
    remote: HashSet<ConnId>,
    /// Presence counted for version 2 members since the last `presence_count`.
    counts: Counts,
    /// Whether it is private and how many members it holds at most, as the store has them;
    /// `None` while not known here (a room only other nodes' members are in: whoever
    /// joins it here has them read from the store first).
    pub(super) settings: Option<RoomSettings>,
    /// Its owner and moderators, known with its settings (see `roles`).
    pub(super) roles: Roles,
    /// Which `typing` of a big room its version 2 members are given.
    typing: TypingGate,
    /// When version 2's directory last showed this room's count (`rooms_delta`): a big
    /// room's count is shown at most once per [`super::PRESENCE_INTERVAL`].
    pub(super) listed: Option<Instant>,
}

/// A version 2 member of a big room is given one `typing` per typer per
/// [`TYPING_RENEW`], and those of at most [`TYPERS_PER_SECOND`] typers a second: a
/// keystroke costs the room a frame per member only that often, whatever its size. The
/// app shows a `typing` for 5 s, so a typer relayed every 3 s stays shown while typing.
#[derive(Debug, Default)]
struct TypingGate {
    /// When each typer was last relayed (members only: forgotten when they leave).
    last: HashMap<ConnId, Instant>,
    /// The current one-second window and how many typers were relayed in it.
    window: Option<Instant>,
    relayed: usize,
}

/// How often one typer's `typing` reaches the version 2 members of a big room.
pub(super) const TYPING_RENEW: Duration = Duration::from_secs(3);
/// How many typers a second a big room relays to its version 2 members.
pub(super) const TYPERS_PER_SECOND: usize = 3;

impl TypingGate {
    /// Whether `typer`'s `typing` at `now` goes to the version 2 members (and if so, it
    /// is recorded as relayed).
    fn pass(&mut self, typer: ConnId, now: Instant) -> bool {
        if self.last.get(&typer).is_some_and(|at| now.duration_since(*at) < TYPING_RENEW) {
            return false;
        }
        match self.window {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                if self.relayed >= TYPERS_PER_SECOND {
                    return false;
                }
            }
            _ => {
                self.window = Some(now);
                self.relayed = 0;
            }
        }
        self.relayed += 1;
        self.last.insert(typer, now);
        true
    }
}

#[derive(Debug)]
pub(super) struct Member {
    pub(super) link: Link,
    /// While the member's `joined` is being read from the store (with the hub's lock
    /// released), what the room sends it waits here, with the id of each message, so that
    /// `joined` comes first and nothing it already holds comes twice.
    pub(super) held: Option<Vec<(Option<u64>, Frame)>>,
    /// The newest message id this member was given in this room (by `joined` or since).
    /// A message the store already had when `joined` was read may still reach the room
    /// afterwards (a cluster's fan-out lags its store a little): it is not given twice.
    pub(super) shown: u64,
}

/// Who of a room's members a frame is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Audience {
    All,
    /// Version 1 members only.
    V1,
    /// Version 2 members only.
    V2,
}

/// A presence event, as counted in a big room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    Join,
    Leave,
    Rename,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    joined: u32,
    left: u32,
    renamed: u32,
}

/// Where nicks sort: case-insensitively, as `joined.members` has always listed them.
pub(super) fn sort_key(nick: &str) -> String {
    nick.chars().flat_map(char::to_lowercase).collect()
}

impl Room {
    /// Whether it is known here to be private.
    pub(super) fn is_private(&self) -> bool {
        self.settings.as_ref().is_some_and(RoomSettings::is_private)
    }

    /// The room's size: this node's members and, in a cluster, the other nodes'.
    pub(super) fn len(&self) -> usize {
        self.members.len() + self.remote.len()
    }

    /// Whether members of other nodes are in the room (a `typing` goes to their nodes).
    /// Whether connection `id` (here, or another node's member) is a member.
    pub(super) fn contains(&self, id: ConnId) -> bool {
        self.members.contains_key(&id) || self.remote.contains(&id)
    }

    pub(super) fn has_remote(&self) -> bool {
        !self.remote.is_empty()
    }

    /// Adds another node's member (see `replica`).
    pub(super) fn add_remote(&mut self, id: ConnId, nick: &Nick) {
        self.remote.insert(id);
        self.sorted.insert((sort_key(nick.as_str()), id));
    }

    pub(super) fn insert(&mut self, id: ConnId, nick: &Nick, v1: bool, member: Member) {
        self.members.insert(id, member);
        self.sorted.insert((sort_key(nick.as_str()), id));
        if v1 {
            self.legacy.insert(id);
        }
    }

    /// Whether a member goes by `nick`: nicks are unique, but a client that resumed on
    /// this node while its old connection's node was dead has the nick twice until the
    /// cluster reaps that node.
    pub(super) fn has_nick(&self, nick: &Nick) -> bool {
        let key = sort_key(nick.as_str());
        self.sorted.range((key.clone(), ConnId::MIN)..).next().is_some_and(|(k, _)| *k == key)
    }

    pub(super) fn remove(&mut self, id: ConnId, nick: &Nick) {
        self.members.remove(&id);
        self.typing.last.remove(&id);
        self.sorted.remove(&(sort_key(nick.as_str()), id));
        self.legacy.remove(&id);
        self.remote.remove(&id);
    }

    /// Moves a member to its new nick's place in the order.
    pub(super) fn renamed(&mut self, id: ConnId, old: &Nick, new: &Nick) {
        if self.sorted.remove(&(sort_key(old.as_str()), id)) {
            self.sorted.insert((sort_key(new.as_str()), id));
        }
    }

    /// Queues a chat message, encoded once, for every member.
    pub(super) fn deliver(&mut self, msg: ChatMessage, dirty: &mut Deliveries) {
        let id = msg.id;
        self.broadcast(&encode(&ServerMsg::Message(msg)), Some(id), None, Audience::All, dirty);
    }

    /// Queues one encoded frame for the `to` members but `except`; `id` when it is a message.
    pub(super) fn broadcast(
        &mut self,
        frame: &Frame,
        id: Option<u64>,
        except: Option<ConnId>,
        to: Audience,
        dirty: &mut Deliveries,
    ) {
        let mut give = |conn: ConnId, member: &mut Member| {
            if Some(conn) == except {
                return;
            }
            match &mut member.held {
                None if id.is_some_and(|id| id <= member.shown) => {}
                None => {
                    queue(&member.link, frame.clone(), dirty);
                    member.shown = id.unwrap_or(member.shown);
                }
                Some(held) if held.len() < HELD_MAX => held.push((id, frame.clone())),
                Some(_) => {
                    member.held = None;
                    member.link.too_slow();
                }
            }
        };
        match to {
            Audience::V1 => {
                for conn in &self.legacy {
                    if let Some(member) = self.members.get_mut(conn) {
                        give(*conn, member);
                    }
                }
            }
            Audience::All | Audience::V2 => {
                for (conn, member) in &mut self.members {
                    if to == Audience::All || !self.legacy.contains(conn) {
                        give(*conn, member);
                    }
                }
            }
        }
    }

    /// Tells the room of a presence event (`frame` is its `presence`, the same bytes in
    /// both versions). Version 1 members always get it; version 2 members too while the
    /// room has at most `threshold` members, and above that the event is counted instead.
    /// Returns whether a count is now pending (the caller schedules `presence_count`).
    pub(super) fn presence(
        &mut self,
        frame: &Frame,
        event: Event,
        except: Option<ConnId>,
        threshold: usize,
        dirty: &mut Deliveries,
    ) -> bool {
        if self.len() <= threshold {
            self.broadcast(frame, None, except, Audience::All, dirty);
            return false;
        }
        if !self.legacy.is_empty() {
            self.broadcast(frame, None, except, Audience::V1, dirty);
        }
        let count = match event {
            Event::Join => &mut self.counts.joined,
            Event::Leave => &mut self.counts.left,
            Event::Rename => &mut self.counts.renamed,
        };
        *count = count.saturating_add(1);
        true
    }

    /// Tells the room that `typer` is typing (`frame` is its `typing`): every other member
    /// while the room has at most `threshold` members; above that, version 1 members every
    /// time (their contract), version 2 members as [`TypingGate`] allows.
    pub(super) fn typing(
        &mut self,
        frame: &Frame,
        typer: ConnId,
        threshold: usize,
        now: Instant,
        dirty: &mut Deliveries,
    ) {
        if self.len() <= threshold {
            self.broadcast(frame, None, Some(typer), Audience::All, dirty);
            return;
        }
        if !self.legacy.is_empty() {
            self.broadcast(frame, None, Some(typer), Audience::V1, dirty);
        }
        if self.typing.pass(typer, now) {
            self.broadcast(frame, None, Some(typer), Audience::V2, dirty);
        }
    }

    /// Sends the counted presence, if any, to the version 2 members as one
    /// `presence_count` with the room's size now.
    pub(super) fn flush_counts(&mut self, room: &str, dirty: &mut Deliveries) {
        let counts = std::mem::take(&mut self.counts);
        if counts == Counts::default() {
            return;
        }
        let frame = encode(&ServerMsg::PresenceCount {
            room: room.to_owned(),
            joined: counts.joined,
            left: counts.left,
            renamed: counts.renamed,
            total: self.total(),
        });
        self.broadcast(&frame, None, None, Audience::V2, dirty);
    }

    pub(super) fn total(&self) -> u32 {
        u32::try_from(self.len()).unwrap_or(u32::MAX)
    }

    /// Up to `limit` members after the nick `after` (from the start without it), in the
    /// order of `joined.members`, and whether that is the end of the list. The cost is
    /// that of the page, whatever the room's size.
    pub(super) fn page<'a>(
        &self,
        after: Option<&Nick>,
        limit: usize,
        nick_of: impl Fn(ConnId) -> Option<&'a Nick>,
    ) -> (Vec<String>, bool) {
        let start = match after {
            // Past every member with that key, whichever connection it is.
            Some(nick) => Bound::Excluded((sort_key(nick.as_str()), ConnId::MAX)),
            None => Bound::Unbounded,
        };
        let mut range = self.sorted.range((start, Bound::Unbounded));
        // `as_str().to_owned()`, not `to_string()`, which goes through the formatter: 4% of
        // a version 2 join's instructions (bench/TUNING.md).
        let page: Vec<String> = range
            .by_ref()
            .take(limit)
            .filter_map(|(_, id)| nick_of(*id))
            .map(|n| n.as_str().to_owned())
            .collect();
        let complete = range.next().is_none();
        (page, complete)
    }

    /// Every member's nick, in order (version 1's `joined.members`).
    pub(super) fn all<'a>(&self, nick_of: impl Fn(ConnId) -> Option<&'a Nick>) -> Vec<String> {
        self.sorted.iter().filter_map(|(_, id)| nick_of(*id)).map(|n| n.as_str().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_relayed_once_per_typer_per_renewal_and_for_a_few_typers_a_second() {
        let mut gate = TypingGate::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(gate.pass(1, at(0)));
        // The same typer's keystrokes until the renewal: not again.
        assert!(!gate.pass(1, at(100)));
        assert!(!gate.pass(1, at(2_900)));
        // Other typers: two more within that second, then none until the next.
        assert!(gate.pass(2, at(200)));
        assert!(gate.pass(3, at(300)));
        assert!(!gate.pass(4, at(400)));
        assert!(gate.pass(4, at(1_100)));
        // The first typer again once its renewal is due.
        assert!(gate.pass(1, at(3_000)));
    }
}
