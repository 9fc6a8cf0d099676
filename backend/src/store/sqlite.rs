//! The durable store: SQLite in one file, WAL mode, `synchronous = FULL`.
//!
//! Writes go through one writer thread that takes whatever is queued (up to
//! [`BATCH_MAX`] messages) into one transaction, then hands the committed batch back to
//! the hub for delivery: a message is on disk before anyone is sent it, and batching
//! keeps that cheap under load. Reads (join history, scroll-back) use a second connection,
//! which WAL lets run beside the writer; they see only committed messages, and a message
//! still in flight reaches a new member when its batch commits.
//!
//! Only this file knows SQL. Room ids continue across restarts (the next id of a room is
//! read from the table the first time the room is used), and so does `cid`
//! de-duplication, for the newest [`DEDUP_WINDOW`] messages.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use anyhow::Context;
use common::{ChatMessage, RoomName};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::mpsc;

use super::{Appended, Committed, NewMessage, Page, SenderKey};

/// Messages written in one transaction at most.
const BATCH_MAX: usize = 1024;
/// Messages waiting for the writer at most; past that `say` is refused as busy (the client
/// retries with the same `cid`), so a stalled disk cannot grow memory without bound.
const QUEUE_MAX: usize = 16 * 1024;
/// How many of the newest messages' `(sender, cid)` are remembered for de-duplication.
/// Retries come from clients' outboxes within seconds or minutes of the first try.
const DEDUP_WINDOW: usize = 100_000;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS messages (
        room   TEXT    NOT NULL,
        id     INTEGER NOT NULL,
        nick   TEXT    NOT NULL,
        text   TEXT    NOT NULL,
        ts     INTEGER NOT NULL,
        sender TEXT    NOT NULL,
        cid    TEXT    NOT NULL,
        PRIMARY KEY (room, id)
    );
    CREATE UNIQUE INDEX IF NOT EXISTS messages_by_sender_cid ON messages (sender, cid);
";

#[derive(Debug)]
pub struct SqliteStore {
    read: Connection,
    writer: std_mpsc::SyncSender<Pending>,
    /// The last id given out per room (loaded from the table on first use).
    seqs: HashMap<RoomName, u64>,
    dedup: DedupWindow,
}

#[derive(Debug)]
struct Pending {
    sender: SenderKey,
    msg: ChatMessage,
}

fn connect(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening the database {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never wait for the writer. FULL: a commit survives power loss too, not
    // only a crash of this process; batching pays for the fsync.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl SqliteStore {
    pub fn open(path: &Path) -> anyhow::Result<(Self, mpsc::Receiver<Committed>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let write = connect(path)?;
        write.execute_batch(SCHEMA).context("creating the tables")?;
        let read = connect(path)?;
        let dedup = DedupWindow::load(&read)?;
        let (tx, rx) = std_mpsc::sync_channel(QUEUE_MAX);
        // Enough for the writer to run ahead of delivery by a few batches, no more.
        let (done_tx, done_rx) = mpsc::channel(8);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(write, rx, done_tx))
            .context("starting the writer thread")?;
        Ok((Self { read, writer: tx, seqs: HashMap::new(), dedup }, done_rx))
    }

    pub fn append(&mut self, m: NewMessage<'_>) -> Appended {
        let key = (m.sender.clone(), m.cid.to_string());
        if let Some(seen) = self.dedup.get(&key) {
            if !seen.committed {
                return Appended::InFlight;
            }
            return match self.message(&seen.room, seen.id) {
                Some(msg) => Appended::Duplicate(msg),
                None => Appended::InFlight,
            };
        }
        let next = self.last_id(m.room) + 1;
        let msg = ChatMessage {
            room: m.room.to_string(),
            id: next,
            nick: m.nick.to_string(),
            text: m.text.into(),
            ts: m.ts,
            cid: Some(key.1.clone()),
        };
        match self.writer.try_send(Pending { sender: m.sender.clone(), msg }) {
            Ok(()) => {
                self.seqs.insert(m.room.clone(), next);
                self.dedup.insert(key, Seen { room: m.room.clone(), id: next, committed: false });
                Appended::Queued
            }
            Err(_) => Appended::Busy,
        }
    }

    pub fn committed(&mut self, sender: &SenderKey, msg: &ChatMessage) {
        if let Some(cid) = &msg.cid {
            self.dedup.mark_committed(&(sender.clone(), cid.clone()), msg.id);
        }
    }

    fn last_id(&mut self, room: &RoomName) -> u64 {
        if let Some(&id) = self.seqs.get(room) {
            return id;
        }
        let id: Option<i64> = self
            .read
            .query_row("SELECT MAX(id) FROM messages WHERE room = ?1", [room.as_str()], |r| r.get(0))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading a room's last id");
                None
            });
        let id = id.map_or(0, |i| u64::try_from(i).unwrap_or(0));
        self.seqs.insert(room.clone(), id);
        id
    }

    fn message(&self, room: &RoomName, id: u64) -> Option<ChatMessage> {
        self.read
            .query_row(
                "SELECT room, id, nick, text, ts, cid FROM messages WHERE room = ?1 AND id = ?2",
                params![room.as_str(), id as i64],
                row_to_message,
            )
            .optional()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading a message");
                None
            })
    }

    fn query(&self, sql: &str, room: &RoomName, bound: u64, limit: usize) -> Vec<ChatMessage> {
        let run = || -> rusqlite::Result<Vec<ChatMessage>> {
            let mut stmt = self.read.prepare_cached(sql)?;
            let rows = stmt.query_map(
                params![room.as_str(), i64::try_from(bound).unwrap_or(i64::MAX), limit as i64],
                row_to_message,
            )?;
            rows.collect()
        };
        run().unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading history");
            Vec::new()
        })
    }

    pub fn recent(&self, room: &RoomName, n: usize) -> Page {
        self.before(room, u64::MAX, n)
    }

    pub fn after(&self, room: &RoomName, after: u64, max: usize) -> Page {
        let mut messages = self.query(
            "SELECT room, id, nick, text, ts, cid FROM messages WHERE room = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            room,
            after,
            max + 1,
        );
        let complete = messages.len() <= max;
        messages.truncate(max);
        Page { messages, complete }
    }

    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Page {
        let mut messages = self.query(
            "SELECT room, id, nick, text, ts, cid FROM messages WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            room,
            before,
            limit + 1,
        );
        let complete = messages.len() <= limit;
        messages.truncate(limit);
        messages.reverse();
        Page { messages, complete }
    }
}

fn row_to_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        room: r.get(0)?,
        id: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        nick: r.get(2)?,
        text: r.get(3)?,
        ts: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        cid: r.get(5)?,
    })
}

/// The writer thread: one transaction per batch of whatever is queued, then the batch goes
/// back for delivery. A failing write is retried (the disk may be full for a while):
/// nothing is delivered, so nothing unwritten is ever acknowledged.
fn write_loop(mut conn: Connection, rx: std_mpsc::Receiver<Pending>, done: mpsc::Sender<Committed>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let stored = loop {
            match write_batch(&mut conn, &batch) {
                Ok(stored) => break stored,
                Err(e) => {
                    tracing::error!(error = %e, messages = batch.len(), "writing messages failed; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        if done.blocking_send(stored).is_err() {
            return; // The server is gone; the batch is on disk.
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[Pending]) -> rusqlite::Result<Committed> {
    let tx = conn.transaction()?;
    let mut stored = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO messages (room, id, nick, text, ts, sender, cid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for p in batch {
            let m = &p.msg;
            let n = insert.execute(params![
                m.room,
                m.id as i64,
                m.nick,
                m.text,
                m.ts as i64,
                &*p.sender,
                m.cid.as_deref().unwrap_or_default(),
            ])?;
            // Ignored: a retry older than the de-duplication window. It is stored already,
            // under its first id; delivering this copy would show it twice.
            if n == 1 {
                stored.push((p.sender.clone(), m.clone()));
            }
        }
    }
    tx.commit()?;
    Ok(stored)
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

    fn mark_committed(&mut self, key: &(SenderKey, String), id: u64) {
        if let Some(seen) = self.map.get_mut(key).filter(|s| s.id == id) {
            seen.committed = true;
        }
    }
}
