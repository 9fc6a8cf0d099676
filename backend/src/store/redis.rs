//! The cluster's store: every node of a `--redis` cluster keeps its messages in the same
//! Redis, so ids, history and `cid` de-duplication are the cluster's, not one process's.
//!
//! Per room there is a counter (`chat:seq:<room>`, the last id given out) and a stream
//! (`chat:log:<room>`) whose entry ids are `<id>-0`, each holding the message as the JSON
//! the protocol sends. Per sender there is a hash of its `cid`s (`chat:cids:<sender>`)
//! naming where each message went; per room created with settings, a hash of them
//! (`chat:room:<room>`: `password`, the Argon2 PHC string, and `max`). One Lua script per `say` ([`SAY`]) checks the `cid`,
//! takes the room's next id, appends to the stream, records the `cid` and publishes the
//! message on the room's channel (`chat:msg:<room>`), all in one step that no other node
//! can interleave with: ids stay strictly increasing per room across nodes, and what is
//! published is exactly what is stored.
//!
//! Like SQLite's writer, the script runs off the hub's lock: [`RedisStore::append`] only
//! queues the message (memory), a task sends what is queued as one pipeline, and what
//! became of each message comes back as [`Written`]. A message the script stored is
//! *not* delivered from here: it reaches this node's members as it reaches every other
//! node's, through the room's channel (see `cluster`), so every node delivers a room in
//! one order. A message is never sent to anyone before Redis has it (and, with
//! `appendfsync always`, before it is on Redis's disk).
//!
//! Changes of messages (`edit`, `delete`, `react`) are entries of the same streams and
//! published on the same channels, numbered by the same counters: see `changes`.
//!
//! Reads ([`RedisReader`]) use plain blocking connections with short timeouts, as the
//! SQLite reader blocks on its file: they run in a session's task, never under the lock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Change, ChatMessage, RoomName};
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::{Client, Commands, Value};
use tokio::sync::mpsc;

use super::postgres::Archive;
use super::{
    Appended, Changing, NewMessage, Outcome, Page, Roles, RoomSettings, SenderKey, StoreError, StoredRoom,
    Written,
};
use crate::change::{ChangeRequest, Refusal};
use changes::{Answer, CHANGE, HELPERS, PendingChange, changes_of, merge};

mod changes;
mod entry;
mod tiers;

pub use entry::{Entry, decode_entry};

pub use changes::{cur_key, from_key, moved_key};

/// Messages sent to Redis in one pipeline at most.
const BATCH_MAX: usize = 256;
/// Messages waiting for Redis at most; past that `say` is refused as busy (the client
/// retries with the same `cid`), so an unreachable Redis cannot grow memory without bound.
const QUEUE_MAX: usize = 16 * 1024;
/// How long a sender's `cid`s are remembered after its last message (a week): retries come
/// from clients' outboxes within minutes, and a sender that stops talking is forgotten.
const CID_TTL_SECS: u64 = 7 * 24 * 3600;
/// With an archive, `cid`s are kept in one hash per sender and day, and a `say` looks in
/// today's, yesterday's and the hash of before the archive: Redis then holds at most two
/// days of `cid`s however long a sender keeps talking (a sender's single hash, refreshed
/// by each message, would keep every `cid` it ever used), and a retry is still recognised
/// a day later at least.
const DAY_SECS: u64 = 24 * 3600;
/// A batch is tried this many times, [`RETRY_PAUSE`] apart, before its senders are told it
/// failed: a Redis that restarts is back within a second or two.
const WRITE_TRIES: u32 = 4;
const RETRY_PAUSE: Duration = Duration::from_millis(300);
/// How long one pipeline may take before it counts as failed.
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

/// The key of the operator's audit log, a list of JSON entries, newest first.
const AUDIT_KEY: &str = "chat:audit";

/// The key of a room's owner and moderators, a hash (resume token to `owner` or
/// `moderator`).
pub fn roles_key(room: &str) -> String {
    format!("chat:roles:{room}")
}

/// Creates a room's settings unless it has settings or messages (its counter of ids exists
/// from its first message on). KEYS: the settings hash, the room's counter. ARGV: field,
/// value pairs. Returns 1 when created.
const CREATE_ROOM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
";

fn cids_key(sender: &str) -> String {
    format!("chat:cids:{sender}")
}

/// The key of a sender's `cid`s of one day (days since 1970), with an archive.
fn daily_cids_key(sender: &str, day: u64) -> String {
    format!("chat:cids:{sender}:{day}")
}

/// The channel a room's messages are published on.
pub fn channel(room: &str) -> String {
    format!("chat:msg:{room}")
}

/// The pattern every node subscribes to: every room's channel.
pub const CHANNELS: &str = "chat:msg:*";

/// One `say`, atomically. KEYS: the room's counter, its stream, the sender's `cid`s, the
/// room's channel, its senders (`chat:from`), its changed messages (`chat:cur`). ARGV: the
/// `cid`; the message's JSON before and after its id; the `cid` record's lifetime in
/// seconds; the room; the prefix of stream keys; the sender; the id it answers (or ``);
/// the prefix of the rooms' sets of replies; its picture (or ``), counted in `chat:img`;
/// with an archive, the sender's `cid`s of yesterday and of before the archive, looked in
/// too when the `cid` is not in KEYS[3] (see [`DAY_SECS`]; `` without). Returns `{1, message}` when stored and
/// published, `{0, message}` when the sender used this `cid` before (the stored message),
/// `{0, '', '<id> <room>'}` when that message is no longer in the stream (archived and
/// trimmed, see `store::archive`, or gone), `{2, ''}` when the message it answers is not
/// there.
/// A reply gets its quote here (the nick and first 100 characters of the quoted message
/// as it is now), put in before the JSON's last brace: `quote` is a message's last field.
///
/// The stream of an earlier message is read by name, not through KEYS: a single Redis
/// (not Redis Cluster) allows that, and the room of an old `cid` cannot be known before.
const SAY: &str = r#"
local seen = redis.call('HGET', KEYS[3], ARGV[1])
if not seen and ARGV[11] ~= '' then
  seen = redis.call('HGET', ARGV[11], ARGV[1]) or redis.call('HGET', ARGV[12], ARGV[1])
end
if seen then
  local sep = string.find(seen, ' ', 1, true)
  local id = string.sub(seen, 1, sep - 1)
  local entries = redis.call('XRANGE', ARGV[6] .. string.sub(seen, sep + 1), id .. '-0', id .. '-0')
  if #entries == 0 then return {0, '', seen} end
  return {0, entries[1][2][2]}
end
local quote = nil
if ARGV[8] ~= '' then
  local q = current(KEYS[6], KEYS[2], ARGV[8])
  if not q or q.deleted then return {2, ''} end
  quote = cjson.encode({nick = q.nick, text = head(q.text, 100)})
end
local id = redis.call('INCR', KEYS[1])
local msg = ARGV[2] .. id .. ARGV[3]
if quote then
  msg = string.sub(msg, 1, -2) .. ',"quote":' .. quote .. '}'
  redis.call('SADD', ARGV[9] .. ARGV[8], id)
end
redis.call('HSET', KEYS[5], id, ARGV[7])
if ARGV[10] ~= '' then redis.call('HINCRBY', 'chat:img', ARGV[10], 1) end
redis.call('XADD', KEYS[2], id .. '-0', 'm', msg)
redis.call('HSET', KEYS[3], ARGV[1], id .. ' ' .. ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('PUBLISH', KEYS[4], msg)
return {1, msg}
"#;

/// The writing side: the queue to the writer task and the `cid`s in flight. Memory only:
/// the hub calls it under its lock.
#[derive(Debug)]
pub struct RedisStore {
    writer: mpsc::Sender<Pending>,
    /// `(sender, cid)` of messages handed to the writer and not yet back: a retry that
    /// comes meanwhile is neither stored twice nor refused.
    in_flight: HashSet<(SenderKey, String)>,
}

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

#[derive(Debug)]
enum Pending {
    Say(PendingSay),
    Change(PendingChange),
}

#[derive(Debug)]
struct PendingSay {
    sender: SenderKey,
    room: RoomName,
    cid: String,
    /// The message's JSON up to its id, and from after it on: the script puts the id in.
    head: String,
    tail: String,
    reply_to: Option<u64>,
    /// Its picture's URL: how many messages name a picture is counted, so that the last
    /// one deleted lets the file go.
    image: Option<String>,
}

impl PendingSay {
    /// The message as it would be stored with `id`, for reporting a failure.
    fn message(&self, id: u64) -> Option<ChatMessage> {
        serde_json::from_str(&format!("{}{id}{}", self.head, self.tail)).ok()
    }
}

impl RedisStore {
    /// The writing side (its writer task spawned on the current runtime), the reading
    /// side, and what the writer did with each batch.
    pub fn start(
        commands: ConnectionManager,
        client: Client,
        archive: Option<Archive>,
    ) -> (Self, RedisReader, mpsc::Receiver<Written>) {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        // Enough for the writer to run ahead of the hub by a few batches, no more.
        let (done_tx, done_rx) = mpsc::channel(8);
        tokio::spawn(write_loop(commands, rx, done_tx, archive.clone()));
        let archive = archive.map(|a| (a, tokio::runtime::Handle::current()));
        let reader = RedisReader { client, idle: Mutex::new(Vec::new()), archive };
        (Self { writer: tx, in_flight: HashSet::new() }, reader, done_rx)
    }

    pub fn append(&mut self, m: NewMessage<'_>) -> Appended {
        let key = (m.sender.clone(), m.cid.to_string());
        if self.in_flight.contains(&key) {
            return Appended::InFlight;
        }
        let image: Option<String> = m.image.map(Into::into);
        let (head, tail) = split_json(&ChatMessage {
            room: m.room.to_string(),
            id: 0,
            nick: m.nick.to_string(),
            text: m.text.into(),
            ts: m.ts,
            cid: Some(key.1.clone()),
            image: image.clone(),
            reply_to: m.reply_to,
            ..ChatMessage::default()
        });
        let pending = Pending::Say(PendingSay {
            sender: m.sender.clone(),
            room: m.room.clone(),
            cid: key.1.clone(),
            head,
            tail,
            reply_to: m.reply_to,
            image,
        });
        match self.writer.try_send(pending) {
            Ok(()) => {
                self.in_flight.insert(key);
                Appended::Queued
            }
            Err(_) => Appended::Busy,
        }
    }

    /// Hands a change to the writer; its script judges it and numbers it in Redis.
    pub fn change(&mut self, change: ChangeRequest) -> Changing {
        match self.writer.try_send(Pending::Change(PendingChange { change, allowed: None })) {
            Ok(()) => Changing::Queued,
            Err(_) => Changing::Busy,
        }
    }

    pub fn written(&mut self, outcome: &Outcome) {
        if let Outcome::Refused { sender, cid: Some(cid), .. } = outcome {
            self.in_flight.remove(&(sender.clone(), cid.clone()));
        }
        let (Outcome::Stored(sender, msg)
        | Outcome::Published(sender, msg)
        | Outcome::Existing(sender, msg)
        | Outcome::Failed(sender, msg)) = outcome
        else {
            return;
        };
        if let Some(cid) = &msg.cid {
            self.in_flight.remove(&(sender.clone(), cid.clone()));
        }
    }
}

/// Splits a message's JSON around its id (serialized as `0`): serde writes the fields in
/// their declared order, `room` then `id`, and a string's quotes inside the room's name
/// are escaped, so the first `,"id":0` is the id's.
fn split_json(msg: &ChatMessage) -> (String, String) {
    let json = serde_json::to_string(msg).expect("a message always serializes");
    let marker = ",\"id\":0";
    let at = json.find(marker).expect("the id follows the room") + marker.len() - 1;
    (json[..at].to_owned(), json[at + 1..].to_owned())
}

/// The writer task: sends whatever is queued (up to [`BATCH_MAX`] messages and changes)
/// as one pipeline of scripts, in order, and hands back what became of each. A batch that
/// cannot reach Redis is tried again a few times, then handed back as failed: nothing
/// unstored is acknowledged, and nobody waits forever. Trying again is safe for a
/// message: one the script already stored comes back as the sender's old `cid`. A change
/// whose answer was lost is judged again: a reaction is then no change, an edit is made
/// (and told) twice, and a deletion is refused as `not_found` to its asker, whom its
/// `deleted` reached already.
async fn write_loop(
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<Pending>,
    done: mpsc::Sender<Written>,
    archive: Option<Archive>,
) {
    let scripts = Scripts {
        say: redis::Script::new(&format!("{HELPERS}{SAY}")),
        change: redis::Script::new(&format!("{HELPERS}{CHANGE}")),
    };
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while rx.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match write_batch(&mut conn, &scripts, &mut batch, archive.as_ref()).await {
                Ok(outcome) => break outcome,
                Err(e) if tries < WRITE_TRIES => {
                    tracing::warn!(error = %e, messages = batch.len(), "storing messages in Redis failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, messages = batch.len(), "storing messages in Redis failed; their senders are told");
                    break batch
                        .iter()
                        .filter_map(|p| match p {
                            Pending::Say(p) => Some(Outcome::Failed(p.sender.clone(), p.message(0)?)),
                            Pending::Change(c) => Some(Outcome::ChangeFailed(c.change.actor.sender.clone())),
                        })
                        .collect();
                }
            }
        };
        batch.clear();
        if done.send(outcome).await.is_err() {
            return; // The server is gone; what Redis took, it has.
        }
    }
}

/// The writer's scripts, with the Lua helpers they share.
struct Scripts {
    say: redis::Script,
    change: redis::Script,
}

/// Runs `pipe`, loading the scripts first if Redis forgot them (it does when it restarts:
/// then no script of the pipeline ran, since every one of them failed the same way).
async fn run(
    conn: &mut ConnectionManager,
    scripts: &Scripts,
    pipe: &redis::Pipeline,
) -> Result<Vec<Value>, StoreError> {
    match timed(pipe.query_async(conn)).await {
        Err(StoreError::Redis(e))
            if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
        {
            timed(scripts.say.load_async(conn)).await?;
            timed(scripts.change.load_async(conn)).await?;
            timed(pipe.query_async(conn)).await
        }
        other => other,
    }
}

async fn write_batch(
    conn: &mut ConnectionManager,
    scripts: &Scripts,
    batch: &mut [Pending],
    archive: Option<&Archive>,
) -> Result<Written, StoreError> {
    if let Some(archive) = archive {
        tiers::rehydrate(conn, archive, batch).await?;
    }
    let mut pipe = redis::pipe();
    for p in batch.iter() {
        match p {
            Pending::Say(p) => {
                let room = p.room.as_str();
                let (cids, ttl, yesterday, before) = match archive {
                    None => (cids_key(&p.sender), CID_TTL_SECS, String::new(), String::new()),
                    Some(_) => {
                        let day = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs() / DAY_SECS);
                        let (today, yesterday) = (
                            daily_cids_key(&p.sender, day),
                            daily_cids_key(&p.sender, day.saturating_sub(1)),
                        );
                        (today, 2 * DAY_SECS, yesterday, cids_key(&p.sender))
                    }
                };
                pipe.cmd("EVALSHA")
                    .arg(scripts.say.get_hash())
                    .arg(6)
                    .arg(seq_key(room))
                    .arg(log_key(room))
                    .arg(cids)
                    .arg(channel(room))
                    .arg(from_key(room))
                    .arg(cur_key(room))
                    .arg(&p.cid)
                    .arg(&p.head)
                    .arg(&p.tail)
                    .arg(ttl)
                    .arg(room)
                    .arg("chat:log:")
                    .arg(&*p.sender)
                    .arg(p.reply_to.map(|r| r.to_string()).unwrap_or_default())
                    .arg(format!("chat:re:{room}:"))
                    .arg(p.image.as_deref().unwrap_or(""))
                    .arg(yesterday)
                    .arg(before);
            }
            Pending::Change(c) => c.call(&mut pipe, &scripts.change),
        }
    }
    if archive.is_some() {
        // The rooms written to are to be archived (the archiver takes them from this
        // set). Not in the scripts' step: a mark lost with a crash of Redis between the
        // two only delays the archiving of the room until its next message, since what
        // is not archived is never trimmed.
        let rooms: HashSet<&str> = batch
            .iter()
            .map(|p| match p {
                Pending::Say(p) => p.room.as_str(),
                Pending::Change(c) => c.change.room.as_str(),
            })
            .collect();
        pipe.sadd(UNARCHIVED_KEY, rooms.into_iter().collect::<Vec<_>>()).ignore();
    }
    let replies = run(conn, scripts, &pipe).await?;
    let mut outcome = Vec::with_capacity(batch.len());
    // Changes whose sender `change`'s rules allowed, to run again, and where they go.
    let mut again = Vec::new();
    for (i, (p, reply)) in batch.iter_mut().zip(replies).enumerate() {
        match p {
            Pending::Say(p) => outcome.extend(said(p, reply, archive).await?),
            Pending::Change(c) => match c.answer(reply)? {
                Answer::Done(o) => outcome.push(*o),
                Answer::Nothing => {}
                Answer::Again => {
                    again.push((i, outcome.len()));
                }
            },
        }
    }
    if again.is_empty() {
        return Ok(outcome);
    }
    let mut pipe = redis::pipe();
    for (i, _) in &again {
        if let Pending::Change(c) = &batch[*i] {
            c.call(&mut pipe, &scripts.change);
        }
    }
    let replies = run(conn, scripts, &pipe).await?;
    // Put in their places from the last, so that the earlier places stay right.
    for ((i, at), reply) in again.into_iter().zip(replies).rev() {
        if let Pending::Change(c) = &mut batch[i]
            && let Answer::Done(o) = c.answer(reply)?
        {
            outcome.insert(at, *o);
        }
    }
    Ok(outcome)
}

/// What became of a `say`, from its script's reply.
async fn said(
    p: &PendingSay,
    reply: Value,
    archive: Option<&Archive>,
) -> Result<Option<Outcome>, StoreError> {
    let mut reply: Vec<Value> =
        redis::from_redis_value(reply).map_err(|e| StoreError::Decode(e.to_string()))?;
    let seen: Option<String> = if reply.len() > 2 {
        Some(redis::from_redis_value(reply.remove(2)).map_err(|e| StoreError::Decode(e.to_string()))?)
    } else {
        None
    };
    let (stored, json): (i64, String) =
        redis::from_redis_value(Value::Array(reply)).map_err(|e| StoreError::Decode(e.to_string()))?;
    if stored == 2 {
        let (sender, room, cid) = (p.sender.clone(), p.room.clone(), Some(p.cid.clone()));
        let id = p.reply_to.unwrap_or_default();
        return Ok(Some(Outcome::Refused { sender, room, id, cid, refusal: Refusal::NotFound }));
    }
    let msg = if json.is_empty() {
        // Stored once and no longer in the stream: the archive has it if it was trimmed;
        // else it is gone, and the retry is not stored again.
        match (archive, seen.as_deref().and_then(|s| s.split_once(' '))) {
            (Some(archive), Some((id, room))) => match id.parse() {
                Ok(id) => tiers::archived_message(archive, room, id).await?,
                Err(_) => None,
            },
            _ => None,
        }
    } else {
        Some(serde_json::from_str::<ChatMessage>(&json).map_err(|e| StoreError::Decode(e.to_string()))?)
    };
    Ok(match (stored, msg) {
        (1, Some(msg)) => Some(Outcome::Published(p.sender.clone(), msg)),
        (_, Some(msg)) => Some(Outcome::Existing(p.sender.clone(), msg)),
        (_, None) => p.message(0).map(|msg| Outcome::Failed(p.sender.clone(), msg)),
    })
}

/// A Redis call that gives up after [`WRITE_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(WRITE_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
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

    pub fn room(&self, room: &RoomName) -> Result<StoredRoom, StoreError> {
        let (key, seq) = (room_key(room.as_str()), seq_key(room.as_str()));
        let roles_key = roles_key(room.as_str());
        let (fields, stored, held): (HashMap<String, String>, bool, HashMap<String, String>) =
            self.with(|c| redis::pipe().hgetall(&key).exists(&seq).hgetall(&roles_key).query(c))?;
        let mut roles = Roles::default();
        for (token, role) in held {
            if role == "owner" {
                roles.owner = Some(token.into());
            } else {
                roles.moderators.insert(token.into());
            }
        }
        let settings = RoomSettings {
            password: fields.get("password").map(|p| Arc::from(p.as_str())),
            max: fields.get("max").and_then(|m| m.parse().ok()),
        };
        Ok(StoredRoom { exists: stored || !fields.is_empty(), settings, roles })
    }

    /// The cluster's audit log: a list, trimmed to [`super::AUDIT_KEPT`] at each write.
    pub fn audit(&self, entry: &str) -> Result<(), StoreError> {
        let kept = super::AUDIT_KEPT as isize;
        self.with(|c| {
            redis::pipe().atomic().lpush(AUDIT_KEY, entry).ltrim(AUDIT_KEY, 0, kept - 1).query::<()>(c)
        })
    }

    pub fn audit_log(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| c.lrange(AUDIT_KEY, 0, super::AUDIT_KEPT as isize - 1))
    }

    pub fn set_owner(&self, room: &RoomName, token: &SenderKey) -> Result<(), StoreError> {
        let key = roles_key(room.as_str());
        self.with(|c| redis::pipe().atomic().del(&key).hset(&key, &**token, "owner").query::<()>(c))
    }

    pub fn set_moderator(&self, room: &RoomName, token: &SenderKey, on: bool) -> Result<(), StoreError> {
        let key = roles_key(room.as_str());
        // Never over the owner: the owner's field is left as it is.
        let script = redis::Script::new(
            "if redis.call('HGET', KEYS[1], ARGV[1]) == 'owner' then return 0 end
             if ARGV[2] == '1' then redis.call('HSET', KEYS[1], ARGV[1], 'moderator')
             else redis.call('HDEL', KEYS[1], ARGV[1]) end
             return 1",
        );
        self.with(|c| script.key(&key).arg(&**token).arg(if on { "1" } else { "0" }).invoke::<i64>(c))
            .map(drop)
    }

    pub fn create_room(&self, room: &RoomName, settings: &RoomSettings) -> Result<bool, StoreError> {
        let script = redis::Script::new(CREATE_ROOM);
        let mut fields: Vec<String> = Vec::new();
        if let Some(password) = &settings.password {
            fields.extend(["password".to_owned(), password.to_string()]);
        }
        if let Some(max) = settings.max {
            fields.extend(["max".to_owned(), max.to_string()]);
        }
        // A room's settings are created only when it has some (a password or a limit).
        if fields.is_empty() {
            fields.extend(["public".to_owned(), "1".to_owned()]);
        }
        let (key, seq) = (room_key(room.as_str()), seq_key(room.as_str()));
        let created: i64 = self.with(|c| script.key(&key).key(&seq).arg(&fields).invoke(c))?;
        Ok(created == 1)
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

    pub fn message(&self, room: &RoomName, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        let at = format!("{id}-0");
        let mut kept: Vec<ChatMessage> =
            self.range(room, &at, &at, 1, false)?.into_iter().filter_map(Entry::message).collect();
        if kept.is_empty() {
            kept.extend(self.archived_one(room, id)?);
        }
        Ok(merge(kept, vec![id], |ids| self.current(room, ids), false, 1)?.pop())
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

/// Bans (`super::bans`): one key each, `chat:ban:<what>`, holding its end and expiring
/// then (`PXAT`), so Redis forgets an ended ban by itself.
impl RedisReader {
    pub fn ban(&self, key: &str, until: u64) -> Result<(), StoreError> {
        // Only ever to a later end: two nodes keeping the same ban agree.
        let script = redis::Script::new(
            "local now = tonumber(redis.call('GET', KEYS[1]) or '0')
             if tonumber(ARGV[1]) > now then redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1]) end
             return 1",
        );
        let key = format!("{BAN_PREFIX}{key}");
        self.with(|c| script.key(&key).arg(until).invoke::<i64>(c)).map(drop)
    }

    pub fn bans(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        self.with(|c| {
            let keys: Vec<String> =
                c.scan_match::<_, String>(format!("{BAN_PREFIX}*"))?.collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(500) {
                let ends: Vec<Option<u64>> = redis::cmd("MGET").arg(chunk).query(c)?;
                for (key, end) in chunk.iter().zip(ends) {
                    if let (Some(what), Some(end)) = (key.strip_prefix(BAN_PREFIX), end)
                        && end > now
                    {
                        out.push((what.to_owned(), end));
                    }
                }
            }
            Ok(out)
        })
    }
}

/// The prefix of a ban's key.
const BAN_PREFIX: &str = "chat:ban:";

#[cfg(test)]
mod tests;
