//! The in-memory store: the newest messages of every room, bounded per room. It is the
//! test fixture and `--store memory`; nothing survives a restart.

use std::collections::{HashMap, VecDeque};

use common::changes::{Deleted, Edited, Quote, Reacted};
use common::{Change, ChatMessage, Cid, RoomName};

use super::{Appended, Changed, Changing, NewMessage, Page, Roles, RoomSettings, SenderKey, StoredRoom};
use crate::change::{Action, ChangeRequest, Reactions, Refusal, may_delete, may_edit};

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
    /// The last number of the room's sequence given out (to a message or a change); ids
    /// start at 1.
    seq: u64,
    messages: VecDeque<Kept>,
    /// The changes of the messages kept, oldest first (a deleted message's only its
    /// deletion), bounded like the messages.
    changes: VecDeque<Change>,
    /// The newest message id and change number dropped for the bound (0: none).
    dropped: u64,
    dropped_change: u64,
}

/// A message as kept: its sender and its reactions beside what is sent.
#[derive(Debug)]
struct Kept {
    sender: SenderKey,
    msg: ChatMessage,
    reactions: Reactions,
}

impl RoomLog {
    /// Ids are increasing but not consecutive (changes take numbers too).
    fn index(&self, id: u64) -> Option<usize> {
        self.messages.binary_search_by_key(&id, |k| k.msg.id).ok()
    }

    fn get(&self, id: u64) -> Option<&ChatMessage> {
        self.index(id).map(|i| &self.messages[i].msg)
    }

    /// The position of the first message with an id >= `id`.
    fn position(&self, id: u64) -> usize {
        self.messages.partition_point(|k| k.msg.id < id)
    }

    fn page(&self, from: usize, to: usize, complete: bool) -> Page {
        let messages = self.messages.range(from..to).map(|k| k.msg.clone()).collect();
        Page { messages, complete, ..Page::default() }
    }

    /// Sets the quote of every reply to `id`.
    fn requote(&mut self, id: u64, quote: &Quote) {
        for k in &mut self.messages {
            if k.msg.reply_to == Some(id) {
                k.msg.quote = Some(Box::new(quote.clone()));
            }
        }
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
        let quote = match m.reply_to {
            None => None,
            Some(to) => match log.get(to) {
                Some(q) if !q.deleted => Some(Box::new(Quote::of(&q.nick, &q.text))),
                _ => return Appended::Refused(Refusal::NotFound),
            },
        };
        log.seq += 1;
        let msg = ChatMessage {
            room: m.room.to_string(),
            id: log.seq,
            nick: m.nick.to_string(),
            text: m.text.into(),
            ts: m.ts,
            cid: Some(key.1.to_string()),
            image: m.image.map(Into::into),
            reply_to: m.reply_to,
            quote,
            ..ChatMessage::default()
        };
        log.messages.push_back(Kept {
            sender: m.sender.clone(),
            msg: msg.clone(),
            reactions: Reactions::default(),
        });
        self.cids.insert(key, (m.room.clone(), msg.id));
        if log.messages.len() > self.per_room
            && let Some(old) = log.messages.pop_front()
        {
            log.dropped = old.msg.id;
            if let Some(cid) = old.msg.cid.and_then(|c| Cid::parse(&c).ok()) {
                self.cids.remove(&(old.sender, cid));
            }
        }
        Appended::Deliver(msg)
    }

    /// Judges and applies a change of a message, under the rules of `change`.
    pub fn change(&mut self, c: ChangeRequest) -> Changing {
        let Some(log) = self.rooms.get_mut(&c.room) else { return Changing::Refused(Refusal::NotFound) };
        let Some(at) = log.index(c.id).filter(|i| !log.messages[*i].msg.deleted) else {
            return Changing::Refused(Refusal::NotFound);
        };
        let room = c.room.to_string();
        let kept = &mut log.messages[at];
        let mut orphan = None;
        let change = match c.action {
            Action::Edit(text) => {
                if !may_edit(&c.actor, &kept.sender) {
                    return Changing::Refused(Refusal::Forbidden);
                }
                log.seq += 1;
                kept.msg.text = text.into();
                kept.msg.edited = Some(c.ts);
                let quote = Quote::of(&kept.msg.nick, &kept.msg.text);
                let change =
                    Edited { room, id: c.id, text: kept.msg.text.clone(), edited: c.ts, seq: log.seq };
                log.requote(c.id, &quote);
                Change::Edited(change)
            }
            Action::Delete => {
                if !may_delete(&c.actor, &kept.sender) {
                    return Changing::Refused(Refusal::Forbidden);
                }
                log.seq += 1;
                let seq = log.seq;
                let image = kept.msg.image.take();
                kept.msg = ChatMessage {
                    room: room.clone(),
                    id: c.id,
                    nick: std::mem::take(&mut kept.msg.nick),
                    ts: kept.msg.ts,
                    deleted: true,
                    ..ChatMessage::default()
                };
                kept.reactions = Reactions::default();
                let quote = Quote { nick: kept.msg.nick.clone(), text: String::new(), deleted: true };
                log.requote(c.id, &quote);
                // Its earlier versions go with it: only the deletion is left to tell.
                log.changes.retain(|ch| ch.id() != c.id);
                orphan = image.filter(|url| !self.names(url));
                Change::Deleted(Deleted { room, id: c.id, seq })
            }
            Action::React { emoji, on } => match kept.reactions.toggle(&c.actor, &emoji, on) {
                Err(refusal) => return Changing::Refused(refusal),
                Ok(false) => return Changing::Nothing,
                Ok(true) => {
                    log.seq += 1;
                    kept.msg.reactions = kept.reactions.view();
                    let nick = c.actor.nick.to_string();
                    Change::Reacted(Reacted { room, id: c.id, emoji, nick, on, seq: log.seq })
                }
            },
        };
        let log = self.rooms.get_mut(&c.room).expect("the room was found above");
        log.changes.push_back(change.clone());
        if log.changes.len() > self.per_room
            && let Some(old) = log.changes.pop_front()
        {
            log.dropped_change = old.seq();
        }
        Changing::Deliver(Changed { change, published: false, orphan })
    }

    /// Whether a message kept names the picture `url`.
    fn names(&self, url: &str) -> bool {
        self.rooms.values().any(|log| log.messages.iter().any(|k| k.msg.image.as_deref() == Some(url)))
    }

    pub fn changes(&self, room: &RoomName, after: u64, max: usize) -> (Vec<Change>, bool) {
        let Some(log) = self.rooms.get(room) else { return (Vec::new(), true) };
        let mut found: Vec<Change> = log
            .changes
            .iter()
            .filter(|c| c.seq() > after && c.id() <= after)
            .take(max + 1)
            .cloned()
            .collect();
        let complete = found.len() <= max && log.dropped_change <= after;
        found.truncate(max);
        (found, complete)
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
            return Page { complete: true, ..Page::default() };
        };
        let from = log.position(after.saturating_add(1));
        let to = log.messages.len().min(from + max);
        // A gap: messages after `after` that the buffer no longer holds.
        let complete = log.dropped <= after && to == log.messages.len();
        log.page(from, to, complete)
    }

    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Page {
        let Some(log) = self.rooms.get(room) else {
            return Page { complete: true, ..Page::default() };
        };
        let to = log.position(before);
        let from = to.saturating_sub(limit);
        let complete = from == 0 && log.dropped == 0;
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
    use crate::change::{Action, ChangeRequest, Refusal};
    use crate::store::tests::say;
    use crate::store::{Changing, History, Store};

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

    fn change(s: &mut Store, sender: &str, id: u64, action: Action) -> Changing {
        let actor = crate::change::Actor {
            sender: sender.into(),
            nick: common::Nick::parse(sender).unwrap(),
            moderates: false,
        };
        s.change(ChangeRequest { actor, room: RoomName::parse("r").unwrap(), id, action, ts: 9 })
    }

    fn seq(c: Changing) -> u64 {
        match c {
            Changing::Deliver(changed) => changed.change.seq(),
            other => panic!("not delivered: {other:?}"),
        }
    }

    #[test]
    fn changes_take_the_rooms_numbers_and_a_deletion_leaves_a_tombstone() {
        let (mut s, history) = Store::memory(100);
        for cid in ["a", "img-b", "c"] {
            say(&mut s, "1", "r", cid);
        }
        let r = RoomName::parse("r").unwrap();
        let text = |t: &str| Action::Edit(common::Text::parse(t).unwrap());
        assert!(matches!(change(&mut s, "2", 1, text("x")), Changing::Refused(Refusal::Forbidden)));
        assert!(matches!(change(&mut s, "1", 7, Action::Delete), Changing::Refused(Refusal::NotFound)));
        assert_eq!(seq(change(&mut s, "1", 1, text("fixed"))), 4);
        let thumbs = || Action::React { emoji: "👍".into(), on: true };
        assert_eq!(seq(change(&mut s, "2", 2, thumbs())), 5);
        assert!(matches!(change(&mut s, "2", 2, thumbs()), Changing::Nothing));
        let Changing::Deliver(deleted) = change(&mut s, "1", 2, Action::Delete) else { panic!() };
        assert_eq!((deleted.change.seq(), deleted.orphan.as_deref()), (6, Some(crate::store::tests::IMAGE)));
        assert!(matches!(change(&mut s, "2", 2, thumbs()), Changing::Refused(Refusal::NotFound)));
        // The next message goes on after the changes.
        assert!(matches!(say(&mut s, "1", "r", "d"), Appended::Deliver(ChatMessage { id: 7, .. })));
        let page = history.recent(&r, 10).unwrap();
        assert_eq!(ids(&page), vec![1, 2, 3, 7]);
        assert_eq!((page.messages[0].text.as_str(), page.messages[0].edited), ("fixed", Some(9)));
        let tomb = &page.messages[1];
        assert!(tomb.deleted && tomb.text.is_empty() && tomb.image.is_none() && tomb.reactions.is_empty());
        // Since 3: the edit of 1 and the deletion of 2 (its reaction went with it).
        let (changes, complete) = history.changes(&r, 3, 500).unwrap();
        let seqs: Vec<u64> = changes.iter().map(Change::seq).collect();
        assert_eq!((seqs, complete), (vec![4, 6], true));
        let (changes, complete) = history.changes(&r, 3, 1).unwrap();
        assert_eq!((changes.len(), complete), (1, false));
        assert!(history.changes(&r, 6, 500).unwrap().0.is_empty());
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
