//! Rooms: every room with a member (here or, in a cluster, on another node), their
//! looks, and what changed in them for the directory and the presence counts.
//!
//! One room's members and broadcasts are `room`'s; this part keeps the set of rooms
//! true, behind private fields: a room is here iff it has a member, its look is in the
//! look table iff it is here (so a new room that looks like one of them is refused), a
//! room whose member count changed is marked touched for the next directory push, and a
//! big room that counted presence is marked counted for the next `presence_count`.
//!
//! For version 2's directory it also keeps two indexes, so that no request scans every
//! room: the rooms by lowercased name (pages in name order, and the search by prefix),
//! always with the lobby, and the rooms by member count as of the last directory push
//! (the busiest, for a `welcome`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use common::{Nick, PresenceEvent, RoomName, ServerMsg};

use super::ConnId;
use super::room::{Event, Room};
use super::sessions::Conn;
use crate::conn::link::Deliveries;
use crate::encode::{Frame, encode};
use crate::metrics::Metrics;
use crate::names;

#[derive(Debug)]
pub(super) struct Rooms {
    /// Rooms with at least one member. A room's history lives in the store and outlives this.
    rooms: HashMap<RoomName, Room>,
    /// The same rooms by their look, to refuse a new room that looks like one of them.
    looks: names::Looks,
    /// Rooms whose member count changed since the last directory push.
    touched: HashSet<RoomName>,
    /// Rooms with presence counted since the last `presence_count`.
    counted: HashSet<RoomName>,
    /// Rooms above this many members count presence for version 2 members.
    presence_threshold: usize,
    /// Every listed room (those here, and always the lobby) by [`order_key`].
    by_name: BTreeMap<String, RoomName>,
    /// The rooms here by their member count at the last directory push, busiest first,
    /// and that count by room (to find a room's entry when its count changes).
    by_count: BTreeSet<(Reverse<u32>, RoomName)>,
    ranked: HashMap<RoomName, u32>,
    /// The node's figures: the presence frames made here are counted by type.
    metrics: Arc<Metrics>,
}

/// A room's place in the directory's name order: its name lowercased, then the name
/// itself (rooms are case-sensitive: `Rust` and `rust` are two rooms), apart by a NUL,
/// which no name holds and which sorts before every character. A prefix of the lowercased
/// name is a prefix of the key.
pub(super) fn order_key(name: &RoomName) -> String {
    format!("{}\u{0}{}", name.as_str().to_lowercase(), name.as_str())
}

impl Rooms {
    pub(super) fn new(presence_threshold: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            rooms: HashMap::new(),
            looks: names::Looks::default(),
            touched: HashSet::new(),
            counted: HashSet::new(),
            presence_threshold,
            by_name: BTreeMap::from([(order_key(&RoomName::lobby()), RoomName::lobby())]),
            by_count: BTreeSet::new(),
            ranked: HashMap::new(),
            metrics,
        }
    }

    /// How many rooms the directory lists (the lobby always among them).
    pub(super) fn listed(&self) -> u32 {
        u32::try_from(self.by_name.len()).unwrap_or(u32::MAX)
    }

    /// Listed rooms in name order from `from` (the whole key excluded when `after`, else
    /// included), while their key starts with `prefix`: a walk of the index, never a scan.
    pub(super) fn by_name_from<'a>(
        &'a self,
        from: Option<(String, bool)>,
        prefix: Option<String>,
    ) -> impl Iterator<Item = &'a RoomName> + 'a {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let start = match from {
            Some((key, true)) => Excluded(key),
            Some((key, false)) => Included(key),
            None => Unbounded,
        };
        self.by_name
            .range((start, Unbounded))
            .take_while(move |(key, _)| prefix.as_ref().is_none_or(|p| key.starts_with(p.as_str())))
            .map(|(_, name)| name)
    }

    /// Rooms here, the busiest first (by their count at the last directory push).
    pub(super) fn busiest(&self) -> impl Iterator<Item = &RoomName> {
        self.by_count.iter().map(|(_, name)| name)
    }

    pub(super) fn get(&self, name: &RoomName) -> Option<&Room> {
        self.rooms.get(name)
    }

    pub(super) fn get_mut(&mut self, name: &RoomName) -> Option<&mut Room> {
        self.rooms.get_mut(name)
    }

    pub(super) fn contains(&self, name: &RoomName) -> bool {
        self.rooms.contains_key(name)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&RoomName, &Room)> {
        self.rooms.iter()
    }

    /// The room, if `conn` is one of its members.
    pub(super) fn joined(&mut self, conn: &Conn, room: &RoomName) -> Option<&mut Room> {
        self.rooms.get_mut(room).filter(|_| conn.rooms.contains(room))
    }

    /// A room with members that `room`, whose look is `look` ([`names::look`]), would be
    /// taken for (not itself).
    pub(super) fn like(&self, look: &str, room: &RoomName) -> Option<&RoomName> {
        self.looks.like_look(look, room)
    }

    /// The room, made (with its look) if it has no member yet: the caller adds one.
    pub(super) fn entry(&mut self, room: &RoomName) -> &mut Room {
        self.entry_looked(room, None)
    }

    /// The same, given the room's look when the caller computed it already (a join checks
    /// a new room's look first): a skeleton is one of the costlier steps of a join.
    pub(super) fn entry_looked(&mut self, room: &RoomName, look: Option<String>) -> &mut Room {
        if !self.rooms.contains_key(room) {
            self.looks.add_look(look.unwrap_or_else(|| names::look(room)), room);
            self.by_name.insert(order_key(room), room.clone());
        }
        self.rooms.entry(room.clone()).or_default()
    }

    /// Rooms above this many members count presence for version 2 members.
    pub(super) fn presence_threshold(&self) -> usize {
        self.presence_threshold
    }

    /// Sends `frame`, the presence `event` in `room`, to its members but `except` (counted
    /// instead in a big room, for the next `presence_count`).
    pub(super) fn presence(
        &mut self,
        room: &RoomName,
        frame: &Frame,
        event: Event,
        except: Option<ConnId>,
        dirty: &mut Deliveries,
    ) {
        let Some(members) = self.rooms.get_mut(room) else { return };
        if members.presence(frame, event, except, self.presence_threshold, dirty) {
            self.counted.insert(room.clone());
        }
    }

    /// Removes `id` from `room`, tells the remaining members, and forgets an empty room.
    pub(super) fn remove_member(&mut self, room: &RoomName, id: ConnId, nick: &Nick, dirty: &mut Deliveries) {
        let Some(members) = self.rooms.get_mut(room) else { return };
        members.remove(id, nick);
        self.touched.insert(room.clone());
        if members.len() == 0 {
            self.rooms.remove(room);
            self.looks.remove(room);
            if *room != RoomName::lobby() {
                self.by_name.remove(&order_key(room));
            }
            return;
        }
        // The same person is still in the room (a dead node's connection of a client that
        // resumed elsewhere, reaped): nobody left, only a big room's total changed.
        if members.has_nick(nick) {
            if members.len() > self.presence_threshold {
                self.counted.insert(room.clone());
            }
            return;
        }
        let frame = ServerMsg::Presence {
            room: room.to_string(),
            event: PresenceEvent::Leave,
            nick: nick.to_string(),
            old_nick: None,
        };
        let frame = encode(&frame, &self.metrics);
        self.presence(room, &frame, Event::Leave, None, dirty);
    }

    /// Tells `room` that member `id` (of this node or another) is now `nick`.
    pub(super) fn renamed(
        &mut self,
        room: RoomName,
        id: ConnId,
        old: &Nick,
        nick: &Nick,
        dirty: &mut Deliveries,
    ) {
        let Some(members) = self.rooms.get_mut(&room) else { return };
        members.renamed(id, old, nick);
        let frame = ServerMsg::Presence {
            room: room.to_string(),
            event: PresenceEvent::Rename,
            nick: nick.to_string(),
            old_nick: Some(old.to_string()),
        };
        let frame = encode(&frame, &self.metrics);
        if members.presence(&frame, Event::Rename, None, self.presence_threshold, dirty) {
            self.counted.insert(room);
        }
    }

    /// Marks `room`'s member count as changed, for the next directory push.
    pub(super) fn touch(&mut self, room: RoomName) {
        self.touched.insert(room);
    }

    pub(super) fn any_touched(&self) -> bool {
        !self.touched.is_empty()
    }

    /// The touched rooms, by name, no longer marked; their places among the busiest are
    /// brought up to date.
    pub(super) fn take_touched(&mut self) -> Vec<RoomName> {
        let mut touched: Vec<RoomName> = self.touched.drain().collect();
        touched.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        for name in &touched {
            if let Some(count) = self.ranked.remove(name) {
                self.by_count.remove(&(Reverse(count), name.clone()));
            }
            if let Some(room) = self.rooms.get(name) {
                let count = room.total();
                self.by_count.insert((Reverse(count), name.clone()));
                self.ranked.insert(name.clone(), count);
            }
        }
        touched
    }

    /// Up to `max` touched rooms whose settings this node does not know.
    pub(super) fn touched_unknown(&self, max: usize) -> Vec<RoomName> {
        let unknown = |name: &&RoomName| self.rooms.get(*name).is_some_and(|r| r.settings.is_none());
        self.touched.iter().filter(unknown).take(max).cloned().collect()
    }

    pub(super) fn any_counted(&self) -> bool {
        !self.counted.is_empty()
    }

    /// Sends every pending `presence_count`.
    pub(super) fn flush_counted(&mut self, dirty: &mut Deliveries) {
        for name in std::mem::take(&mut self.counted) {
            if let Some(room) = self.rooms.get_mut(&name) {
                room.flush_counts(name.as_str(), &self.metrics, dirty);
            }
        }
    }
}
