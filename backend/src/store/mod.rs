//! Message history behind two enums of backends: [`Store`], the writing side, which the
//! hub owns under its lock (take a new message, assigning the room's next id, or recognise
//! a retried `say`), and [`History`], the reading side, a cheap handle the hub uses with
//! its lock released (join history, scroll-back, the stored copy of a retried message).
//!
//! Only this module knows how messages are kept: `memory` (bounded, the test fixture and
//! `--store memory`), `sqlite` (durable, the default) and `redis` (the cluster's, shared by
//! every node of a `--redis` cluster). The suite in `tests.rs` runs against every variant.
//!
//! Invariant: [`Store::append`] does no I/O (it runs under the hub's lock, where a slow
//! disk would stall every room); every read that may touch a disk is in [`History`].
//!
//! Invariant: a message is sent to nobody before the store has it. The memory store has
//! it at once ([`Appended::Deliver`]); the SQLite store hands it to a writer thread and
//! the hub delivers it when the batch holding it is committed ([`Written`]). A batch that
//! cannot be written is reported back as failed, never dropped in silence.
//!
//! The `cid` rule, the same in every backend: a `cid` is unique per sender across every
//! room, so a retried `say` is recognised whichever room it names.
//!
//! Changes of a message (`edit`, `delete`, `react`) take the room's next number like a
//! message, through [`Store::change`], and are judged where the message is, by the rules
//! of `change`: at once in memory, in the writer's transaction with SQLite (they come back
//! through [`Written`] as [`Outcome::Changed`] or [`Outcome::Refused`], in the same order
//! as messages), in one script with Redis. A deleted message stays as a tombstone (its
//! text and picture gone, and every earlier version); [`History::changes`] reads what
//! changed after a point, for `joined.changes`.
//!
//! A room's settings (a private room's password hash, its member limit) are kept with its
//! history, in every backend: [`History::room`] reads them with what tells whether the
//! room exists, and [`History::create_room`] records them once, only for a room that has
//! neither settings nor messages (atomically, so two creators cannot both win).

pub mod archive;
mod bans;
mod memory;
pub mod postgres;
pub mod redis;
mod sqlite;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use common::{Change, ChatMessage, Cid, ImageRef, Nick, RoomName, Text};
use tokio::sync::mpsc;

pub use archive::Archiver;
pub use memory::MemoryStore;
pub use postgres::Archive;
pub use redis::{RedisReader, RedisStore};
pub use sqlite::{SqliteReader, SqliteStore};

use crate::change::{ChangeRequest, Refusal};
use crate::config::SyncMode;

/// Who sent a message, for `cid` de-duplication: the connection's resume token, so it is
/// the same across a client's reconnects and across server restarts.
pub type SenderKey = Arc<str>;

/// What the durable store's writer did with one batch, in id order.
pub type Written = Vec<Outcome>;

/// What became of one message handed to the durable store's writer.
#[derive(Debug)]
pub enum Outcome {
    /// Committed: deliver it to the room.
    Stored(SenderKey, ChatMessage),
    /// Stored in the cluster's store and published to every node, this one included:
    /// the cluster's fan-out delivers it (as [`Outcome::Stored`]), so nothing is sent here.
    Published(SenderKey, ChatMessage),
    /// The sender had used this `cid` long ago (before the de-duplication window): the
    /// earlier message, which is what the sender gets back, alone.
    Existing(SenderKey, ChatMessage),
    /// Not written (the disk failed and kept failing): the sender is told, with the `cid`,
    /// and may retry it.
    Failed(SenderKey, ChatMessage),
    /// A change of a message was stored: tell the room (unless the cluster's fan-out
    /// does).
    Changed(Changed),
    /// A change (or a reply, which names a message) that its message refused: the sender
    /// is told, with the `cid` of a reply.
    Refused { sender: SenderKey, room: RoomName, id: u64, cid: Option<String>, refusal: Refusal },
    /// A change that could not be written (the store failed): the sender is told.
    ChangeFailed(SenderKey),
}

/// A change of a message, stored.
#[derive(Debug)]
pub struct Changed {
    pub change: Change,
    /// Stored in the cluster's store and published to every node, this one included: the
    /// fan-out delivers it, so nothing is sent from here.
    pub published: bool,
    /// A picture that no message names any more (the deleted one's): the media folder
    /// may let it go.
    pub orphan: Option<String>,
}

/// The writing side: lives in the hub's state, under its lock.
#[derive(Debug)]
pub enum Store {
    Memory(Shared<MemoryStore>),
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

/// The reading side: cloned freely and used without the hub's lock.
#[derive(Debug, Clone)]
pub enum History {
    Memory(Shared<MemoryStore>),
    Sqlite(Arc<SqliteReader>),
    Redis(Arc<RedisReader>),
}

/// A store that both sides share (the memory backend keeps everything in one place).
#[derive(Debug)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Shared<T> {
    fn new(value: T) -> Self {
        Self(Arc::new(Mutex::new(value)))
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        // Memory only: a panic under it leaves data a reader can still use.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The outcome of [`Store::append`].
#[derive(Debug)]
pub enum Appended {
    /// Stored: deliver it to the room now.
    Deliver(ChatMessage),
    /// Handed to the writer: it comes back through [`Written`].
    Queued,
    /// This sender already used this `cid` and the message is stored as `id` of `room`:
    /// read it ([`History::message`]) and send it back to the sender alone.
    Duplicate { room: RoomName, id: u64 },
    /// This sender already used this `cid` and the message is still being written: it
    /// will be delivered to the room (the sender included) when it is committed.
    InFlight,
    /// The writer is too far behind to take more: refuse, the client will retry.
    Busy,
    /// A reply to a message the room does not have.
    Refused(Refusal),
}

/// The outcome of [`Store::change`].
#[derive(Debug)]
pub enum Changing {
    /// Stored: tell the room now (and let an orphaned picture go).
    Deliver(Changed),
    /// Handed to the writer: it comes back through [`Written`].
    Queued,
    /// It changes nothing (a reaction that is already so): no number, no frame.
    Nothing,
    Refused(Refusal),
    /// The writer is too far behind to take more.
    Busy,
}

/// A slice of a room's history, oldest first.
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    /// `false` when messages were left out between this page and the point asked for.
    pub complete: bool,
    /// For a resume (`join` with `after`): the changes of earlier messages since then
    /// (`joined.changes`), and whether some were left out.
    pub changes: Vec<Change>,
    pub changes_left_out: bool,
}

impl Page {
    /// The newest id on this page.
    pub fn last_id(&self) -> Option<u64> {
        self.messages.last().map(|m| m.id)
    }
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
    /// An uploaded image's URL, checked to exist (see `media`).
    pub image: Option<ImageRef>,
    /// The message of the same room it answers (the store adds its quote).
    pub reply_to: Option<u64>,
}

/// Entries of the operator's audit log kept at most (the oldest go first).
pub const AUDIT_KEPT: usize = 1000;

/// A room's settings, fixed by the `join` that created it: a private room's password as
/// an Argon2 PHC string (the hash with its salt and parameters, never the password), and
/// the most members it holds. The default is a public room without a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSettings {
    pub password: Option<Arc<str>>,
    pub max: Option<u32>,
}

impl RoomSettings {
    pub fn is_private(&self) -> bool {
        self.password.is_some()
    }
}

/// What the store holds of a room: whether it exists (it has settings or messages), its
/// settings (the default when it has none), and its owner and moderators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRoom {
    pub exists: bool,
    pub settings: RoomSettings,
    pub roles: Roles,
}

/// A room's owner (the session that created it) and moderators, by resume token. Kept
/// beside the room's settings but apart from them: roles alone do not make a room exist
/// (an emptied room with nothing stored is created anew by its next joiner, who owns it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    pub owner: Option<SenderKey>,
    pub moderators: std::collections::BTreeSet<SenderKey>,
}

/// A read the store could not do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("reading the message store failed: {0}")]
    Read(#[from] rusqlite::Error),
    #[error("Redis failed: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("Redis did not answer in time")]
    Timeout,
    #[error("a message in Redis cannot be read: {0}")]
    Decode(String),
    #[error("PostgreSQL failed: {0}")]
    Postgres(String),
}

impl Store {
    pub fn memory(per_room: usize) -> (Self, History) {
        let shared = Shared::new(MemoryStore::new(per_room));
        (Self::Memory(shared.clone()), History::Memory(shared))
    }

    /// Opens (or creates) the SQLite database at `path`; what the writer did with each
    /// batch arrives on the returned channel, and the caller must deliver it.
    pub fn sqlite(path: &Path, sync: SyncMode) -> anyhow::Result<(Self, History, mpsc::Receiver<Written>)> {
        let (store, reader, written) = SqliteStore::open(path, sync)?;
        Ok((Self::Sqlite(store), History::Sqlite(Arc::new(reader)), written))
    }

    /// The cluster's store in Redis (its writer task spawned on the current runtime),
    /// with the archive in PostgreSQL that holds what Redis trimmed (`--database`); what
    /// the writer did with each batch arrives on the returned channel.
    pub fn redis(
        commands: ::redis::aio::ConnectionManager,
        client: ::redis::Client,
        archive: Option<Archive>,
    ) -> (Self, History, mpsc::Receiver<Written>) {
        let (store, reader, written) = RedisStore::start(commands, client, archive);
        (Self::Redis(store), History::Redis(Arc::new(reader)), written)
    }

    /// Takes a new message; no I/O.
    pub fn append(&mut self, m: NewMessage<'_>) -> Appended {
        match self {
            Self::Memory(s) => s.lock().append(m),
            Self::Sqlite(s) => s.append(m),
            Self::Redis(s) => s.append(m),
        }
    }

    /// Takes a change of a message; no I/O (a durable store's writer judges and stores it,
    /// and it comes back through [`Written`]).
    pub fn change(&mut self, c: ChangeRequest) -> Changing {
        match self {
            Self::Memory(s) => s.lock().change(c),
            Self::Sqlite(s) => s.change(c),
            Self::Redis(s) => s.change(c),
        }
    }

    /// Called for each outcome of the writer before it is acted on.
    pub fn written(&mut self, outcome: &Outcome) {
        match self {
            Self::Memory(_) => {}
            Self::Sqlite(s) => s.written(outcome),
            Self::Redis(s) => s.written(outcome),
        }
    }
}

impl History {
    /// Whether a read may wait on a disk or the network (then it must not run on the
    /// async runtime's threads); the memory store's never does.
    pub fn may_block(&self) -> bool {
        !matches!(self, Self::Memory(_))
    }

    /// One trivial read, for the readiness check: SQLite reads its schema on a reading
    /// connection, Redis answers `PING` on one (and PostgreSQL `SELECT 1`, with an
    /// archive). May block (see [`History::may_block`]).
    pub fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(s) => {
                drop(s.lock());
                Ok(())
            }
            Self::Sqlite(s) => s.ping(),
            Self::Redis(s) => s.ping(),
        }
    }

    /// The newest `n` messages of a room; complete when nothing older exists.
    pub fn recent(&self, room: &RoomName, n: usize) -> Result<Page, StoreError> {
        self.before(room, u64::MAX, n)
    }

    /// Messages with `id > after`, oldest first, at most `max`; complete when none was
    /// skipped (neither beyond `max` nor dropped from a bounded store).
    pub fn after(&self, room: &RoomName, after: u64, max: usize) -> Result<Page, StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().after(room, after, max)),
            Self::Sqlite(s) => s.after(room, after, max),
            Self::Redis(s) => s.after(room, after, max),
        }
    }

    /// Up to `limit` messages with `id < before`, oldest first; complete when they reach
    /// the start of the room's history.
    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Result<Page, StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().before(room, before, limit)),
            Self::Sqlite(s) => s.before(room, before, limit),
            Self::Redis(s) => s.before(room, before, limit),
        }
    }

    /// A room's settings and whether it exists (has settings or messages).
    pub fn room(&self, room: &RoomName) -> Result<StoredRoom, StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().room(room)),
            Self::Sqlite(s) => s.room(room),
            Self::Redis(s) => s.room(room),
        }
    }

    /// Records the settings of a room being created; `false` (and nothing written) when
    /// the room already has settings or messages. Atomic in every backend.
    pub fn create_room(&self, room: &RoomName, settings: &RoomSettings) -> Result<bool, StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().create_room(room, settings)),
            Self::Sqlite(s) => s.create_room(room, settings),
            Self::Redis(s) => s.create_room(room, settings),
        }
    }

    /// Makes `token` the owner of a room being created, forgetting the roles of any
    /// earlier room of that name (one that emptied with nothing stored).
    pub fn set_owner(&self, room: &RoomName, token: &SenderKey) -> Result<(), StoreError> {
        match self {
            Self::Memory(s) => {
                s.lock().set_owner(room, token);
                Ok(())
            }
            Self::Sqlite(s) => s.set_owner(room, token),
            Self::Redis(s) => s.set_owner(room, token),
        }
    }

    /// Names (`on`) or removes a moderator of a room; never changes its owner.
    pub fn set_moderator(&self, room: &RoomName, token: &SenderKey, on: bool) -> Result<(), StoreError> {
        match self {
            Self::Memory(s) => {
                s.lock().set_moderator(room, token, on);
                Ok(())
            }
            Self::Sqlite(s) => s.set_moderator(room, token, on),
            Self::Redis(s) => s.set_moderator(room, token, on),
        }
    }

    /// Adds an entry (JSON) to the operator's audit log, which keeps the newest
    /// [`AUDIT_KEPT`]: a SQLite table, a Redis list (the cluster's), or memory.
    pub fn audit(&self, entry: &str) -> Result<(), StoreError> {
        match self {
            Self::Memory(s) => {
                s.lock().audit(entry);
                Ok(())
            }
            Self::Sqlite(s) => s.audit(entry),
            Self::Redis(s) => s.audit(entry),
        }
    }

    /// The audit log's entries, newest first.
    pub fn audit_log(&self) -> Result<Vec<String>, StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().audit_log()),
            Self::Sqlite(s) => s.audit_log(),
            Self::Redis(s) => s.audit_log(),
        }
    }

    /// The changes with `seq > after` of the messages with `id <= after`, oldest first, at
    /// most `max`; `true` when none was left out.
    pub fn changes(
        &self,
        room: &RoomName,
        after: u64,
        max: usize,
    ) -> Result<(Vec<Change>, bool), StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().changes(room, after, max)),
            Self::Sqlite(s) => s.changes(room, after, max),
            Self::Redis(s) => s.changes(room, after, max),
        }
    }

    /// One stored message, if it is (still) there.
    pub fn message(&self, room: &RoomName, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().message(room, id)),
            Self::Sqlite(s) => s.message(room, id),
            Self::Redis(s) => s.message(room, id),
        }
    }
}
