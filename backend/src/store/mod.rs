//! Message history behind [`Store`], an enum of backends. The hub asks it to take a new
//! message (assigning the room's next id, or recognising a retried `say`) and to read
//! ranges of a room's history.
//!
//! Only this module knows how messages are kept: `memory` (bounded, the test fixture and
//! `--store memory`) and `sqlite` (durable, the default). A multi-node backend is added as
//! one more variant, not as a rewrite of the hub.
//!
//! Invariant: a message is sent to nobody before the store has it. The memory store has
//! it at once ([`Appended::Deliver`]); the SQLite store hands it to a writer thread and
//! the hub delivers it when the batch holding it is committed ([`Committed`]).

mod memory;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use common::{ChatMessage, Cid, Nick, RoomName, Text};
use tokio::sync::mpsc;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// Who sent a message, for `cid` de-duplication: the connection's resume token, so it is
/// the same across a client's reconnects and across server restarts.
pub type SenderKey = Arc<str>;

/// Messages the durable store has committed (with their sender), in id order, ready to be
/// delivered.
pub type Committed = Vec<(SenderKey, ChatMessage)>;

#[derive(Debug)]
pub enum Store {
    Memory(MemoryStore),
    Sqlite(SqliteStore),
}

/// The outcome of [`Store::append`].
#[derive(Debug)]
pub enum Appended {
    /// Stored: deliver it to the room now.
    Deliver(ChatMessage),
    /// Handed to the writer: it comes back through [`Committed`] once durable.
    Queued,
    /// This sender already used this `cid` and the message is stored: send it back to the
    /// sender alone.
    Duplicate(ChatMessage),
    /// This sender already used this `cid` and the message is still being written: it
    /// will be delivered to the room (the sender included) when it is committed.
    InFlight,
    /// The writer is too far behind to take more: refuse, the client will retry.
    Busy,
}

/// A slice of a room's history, oldest first.
#[derive(Debug, Default)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    /// `false` when messages were left out between this page and the point asked for.
    pub complete: bool,
}

/// What a new message is made of; the store adds the id.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub sender: &'a SenderKey,
    pub room: &'a RoomName,
    pub nick: &'a Nick,
    pub text: Text,
    pub cid: Cid,
    pub ts: u64,
}

impl Store {
    pub fn memory(per_room: usize) -> Self {
        Self::Memory(MemoryStore::new(per_room))
    }

    /// Opens (or creates) the SQLite database at `path`; committed batches arrive on the
    /// returned channel and must be delivered by the caller.
    pub fn sqlite(path: &Path) -> anyhow::Result<(Self, mpsc::Receiver<Committed>)> {
        let (store, committed) = SqliteStore::open(path)?;
        Ok((Self::Sqlite(store), committed))
    }

    pub fn append(&mut self, m: NewMessage<'_>) -> Appended {
        match self {
            Self::Memory(s) => s.append(m),
            Self::Sqlite(s) => s.append(m),
        }
    }

    /// Called for each committed message before it is delivered.
    pub fn committed(&mut self, sender: &SenderKey, msg: &ChatMessage) {
        match self {
            Self::Memory(_) => {}
            Self::Sqlite(s) => s.committed(sender, msg),
        }
    }

    /// The newest `n` messages of a room; complete when nothing older exists.
    pub fn recent(&self, room: &RoomName, n: usize) -> Page {
        match self {
            Self::Memory(s) => s.recent(room, n),
            Self::Sqlite(s) => s.recent(room, n),
        }
    }

    /// Messages with `id > after`, oldest first, at most `max`; complete when none was
    /// skipped (neither beyond `max` nor dropped from a bounded store).
    pub fn after(&self, room: &RoomName, after: u64, max: usize) -> Page {
        match self {
            Self::Memory(s) => s.after(room, after, max),
            Self::Sqlite(s) => s.after(room, after, max),
        }
    }

    /// Up to `limit` messages with `id < before`, oldest first; complete when they reach
    /// the start of the room's history.
    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Page {
        match self {
            Self::Memory(s) => s.before(room, before, limit),
            Self::Sqlite(s) => s.before(room, before, limit),
        }
    }
}
