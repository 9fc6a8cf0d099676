//! The room directory: the full list (`welcome`, and version 1's `rooms` pushes) and
//! version 2's `rooms_delta`, both pushed by one task at most ten times a second.
//!
//! Every change to a room's count marks the room as touched; a push sends version 2
//! connections only the touched rooms with their counts now (absolute values, so a delta
//! that repeats what a fresh `welcome` already showed is harmless), and version 1
//! connections the whole list as before, computed only while one is connected. Under
//! churn the cost per second is bounded by the pace, not by the number of changes.
//!
//! A big room (above the presence threshold) changes its count with nearly every join:
//! version 2's directory shows its count at most once a second, as `presence_count` does,
//! so a storm into one room costs each connection one delta a second rather than ten
//! (the other rooms keep the faster pace). Version 1's full list is as before.

use std::time::{Duration, Instant};

use common::{RoomInfo, RoomName, ServerMsg, Version};
use tokio_util::sync::CancellationToken;

use super::{Hub, PRESENCE_INTERVAL, Room, State, queue, read_room};
use crate::encode::encode;
use crate::store::History;

/// How often, at most, the room directory is pushed: churn is coalesced to this pace.
pub const DIRECTORY_INTERVAL: Duration = Duration::from_millis(100);

/// How many rooms' settings a push reads at most (see [`Hub::learn_settings`]).
const SETTINGS_PER_PUSH: usize = 16;

impl Hub {
    /// Pushes the room directory's changes to every connection, at most once per
    /// [`DIRECTORY_INTERVAL`]: under churn the pushes are coalesced, and the last push
    /// always shows the true state, because a change during the pause wakes us again.
    /// A big room whose count waits for its turn keeps the task pushing at that pace
    /// without a new change.
    pub async fn run_directory(self, shutdown: CancellationToken) {
        let mut last: Option<Vec<RoomInfo>> = None;
        let mut waiting = false;
        loop {
            if !waiting {
                tokio::select! {
                    () = self.shared.directory_changed.notified() => {}
                    () = shutdown.cancelled() => return,
                }
            }
            self.learn_settings().await;
            let out;
            (waiting, out) = self.locked(|state| state.push_directory(&mut last, Instant::now()));
            out.flush();
            tokio::select! {
                () = tokio::time::sleep(DIRECTORY_INTERVAL) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Reads the stored settings of touched rooms this node has none of (in a cluster, the
    /// rooms only other nodes' members are in), at most [`SETTINGS_PER_PUSH`] a push and
    /// with the lock released, so that the push marks a private one as such. A room whose
    /// read fails is tried again when next touched.
    async fn learn_settings(&self) {
        let unknown: Vec<RoomName> = { self.lock().rooms.touched_unknown(SETTINGS_PER_PUSH) };
        if unknown.is_empty() {
            return;
        }
        let read = move |history: &History| {
            let read = unknown.into_iter().map(|room| (read_room(history, &room), room));
            read.filter_map(|(stored, room)| Some((room, stored.ok()?))).collect::<Vec<_>>()
        };
        let known = if self.shared.history.may_block() {
            match self.blocking(read).await {
                Ok(known) => known,
                Err(e) => {
                    tracing::error!(error = %e, "reading rooms' settings panicked");
                    return;
                }
            }
        } else {
            read(&self.shared.history)
        };
        let mut state = self.lock();
        for (room, stored) in known {
            // Its roles come with its settings (see `roles`), both once.
            if let Some(room) = state.rooms.get_mut(&room)
                && room.settings.is_none()
            {
                room.settings = Some(stored.settings);
                room.roles = stored.roles;
            }
        }
    }
}

impl State {
    /// One push: the delta to version 2 connections, the full list (when it changed since
    /// `last`) to version 1 connections. Each is encoded once. Returns whether a big
    /// room's count still waits for its turn in a later push.
    pub(super) fn push_directory(&mut self, last: &mut Option<Vec<RoomInfo>>, now: Instant) -> bool {
        let delta = self.delta(now);
        let waiting = self.rooms.any_touched();
        let full = if self.sessions.any_v1() {
            let rooms = self.directory();
            (last.as_ref() != Some(&rooms)).then(|| {
                let frame = encode(&ServerMsg::Rooms { rooms: rooms.clone() });
                *last = Some(rooms);
                frame
            })
        } else {
            // Forget it: the next version 1 client's welcome is a full list anyway, and a
            // push then compares against the state as it is by then.
            *last = None;
            None
        };
        if delta.is_none() && full.is_none() {
            return waiting;
        }
        for conn in self.sessions.values() {
            let frame = match conn.version {
                Version::V1 => full.as_ref(),
                Version::V2 => delta.as_ref(),
            };
            if let Some(frame) = frame {
                queue(&conn.link, frame.clone(), &mut self.dirty);
            }
        }
        waiting
    }

    /// Version 2's `rooms_delta` for the rooms touched since the last push, if any. A big
    /// room shown less than a second ago stays touched, for a later push.
    fn delta(&mut self, now: Instant) -> Option<crate::encode::Frame> {
        if !self.rooms.any_touched() {
            return None;
        }
        let touched = self.rooms.take_touched();
        let threshold = self.rooms.presence_threshold();
        let lobby = RoomName::lobby();
        let (mut changed, mut removed) = (Vec::new(), Vec::new());
        for name in touched {
            match self.rooms.get_mut(&name) {
                Some(room)
                    if room.len() > threshold
                        && room.listed.is_some_and(|at| now.duration_since(at) < PRESENCE_INTERVAL) =>
                {
                    self.rooms.touch(name);
                }
                Some(room) => {
                    room.listed = Some(now);
                    changed.push(info(&name, room));
                }
                // The lobby is always listed, empty or not.
                None if name == lobby => {
                    changed.push(RoomInfo { name: name.to_string(), members: 0, private: false });
                }
                None => removed.push(name.to_string()),
            }
        }
        if changed.is_empty() && removed.is_empty() {
            return None;
        }
        Some(encode(&ServerMsg::RoomsDelta { changed, removed }))
    }

    /// The directory: every room with a member (a private one says so), and always the
    /// lobby; lobby first, then by name.
    pub(super) fn directory(&self) -> Vec<RoomInfo> {
        let lobby = RoomName::lobby();
        let mut rooms: Vec<RoomInfo> =
            self.rooms.iter().filter(|(name, _)| **name != lobby).map(|(name, r)| info(name, r)).collect();
        rooms.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let lobby_count = self.rooms.get(&lobby).map_or(0, Room::total);
        rooms.insert(0, RoomInfo { name: lobby.to_string(), members: lobby_count, private: false });
        rooms
    }
}

fn info(name: &RoomName, room: &Room) -> RoomInfo {
    RoomInfo { name: name.to_string(), members: room.total(), private: room.is_private() }
}
