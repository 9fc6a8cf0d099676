//! The cluster's store: every node of a `--redis` cluster keeps its messages in the same
//! Redis, so ids, history and `cid` de-duplication are the cluster's, not one process's.
//!
//! Per room there is a counter (`chat:seq:<room>`, the last id given out) and a stream
//! (`chat:log:<room>`) whose entry ids are `<id>-0`, each holding the message as the JSON
//! the protocol sends. Per sender there is a hash of its `cid`s (`chat:cids:<sender>`;
//! with an archive two bounded ones, see `writer::CIDS_KEPT`) naming where each message
//! went; rooms' settings and roles are `rooms`', the audit log
//! and bans `moderation`'s. One Lua script per `say` (`writer::SAY`) checks the `cid`,
//! takes the room's next id, appends to the stream, records the `cid` and publishes the
//! message on the room's channel (`chat:msg:<room>`), all in one step that no other node
//! can interleave with: ids stay strictly increasing per room across nodes, and what is
//! published is exactly what is stored.
//!
//! Like SQLite's writer, the script runs off the hub's lock (`writer`):
//! [`RedisStore::append`] only queues the message (memory), a task sends what is queued
//! as one pipeline, and what became of each message comes back as `Written`. A message the script stored is
//! *not* delivered from here: it reaches this node's members as it reaches every other
//! node's, through the room's channel (see `cluster`), so every node delivers a room in
//! one order. A message is never sent to anyone before Redis has it (and, with
//! `appendfsync always`, before it is on Redis's disk).
//!
//! Changes of messages (`edit`, `delete`, `react`) are entries of the same streams and
//! published on the same channels, numbered by the same counters: see `changes`.
//!
//! Reads ([`RedisReader`], this file) use plain blocking connections with short timeouts,
//! as the SQLite reader blocks on its file: they run in a session's task, never under the
//! lock.

use std::sync::Mutex;
use std::time::Duration;

use common::{Change, ChatMessage, RoomName};
use redis::streams::StreamRangeReply;
use redis::{Client, Commands};

use super::postgres::Archive;
use super::{Outcome, Page, StoreError};
use changes::{changes_of, merge};

mod changes;
mod entry;
mod moderation;
mod rooms;
mod tiers;
mod writer;
#[cfg(test)]
pub(crate) use writer::{BEFORE_SCRIPTS, say_alone};

pub use entry::{Entry, decode_entry};
pub use writer::RedisStore;

pub use changes::{cur_key, from_key, moved_key, rx_key};

/// How long one pipeline of the async connection may take before it counts as failed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// A blocking read's connect, read and write timeouts: a session waits at most this long
/// for history from an unreachable Redis before it hears `unavailable`.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Read connections kept open between reads.
const IDLE_READERS: usize = 4;
/// Stream entries read per request when skipping changes for messages, or messages for
/// changes.
const SCAN_PAGE: usize = 512;
/// A resume reads at most this many entries for the changes it missed; past that, its
/// `changes_complete` is `false` (the client reloads the room).
const CHANGES_SCAN: usize = 20_000;

/// The key of a room's counter of ids.
pub fn seq_key(room: &str) -> String {
    format!("chat:seq:{room}")
}

/// The key of a room's stream of messages.
pub fn log_key(room: &str) -> String {
    format!("chat:log:{room}")
}

/// The key of a room's settings, a hash (`password`: the Argon2 PHC string; `max`), for
/// rooms created with some.
pub fn room_key(room: &str) -> String {
    format!("chat:room:{room}")
}

/// The set of rooms whose newest messages and changes may not be archived yet (with
/// `--database`): each write adds its room, and the archiver takes rooms out as it copies
/// them (see `store::archive`).
pub const UNARCHIVED_KEY: &str = "chat:unarchived";

/// The key of the lowest number a room's stream may still hold: every message and change
/// below it was archived and may be trimmed from the stream (absent: nothing was).
pub fn floor_key(room: &str) -> String {
    format!("chat:floor:{room}")
}

/// The key of a room's owner and moderators, a hash (resume token to `owner` or
/// `moderator`).
pub fn roles_key(room: &str) -> String {
    format!("chat:roles:{room}")
}

/// The channel a room's messages are published on.
pub fn channel(room: &str) -> String {
    format!("chat:msg:{room}")
}

/// The pattern every node subscribes to: every room's channel.
pub const CHANNELS: &str = "chat:msg:*";

/// The reading side: blocking connections of its own, used by whoever reads.
pub struct RedisReader {
    client: Client,
    idle: Mutex<Vec<redis::Connection>>,
    /// With `--database`: the archive that holds what the streams no longer do, and the
    /// runtime its async calls run on (a reader blocks on them, as on Redis).
    archive: Option<(Archive, tokio::runtime::Handle)>,
}

impl std::fmt::Debug for RedisReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReader").finish_non_exhaustive()
    }
}

impl RedisReader {
    /// Runs `read` on a connection of the pool (opening one when none is idle). A
    /// connection that failed is dropped; one that had gone stale while idle (Redis
    /// restarted meanwhile) is replaced by a fresh one once, so the first read after a
    /// restart does not fail for nothing.
    fn with<T>(
        &self,
        mut read: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let pooled = idle.is_some();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let mut result = read(&mut conn);
        if pooled && result.as_ref().is_err_and(|e| e.is_io_error() || e.is_connection_dropped()) {
            conn = self.open()?;
            result = read(&mut conn);
        }
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        Ok(result?)
    }

    fn open(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(READ_TIMEOUT)?;
        conn.set_read_timeout(Some(READ_TIMEOUT))?;
        conn.set_write_timeout(Some(READ_TIMEOUT))?;
        Ok(conn)
    }

    /// Entries of a room's stream, messages and changes, from `start` to `end` (entry ids,
    /// or `-` and `+`), at most `count`, newest first when `rev`.
    fn range(
        &self,
        room: &RoomName,
        start: &str,
        end: &str,
        count: usize,
        rev: bool,
    ) -> Result<Vec<Entry>, StoreError> {
        let key = log_key(room.as_str());
        let reply: StreamRangeReply = self.with(|c| {
            if rev {
                c.xrevrange_count(&key, end, start, count)
            } else {
                c.xrange_count(&key, start, end, count)
            }
        })?;
        reply.ids.iter().map(decode_entry).collect()
    }

    /// Up to `want` messages of the stream from `from` towards `to` (ids, inclusive;
    /// downwards when `rev`), the changes between them skipped; and whether the stream
    /// has no more of them that way.
    fn messages(
        &self,
        room: &RoomName,
        mut from: u64,
        to: u64,
        want: usize,
        rev: bool,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let mut out = Vec::new();
        loop {
            let (lo, hi) = if rev { (to, from) } else { (from, to) };
            let hi = if hi == u64::MAX { "+".to_owned() } else { format!("{hi}-0") };
            let page = self.range(room, &format!("{lo}-0"), &hi, SCAN_PAGE, rev)?;
            let full = page.len() == SCAN_PAGE;
            let last = page.last().map(Entry::number);
            for entry in page {
                if let Entry::Message(m) = entry {
                    out.push(m);
                    if out.len() == want {
                        return Ok((out, false));
                    }
                }
            }
            match last {
                Some(last) if full && rev && last > to.max(1) => from = last - 1,
                Some(last) if full && !rev && last < to => from = last + 1,
                _ => return Ok((out, true)),
            }
        }
    }

    /// The ids of `room` whose stream entries are gone (tombstones and the replies of
    /// deleted messages), from `lo` to `hi`, at most `count`, newest first when `rev`.
    fn moved(
        &self,
        room: &RoomName,
        lo: u64,
        hi: u64,
        count: usize,
        rev: bool,
    ) -> Result<Vec<u64>, StoreError> {
        let key = moved_key(room.as_str());
        let hi = if hi == u64::MAX { "+inf".to_owned() } else { hi.to_string() };
        self.with(|c| {
            let mut cmd = redis::cmd(if rev { "ZREVRANGEBYSCORE" } else { "ZRANGEBYSCORE" });
            if rev {
                cmd.arg(&key).arg(&hi).arg(lo);
            } else {
                cmd.arg(&key).arg(lo).arg(&hi);
            }
            cmd.arg("LIMIT").arg(0).arg(count).query::<Vec<u64>>(c)
        })
    }

    /// The current JSON of the changed messages among `ids` (`None` for the others).
    fn current(&self, room: &RoomName, ids: &[u64]) -> Result<Vec<Option<String>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let key = cur_key(room.as_str());
        self.with(|c| redis::cmd("HMGET").arg(&key).arg(ids).query(c))
    }

    /// `PING` on a reading connection (each bounded by the read timeout).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| redis::cmd("PING").query::<String>(c))?;
        self.archived(|a| a.ping()).unwrap_or(Ok(()))
    }

    /// Reads the stream from `after` on (at most [`CHANGES_SCAN`] entries) for the
    /// changes of messages up to `after`, and the archive below the stream's floor.
    pub fn changes(
        &self,
        room: &RoomName,
        after: u64,
        max: usize,
    ) -> Result<(Vec<Change>, bool), StoreError> {
        let found = self.stream_changes(room, after, max)?;
        self.tiered_changes(room, after, max, found)
    }

    fn stream_changes(
        &self,
        room: &RoomName,
        after: u64,
        max: usize,
    ) -> Result<(Vec<Change>, bool), StoreError> {
        let mut found = Vec::new();
        let mut from = after.saturating_add(1);
        let mut scanned = 0;
        loop {
            let page = self.range(room, &format!("{from}-0"), "+", SCAN_PAGE, false)?;
            let (full, last) = (page.len() == SCAN_PAGE, page.last().map(Entry::number));
            scanned += page.len();
            found.extend(changes_of(page, after));
            if found.len() > max {
                found.truncate(max);
                return Ok((found, false));
            }
            match last {
                Some(last) if full && scanned < CHANGES_SCAN => from = last + 1,
                // A stream too long to read for a resume: the client reloads the room.
                Some(_) if full => return Ok((found, false)),
                _ => return Ok((found, true)),
            }
        }
    }

    /// One message as it is now. Its stream entry and its current version are read in one
    /// step (`MULTI`): a trim between two reads would drop the current version of an
    /// edited message that the first read found in the stream, and the text as first sent
    /// would be shown. What the stream no longer has is the archive's.
    pub fn message(&self, room: &RoomName, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        let at = format!("{id}-0");
        let (log, cur) = (log_key(room.as_str()), cur_key(room.as_str()));
        let (entry, current): (StreamRangeReply, Option<String>) =
            self.with(|c| redis::pipe().atomic().xrange(&log, &at, &at).hget(&cur, id).query(c))?;
        if let Some(json) = current {
            return serde_json::from_str(&json).map(Some).map_err(|e| StoreError::Decode(e.to_string()));
        }
        let kept = entry.ids.iter().map(decode_entry).collect::<Result<Vec<_>, _>>()?;
        match kept.into_iter().find_map(Entry::message) {
            Some(m) => Ok(Some(m)),
            None => self.archived_one(room, id),
        }
    }

    pub fn after(&self, room: &RoomName, after: u64, max: usize) -> Result<Page, StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(Page { complete: true, ..Page::default() });
        };
        let (messages, done) = self.tiered(room, from, u64::MAX, max + 1, false)?;
        let hi = if done { u64::MAX } else { messages.last().map_or(u64::MAX, |m| m.id) };
        let moved = self.moved(room, from, hi, max + 1, false)?;
        let mut messages = merge(messages, moved, |ids| self.current(room, ids), false, max + 1)?;
        let complete = messages.len() <= max;
        messages.truncate(max);
        Ok(Page { messages, complete, ..Page::default() })
    }

    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Result<Page, StoreError> {
        if before <= 1 {
            return Ok(Page { complete: true, ..Page::default() });
        }
        let (messages, done) = self.tiered(room, before - 1, 1, limit + 1, true)?;
        let lo = if done { 0 } else { messages.last().map_or(0, |m| m.id) };
        let moved = self.moved(room, lo, before - 1, limit + 1, true)?;
        let mut messages = merge(messages, moved, |ids| self.current(room, ids), true, limit + 1)?;
        let complete = messages.len() <= limit;
        messages.truncate(limit);
        messages.reverse();
        Ok(Page { messages, complete, ..Page::default() })
    }
}

/// A Redis call of the async connection that gives up after [`WRITE_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(WRITE_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
    }
}

#[cfg(test)]
mod tests;
