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
//!
//! A version 2 connection is never sent the whole directory: its `welcome` lists the lobby,
//! its own rooms and the ten busiest rooms, with the count of rooms; it asks for more
//! pages in name order or searches by name prefix (`rooms`), walking the index of
//! `rooms`, never scanning every room. A push gives it the changes of the rooms it holds
//! (`watch`) only, with the count; when only the count changed, at most once a second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::v2::{RoomsAsk, WELCOME_ROOMS};
use common::{RoomInfo, RoomName, ServerMsg, Version};
use tokio_util::sync::CancellationToken;

use super::rooms::order_key;
use super::{ConnId, Hub, PRESENCE_INTERVAL, Room, State, queue, read_room};
use crate::encode::{Frame, encode};
use crate::error::RequestError;
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
    /// One push: to each version 2 connection, the changes of the rooms it holds (each
    /// distinct delta encoded once); the full list (when it changed since `last`) to
    /// version 1 connections, encoded once. Returns whether something (a big room's count,
    /// the room count alone) still waits for its turn in a later push.
    pub(super) fn push_directory(&mut self, last: &mut Option<Vec<RoomInfo>>, now: Instant) -> bool {
        let (changed, removed) = self.delta(now);
        let mut waiting = self.rooms.any_touched();
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
        if let Some(frame) = full {
            for conn in self.sessions.values().filter(|c| c.version == Version::V1) {
                queue(&conn.link, frame.clone(), &mut self.dirty);
            }
        }
        waiting |= self.push_v2(&changed, &removed, now);
        waiting
    }

    /// Version 2's part of a push: which connection holds which of the changes, by the
    /// holders of each changed room.
    fn push_v2(&mut self, changed: &[RoomInfo], removed: &[String], now: Instant) -> bool {
        let total = self.rooms.listed();
        // While the whole directory fits in a first view, every watcher holds it whole: a
        // small server's list stays complete and live (a new room shows up), as it was
        // before pages. Bounded: at most that many rooms, for each watcher.
        if total <= WELCOME_ROOMS + 1 && !changed.is_empty() {
            let names: Vec<RoomName> = changed.iter().filter_map(|r| RoomName::parse(&r.name).ok()).collect();
            for id in self.watch.watching() {
                if let Some(conn) = self.sessions.get(id) {
                    self.watch.hold(id, &names, &conn.rooms);
                }
            }
        }
        let mut wants: HashMap<ConnId, Vec<usize>> = HashMap::new();
        let names = changed.iter().map(|r| r.name.as_str()).chain(removed.iter().map(String::as_str));
        for (i, name) in names.enumerate() {
            let Ok(name) = RoomName::parse(name) else { continue };
            for id in self.watch.holders(&name) {
                wants.entry(id).or_default().push(i);
            }
        }
        let total_due = self.watch.total_at.is_none_or(|at| now.duration_since(at) >= PRESENCE_INTERVAL);
        let mut frames: HashMap<Vec<usize>, Frame> = HashMap::new();
        let mut total_only: Option<Frame> = None;
        let mut waiting = false;
        for (id, held) in self.watch.iter_mut() {
            if !held.on {
                continue;
            }
            let frame = if let Some(picked) = wants.remove(id) {
                frames
                    .entry(picked)
                    .or_insert_with_key(|picked| {
                        let (mut c, mut r) = (Vec::new(), Vec::new());
                        for &i in picked {
                            match changed.get(i) {
                                Some(info) => c.push(info.clone()),
                                None => r.push(removed[i - changed.len()].clone()),
                            }
                        }
                        encode(&ServerMsg::RoomsDelta { changed: c, removed: r, total: Some(total) })
                    })
                    .clone()
            } else if held.total != total {
                // Only the count changed for this one: told at most once a second.
                if !total_due {
                    waiting = true;
                    continue;
                }
                total_only
                    .get_or_insert_with(|| {
                        encode(&ServerMsg::RoomsDelta {
                            changed: vec![],
                            removed: vec![],
                            total: Some(total),
                        })
                    })
                    .clone()
            } else {
                continue;
            };
            held.total = total;
            if let Some(conn) = self.sessions.get(*id) {
                queue(&conn.link, frame, &mut self.dirty);
            }
        }
        if total_only.is_some() {
            self.watch.total_at = Some(now);
        }
        waiting
    }

    /// The rooms touched since the last push, changed and removed (by name). A big room
    /// shown less than a second ago stays touched, for a later push.
    fn delta(&mut self, now: Instant) -> (Vec<RoomInfo>, Vec<String>) {
        let (mut changed, mut removed) = (Vec::new(), Vec::new());
        if !self.rooms.any_touched() {
            return (changed, removed);
        }
        let touched = self.rooms.take_touched();
        let threshold = self.rooms.presence_threshold();
        let lobby = RoomName::lobby();
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
        (changed, removed)
    }

    /// The entry of a listed room (the lobby shows 0 when empty), if it is listed.
    fn listed(&self, name: &RoomName) -> Option<RoomInfo> {
        match self.rooms.get(name) {
            Some(room) => Some(info(name, room)),
            None if *name == RoomName::lobby() => {
                Some(RoomInfo { name: name.to_string(), members: 0, private: false })
            }
            None => None,
        }
    }

    /// Version 2's first view of the directory, for `welcome` and `rooms_watch` on: the
    /// lobby, the connection's own rooms, then the busiest others up to [`WELCOME_ROOMS`].
    /// The connection now holds them.
    pub(super) fn first_view(&mut self, id: ConnId) -> Vec<RoomInfo> {
        let lobby = RoomName::lobby();
        let own = self.sessions.get(id).map(|c| c.rooms.clone()).unwrap_or_default();
        let mut names: Vec<RoomName> = vec![lobby.clone()];
        names.extend(own.iter().filter(|r| **r != lobby).cloned());
        let busiest = self.rooms.busiest().filter(|r| **r != lobby && !own.contains(*r));
        // A room gone since the last push is still ranked: skip it.
        let busiest = busiest.filter(|r| self.rooms.contains(r)).take(WELCOME_ROOMS as usize);
        names.extend(busiest.cloned());
        self.watch.hold(id, &names, &own);
        names.iter().filter_map(|name| self.listed(name)).collect()
    }

    /// `rooms`: a page of the directory in name order (case-insensitive, then exact),
    /// after `after`, of the rooms whose lowercased name starts with the lowercased
    /// `query`. Walks the name index from where the page starts: it never scans every room.
    pub(super) fn rooms_page(&mut self, id: ConnId, ask: RoomsAsk) -> Result<(), RequestError> {
        let Some(conn) = self.sessions.get(id) else { return Ok(()) };
        if conn.version == Version::V1 {
            // Version 1 has no such frame, and stays exactly as it was.
            return Err(RequestError::BadRequest(
                "unknown frame type `rooms` (it is version 2's: offer the subprotocol chat.v2)".into(),
            ));
        }
        let prefix = ask.query.as_ref().map(|q| q.as_str().to_lowercase());
        // A search starts where its prefix does, or after `after` if that is further on.
        let from = match (ask.after.as_ref().map(order_key), &prefix) {
            (Some(after), Some(prefix)) if after < *prefix => Some((prefix.clone(), false)),
            (Some(after), _) => Some((after, true)),
            (None, Some(prefix)) => Some((prefix.clone(), false)),
            (None, None) => None,
        };
        let limit = ask.limit as usize;
        let mut names: Vec<RoomName> =
            self.rooms.by_name_from(from, prefix).take(limit + 1).cloned().collect();
        let next = (names.len() > limit).then(|| {
            names.truncate(limit);
            names.last().map(ToString::to_string)
        });
        let rooms: Vec<RoomInfo> = names.iter().filter_map(|name| self.listed(name)).collect();
        let total = self.rooms.listed();
        let own = conn.rooms.clone();
        let link = conn.link.clone();
        self.watch.hold(id, &names, &own);
        self.watch.told(id, total);
        let frame = encode(&ServerMsg::RoomsPage {
            rooms,
            next: next.flatten(),
            total,
            query: ask.query.map(|q| q.to_string()),
        });
        queue(&link, frame, &mut self.dirty);
        Ok(())
    }

    /// `rooms_watch`: a connection that stops watching gets no delta and holds nothing; one
    /// that starts again gets its first view afresh, as a `rooms_page` without `next`.
    pub(super) fn rooms_watch(&mut self, id: ConnId, on: bool) -> Result<(), RequestError> {
        let Some(conn) = self.sessions.get(id) else { return Ok(()) };
        if conn.version == Version::V1 {
            return Err(RequestError::BadRequest(
                "unknown frame type `rooms_watch` (it is version 2's: offer the subprotocol chat.v2)".into(),
            ));
        }
        let link = conn.link.clone();
        let was_on = self.watch.get(id).is_some_and(|h| h.on);
        self.watch.watch(id, on);
        if on && !was_on {
            let rooms = self.first_view(id);
            let total = self.rooms.listed();
            self.watch.told(id, total);
            let frame = encode(&ServerMsg::RoomsPage { rooms, next: None, total, query: None });
            queue(&link, frame, &mut self.dirty);
        }
        Ok(())
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
