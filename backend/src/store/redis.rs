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
//! Reads ([`RedisReader`]) use plain blocking connections with short timeouts, as the
//! SQLite reader blocks on its file: they run in a session's task, never under the lock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ChatMessage, RoomName};
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::{Client, Commands, Value};
use tokio::sync::mpsc;

use super::postgres::Archive;
use super::{
    Appended, NewMessage, Outcome, Page, Roles, RoomSettings, SenderKey, StoreError, StoredRoom, Written,
};

/// Messages sent to Redis in one pipeline at most.
const BATCH_MAX: usize = 256;
/// Messages waiting for Redis at most; past that `say` is refused as busy (the client
/// retries with the same `cid`), so an unreachable Redis cannot grow memory without bound.
const QUEUE_MAX: usize = 16 * 1024;
/// How long a sender's `cid`s are remembered after its last message (a week): retries come
/// from clients' outboxes within minutes, and a sender that stops talking is forgotten.
const CID_TTL_SECS: u64 = 7 * 24 * 3600;
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

/// The set of rooms whose newest messages may not be archived yet (with `--database`):
/// each `say` adds its room, and the archiver takes rooms out as it copies them.
pub const UNARCHIVED_KEY: &str = "chat:unarchived";

/// The key of the lowest id a room's stream may still hold: every message below it was
/// archived and trimmed from the stream (absent: nothing was trimmed).
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

/// The channel a room's messages are published on.
pub fn channel(room: &str) -> String {
    format!("chat:msg:{room}")
}

/// The pattern every node subscribes to: every room's channel.
pub const CHANNELS: &str = "chat:msg:*";

/// One `say`, atomically. KEYS: the room's counter, its stream, the sender's `cid`s, the
/// room's channel. ARGV: the `cid`; the message's JSON before and after its id; the `cid`
/// record's lifetime in seconds; the room; the prefix of stream keys; the set of rooms
/// with messages to archive (empty without an archive, see `store::archive`). Returns
/// `{1, message, ''}` when stored and published, `{0, message, ''}` when the sender used
/// this `cid` before (the stored message), and `{0, '', '<id> <room>'}` when that message
/// is no longer in the stream (trimmed after it was archived, or gone).
///
/// The stream of an earlier message is read by name, not through KEYS: a single Redis
/// (not Redis Cluster) allows that, and the room of an old `cid` cannot be known before.
const SAY: &str = r"
local seen = redis.call('HGET', KEYS[3], ARGV[1])
if seen then
  local sep = string.find(seen, ' ', 1, true)
  local id = string.sub(seen, 1, sep - 1)
  local entries = redis.call('XRANGE', ARGV[6] .. string.sub(seen, sep + 1), id .. '-0', id .. '-0')
  if #entries == 0 then return {0, '', seen} end
  return {0, entries[1][2][2], ''}
end
local id = redis.call('INCR', KEYS[1])
local msg = ARGV[2] .. id .. ARGV[3]
redis.call('XADD', KEYS[2], id .. '-0', 'm', msg)
redis.call('HSET', KEYS[3], ARGV[1], id .. ' ' .. ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[4])
if ARGV[7] ~= '' then redis.call('SADD', ARGV[7], ARGV[5]) end
redis.call('PUBLISH', KEYS[4], msg)
return {1, msg, ''}
";

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
    pub(super) archive: Option<(Archive, tokio::runtime::Handle)>,
}

impl std::fmt::Debug for RedisReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReader").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Pending {
    sender: SenderKey,
    room: RoomName,
    cid: String,
    /// The message's JSON up to its id, and from after it on: the script puts the id in.
    head: String,
    tail: String,
}

impl Pending {
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
        let (head, tail) = split_json(&ChatMessage {
            room: m.room.to_string(),
            id: 0,
            nick: m.nick.to_string(),
            text: m.text.into(),
            ts: m.ts,
            cid: Some(key.1.clone()),
            image: m.image.map(Into::into),
        });
        let pending =
            Pending { sender: m.sender.clone(), room: m.room.clone(), cid: key.1.clone(), head, tail };
        match self.writer.try_send(pending) {
            Ok(()) => {
                self.in_flight.insert(key);
                Appended::Queued
            }
            Err(_) => Appended::Busy,
        }
    }

    pub fn written(&mut self, outcome: &Outcome) {
        let (Outcome::Stored(sender, msg)
        | Outcome::Published(sender, msg)
        | Outcome::Existing(sender, msg)
        | Outcome::Failed(sender, msg)) = outcome;
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

/// The writer task: sends whatever is queued (up to [`BATCH_MAX`] messages) as one
/// pipeline of scripts, in order, and hands back what became of each. A batch that cannot
/// reach Redis is tried again a few times, then handed back as failed: nothing unstored
/// is acknowledged, and nobody waits forever. Trying again is safe: a message the script
/// already stored comes back as the sender's old `cid`.
async fn write_loop(
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<Pending>,
    done: mpsc::Sender<Written>,
    archive: Option<Archive>,
) {
    let script = redis::Script::new(SAY);
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while rx.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match write_batch(&mut conn, &script, &batch, archive.as_ref()).await {
                Ok(outcome) => break outcome,
                Err(e) if tries < WRITE_TRIES => {
                    tracing::warn!(error = %e, messages = batch.len(), "storing messages in Redis failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, messages = batch.len(), "storing messages in Redis failed; their senders are told");
                    break batch
                        .iter()
                        .filter_map(|p| Some(Outcome::Failed(p.sender.clone(), p.message(0)?)))
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

async fn write_batch(
    conn: &mut ConnectionManager,
    script: &redis::Script,
    batch: &[Pending],
    archive: Option<&Archive>,
) -> Result<Written, StoreError> {
    let mut pipe = redis::pipe();
    for p in batch {
        pipe.cmd("EVALSHA")
            .arg(script.get_hash())
            .arg(4)
            .arg(seq_key(p.room.as_str()))
            .arg(log_key(p.room.as_str()))
            .arg(cids_key(&p.sender))
            .arg(channel(p.room.as_str()))
            .arg(&p.cid)
            .arg(&p.head)
            .arg(&p.tail)
            .arg(CID_TTL_SECS)
            .arg(p.room.as_str())
            .arg("chat:log:")
            .arg(if archive.is_some() { UNARCHIVED_KEY } else { "" });
    }
    let replies: Vec<Value> = match timed(pipe.query_async(conn)).await {
        // Redis forgets scripts when it restarts: load it and send the batch again. No
        // script of the batch ran, since every one of them failed the same way.
        Err(StoreError::Redis(e))
            if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
        {
            timed(script.load_async(conn)).await?;
            timed(pipe.query_async(conn)).await?
        }
        other => other?,
    };
    let mut outcome = Vec::with_capacity(batch.len());
    for (p, reply) in batch.iter().zip(replies) {
        let (stored, json, seen): (i64, String, String) =
            redis::from_redis_value(reply).map_err(|e| StoreError::Decode(e.to_string()))?;
        let msg = if json.is_empty() {
            // Stored once and no longer in the stream: the archive has it if it was
            // trimmed; else it is gone, and the retry is not stored again.
            match (archive, seen.split_once(' ')) {
                (Some(archive), Some((id, room))) => match id.parse() {
                    Ok(id) => archive.message(room, id).await?,
                    Err(_) => None,
                },
                _ => None,
            }
        } else {
            Some(serde_json::from_str::<ChatMessage>(&json).map_err(|e| StoreError::Decode(e.to_string()))?)
        };
        outcome.push(match (stored, msg) {
            (1, Some(msg)) => Outcome::Published(p.sender.clone(), msg),
            (_, Some(msg)) => Outcome::Existing(p.sender.clone(), msg),
            (_, None) => match p.message(0) {
                Some(msg) => Outcome::Failed(p.sender.clone(), msg),
                None => continue,
            },
        });
    }
    Ok(outcome)
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

    fn range(
        &self,
        room: &RoomName,
        start: String,
        end: String,
        count: usize,
        rev: bool,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let key = log_key(room.as_str());
        let reply: StreamRangeReply = self.with(|c| {
            if rev {
                c.xrevrange_count(&key, &end, &start, count)
            } else {
                c.xrange_count(&key, &start, &end, count)
            }
        })?;
        reply.ids.iter().map(decode_entry).collect()
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

    /// The room's floor (see [`floor_key`]; 0 without an archive) and a range of its
    /// stream, read together, so that what is below the floor is in the archive.
    fn floor_range(
        &self,
        room: &RoomName,
        start: String,
        end: String,
        count: usize,
        rev: bool,
    ) -> Result<(u64, Vec<ChatMessage>), StoreError> {
        if self.archive.is_none() {
            return Ok((0, self.range(room, start, end, count, rev)?));
        }
        let (key, floor) = (log_key(room.as_str()), floor_key(room.as_str()));
        let (floor, reply): (Option<u64>, StreamRangeReply) = self.with(|c| {
            let mut pipe = redis::pipe();
            pipe.atomic().get(&floor);
            if rev {
                pipe.xrevrange_count(&key, &end, &start, count);
            } else {
                pipe.xrange_count(&key, &start, &end, count);
            }
            pipe.query(c)
        })?;
        let messages = reply.ids.iter().map(decode_entry).collect::<Result<_, _>>()?;
        Ok((floor.unwrap_or(0), messages))
    }

    /// Waits for a call to the archive (a reader blocks, as it does on Redis).
    fn archived<'a, T, F: Future<Output = Result<T, StoreError>>>(
        &'a self,
        call: impl FnOnce(&'a Archive) -> F,
    ) -> Option<Result<T, StoreError>> {
        let (archive, rt) = self.archive.as_ref()?;
        Some(rt.block_on(call(archive)))
    }

    pub fn message(&self, room: &RoomName, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        let at = format!("{id}-0");
        match self.range(room, at.clone(), at, 1, false)?.pop() {
            Some(found) => Ok(Some(found)),
            None => self.archived(|a| a.message(room.as_str(), id)).unwrap_or(Ok(None)),
        }
    }

    /// Messages after `after`: from the archive those below the room's floor, then from
    /// the stream.
    pub fn after(&self, room: &RoomName, after: u64, max: usize) -> Result<Page, StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(Page { messages: Vec::new(), complete: true });
        };
        let (floor, mut messages) =
            self.floor_range(room, format!("{from}-0"), "+".into(), max + 1, false)?;
        if from < floor
            && let Some(older) = self.archived(|a| a.after(room, after, floor, max + 1))
        {
            let mut older = older?;
            older.append(&mut messages);
            messages = older;
        }
        let complete = messages.len() <= max;
        messages.truncate(max);
        Ok(Page { messages, complete })
    }

    /// Messages before `before`: the stream's, then the archive's below the room's floor
    /// when the stream had too few.
    pub fn before(&self, room: &RoomName, before: u64, limit: usize) -> Result<Page, StoreError> {
        if before <= 1 {
            return Ok(Page { messages: Vec::new(), complete: true });
        }
        let end = if before == u64::MAX { "+".to_owned() } else { format!("{}-0", before - 1) };
        let (floor, mut messages) = self.floor_range(room, "-".into(), end, limit + 1, true)?;
        if messages.len() <= limit
            && floor > 1
            && let Some(older) =
                self.archived(|a| a.before(room, floor.min(before), limit + 1 - messages.len()))
        {
            messages.extend(older?);
        }
        let complete = messages.len() <= limit;
        messages.truncate(limit);
        messages.reverse();
        Ok(Page { messages, complete })
    }
}

/// A stream entry's message (its JSON in the field `m`).
pub fn decode_entry(entry: &redis::streams::StreamId) -> Result<ChatMessage, StoreError> {
    let json: String =
        entry.get("m").ok_or_else(|| StoreError::Decode(format!("entry {} has no message", entry.id)))?;
    serde_json::from_str(&json).map_err(|e| StoreError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_splits_around_the_id_whatever_the_room_is_called() {
        for room in ["r", "x\",\"id\":0", "a,\"id\":0"] {
            let msg = ChatMessage {
                room: room.into(),
                id: 0,
                nick: "n".into(),
                text: ",\"id\":0".into(),
                image: None,
                ts: 5,
                cid: Some("c".into()),
            };
            let (head, tail) = split_json(&msg);
            let back: ChatMessage = serde_json::from_str(&format!("{head}42{tail}")).unwrap();
            assert_eq!(back, ChatMessage { id: 42, ..msg });
        }
    }
}
