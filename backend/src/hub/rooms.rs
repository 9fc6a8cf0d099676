//! Rooms: every room with a member (here or, in a cluster, on another node), their
//! looks, and what changed in them for the directory and the presence counts.
//!
//! One room's members and broadcasts are `room`'s; this part keeps the set of rooms
//! true, behind private fields: a room is here iff it has a member, its look is in the
//! look table iff it is here (so a new room that looks like one of them is refused), a
//! room whose member count changed is marked touched for the next directory push, and a
//! big room that counted presence is marked counted for the next `presence_count`.

use std::collections::{HashMap, HashSet};

use common::{Nick, PresenceEvent, RoomName, ServerMsg};

use super::ConnId;
use super::room::{Event, Room};
use super::sessions::Conn;
use crate::conn::link::Deliveries;
use crate::encode::{Frame, encode};
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
}

impl Rooms {
    pub(super) fn new(presence_threshold: usize) -> Self {
        Self {
            rooms: HashMap::new(),
            looks: names::Looks::default(),
            touched: HashSet::new(),
            counted: HashSet::new(),
            presence_threshold,
        }
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

    /// A room with members that `room` would be taken for (not itself).
    pub(super) fn like(&self, room: &RoomName) -> Option<&RoomName> {
        self.looks.like(room)
    }

    /// The room, made (with its look) if it has no member yet: the caller adds one.
    pub(super) fn entry(&mut self, room: &RoomName) -> &mut Room {
        if !self.rooms.contains_key(room) {
            self.looks.add(room);
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
        let frame = encode(&ServerMsg::Presence {
            room: room.to_string(),
            event: PresenceEvent::Leave,
            nick: nick.to_string(),
            old_nick: None,
        });
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
        let frame = encode(&ServerMsg::Presence {
            room: room.to_string(),
            event: PresenceEvent::Rename,
            nick: nick.to_string(),
            old_nick: Some(old.to_string()),
        });
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

    /// The touched rooms, by name, no longer marked.
    pub(super) fn take_touched(&mut self) -> Vec<RoomName> {
        let mut touched: Vec<RoomName> = self.touched.drain().collect();
        touched.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
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
                room.flush_counts(name.as_str(), dirty);
            }
        }
    }
}
