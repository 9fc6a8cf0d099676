//! The durable store: SQLite in one file, WAL mode, `synchronous = FULL` by default
//! (`--sync normal` trades the last commits before a power cut for shorter waits).
//!
//! Writes go through one writer thread that takes whatever is queued (up to
//! [`BATCH_MAX`] messages) into one transaction, then hands the outcome of the batch back
//! to the hub: a message is on disk before anyone is sent it, and batching keeps that
//! cheap under load. A batch that keeps failing is handed back as failed, so its senders
//! hear of it and retry; nothing waits forever. Reads (join history, scroll-back) go
//! through [`SqliteReader`]'s own connections, which WAL lets run beside the writer,
//! without the hub's lock; they see only committed messages, and a message still in
//! flight reaches a new member when its batch commits.
//!
//! Changes of messages go through the same writer, in the same order as messages: each
//! is judged (`change`'s rules) and written in the transaction of its batch. A deletion
//! removes the text, the picture's name and every earlier version (edits, reactions, the
//! quotes of replies) from the tables; `secure_delete` overwrites what SQLite frees, and
//! the write-ahead log is checkpointed and truncated after the batch, so the text is gone
//! from the files, not only hidden.
//!
//! Only this file and its children (`schema`: the migrations; `rooms`: settings and
//! roles; `moderation`: the audit log and bans; `changes`) know SQL. Room ids continue
//! across restarts (every room's last id is read once, when the store opens, so taking a
//! message never touches the disk), and so does `cid` de-duplication: the newest [`DEDUP_WINDOW`] in memory, and the table's
//! unique index for anything older.

mod changes;
mod moderation;
mod rooms;
mod schema;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use anyhow::Context;
use common::changes::Quote;
use common::{Change, ChatMessage, RoomName};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::mpsc;

use super::{Appended, Changed, Changing, NewMessage, Outcome, Page, SenderKey, StoreError, Written};
use crate::change::{ChangeRequest, Refusal};
use crate::config::SyncMode;
use changes::{checkpoint, with_reactions, write_change};
use schema::{migrate, normalise_room_names};

/// Messages written in one transaction at most.
const BATCH_MAX: usize = 1024;
/// Messages waiting for the writer at most; past that `say` is refused as busy (the client
/// retries with the same `cid`), so a stalled disk cannot grow memory without bound.
const QUEUE_MAX: usize = 16 * 1024;
/// How many of the newest messages' `(sender, cid)` are remembered for de-duplication.
/// Retries come from clients' outboxes within seconds or minutes of the first try.
const DEDUP_WINDOW: usize = 100_000;
/// A failing batch is tried this many times, [`RETRY_PAUSE`] apart, before its senders
/// are told it failed (a disk that is full for a moment should not fail a message).
const WRITE_TRIES: u32 = 5;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Read connections kept open between reads; more are opened while many read at once.
const IDLE_READERS: usize = 4;

const COLUMNS: &str =
    "room, id, nick, text, ts, cid, image, edited, deleted, reply_to, quote_nick, quote_text, quote_deleted";

/// The writing side: the queue to the writer thread, each room's last id, and the
/// de-duplication window. Everything here is memory: the hub calls it under its lock.
#[derive(Debug)]
pub struct SqliteStore {
    writer: std_mpsc::SyncSender<Pending>,
    /// The last id given out per room, every stored room loaded at open.
    seqs: HashMap<RoomName, u64>,
    dedup: DedupWindow,
}

/// The reading side: connections of its own, used by whoever reads, never under the
/// hub's lock.
#[derive(Debug)]
pub struct SqliteReader {
    path: PathBuf,
    sync: SyncMode,
    idle: Mutex<Vec<Connection>>,
}

#[derive(Debug)]
enum Pending {
    Message {
        sender: SenderKey,
        msg: ChatMessage,
    },
    /// A change, with the number it takes if it changes something.
    Change {
        change: ChangeRequest,
        seq: u64,
    },
}

fn connect(path: &Path, sync: SyncMode) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never wait for the writer. FULL: a commit survives power loss too, not
    // only a crash of this process; batching pays for the fsync. NORMAL: in WAL mode a
    // commit survives a crash of the process, and only a power cut may lose the last ones.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    // What a deletion frees is overwritten with zeros, not left in the file's free space.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    pub fn open(
        path: &Path,
        sync: SyncMode,
    ) -> anyhow::Result<(Self, SqliteReader, mpsc::Receiver<Written>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let opening = || format!("opening the database {}", path.display());
        let mut write = connect(path, sync).with_context(opening)?;
        migrate(&mut write).context("creating or updating the tables")?;
        normalise_room_names(&mut write).context("renaming rooms to their composed (NFC) names")?;
        let read = connect(path, sync).with_context(opening)?;
        let dedup = DedupWindow::load(&read)?;
        let seqs = last_ids(&read).context("reading each room's last id")?;
        let (tx, rx) = std_mpsc::sync_channel(QUEUE_MAX);
        // Enough for the writer to run ahead of delivery by a few batches, no more.
        let (done_tx, done_rx) = mpsc::channel(8);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(write, rx, done_tx))
            .context("starting the writer thread")?;
        let reader = SqliteReader { path: path.to_owned(), sync, idle: Mutex::new(vec![read]) };
        Ok((Self { writer: tx, seqs, dedup }, reader, done_rx))
    }

    pub fn append(&mut self, m: NewMessage<'_>) -> Appended {
        let key = (m.sender.clone(), m.cid.to_string());
        if let Some(seen) = self.dedup.get(&key) {
            if !seen.committed {
                return Appended::InFlight;
            }
            return Appended::Duplicate { room: seen.room.clone(), id: seen.id };
        }
        let next = self.seqs.get(m.room).copied().unwrap_or(0) + 1;
        let msg = ChatMessage {
            room: m.room.to_string(),
            id: next,
            nick: m.nick.to_string(),
            text: m.text.into(),
            ts: m.ts,
            cid: Some(key.1.clone()),
            image: m.image.map(Into::into),
            reply_to: m.reply_to,
            ..ChatMessage::default()
        };
        match self.writer.try_send(Pending::Message { sender: m.sender.clone(), msg }) {
            Ok(()) => {
                self.seqs.insert(m.room.clone(), next);
                self.dedup.insert(key, Seen { room: m.room.clone(), id: next, committed: false });
                Appended::Queued
            }
            Err(_) => Appended::Busy,
        }
    }

    /// Hands a change to the writer, which judges it where the message is. It takes the
    /// room's next number now, so that it is told in the order it was asked; a change that
    /// is refused or changes nothing leaves that number unused (ids are increasing, not
    /// consecutive).
    pub fn change(&mut self, change: ChangeRequest) -> Changing {
        let seq = self.seqs.get(&change.room).copied().unwrap_or(0) + 1;
        let room = change.room.clone();
        match self.writer.try_send(Pending::Change { change, seq }) {
            Ok(()) => {
                self.seqs.insert(room, seq);
                Changing::Queued
            }
            Err(_) => Changing::Busy,
        }
    }

    pub fn written(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Refused { sender, cid: Some(cid), .. } => {
                self.dedup.forget(&(sender.clone(), cid.clone()))
            }
            Outcome::Changed(_) | Outcome::Refused { .. } | Outcome::ChangeFailed(_) => {}
            Outcome::Stored(sender, msg)
            | Outcome::Published(sender, msg)
            | Outcome::Existing(sender, msg) => {
                let (Some(cid), Ok(room)) = (&msg.cid, RoomName::parse(&msg.room)) else { return };
                self.dedup.committed((sender.clone(), cid.clone()), room, msg.id);
            }
            // Forgotten: a retry of it is a new message.
            Outcome::Failed(sender, msg) => {
                if let Some(cid) = &msg.cid {
                    self.dedup.forget(&(sender.clone(), cid.clone()));
                }
            }
        }
    }
}

/// Every stored room's last number, of a message or a change.
fn last_ids(conn: &Connection) -> rusqlite::Result<HashMap<RoomName, u64>> {
    let mut stmt = conn.prepare(
        "SELECT room, MAX(id) FROM (SELECT room, id FROM messages UNION ALL SELECT room, seq FROM changes)
         GROUP BY room",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut seqs = HashMap::new();
    for row in rows {
        let (room, id) = row?;
        // Only this server writes the table, and only valid names.
        if let Ok(room) = RoomName::parse(&room) {
            seqs.insert(room, u64::try_from(id).unwrap_or(0));
        }
    }
    Ok(seqs)
}

impl SqliteReader {
    /// Runs `read` on a connection of the pool (opening one when all are in use).
    fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path, self.sync)?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result.map_err(StoreError::from)
    }

    /// Reads the schema (the database's first page) on a reading connection.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.with(|conn| conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)))
            .map(drop)
    }

    pub fn message(&self, room: &RoomName, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        self.with(|conn| {
            let msg = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE room = ?1 AND id = ?2"))?
                .query_row(params![room.as_str(), id as i64], row_to_message)
                .optional()?;
            let mut msgs: Vec<ChatMessage> = msg.into_iter().collect();
            with_reactions(conn, room, &mut msgs)?;
            Ok(msgs.pop())
        })
    }

    pub fn changes(
        &self,
        room: &RoomName,
        after: u64,
        max: usize,
    ) -> Result<(Vec<Change>, bool), StoreError> {
        let bodies: Vec<String> = self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT body FROM changes WHERE room = ?1 AND seq > ?2 AND id <= ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![room.as_str(), i64::try_from(after).unwrap_or(i64::MAX), max as i64 + 1],
                |r| r.get(0),
            )?;
            rows.collect()
        })?;
        let complete = bodies.len() <= max;
        let changes = bodies
            .iter()
            .take(max)
            .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Decode(e.to_string())))
            .collect::<Result<_, _>>()?;
        Ok((changes, complete))
    }

    fn query(
        &self,
        sql: &str,
        room: &RoomName,
        bound: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(
                params![room.as_str(), i64::try_from(bound).unwrap_or(i64::MAX), limit as i64],
                row_to_message,
            )?;
            let mut msgs = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            with_reactions(conn, room, &mut msgs)?;
            Ok(msgs)
        })
    }

    pub fn after(&self, room: &RoomName, after: u64, max: usize) -> Result<Page, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE room = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
        let mut messages = self.query(&sql, room, after, max + 1)?;
        let complete = messages.len() <= max;
        messages.truncate(max);
        Ok(Page { messages, complete, ..Page::default() })
    }

    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Result<Page, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM messages WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3");
        let mut messages = self.query(&sql, room, before, limit + 1)?;
        let complete = messages.len() <= limit;
        messages.truncate(limit);
        messages.reverse();
        Ok(Page { messages, complete, ..Page::default() })
    }
}

fn row_to_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    let deleted: bool = r.get(8)?;
    let quote = match r.get::<_, Option<String>>(10)? {
        Some(nick) => Some(Box::new(Quote {
            nick,
            text: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
            deleted: r.get(12)?,
        })),
        None => None,
    };
    Ok(ChatMessage {
        room: r.get(0)?,
        id: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        nick: r.get(2)?,
        text: r.get(3)?,
        ts: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        // A tombstone is the room's, id, nick and time only (its `cid` is kept in the table
        // for de-duplication).
        cid: if deleted { None } else { r.get(5)? },
        image: r.get(6)?,
        edited: r.get::<_, Option<i64>>(7)?.and_then(|t| u64::try_from(t).ok()),
        deleted,
        reactions: Vec::new(),
        reply_to: r.get::<_, Option<i64>>(9)?.and_then(|t| u64::try_from(t).ok()),
        quote,
    })
}

/// The writer thread: one transaction per batch of whatever is queued, then the outcome
/// goes back to the hub. A failing write is tried again a few times (the disk may be full
/// for a moment); then the batch is handed back as failed: nothing unwritten is ever
/// acknowledged, and nobody waits forever. After a batch that deleted a message, the
/// write-ahead log is checkpointed and truncated (again a second later while readers
/// keep it from completing), so that the deleted text leaves the files.
fn write_loop(mut conn: Connection, rx: std_mpsc::Receiver<Pending>, done: mpsc::Sender<Written>) {
    let mut checkpoint_due = false;
    loop {
        let first = if checkpoint_due {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(p) => p,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    checkpoint_due = !checkpoint(&conn);
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(p) => p,
                Err(_) => return,
            }
        };
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match write_batch(&mut conn, &batch) {
                Ok(outcome) => break outcome,
                Err(e) if tries < WRITE_TRIES => {
                    tracing::error!(error = %e, messages = batch.len(), "writing messages failed; retrying");
                    std::thread::sleep(RETRY_PAUSE);
                }
                Err(e) => {
                    tracing::error!(error = %e, messages = batch.len(), "writing messages failed; their senders are told");
                    break batch
                        .into_iter()
                        .map(|p| match p {
                            Pending::Message { sender, msg } => Outcome::Failed(sender, msg),
                            Pending::Change { change, .. } => Outcome::ChangeFailed(change.actor.sender),
                        })
                        .collect();
                }
            }
        };
        let deleted =
            outcome.iter().any(|o| matches!(o, Outcome::Changed(Changed { change: Change::Deleted(_), .. })));
        if deleted || checkpoint_due {
            checkpoint_due = !checkpoint(&conn);
        }
        if done.blocking_send(outcome).is_err() {
            return; // The server is gone; what was committed is on disk.
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[Pending]) -> rusqlite::Result<Written> {
    let tx = conn.transaction()?;
    let mut outcome = Vec::with_capacity(batch.len());
    for p in batch {
        match p {
            Pending::Message { sender, msg } => outcome.push(write_message(&tx, sender, msg)?),
            Pending::Change { change, seq } => outcome.extend(write_change(&tx, change, *seq)?),
        }
    }
    tx.commit()?;
    Ok(outcome)
}

fn write_message(tx: &Connection, sender: &SenderKey, m: &ChatMessage) -> rusqlite::Result<Outcome> {
    // Only a `(sender, cid)` seen before is skipped; any other conflict (an id taken
    // twice) is an error, never a message dropped in silence.
    let mut insert = tx.prepare_cached(
        "INSERT INTO messages (room, id, nick, text, ts, sender, cid, image, reply_to, quote_nick, quote_text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (sender, cid) DO NOTHING",
    )?;
    let cid = m.cid.as_deref().unwrap_or_default();
    let mut m = m.clone();
    if let Some(to) = m.reply_to {
        let quoted = tx
            .prepare_cached("SELECT nick, text FROM messages WHERE room = ?1 AND id = ?2 AND deleted = 0")?
            .query_row(params![m.room, to as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .optional()?;
        match quoted {
            Some((nick, text)) => m.quote = Some(Box::new(Quote::of(&nick, &text))),
            None => {
                let room = RoomName::parse(&m.room).expect("a stored room's name");
                let refusal = Refusal::NotFound;
                return Ok(Outcome::Refused { sender: sender.clone(), room, id: to, cid: m.cid, refusal });
            }
        }
    }
    let quote = m.quote.as_ref();
    let n = insert.execute(params![
        m.room,
        m.id as i64,
        m.nick,
        m.text,
        m.ts as i64,
        &**sender,
        cid,
        m.image,
        m.reply_to.map(|r| r as i64),
        quote.map(|q| &q.nick),
        quote.map(|q| &q.text),
    ])?;
    if n == 1 {
        return Ok(Outcome::Stored(sender.clone(), m));
    }
    // A retry older than the de-duplication window: stored already, under its first id.
    // The sender gets that one back.
    let earlier = tx
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE sender = ?1 AND cid = ?2"))?
        .query_row(params![&**sender, cid], row_to_message)?;
    Ok(Outcome::Existing(sender.clone(), earlier))
}

#[derive(Debug)]
struct Seen {
    room: RoomName,
    id: u64,
    committed: bool,
}

/// `(sender, cid)` of the newest messages, oldest forgotten first.
#[derive(Debug, Default)]
struct DedupWindow {
    map: HashMap<(SenderKey, String), Seen>,
    order: VecDeque<(SenderKey, String)>,
}

impl DedupWindow {
    fn load(conn: &Connection) -> anyhow::Result<Self> {
        let mut window = Self::default();
        let mut stmt =
            conn.prepare("SELECT sender, cid, room, id FROM messages ORDER BY rowid DESC LIMIT ?1")?;
        let rows = stmt.query_map([DEDUP_WINDOW as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut newest_first = Vec::new();
        for row in rows {
            newest_first.push(row?);
        }
        for (sender, cid, room, id) in newest_first.into_iter().rev() {
            let Ok(room) = RoomName::parse(&room) else { continue };
            let id = u64::try_from(id).unwrap_or(0);
            window.insert((SenderKey::from(sender), cid), Seen { room, id, committed: true });
        }
        Ok(window)
    }

    fn get(&self, key: &(SenderKey, String)) -> Option<&Seen> {
        self.map.get(key)
    }

    fn insert(&mut self, key: (SenderKey, String), seen: Seen) {
        if self.order.len() >= DEDUP_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.order.push_back(key.clone());
        self.map.insert(key, seen);
    }

    /// The message of this key is stored, as `id` of `room`.
    fn committed(&mut self, key: (SenderKey, String), room: RoomName, id: u64) {
        match self.map.get_mut(&key) {
            Some(seen) => *seen = Seen { room, id, committed: true },
            None => self.insert(key, Seen { room, id, committed: true }),
        }
    }

    fn forget(&mut self, key: &(SenderKey, String)) {
        // Its place in `order` stays until it comes round: the window is a bound, not a
        // promise, and the table's unique index stands behind it.
        self.map.remove(key);
    }
}
