//! The archiver (with `--database`): copies each room's messages from its Redis stream to
//! PostgreSQL, in id order, then trims the stream to its hot window (`--redis-history`),
//! so Redis's memory stays flat however long the cluster runs.
//!
//! Where a message is durable: in Redis's append-only file (fsynced on every write) from
//! the moment its `say` is taken, as without an archive; it is delivered only after that.
//! The archiver trims a message from the stream only once PostgreSQL has committed it,
//! and records the room's floor (`store::redis::floor_key`: every id below it is in
//! PostgreSQL) in the same step as the trim; readers read the floor with the stream, so
//! every message is always in one tier or the other, or both. A PostgreSQL that is away
//! only stops the archiving: the streams grow meanwhile, and are copied and trimmed once
//! it is back.
//!
//! Which rooms to copy: each `say` adds its room to a set (`UNARCHIVED_KEY`). One node at
//! a time archives (a lease in Redis that expires, so a dead node's lease passes to
//! another); it moves a handful of rooms from that set to a set of rooms being archived
//! (`ARCHIVING_KEY`) in one step, copies them, and takes each out when done. A node that
//! dies mid-copy leaves its rooms in the second set, and whoever holds the lease next
//! copies them first; copying again what was copied changes nothing.
//!
//! Moving an existing cluster: the first node started with `--database` marks every room
//! that has a stream as unarchived (one scan, then a marker says it was done; a node that
//! dies mid-scan leaves no marker, and the next one scans again), so the untrimmed streams
//! of a Redis-only cluster are copied over before anything of them is trimmed.

use std::time::Duration;

use common::Change;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use tokio_util::sync::CancellationToken;

use super::StoreError;
use super::postgres::{Archive, Run};
use super::redis::{
    Entry, UNARCHIVED_KEY, cur_key, decode_entry, floor_key, from_key, log_key, moved_key, rx_key, seq_key,
};

/// Rooms being archived by the lease's holder.
const ARCHIVING_KEY: &str = "chat:archiving";
/// Who archives now: a node's random name, expiring after [`LEASE`].
const LEASE_KEY: &str = "chat:archiver";
/// Set once every stream of the cluster was marked for archiving (the move from a
/// Redis-only cluster is done).
const SCANNED_KEY: &str = "chat:archive-scanned";
/// How long a lease lasts unless renewed: a node that died holding it stops the
/// archiving for at most this long. The holder renews it after each room it copies.
const LEASE: Duration = Duration::from_secs(5);
/// How often the archiver looks for rooms to copy.
const TICK: Duration = Duration::from_millis(500);
/// Rooms taken from the unarchived set at a time.
const ROOMS_PER_TAKE: usize = 64;
/// Messages read from a stream and copied in one transaction at most.
const COPY_PAGE: usize = 1000;
/// How long one Redis call of the archiver may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// Takes rooms to archive: those a dead archiver left in the archiving set, else up to
/// ARGV[1] moved there from the unarchived set. KEYS: unarchived, archiving.
const TAKE: &str = r"
local left = redis.call('SMEMBERS', KEYS[2])
if #left > 0 then return left end
local rooms = redis.call('SPOP', KEYS[1], ARGV[1])
if #rooms > 0 then redis.call('SADD', KEYS[2], unpack(rooms)) end
return rooms
";

/// Trims a stream below ARGV[1] (a number: everything below it is archived), at most
/// ARGV[2] entries a call so that Redis is never held long, and raises the room's floor to
/// where it trimmed. What Redis kept about the trimmed entries goes with them, so that
/// nothing in Redis grows with a room's history: the senders of the messages, their
/// places in the sets of changes (`chat:cs:<room>:<id>`), and for the messages below the
/// floor that no change in the stream still concerns, their current JSON (`chat:cur`),
/// tombstone marks (`chat:moved`), senders (a deleted one's), givers of reactions
/// (`chat:rx`) and places in the sets of replies
/// (`chat:re:<room>:<id>`): PostgreSQL has their current JSON, copied with their last
/// change. A change after ARGV[5] (what PostgreSQL has) concerns its message and that
/// message's replies, whose current JSON it may have changed: those stay until a later
/// trim. With more than [`TAIL_MAX`] entries after ARGV[5], nothing is trimmed (the next
/// pass copies them first). KEYS: the stream, the floor, the room's senders, its current
/// messages, its moved ids, its reactions' givers. ARGV[3]: the prefix of the per-message sets (`chat:`),
/// ARGV[4] the room, ARGV[6] [`TAIL_MAX`]. Returns the number trimmed up to (exclusive).
///
/// The entries' JSON is searched, not decoded (Redis runs nothing else meanwhile): a key
/// such as `"id":` appears unescaped only as the key itself, since every string in the
/// JSON (a text, a room's name) escapes its quotes.
const TRIM: &str = r#"
local below = tonumber(ARGV[1])
local cs, re = ARGV[3] .. 'cs:' .. ARGV[4] .. ':', ARGV[3] .. 're:' .. ARGV[4] .. ':'
local tail = redis.call('XRANGE', KEYS[1], (tonumber(ARGV[5]) + 1) .. '-0', '+', 'COUNT', ARGV[6])
if #tail == tonumber(ARGV[6]) then return 0 end
local busy = {}
for _, e in ipairs(tail) do
  if e[2][1] == 'c' then
    local target = string.match(e[2][2], '"id":(%d+)')
    busy[target] = true
    for _, r in ipairs(redis.call('SMEMBERS', re .. target)) do busy[r] = true end
  end
end
local gone = redis.call('XRANGE', KEYS[1], '-', (below - 1) .. '-0', 'COUNT', ARGV[2])
if #gone == tonumber(ARGV[2]) then below = tonumber(string.match(gone[#gone][1], '^(%d+)')) + 1 end
local touched, answers = {}, {}
for _, e in ipairs(gone) do
  local n = string.match(e[1], '^(%d+)')
  if e[2][1] == 'm' then
    redis.call('HDEL', KEYS[3], n)
    answers[n] = string.match(e[2][2], '"reply_to":(%d+)')
    touched[n] = true
  else
    local target = string.match(e[2][2], '"id":(%d+)')
    redis.call('SREM', cs .. target, n)
    touched[target] = true
  end
end
redis.call('XTRIM', KEYS[1], 'MINID', below .. '-0')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. below)) do touched[id] = true end
for id in pairs(touched) do
  if tonumber(id) < below and not busy[id] and redis.call('EXISTS', cs .. id) == 0 then
    redis.call('HDEL', KEYS[4], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[6], id)
    redis.call('ZREM', KEYS[5], id)
    if answers[id] then redis.call('SREM', re .. answers[id], id) end
  end
end
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
if below > floor then redis.call('SET', KEYS[2], below) end
return below
"#;

/// Entries after what PostgreSQL has that a trim looks through for changes at most.
const TAIL_MAX: usize = 1000;

/// Renews the lease if this node still holds it. KEYS: the lease. ARGV: our name, its
/// lifetime in milliseconds. Returns 0 when the lease was lost.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// Releases the lease if this node still holds it. KEYS: the lease. ARGV: our name.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The archiver of one node.
pub struct Archiver {
    commands: ConnectionManager,
    archive: Archive,
    /// Messages kept per room in Redis at least (the newest).
    window: u64,
    name: String,
}

impl Archiver {
    pub fn new(commands: ConnectionManager, archive: Archive, window: u64) -> Self {
        let mut nonce = [0u8; 8];
        let _ = getrandom::fill(&mut nonce);
        let name = format!("{}-{}", std::process::id(), u64::from_le_bytes(nonce));
        Self { commands, archive, window: window.max(1), name }
    }

    /// Archives until `token` is cancelled; failures are logged and tried again.
    pub async fn run(mut self, token: CancellationToken) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "archiving messages to PostgreSQL failed; trying again");
            }
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// One pass, if this node holds the lease: the scan of an existing cluster's streams
    /// (once), then every room with messages to archive.
    pub async fn pass(&mut self) -> Result<(), StoreError> {
        let lease_ms = u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX);
        let held: Option<String> = timed(
            redis::cmd("SET")
                .arg(LEASE_KEY)
                .arg(&self.name)
                .arg("NX")
                .arg("PX")
                .arg(lease_ms)
                .query_async(&mut self.commands),
        )
        .await?;
        if held.is_none() {
            return Ok(());
        }
        let result = self.archive_all().await;
        let release = redis::Script::new(RELEASE);
        let _: Result<i64, _> =
            timed(release.key(LEASE_KEY).arg(&self.name).invoke_async(&mut self.commands)).await;
        result
    }

    /// Whether a node with `--database` archived this cluster's Redis: a node without it
    /// would then write rooms' settings, roles and bans where the others no longer read
    /// them, and must not start (see `server`).
    pub async fn archived(commands: &mut ConnectionManager) -> Result<bool, StoreError> {
        timed(commands.exists(SCANNED_KEY)).await
    }

    async fn archive_all(&mut self) -> Result<(), StoreError> {
        let scanned: bool = timed(self.commands.exists(SCANNED_KEY)).await?;
        if !scanned {
            self.mark_every_stream().await?;
        }
        let take = redis::Script::new(TAKE);
        loop {
            let rooms: Vec<String> = timed(
                take.key(UNARCHIVED_KEY)
                    .key(ARCHIVING_KEY)
                    .arg(ROOMS_PER_TAKE)
                    .invoke_async(&mut self.commands),
            )
            .await?;
            if rooms.is_empty() {
                return Ok(());
            }
            for room in rooms {
                self.copy_room(&room).await?;
                let _: i64 = timed(self.commands.srem(ARCHIVING_KEY, &room)).await?;
                if !self.renew().await? {
                    // Another node holds it now (this one stalled): it takes over.
                    return Ok(());
                }
            }
        }
    }

    async fn renew(&mut self) -> Result<bool, StoreError> {
        let renew = redis::Script::new(RENEW);
        let lease_ms = u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX);
        let renewed: i64 =
            timed(renew.key(LEASE_KEY).arg(&self.name).arg(lease_ms).invoke_async(&mut self.commands))
                .await?;
        Ok(renewed == 1)
    }

    /// Marks every room that has a stream as unarchived, then records that it was done.
    async fn mark_every_stream(&mut self) -> Result<(), StoreError> {
        let prefix = log_key("");
        let mut cursor: u64 = 0;
        let mut marked = 0usize;
        loop {
            let (next, keys): (u64, Vec<String>) = timed(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}*"))
                    .arg("COUNT")
                    .arg(1000)
                    .arg("TYPE")
                    .arg("stream")
                    .query_async(&mut self.commands),
            )
            .await?;
            let rooms: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix(&prefix)).collect();
            if !rooms.is_empty() {
                marked += rooms.len();
                let _: i64 = timed(self.commands.sadd(UNARCHIVED_KEY, &rooms)).await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
            // A long scan (many rooms) keeps the lease; marking twice is harmless.
            self.renew().await?;
        }
        let _: () = timed(self.commands.set(SCANNED_KEY, 1)).await?;
        tracing::info!(rooms = marked, "every room's stream is marked for archiving to PostgreSQL");
        Ok(())
    }

    /// Copies what PostgreSQL lacks of a room's stream (messages and changes, with the
    /// current JSON of the messages they concern), then trims the stream to the hot
    /// window, never below what PostgreSQL has.
    async fn copy_room(&mut self, room: &str) -> Result<(), StoreError> {
        let key = log_key(room);
        let mut copied = self.archive.copied(room).await?;
        loop {
            let reply: StreamRangeReply =
                timed(self.commands.xrange_count(&key, format!("{}-0", copied + 1), "+", COPY_PAGE)).await?;
            let entries: Vec<Entry> = reply.ids.iter().map(decode_entry).collect::<Result<_, _>>()?;
            let Some(upto) = entries.last().map(Entry::number) else { break };
            // The current JSON of what this run holds or changed; after a deletion also of
            // every id whose entry is gone (the tombstone, and replies that lost a quote).
            let mut ids: Vec<u64> = entries
                .iter()
                .map(|e| match e {
                    Entry::Message(m) => m.id,
                    Entry::Change(c) => c.id(),
                })
                .collect();
            if entries.iter().any(|e| matches!(e, Entry::Change(Change::Deleted(_)))) {
                let moved: Vec<u64> = timed(self.commands.zrange(moved_key(room), 0, -1)).await?;
                ids.extend(moved);
            }
            // An edit requoted the replies of its message: their current JSON too (the
            // trim lets it go from Redis once PostgreSQL has it).
            for e in &entries {
                if let Entry::Change(Change::Edited(edit)) = e {
                    let replies: Vec<u64> =
                        timed(self.commands.smembers(format!("chat:re:{room}:{}", edit.id))).await?;
                    ids.extend(replies);
                }
            }
            ids.sort_unstable();
            ids.dedup();
            let current: Vec<Option<String>> =
                timed(redis::cmd("HMGET").arg(cur_key(room)).arg(&ids).query_async(&mut self.commands))
                    .await?;
            let current: Vec<(u64, String)> =
                ids.into_iter().zip(current).filter_map(|(id, json)| Some((id, json?))).collect();
            // Who sent each message: Redis forgets it when the message is trimmed.
            let sent: Vec<u64> = entries
                .iter()
                .filter_map(|e| if let Entry::Message(m) = e { Some(m.id) } else { None })
                .collect();
            let senders: Vec<Option<String>> = if sent.is_empty() {
                Vec::new()
            } else {
                timed(redis::cmd("HMGET").arg(from_key(room)).arg(&sent).query_async(&mut self.commands))
                    .await?
            };
            let senders: Vec<(u64, String)> =
                sent.into_iter().zip(senders).filter_map(|(id, s)| Some((id, s?))).collect();
            // Who gave the reactions of what this run's reactions concern: Redis forgets
            // them when the message is trimmed, and takes them back from PostgreSQL.
            let mut reacted: Vec<u64> = entries
                .iter()
                .filter_map(|e| if let Entry::Change(Change::Reacted(r)) = e { Some(r.id) } else { None })
                .collect();
            reacted.sort_unstable();
            reacted.dedup();
            let givers: Vec<Option<String>> = if reacted.is_empty() {
                Vec::new()
            } else {
                timed(redis::cmd("HMGET").arg(rx_key(room)).arg(&reacted).query_async(&mut self.commands))
                    .await?
            };
            let givers: Vec<(u64, Option<String>)> = reacted.into_iter().zip(givers).collect();
            let (mut messages, mut changes) = (Vec::new(), Vec::new());
            for entry in entries {
                match entry {
                    Entry::Message(m) => messages.push(m),
                    Entry::Change(c) => changes.push(c),
                }
            }
            let copied_now = messages.len() + changes.len();
            let run = Run {
                messages: &messages,
                changes: &changes,
                current: &current,
                senders: &senders,
                givers: &givers,
                upto,
            };
            self.archive.copy(room, &run).await?;
            copied = upto;
            if copied_now < COPY_PAGE {
                break;
            }
            // A long stream (a room of a Redis-only cluster) keeps the lease.
            self.renew().await?;
        }
        // Keep the newest `window` numbers; drop only archived ones.
        let last: Option<u64> = timed(self.commands.get(seq_key(room))).await?;
        let below = (copied + 1).min(last.unwrap_or(0).saturating_sub(self.window) + 1);
        let trim = redis::Script::new(TRIM);
        let mut floor = 1;
        while floor < below {
            let reached: u64 = timed(
                trim.key(&key)
                    .key(floor_key(room))
                    .key(from_key(room))
                    .key(cur_key(room))
                    .key(moved_key(room))
                    .key(rx_key(room))
                    .arg(below)
                    .arg(COPY_PAGE)
                    .arg("chat:")
                    .arg(room)
                    .arg(copied)
                    .arg(TAIL_MAX)
                    .invoke_async(&mut self.commands),
            )
            .await?;
            if reached <= floor {
                break;
            }
            floor = reached;
        }
        Ok(())
    }
}

/// A Redis call of the archiver, bounded by [`REDIS_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
    }
}
