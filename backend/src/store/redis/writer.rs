//! The writing side of the cluster's store: [`RedisStore`] queues each `say` and change
//! (memory only, under the hub's lock) for one task that sends what is queued as a
//! pipeline of scripts ([`SAY`], `changes::CHANGE`) and hands back what became of each.
//! Nothing here reads for a session; that is the reader's.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use common::{ChatMessage, RoomName};
use redis::aio::ConnectionManager;
use redis::{Client, Value};
use tokio::sync::mpsc;

use super::changes::{Answer, CHANGE, HELPERS, PendingChange};
use super::{RedisReader, UNARCHIVED_KEY, channel, cur_key, from_key, log_key, seq_key, tiers, timed};
use crate::change::{ChangeRequest, Refusal};
use crate::store::postgres::Archive;
use crate::store::{Appended, Changing, NewMessage, Outcome, SenderKey, StoreError, Written};

/// The writing side: the queue to the writer task and the `cid`s in flight. Memory only:
/// the hub calls it under its lock.
#[derive(Debug)]
pub struct RedisStore {
    writer: mpsc::Sender<Pending>,
    /// `(sender, cid)` of messages handed to the writer and not yet back: a retry that
    /// comes meanwhile is neither stored twice nor refused.
    in_flight: HashSet<(SenderKey, String)>,
}

#[derive(Debug)]
enum Pending {
    Say(PendingSay),
    Change(PendingChange),
}

/// Messages sent to Redis in one pipeline at most.
const BATCH_MAX: usize = 256;
/// Messages waiting for Redis at most; past that `say` is refused as busy (the client
/// retries with the same `cid`), so an unreachable Redis cannot grow memory without bound.
const QUEUE_MAX: usize = 16 * 1024;
/// How long a sender's `cid`s are remembered after its last message (a week): retries come
/// from clients' outboxes within minutes, and a sender that stops talking is forgotten.
const CID_TTL_SECS: u64 = 7 * 24 * 3600;
/// With an archive, a sender's `cid`s are kept in two hashes of at most [`CIDS_KEPT`]
/// each: `say` records into the newer one, which becomes the older one once full (the
/// older one dropped), and looks in both, and in the sender's hash of before the archive.
/// Redis then holds at most `2 * CIDS_KEPT` `cid`s per sender however long it keeps
/// talking (a single hash refreshed by each message would keep every `cid` it ever
/// used), and a retry is recognised while its sender has said fewer than [`CIDS_KEPT`]
/// messages since (the app's outbox holds at most 100 unacknowledged ones), for
/// [`CIDS_TTL_SECS`] after the sender's last message.
const CIDS_KEPT: usize = 128;
/// How long an archive's `cid` hashes live after their sender's last message.
const CIDS_TTL_SECS: u64 = 2 * 24 * 3600;
/// A batch is tried this many times, [`RETRY_PAUSE`] apart, before its senders are told it
/// failed: a Redis that restarts is back within a second or two.
const WRITE_TRIES: u32 = 4;
const RETRY_PAUSE: Duration = Duration::from_millis(300);

fn cids_key(sender: &str) -> String {
    format!("chat:cids:{sender}")
}

/// The keys of a sender's newer and older `cid`s, with an archive (see [`CIDS_KEPT`]).
fn cids_keys(sender: &str) -> (String, String) {
    (format!("chat:cids:{sender}:new"), format!("chat:cids:{sender}:old"))
}

/// One `say`, atomically. KEYS: the room's counter, its stream, the sender's `cid`s, the
/// room's channel, its senders (`chat:from`), its changed messages (`chat:cur`). ARGV: the
/// `cid`; the message's JSON before and after its id; the `cid` record's lifetime in
/// seconds; the room; the prefix of stream keys; the sender; the id it answers (or ``);
/// the prefix of the rooms' sets of replies; its picture (or ``), counted in `chat:img`;
/// with an archive, the sender's older `cid`s and those of before the archive, looked in
/// too when the `cid` is not in KEYS[3], and how many KEYS[3] holds before it becomes the
/// older (see [`CIDS_KEPT`]; `` without); ARGV[14] `1` when the room's counter must exist
/// already (with an archive, always: see [`Counters`]), and ARGV[15] the pipeline's halt
/// key. Returns `{3, ''}`, having done nothing, when the counter does not exist or an
/// earlier `say` of the same pipeline found it missing (the halt key set, for a minute:
/// another node may set the counter again meanwhile, and a later `say` of the pipeline
/// then numbered before the refused one would be shown before a message sent earlier),
/// `{1, message}` when stored and
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
if ARGV[14] == '1' then
  if redis.call('EXISTS', ARGV[15]) == 1 then return {3, ''} end
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SET', ARGV[15], '1', 'PX', 60000)
    return {3, ''}
  end
end
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
if ARGV[11] ~= '' and redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[13]) then
  redis.call('RENAME', KEYS[3], ARGV[11])
  redis.call('EXPIRE', ARGV[11], ARGV[4])
else
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
redis.call('PUBLISH', KEYS[4], msg)
return {1, msg}
"#;

#[derive(Debug, Clone)]
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
    /// Adds its script to `pipe` (see [`SAY`]): `archived` with an archive, `guard` when
    /// the room's counter must exist, `halt` the pipeline's halt key.
    fn call(
        &self,
        pipe: &mut redis::Pipeline,
        script: &redis::Script,
        archived: bool,
        guard: bool,
        halt: &str,
    ) {
        let p = self;
        let room = p.room.as_str();
        let (cids, ttl, older, before) = if archived {
            let (newer, older) = cids_keys(&p.sender);
            (newer, CIDS_TTL_SECS, older, cids_key(&p.sender))
        } else {
            (cids_key(&p.sender), CID_TTL_SECS, String::new(), String::new())
        };
        pipe.cmd("EVALSHA")
            .arg(script.get_hash())
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
            .arg(older)
            .arg(before)
            .arg(CIDS_KEPT)
            .arg(if guard { "1" } else { "" })
            .arg(halt);
    }

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
pub(super) fn split_json(msg: &ChatMessage) -> (String, String) {
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
    let mut counters = Counters::default();
    while rx.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            let archived = archive.as_ref().map(|a| (a, &mut counters));
            match write_batch(&mut conn, &scripts, &mut batch, archived).await {
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

/// Rooms at most in [`Counters`]; past it the set starts again empty (a room forgotten
/// only costs its next batch the check).
const COUNTERS_KNOWN_MAX: usize = 4096;

/// With an archive, the rooms whose counter (`chat:seq:<room>`) this writer has seen in
/// Redis, or set from PostgreSQL (`tiers::restore`). A batch checks the counters of the
/// rooms it writes to before anything else, so that a Redis that lost them (flushed, or
/// restarted without its files) numbers on from what PostgreSQL has, not from 1: one
/// round trip more per batch, and the batches of a busy room hold one message or a few.
/// The rooms here skip that round trip. Every `say` (but the first ones of a room new to
/// Redis and PostgreSQL) is sent with the check in the script itself, which refuses one
/// whose counter is gone (`{3, ''}`), and every later `say` of the same pipeline (so that
/// none is numbered before one sent earlier); those are sent again after the check. A
/// Redis emptied between the check and the scripts therefore never numbers a message
/// from 1 below what PostgreSQL has. Changes number from the same counter without such a
/// check in their script: a change's message is gone with a counter that is (both were
/// emptied together, and `tiers::rehydrate` runs after the check), so its script refuses
/// it as `not_found` before taking a number.
#[derive(Debug, Default)]
struct Counters {
    known: HashSet<String>,
}

impl Counters {
    fn knows(&self, room: &str) -> bool {
        self.known.contains(room)
    }

    fn learn(&mut self, rooms: &[&str]) {
        if self.known.len() + rooms.len() > COUNTERS_KNOWN_MAX {
            self.known.clear();
        }
        self.known.extend(rooms.iter().map(|r| (*r).to_owned()));
    }

    fn forget(&mut self, room: &str) {
        self.known.remove(room);
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

/// Writes a batch; with an archive, the `say`s its scripts refused for a counter that
/// Redis lost since this writer saw it are written again once it is set (their rooms no
/// longer known, they cannot be refused twice), their outcomes after the others'.
async fn write_batch(
    conn: &mut ConnectionManager,
    scripts: &Scripts,
    batch: &mut [Pending],
    archive: Option<(&Archive, &mut Counters)>,
) -> Result<Written, StoreError> {
    let Some((archive, counters)) = archive else {
        return write_once(conn, scripts, batch, None).await.map(|(o, _)| o);
    };
    let (mut outcome, mut refused) =
        write_once(conn, scripts, batch, Some((archive, &mut *counters))).await?;
    let mut again: Vec<Pending> = Vec::new();
    // Redis emptied again while the refused ones were written again: they are refused
    // again, and after a few rounds the batch fails as a Redis down would.
    for _ in 0..WRITE_TRIES {
        if refused.is_empty() {
            return Ok(outcome);
        }
        let from = if again.is_empty() { &*batch } else { &again };
        let next: Vec<Pending> = refused
            .into_iter()
            .filter_map(|i| match &from[i] {
                Pending::Say(p) => Some(Pending::Say(p.clone())),
                Pending::Change(_) => None,
            })
            .collect();
        again = next;
        for p in &again {
            if let Pending::Say(p) = p {
                counters.forget(p.room.as_str());
            }
        }
        tracing::warn!(messages = again.len(), "Redis lost rooms' counters; set again from PostgreSQL");
        let (more, still) = write_once(conn, scripts, &mut again, Some((archive, &mut *counters))).await?;
        outcome.extend(more);
        refused = still;
    }
    if refused.is_empty() {
        return Ok(outcome);
    }
    Err(StoreError::Decode("Redis kept losing the rooms' counters".to_owned()))
}

/// One pipeline of a batch (after the checks that an archive needs): the outcomes, and
/// the places of the `say`s refused for a lost counter (see [`Counters`]).
async fn write_once(
    conn: &mut ConnectionManager,
    scripts: &Scripts,
    batch: &mut [Pending],
    archive: Option<(&Archive, &mut Counters)>,
) -> Result<(Written, Vec<usize>), StoreError> {
    // The rooms whose `say`s carry no check of their counter (see [`Counters`]).
    let mut unguarded: Vec<&str> = Vec::new();
    let archive = match archive {
        None => None,
        Some((archive, counters)) => {
            let changed: HashSet<&str> = batch
                .iter()
                .filter_map(|p| match p {
                    Pending::Change(c) => Some(c.change.room.as_str()),
                    Pending::Say(_) => None,
                })
                .collect();
            let mut rooms: Vec<&str> = Vec::new();
            for p in batch.iter() {
                if let Pending::Say(p) = p {
                    let room = p.room.as_str();
                    if !counters.knows(room) || changed.contains(room) {
                        rooms.push(room);
                    }
                }
            }
            rooms.extend(changed.iter().copied());
            rooms.sort_unstable();
            rooms.dedup();
            if !rooms.is_empty() {
                unguarded = tiers::restore(conn, archive, &rooms).await?;
                counters.learn(&rooms);
            }
            Some(archive)
        }
    };
    if let Some(archive) = archive {
        let concerned = batch.iter().filter_map(|p| match p {
            Pending::Say(p) => Some((p.room.as_str(), p.reply_to?)),
            Pending::Change(c) => Some((c.change.room.as_str(), c.change.id)),
        });
        tiers::rehydrate(conn, archive, concerned).await?;
    }
    #[cfg(test)]
    before_scripts(batch);
    // Set by the first `say` refused for a lost counter: every later one of this
    // pipeline is refused too (see [`SAY`]).
    let halt = format!("chat:halt:{}", halt_nonce());
    let mut pipe = redis::pipe();
    for p in batch.iter() {
        match p {
            Pending::Say(p) => {
                let guard = archive.is_some() && !unguarded.contains(&p.room.as_str());
                p.call(&mut pipe, &scripts.say, archive.is_some(), guard, &halt);
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
    let mut refused = Vec::new();
    // Changes whose sender `change`'s rules allowed, to run again, and where they go.
    let mut again = Vec::new();
    for (i, (p, reply)) in batch.iter_mut().zip(replies).enumerate() {
        match p {
            Pending::Say(_) if lost_counter(&reply) => refused.push(i),
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
        return Ok((outcome, refused));
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
    Ok((outcome, refused))
}

/// For tests: what to do (once) when a batch that writes to the room is checked and its
/// scripts are about to run, the moment another client of Redis may empty it.
#[cfg(test)]
pub(crate) static BEFORE_SCRIPTS: Mutex<Option<(String, BeforeScripts)>> = Mutex::new(None);

/// What [`BEFORE_SCRIPTS`] runs.
#[cfg(test)]
pub(crate) type BeforeScripts = Box<dyn FnOnce() + Send>;

#[cfg(test)]
fn before_scripts(batch: &[Pending]) {
    let mut hook = BEFORE_SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
    let concerned = hook.as_ref().is_some_and(|(room, _)| {
        batch.iter().any(|p| matches!(p, Pending::Say(p) if p.room.as_str() == room))
    });
    if concerned && let Some((_, run)) = hook.take() {
        run();
    }
}

/// For tests: one `say` of `room` as a pipeline of a writer with an archive sends it
/// (its counter checked, `halt` the pipeline's halt key), alone: what its script answered
/// (`1` stored, `3` refused for a lost counter).
#[cfg(test)]
pub(crate) async fn say_alone(conn: &mut ConnectionManager, room: &str, cid: &str, halt: &str) -> i64 {
    let script = redis::Script::new(&format!("{HELPERS}{SAY}"));
    script.load_async(conn).await.expect("the script loads");
    let (head, tail) = split_json(&ChatMessage {
        room: room.to_owned(),
        nick: "n".to_owned(),
        text: "a message".to_owned(),
        cid: Some(cid.to_owned()),
        ..ChatMessage::default()
    });
    let p = PendingSay {
        sender: SenderKey::from("s"),
        room: RoomName::parse(room).expect("a room's name"),
        cid: cid.to_owned(),
        head,
        tail,
        reply_to: None,
        image: None,
    };
    let mut pipe = redis::pipe();
    p.call(&mut pipe, &script, true, true, halt);
    let (reply,): (Vec<Value>,) = pipe.query_async(conn).await.expect("Redis answers");
    redis::from_redis_value(reply[0].clone()).expect("a status")
}

/// A name no other pipeline of any node uses for its halt key.
fn halt_nonce() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a `say`'s script refused it because the room's counter is gone (`{3, ''}`).
fn lost_counter(reply: &Value) -> bool {
    matches!(reply, Value::Array(fields) if matches!(fields.first(), Some(Value::Int(3))))
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
