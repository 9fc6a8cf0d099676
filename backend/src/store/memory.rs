//! The in-memory store: the newest messages of every room, bounded per room. It is the
//! test fixture and `--store memory`; nothing survives a restart.

use std::collections::{HashMap, VecDeque};

use common::{ChatMessage, Cid, RoomName};

use super::{Appended, NewMessage, Page, Roles, RoomSettings, SenderKey, StoredRoom};

/// The newest `per_room` messages of every room, in memory.
#[derive(Debug)]
pub struct MemoryStore {
    per_room: usize,
    rooms: HashMap<RoomName, RoomLog>,
    /// (sender, cid) -> where that message is, for exactly the messages still kept: a
    /// `cid` is unique per sender across rooms.
    cids: HashMap<(SenderKey, Cid), (RoomName, u64)>,
    /// The settings of rooms created with some (a room is one entry, however many
    /// messages it has: not bounded by `per_room`).
    settings: HashMap<RoomName, RoomSettings>,
    /// Rooms' owners and moderators.
    roles: HashMap<RoomName, Roles>,
    /// The operator's audit log, newest first.
    audit: VecDeque<String>,
    /// Bans (`super::bans`): what each keeps out, and its end.
    bans: HashMap<String, u64>,
}

#[derive(Debug, Default)]
struct RoomLog {
    /// The last id given out; ids start at 1.
    seq: u64,
    messages: VecDeque<(SenderKey, ChatMessage)>,
}

impl RoomLog {
    fn get(&self, id: u64) -> Option<&ChatMessage> {
        let first = self.messages.front()?.1.id;
        let index = usize::try_from(id.checked_sub(first)?).ok()?;
        self.messages.get(index).map(|(_, m)| m)
    }

    /// The position of the first message with an id >= `id`.
    fn position(&self, id: u64) -> usize {
        self.messages.partition_point(|(_, m)| m.id < id)
    }

    fn first_id(&self) -> Option<u64> {
        self.messages.front().map(|(_, m)| m.id)
    }

    fn page(&self, from: usize, to: usize, complete: bool) -> Page {
        let messages = self.messages.range(from..to).map(|(_, m)| m.clone()).collect();
        Page { messages, complete }
    }
}

impl MemoryStore {
    pub fn new(per_room: usize) -> Self {
        Self {
            per_room: per_room.max(1),
            rooms: HashMap::new(),
            cids: HashMap::new(),
            settings: HashMap::new(),
            roles: HashMap::new(),
            audit: VecDeque::new(),
            bans: HashMap::new(),
        }
    }

    pub fn append(&mut self, m: NewMessage<'_>) -> Appended {
        let key = (m.sender.clone(), m.cid);
        if let Some((room, id)) = self.cids.get(&key) {
            return Appended::Duplicate { room: room.clone(), id: *id };
        }
        let log = self.rooms.entry(m.room.clone()).or_default();
        log.seq += 1;
        let msg = ChatMessage {
            room: m.room.to_string(),
            id: log.seq,
            nick: m.nick.to_string(),
            text: m.text.into(),
            ts: m.ts,
            cid: Some(key.1.to_string()),
            image: m.image.map(Into::into),
        };
        log.messages.push_back((m.sender.clone(), msg.clone()));
        self.cids.insert(key, (m.room.clone(), msg.id));
        if log.messages.len() > self.per_room
            && let Some((sender, old)) = log.messages.pop_front()
            && let Some(cid) = old.cid.and_then(|c| Cid::parse(&c).ok())
        {
            self.cids.remove(&(sender, cid));
        }
        Appended::Deliver(msg)
    }

    pub fn room(&self, room: &RoomName) -> StoredRoom {
        let settings = self.settings.get(room).cloned();
        StoredRoom {
            exists: settings.is_some() || self.rooms.contains_key(room),
            settings: settings.unwrap_or_default(),
            roles: self.roles.get(room).cloned().unwrap_or_default(),
        }
    }

    pub fn audit(&mut self, entry: &str) {
        if self.audit.len() >= super::AUDIT_KEPT {
            self.audit.pop_back();
        }
        self.audit.push_front(entry.to_owned());
    }

    pub fn audit_log(&self) -> Vec<String> {
        self.audit.iter().cloned().collect()
    }

    pub fn set_owner(&mut self, room: &RoomName, token: &SenderKey) {
        self.roles.insert(room.clone(), Roles { owner: Some(token.clone()), moderators: Default::default() });
    }

    pub fn set_moderator(&mut self, room: &RoomName, token: &SenderKey, on: bool) {
        let roles = self.roles.entry(room.clone()).or_default();
        if roles.owner.as_ref() == Some(token) {
            return;
        }
        if on {
            roles.moderators.insert(token.clone());
        } else {
            roles.moderators.remove(token);
        }
    }

    pub fn create_room(&mut self, room: &RoomName, settings: &RoomSettings) -> bool {
        if self.room(room).exists {
            return false;
        }
        self.settings.insert(room.clone(), settings.clone());
        true
    }

    pub fn message(&self, room: &RoomName, id: u64) -> Option<ChatMessage> {
        self.rooms.get(room)?.get(id).cloned()
    }

    pub fn after(&self, room: &RoomName, after: u64, max: usize) -> Page {
        let Some(log) = self.rooms.get(room) else {
            return Page { messages: Vec::new(), complete: true };
        };
        let from = log.position(after.saturating_add(1));
        let to = log.messages.len().min(from + max);
        // A gap: messages after `after` that the buffer no longer holds.
        let dropped = log.first_id().is_some_and(|first| first > after.saturating_add(1));
        let complete = !dropped && to == log.messages.len();
        log.page(from, to, complete)
    }

    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Page {
        let Some(log) = self.rooms.get(room) else {
            return Page { messages: Vec::new(), complete: true };
        };
        let to = log.position(before);
        let from = to.saturating_sub(limit);
        let complete = log.messages.get(from).is_none_or(|(_, m)| m.id == 1);
        log.page(from, to, complete)
    }
}

/// Bans (`super::bans`), bounded as the other backends keep them.
impl MemoryStore {
    pub fn ban(&mut self, key: &str, until: u64, now: u64) {
        self.bans.retain(|_, end| *end > now);
        if self.bans.len() >= super::bans::BANS_KEPT
            && !self.bans.contains_key(key)
            && let Some(first) = self.bans.iter().min_by_key(|(_, end)| **end).map(|(k, _)| k.clone())
        {
            self.bans.remove(&first);
        }
        let end = self.bans.entry(key.to_owned()).or_insert(until);
        *end = (*end).max(until);
    }

    pub fn bans(&self, now: u64) -> Vec<(String, u64)> {
        self.bans.iter().filter(|(_, end)| **end > now).map(|(k, end)| (k.clone(), *end)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::say;
    use crate::store::{History, Store};

    fn ids(page: &Page) -> Vec<u64> {
        page.messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn a_bounded_buffer_reports_what_it_dropped() {
        let (mut s, history) = Store::memory(5);
        for i in 1..=8 {
            say(&mut s, "1", "r", &i.to_string());
        }
        let r = RoomName::parse("r").unwrap();
        // The buffer holds 4..=8.
        let recent = history.recent(&r, 3).unwrap();
        assert_eq!((ids(&recent), recent.complete), (vec![6, 7, 8], false));
        let gap = history.after(&r, 1, 500).unwrap();
        assert_eq!((ids(&gap), gap.complete), (vec![4, 5, 6, 7, 8], false));
        assert_eq!(history.message(&r, 2).unwrap(), None);
    }

    #[test]
    fn dropped_messages_forget_their_cid() {
        let (mut s, history) = Store::memory(2);
        for cid in ["a", "b", "c"] {
            say(&mut s, "1", "r", cid);
        }
        let History::Memory(m) = &history else { unreachable!() };
        assert_eq!(m.lock().cids.len(), 2);
        // "a" was dropped: it is a new message again.
        assert!(matches!(say(&mut s, "1", "r", "a"), Appended::Deliver(ChatMessage { id: 4, .. })));
    }
}
