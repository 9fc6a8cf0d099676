//! Which directory entries each version 2 connection holds: the rooms it was sent (its
//! `welcome`, its pages and search results, its own rooms), so that a directory push
//! gives it `rooms_delta` for those rooms only, and whether it watches its list at all.
//!
//! The invariants live here, behind private fields: a connection is in a room's holders
//! iff the room is among the rooms it holds; it holds at most [`ROOMS_HELD`] rooms besides
//! the lobby and its own (the rooms it was sent longest ago are forgotten first); and a
//! connection that does not watch holds nothing. A push looks up the holders of each
//! changed room, so its cost follows what is sent, not the number of connections times the
//! number of rooms. This part knows nothing of sockets or frames.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Instant;

use common::RoomName;
use common::v2::ROOMS_HELD;

use super::ConnId;

/// One version 2 connection's directory entries.
#[derive(Debug)]
pub(super) struct Held {
    /// The rooms it holds, in the order they were sent (oldest first).
    order: VecDeque<RoomName>,
    set: HashSet<RoomName>,
    /// Whether it shows its room list (`rooms_watch`): only then does it get deltas.
    pub(super) on: bool,
    /// The room count it was last told (`welcome.rooms_total`, `rooms_delta.total`...).
    pub(super) total: u32,
}

/// Every version 2 connection of this node, with what it holds.
#[derive(Debug, Default)]
pub(super) struct Watchers {
    conns: HashMap<ConnId, Held>,
    /// For each room, the connections that hold it.
    holders: HashMap<RoomName, HashSet<ConnId>>,
    /// When the last push that carried only the room count went out (at most one a second).
    pub(super) total_at: Option<Instant>,
}

impl Watchers {
    /// A new version 2 connection, told `total` rooms, watching.
    pub(super) fn add(&mut self, id: ConnId, total: u32) {
        let held = Held { order: VecDeque::new(), set: HashSet::new(), on: true, total };
        self.conns.insert(id, held);
    }

    /// A connection closed: it holds nothing any more.
    pub(super) fn remove(&mut self, id: ConnId) {
        if let Some(held) = self.conns.remove(&id) {
            self.release(id, held.set.iter());
        }
    }

    pub(super) fn get(&self, id: ConnId) -> Option<&Held> {
        self.conns.get(&id)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&ConnId, &mut Held)> {
        self.conns.iter_mut()
    }

    /// The connections that watch their list.
    pub(super) fn watching(&self) -> Vec<ConnId> {
        self.conns.iter().filter(|(_, h)| h.on).map(|(id, _)| *id).collect()
    }

    /// `id` was just told that the directory holds `total` rooms.
    pub(super) fn told(&mut self, id: ConnId, total: u32) {
        if let Some(held) = self.conns.get_mut(&id) {
            held.total = total;
        }
    }

    /// The connections that hold `room`.
    pub(super) fn holders(&self, room: &RoomName) -> impl Iterator<Item = ConnId> + '_ {
        self.holders.get(room).into_iter().flatten().copied()
    }

    /// Starts (`on`) or stops watching. Stopping forgets what the connection held: it
    /// shows no list, and gets a fresh one when it watches again.
    pub(super) fn watch(&mut self, id: ConnId, on: bool) {
        let Some(held) = self.conns.get_mut(&id) else { return };
        held.on = on;
        if !on {
            held.order.clear();
            let set = std::mem::take(&mut held.set);
            self.release(id, set.iter());
        }
    }

    /// `id` was sent `rooms` (nothing happens while it does not watch). Past
    /// [`ROOMS_HELD`], the rooms it was sent longest ago are forgotten, but for the lobby
    /// and the rooms in `pinned` (its own), which it keeps however many they are.
    pub(super) fn hold<'a>(
        &mut self,
        id: ConnId,
        rooms: impl IntoIterator<Item = &'a RoomName>,
        pinned: &BTreeSet<RoomName>,
    ) {
        let Some(held) = self.conns.get_mut(&id).filter(|h| h.on) else { return };
        for room in rooms {
            if held.set.insert(room.clone()) {
                held.order.push_back(room.clone());
                self.holders.entry(room.clone()).or_default().insert(id);
            }
        }
        let lobby = RoomName::lobby();
        // Each kept room is looked at once: a connection with more pinned rooms than the
        // bound keeps them all rather than looping.
        let mut looked = 0;
        while held.order.len() > ROOMS_HELD && looked < held.order.len() {
            let Some(oldest) = held.order.pop_front() else { break };
            if oldest == lobby || pinned.contains(&oldest) {
                held.order.push_back(oldest);
                looked += 1;
                continue;
            }
            held.set.remove(&oldest);
            if let Some(ids) = self.holders.get_mut(&oldest) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.holders.remove(&oldest);
                }
            }
        }
    }

    fn release<'a>(&mut self, id: ConnId, rooms: impl Iterator<Item = &'a RoomName>) {
        for room in rooms {
            if let Some(ids) = self.holders.get_mut(room) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.holders.remove(room);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(i: usize) -> RoomName {
        RoomName::parse(&format!("room-{i}")).unwrap()
    }

    #[test]
    fn a_connection_holds_a_bounded_number_of_rooms_keeping_its_own() {
        let mut w = Watchers::default();
        w.add(1, 0);
        let own = BTreeSet::from([room(0)]);
        let rooms: Vec<RoomName> = (0..ROOMS_HELD + 10).map(room).collect();
        w.hold(1, &rooms, &own);
        let held = w.get(1).unwrap();
        assert_eq!(held.set.len(), ROOMS_HELD);
        assert!(held.set.contains(&room(0)), "its own room is kept");
        assert!(!held.set.contains(&room(1)), "the oldest other rooms are forgotten");
        assert_eq!(w.holders(&room(1)).count(), 0);
        assert_eq!(w.holders(&room(ROOMS_HELD + 9)).collect::<Vec<_>>(), [1]);
        w.watch(1, false);
        assert_eq!(w.holders(&room(0)).count(), 0, "not watching, it holds nothing");
        w.hold(1, [&room(3)], &own);
        assert_eq!(w.holders(&room(3)).count(), 0);
        w.watch(1, true);
        w.hold(1, [&room(3)], &own);
        w.remove(1);
        assert!(w.holders.is_empty());
    }
}
