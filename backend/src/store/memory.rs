//! The in-memory store: the newest messages of every room, bounded per room. It is the
//! test fixture and `--store memory`; nothing survives a restart.

use std::collections::{HashMap, VecDeque};

use common::{ChatMessage, Cid, RoomName};

use super::{Appended, NewMessage, Page, SenderKey};

/// The newest `per_room` messages of every room, in memory.
#[derive(Debug)]
pub struct MemoryStore {
    per_room: usize,
    rooms: HashMap<RoomName, RoomLog>,
}

#[derive(Debug, Default)]
struct RoomLog {
    /// The last id given out; ids start at 1.
    seq: u64,
    messages: VecDeque<(SenderKey, ChatMessage)>,
    /// (sender, cid) -> id, for exactly the messages still in `messages`.
    cids: HashMap<(SenderKey, Cid), u64>,
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
        Self { per_room: per_room.max(1), rooms: HashMap::new() }
    }

    pub fn append(&mut self, m: NewMessage<'_>) -> Appended {
        let log = self.rooms.entry(m.room.clone()).or_default();
        let key = (m.sender.clone(), m.cid);
        if let Some(stored) = log.cids.get(&key).and_then(|&id| log.get(id)) {
            return Appended::Duplicate(stored.clone());
        }
        log.seq += 1;
        let msg = ChatMessage {
            room: m.room.to_string(),
            id: log.seq,
            nick: m.nick.to_string(),
            text: m.text.into(),
            ts: m.ts,
            cid: Some(key.1.to_string()),
        };
        log.cids.insert(key, msg.id);
        log.messages.push_back((m.sender.clone(), msg.clone()));
        if log.messages.len() > self.per_room
            && let Some((sender, old)) = log.messages.pop_front()
            && let Some(cid) = old.cid.and_then(|c| Cid::parse(&c).ok())
        {
            log.cids.remove(&(sender, cid));
        }
        Appended::Deliver(msg)
    }

    pub fn recent(&self, room: &RoomName, n: usize) -> Page {
        let Some(log) = self.rooms.get(room) else {
            return Page { messages: Vec::new(), complete: true };
        };
        let from = log.messages.len().saturating_sub(n);
        // Complete when the page starts at id 1: nothing older was ever written.
        let complete = log.messages.get(from).is_none_or(|(_, m)| m.id == 1);
        log.page(from, log.messages.len(), complete)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use common::{Nick, Text};

    fn say(store: &mut Store, sender: &str, room: &str, cid: &str) -> Appended {
        store.append(NewMessage {
            sender: &SenderKey::from(sender),
            room: &RoomName::parse(room).unwrap(),
            nick: &Nick::parse("n").unwrap(),
            text: Text::parse(&format!("text {cid}")).unwrap(),
            cid: Cid::parse(cid).unwrap(),
            ts: 1,
        })
    }

    fn ids(page: &Page) -> Vec<u64> {
        page.messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn ids_increase_per_room() {
        let mut s = Store::memory(100);
        for (room, cid, want) in [("a", "1", 1), ("a", "2", 2), ("b", "3", 1), ("a", "4", 3)] {
            let Appended::Deliver(m) = say(&mut s, "7", room, cid) else { panic!("duplicate") };
            assert_eq!(m.id, want);
        }
    }

    #[test]
    fn a_retried_cid_is_not_stored_twice() {
        let mut s = Store::memory(100);
        say(&mut s, "1", "r", "c1");
        let Appended::Duplicate(m) = say(&mut s, "1", "r", "c1") else { panic!("stored twice") };
        assert_eq!(m.id, 1);
        // Another sender may use the same cid.
        assert!(matches!(say(&mut s, "2", "r", "c1"), Appended::Deliver(ChatMessage { id: 2, .. })));
        assert_eq!(ids(&s.recent(&RoomName::parse("r").unwrap(), 50)), [1, 2]);
    }

    #[test]
    fn ranges_and_completeness() {
        let mut s = Store::memory(5);
        for i in 1..=8 {
            say(&mut s, "1", "r", &i.to_string());
        }
        let r = RoomName::parse("r").unwrap();
        // Buffer holds 4..=8.
        let recent = s.recent(&r, 3);
        assert_eq!((ids(&recent), recent.complete), (vec![6, 7, 8], false));
        let after = s.after(&r, 5, 500);
        assert_eq!((ids(&after), after.complete), (vec![6, 7, 8], true));
        let capped = s.after(&r, 5, 2);
        assert_eq!((ids(&capped), capped.complete), (vec![6, 7], false));
        let gap = s.after(&r, 1, 500);
        assert_eq!((ids(&gap), gap.complete), (vec![4, 5, 6, 7, 8], false));
        let before = s.before(&r, 7, 2);
        assert_eq!((ids(&before), before.complete), (vec![5, 6], false));
        assert!(s.after(&r, 8, 500).messages.is_empty());
        let empty = s.recent(&RoomName::parse("nowhere").unwrap(), 50);
        assert!(empty.messages.is_empty() && empty.complete);
    }

    #[test]
    fn dropped_messages_forget_their_cid() {
        let mut s = Store::memory(2);
        for cid in ["a", "b", "c"] {
            say(&mut s, "1", "r", cid);
        }
        let Store::Memory(m) = &s else { unreachable!() };
        assert_eq!(m.rooms[&RoomName::parse("r").unwrap()].cids.len(), 2);
    }
}
