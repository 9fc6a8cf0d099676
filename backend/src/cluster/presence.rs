//! The cluster's shared state in Redis (with `--redis`): who is connected on which node,
//! their nicks (unique across the cluster), which rooms they are in, and which nodes are
//! alive. Every change is one Lua script, so no two nodes can interleave halfway (two
//! claims of one nick: one wins), and every script publishes what it changed on one
//! channel (`chat:p:ev`) with a version number from one counter.
//!
//! Each node keeps a replica of the other nodes' members in its hub (the hub's
//! `replica`), fed by that channel: member lists, pages, counts and the directory stay
//! local reads, and one change crosses from Redis to each node once. This task turns each
//! published change into a [`ClusterEvent`] for the hub. A version more than one past the
//! last one applied (a lost push) or a reconnect makes the node read the whole state
//! again ([`SNAPSHOT`], atomic, with its version) and hand the hub all of it
//! ([`ClusterEvent::Snapshot`]), which applies the difference.
//!
//! A node's own changes are applied to its hub at once and sent here as [`Op`]s, in
//! order, by one task ([`Presence::run`]) that pipelines what is queued. Only a nick
//! claim and a connection's registration answer back (`nick_taken`, or the nick the
//! cluster gave a resumed client), as events too. This task keeps the node's epoch: a
//! start-over bumps it and tells the hub, so that changes made before are dropped.
//!
//! Node liveness: every node refreshes `chat:p:alive:<node>` (expiring after
//! [`ALIVE_FOR`]) each [`BEAT`]. Every node also reaps: a node in `chat:p:nodes` whose key
//! expired is removed by [`REAP`], one atomic script that claims it (only one caller finds
//! it still listed), takes its members out of every room (publishing their leaves), frees
//! their nicks and keeps each one for its resume token. A node that finds it was reaped
//! (Redis unreachable from it for longer than [`ALIVE_FOR`]: a partition) closes its
//! sockets so that its clients resume elsewhere, and registers again under a new id.
//!
//! Keys (all `chat:p:*`): `nodes` (set of node ids), `alive:<node>`, `node:<node>` (set of
//! its members), `who` (hash: member to `key\tnick`), `tok` (hash: member to resume
//! token), `nicks` (hash: lower-cased nick to member), `rooms:<member>` (set),
//! `sess:<token>` (`key\tnick`, the nick a resumed client gets back, ten minutes after
//! its last use), `ver` (the change counter). A member is `<node>/<connection>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::events::{ClusterEvent, Op, Snapshot};
use crate::hub::Hub;

/// The channel every change is published on.
pub const CHANNEL: &str = "chat:p:ev";
/// How often a node refreshes its heartbeat and looks for dead nodes.
const BEAT: Duration = Duration::from_secs(1);
/// A node whose heartbeat is older than this is dead.
const ALIVE_FOR: Duration = Duration::from_secs(5);
/// Changes of this node waiting for Redis at most. Past that the node cannot keep the
/// cluster's view of it true: it starts over (closes its sockets, registers anew).
pub const OPS_MAX: usize = 16 * 1024;
/// Changes sent to Redis in one pipeline at most.
const BATCH_MAX: usize = 256;
/// Pushed changes of other nodes waiting for this node at most; past that, the node
/// reads the whole state again instead.
pub const FEED_MAX: usize = 64 * 1024;
/// How long a resumed client's nick is kept for it after its connection ends.
const SESSION_SECS: u64 = 600;
/// How long one pipeline may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Helpers every script shares.
const LIB: &str = r"
local P = 'chat:p:'
local function emit(ev)
  ev.v = redis.call('INCR', P .. 'ver')
  redis.call('PUBLISH', P .. 'ev', cjson.encode(ev))
end
local function nick_of(val)
  local tab = string.find(val, '\t', 1, true)
  return string.sub(val, 1, tab - 1), string.sub(val, tab + 1)
end
local function drop(m)
  local cur = redis.call('HGET', P .. 'who', m)
  if not cur then return end
  local key, nick = nick_of(cur)
  for _, r in ipairs(redis.call('SMEMBERS', P .. 'rooms:' .. m)) do
    emit({e = 'leave', m = m, r = r, n = nick})
  end
  redis.call('DEL', P .. 'rooms:' .. m)
  if redis.call('HGET', P .. 'nicks', key) == m then redis.call('HDEL', P .. 'nicks', key) end
  redis.call('HDEL', P .. 'who', m)
  local tok = redis.call('HGET', P .. 'tok', m)
  redis.call('HDEL', P .. 'tok', m)
  if tok then redis.call('SET', P .. 'sess:' .. tok, cur, 'EX', ARGV[#ARGV]) end
  local node = string.sub(m, 1, string.find(m, '/', 1, true) - 1)
  redis.call('SREM', P .. 'node:' .. node, m)
  emit({e = 'gone', m = m})
end
";

/// ARGV: node, connection, token, then candidate nicks (`key\tnick`, best first), then
/// the session's lifetime. Registers the connection with the first candidate that is free
/// (or held by a member with the same token: the same client, resuming before its old
/// node was reaped), the nick its token had first of all. Returns the nick, or nil.
const CONNECT: &str = r"
local node, m, tok = ARGV[1], ARGV[1] .. '/' .. ARGV[2], ARGV[3]
if redis.call('SISMEMBER', P .. 'nodes', node) == 0 then return false end
local cands = {}
local sess = redis.call('GET', P .. 'sess:' .. tok)
if sess then table.insert(cands, sess) end
for i = 4, #ARGV - 1 do table.insert(cands, ARGV[i]) end
for _, c in ipairs(cands) do
  local key, nick = nick_of(c)
  local owner = redis.call('HGET', P .. 'nicks', key)
  if not owner or owner == m or redis.call('HGET', P .. 'tok', owner) == tok then
    redis.call('HSET', P .. 'nicks', key, m)
    redis.call('HSET', P .. 'who', m, c)
    redis.call('HSET', P .. 'tok', m, tok)
    redis.call('SADD', P .. 'node:' .. node, m)
    redis.call('SET', P .. 'sess:' .. tok, c, 'EX', ARGV[#ARGV])
    emit({e = 'conn', m = m, n = nick, t = tok})
    return c
  end
end
return false
";

/// ARGV: node, connection, `key\tnick`, the session's lifetime. 1 if the member has the
/// nick now, 0 if another member holds it.
const NICK: &str = r"
local m = ARGV[1] .. '/' .. ARGV[2]
local cur = redis.call('HGET', P .. 'who', m)
if not cur then return 1 end
local key, nick = nick_of(ARGV[3])
local owner = redis.call('HGET', P .. 'nicks', key)
if owner and owner ~= m then return 0 end
local old = nick_of(cur)
if old ~= key and redis.call('HGET', P .. 'nicks', old) == m then redis.call('HDEL', P .. 'nicks', old) end
redis.call('HSET', P .. 'nicks', key, m)
redis.call('HSET', P .. 'who', m, ARGV[3])
local tok = redis.call('HGET', P .. 'tok', m)
if tok then redis.call('SET', P .. 'sess:' .. tok, ARGV[3], 'EX', ARGV[#ARGV]) end
emit({e = 'nick', m = m, k = key, n = nick})
return 1
";

/// ARGV: node, connection, room, 1 to join or 0 to leave.
const MEMBERSHIP: &str = r"
local m = ARGV[1] .. '/' .. ARGV[2]
local cur = redis.call('HGET', P .. 'who', m)
if not cur then return 0 end
local _, nick = nick_of(cur)
if ARGV[4] == '1' then
  if redis.call('SADD', P .. 'rooms:' .. m, ARGV[3]) == 1 then emit({e = 'join', m = m, r = ARGV[3], n = nick}) end
elseif redis.call('SREM', P .. 'rooms:' .. m, ARGV[3]) == 1 then
  emit({e = 'leave', m = m, r = ARGV[3], n = nick})
end
return 1
";

/// ARGV: node, connection, the session's lifetime. The connection closed.
const DISCONNECT: &str = r"
drop(ARGV[1] .. '/' .. ARGV[2])
return 1
";

/// ARGV: node, 1 to reap it even if alive (this node's own old id), the session's
/// lifetime. Claims a dead node atomically: the first caller removes it from `nodes`
/// and drops its members; any other finds it gone. Returns the members dropped, or -1.
const REAP: &str = r"
local node = ARGV[1]
if redis.call('SISMEMBER', P .. 'nodes', node) == 0 then return -1 end
if ARGV[2] ~= '1' and redis.call('EXISTS', P .. 'alive:' .. node) == 1 then return -1 end
redis.call('SREM', P .. 'nodes', node)
local members = redis.call('SMEMBERS', P .. 'node:' .. node)
for _, m in ipairs(members) do drop(m) end
redis.call('DEL', P .. 'node:' .. node)
return #members
";

/// ARGV: node, milliseconds, 1 to register. The heartbeat: 0 if the node was reaped.
const BEAT_SCRIPT: &str = r"
local node = ARGV[1]
if ARGV[3] == '1' then redis.call('SADD', P .. 'nodes', node) end
if redis.call('SISMEMBER', P .. 'nodes', node) == 0 then return 0 end
redis.call('SET', P .. 'alive:' .. node, '1', 'PX', ARGV[2])
return 1
";

/// The whole state, atomically: the version, then per member its id, `key\tnick`, resume
/// token and rooms.
const SNAPSHOT: &str = r"
local out = {tonumber(redis.call('GET', P .. 'ver') or '0')}
local who = redis.call('HGETALL', P .. 'who')
for i = 1, #who, 2 do
  table.insert(out, who[i])
  table.insert(out, who[i + 1])
  table.insert(out, redis.call('HGET', P .. 'tok', who[i]) or '')
  table.insert(out, redis.call('SMEMBERS', P .. 'rooms:' .. who[i]))
end
return out
";

/// A published change as the scripts encode it.
#[derive(Debug, Deserialize)]
struct Event {
    v: u64,
    e: String,
    m: String,
    #[serde(default)]
    r: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    t: String,
}

/// What the fan-out hands over: a pushed change, as published. That some may have been
/// missed, it says with a flag (see [`Presence::start`]).
pub type Feed = String;

/// A node's presence in the cluster: its id and the task that keeps Redis true to it.
pub struct Presence {
    conn: ConnectionManager,
    node: String,
    epoch: u64,
    ops: mpsc::Receiver<Op>,
    feed: mpsc::Receiver<Feed>,
    /// Set by the hub when an op could not be queued, and by the fan-out when a pushed
    /// change could not: the node's view or the cluster's is no longer whole.
    overflow: Arc<AtomicBool>,
    missed: Arc<AtomicBool>,
    scripts: Scripts,
    /// The version of the last change applied.
    version: u64,
    /// Since when Redis has answered every heartbeat: a node reaps others only after a
    /// full [`ALIVE_FOR`] of that, so after Redis itself restarted (every heartbeat key
    /// expired meanwhile) the others get the time to beat again first.
    healthy_since: Option<Instant>,
}

struct Scripts {
    connect: redis::Script,
    nick: redis::Script,
    membership: redis::Script,
    disconnect: redis::Script,
    reap: redis::Script,
    beat: redis::Script,
    snapshot: redis::Script,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| redis::Script::new(&format!("{LIB}{body}"));
        Self {
            connect: s(CONNECT),
            nick: s(NICK),
            membership: s(MEMBERSHIP),
            disconnect: s(DISCONNECT),
            reap: s(REAP),
            beat: s(BEAT_SCRIPT),
            snapshot: s(SNAPSHOT),
        }
    }

    async fn load(&self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        for s in [
            &self.connect,
            &self.nick,
            &self.membership,
            &self.disconnect,
            &self.reap,
            &self.beat,
            &self.snapshot,
        ] {
            s.load_async(conn).await?;
        }
        Ok(())
    }
}

fn new_node_id() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    data_encoding::HEXLOWER.encode(&bytes)
}

impl Presence {
    /// Registers this node (a new id) and returns the task's state and the hub's ends of
    /// it (where its changes go, and the flag it raises when that queue is full). `feed`
    /// brings the published changes from the fan-out's subscription; `missed` is raised
    /// when some may have been lost.
    pub async fn start(
        mut conn: ConnectionManager,
        feed: mpsc::Receiver<Feed>,
        missed: Arc<AtomicBool>,
    ) -> redis::RedisResult<(Self, mpsc::Sender<Op>, Arc<AtomicBool>)> {
        let scripts = Scripts::new();
        scripts.load(&mut conn).await?;
        let node = new_node_id();
        let (tx, ops) = mpsc::channel(OPS_MAX);
        let overflow = Arc::new(AtomicBool::new(false));
        let mut presence = Self {
            conn,
            node,
            epoch: 0,
            ops,
            feed,
            overflow: overflow.clone(),
            missed,
            scripts,
            version: 0,
            // A node that starts may reap at once; only after a lost connection does it
            // give the others time to beat again first.
            healthy_since: Some(Instant::now().checked_sub(ALIVE_FOR + BEAT).unwrap_or_else(Instant::now)),
        };
        presence.beat(true).await?;
        tracing::info!(node = %presence.node, "registered in the cluster");
        Ok((presence, tx, overflow))
    }

    /// Keeps Redis true to this node and this node true to Redis until `shutdown`, then
    /// takes this node's members out (the others see them leave at once).
    pub async fn run(mut self, hub: Hub, shutdown: CancellationToken) {
        self.resync(&hub).await;
        let mut tick = tokio::time::interval(BEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: Vec<Op> = Vec::with_capacity(BATCH_MAX);
        let mut events = Vec::with_capacity(BATCH_MAX);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                n = self.ops.recv_many(&mut pending, BATCH_MAX), if pending.is_empty() => {
                    if n == 0 {
                        break;
                    }
                    self.flush(&hub, &mut pending).await;
                }
                n = self.feed.recv_many(&mut events, BATCH_MAX) => {
                    if n == 0 {
                        break;
                    }
                    self.apply(&hub, &mut events).await;
                }
                _ = tick.tick() => {
                    if !pending.is_empty() {
                        self.flush(&hub, &mut pending).await;
                    }
                    self.tick(&hub, &mut pending).await;
                }
            }
        }
        // Whatever the sessions still said on the way out, then this node's members go.
        while let Ok(op) = self.ops.try_recv() {
            pending.push(op);
        }
        self.flush(&hub, &mut pending).await;
        let _ = self.reap(&self.node.clone(), true).await;
    }

    /// Sends the queued ops as one pipeline; on failure they stay queued for the next
    /// tick (Redis away: the connection manager reconnects meanwhile).
    async fn flush(&mut self, hub: &Hub, pending: &mut Vec<Op>) {
        pending.retain(|op| op.epoch() == self.epoch);
        if pending.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for op in pending.iter() {
            self.add(&mut pipe, op);
        }
        let mut replies: redis::RedisResult<Vec<Value>> = timed(pipe.query_async(&mut self.conn)).await;
        if replies
            .as_ref()
            .is_err_and(|e| e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript))
        {
            // Redis restarted and forgot the scripts; none of this pipeline ran.
            if self.scripts.load(&mut self.conn).await.is_ok() {
                replies = timed(pipe.query_async(&mut self.conn)).await;
            }
        }
        let replies = match replies {
            Ok(replies) => replies,
            // Not Redis away but a script that failed: trying again would fail again and
            // hold up every change after it. Drop the batch (a resync mends the replicas).
            Err(e)
                if !(e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()) =>
            {
                tracing::error!(error = %e, changes = pending.len(), "Redis refused presence changes; dropped");
                let failed = pending.drain(..).filter_map(|op| match op {
                    Op::Nick { epoch, conn, .. } => Some(ClusterEvent::NickFailed { epoch, conn }),
                    _ => None,
                });
                hub.apply_cluster(failed.collect()).flush();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, changes = pending.len(), "telling Redis of presence failed; retrying");
                // A client waiting on a nick hears it now (it may ask again); the rest is
                // tried again.
                let mut failed = Vec::new();
                pending.retain(|op| match op {
                    Op::Nick { epoch, conn, .. } => {
                        failed.push(ClusterEvent::NickFailed { epoch: *epoch, conn: *conn });
                        false
                    }
                    _ => true,
                });
                hub.apply_cluster(failed).flush();
                return;
            }
        };
        let mut answers = Vec::new();
        for (op, reply) in pending.drain(..).zip(replies) {
            match op {
                Op::Connect { epoch, conn, .. } => {
                    let given: Option<String> = redis::from_redis_value(reply).unwrap_or(None);
                    match given.as_deref().and_then(|c| c.split_once('\t')) {
                        Some((_, nick)) => {
                            answers.push(ClusterEvent::Registered { epoch, conn, nick: nick.to_owned() })
                        }
                        None => tracing::warn!(conn, "no free nick for a connection in the cluster"),
                    }
                }
                Op::Nick { epoch, conn, nick: (_, nick) } => {
                    let ok: i64 = redis::from_redis_value(reply).unwrap_or(1);
                    answers.push(ClusterEvent::NickAnswer { epoch, conn, nick, ok: ok == 1 });
                }
                Op::Join { .. } | Op::Leave { .. } | Op::Disconnect { .. } | Op::Moderate { .. } => {}
            }
        }
        if !answers.is_empty() {
            hub.apply_cluster(answers).flush();
        }
    }

    fn add(&self, pipe: &mut redis::Pipeline, op: &Op) {
        let (script, mut args): (&redis::Script, Vec<String>) = match op {
            Op::Moderate { moderation, .. } => {
                // Serializing a plain enum of strings and numbers cannot fail.
                let json = serde_json::to_string(moderation).unwrap_or_default();
                pipe.cmd("PUBLISH").arg(super::moderation::CHANNEL).arg(json);
                return;
            }
            Op::Connect { conn, token, nicks, .. } => {
                let mut args = vec![self.node.clone(), conn.to_string(), token.clone()];
                args.extend(nicks.iter().map(|(key, nick)| format!("{key}\t{nick}")));
                (&self.scripts.connect, args)
            }
            Op::Nick { conn, nick: (key, nick), .. } => {
                (&self.scripts.nick, vec![self.node.clone(), conn.to_string(), format!("{key}\t{nick}")])
            }
            Op::Join { conn, room, .. } => (
                &self.scripts.membership,
                vec![self.node.clone(), conn.to_string(), room.clone(), "1".into()],
            ),
            Op::Leave { conn, room, .. } => (
                &self.scripts.membership,
                vec![self.node.clone(), conn.to_string(), room.clone(), "0".into()],
            ),
            Op::Disconnect { conn, .. } => {
                (&self.scripts.disconnect, vec![self.node.clone(), conn.to_string()])
            }
        };
        args.push(SESSION_SECS.to_string());
        pipe.cmd("EVALSHA").arg(script.get_hash()).arg(0).arg(args);
    }

    /// Applies pushed changes of other nodes, in order; reads everything again when one
    /// was missed.
    async fn apply(&mut self, hub: &Hub, feed: &mut Vec<Feed>) {
        let mut changes = Vec::with_capacity(feed.len());
        let mut gap = false;
        for json in feed.drain(..) {
            let ev: Event = match serde_json::from_str(&json) {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::error!(error = %e, "a presence change cannot be read; reading the whole state");
                    gap = true;
                    continue;
                }
            };
            if ev.v <= self.version {
                continue; // Already in the snapshot.
            }
            if ev.v > self.version + 1 {
                gap = true;
            }
            self.version = ev.v;
            if self.is_own(&ev.m) {
                continue;
            }
            changes.push(match ev.e.as_str() {
                "conn" => ClusterEvent::Connected { member: ev.m, nick: ev.n, token: ev.t },
                "nick" => ClusterEvent::Renamed { member: ev.m, nick: ev.n },
                "join" => ClusterEvent::Joined { member: ev.m, room: ev.r, nick: ev.n },
                "leave" => ClusterEvent::Left { member: ev.m, room: ev.r },
                _ => ClusterEvent::Gone { member: ev.m },
            });
        }
        if !changes.is_empty() {
            hub.apply_cluster(changes).flush();
        }
        if gap {
            tracing::info!("presence changes were missed; reading the cluster's state");
            self.resync(hub).await;
        }
    }

    fn is_own(&self, member: &str) -> bool {
        member.strip_prefix(self.node.as_str()).is_some_and(|rest| rest.starts_with('/'))
    }

    /// Reads the whole state and gives the hub the other nodes' members.
    async fn resync(&mut self, hub: &Hub) {
        let reply: redis::RedisResult<Vec<Value>> =
            timed(self.scripts.snapshot.prepare_invoke().invoke_async(&mut self.conn)).await;
        let values = match reply {
            Ok(values) => values,
            Err(e) => {
                tracing::warn!(error = %e, "reading the cluster's state failed; trying again");
                self.missed.store(true, Ordering::Relaxed);
                return;
            }
        };
        let mut values = values.into_iter();
        let version: u64 = values.next().and_then(|v| redis::from_redis_value(v).ok()).unwrap_or(0);
        let mut snapshot = Snapshot::new();
        while let (Some(m), Some(who), Some(token), Some(rooms)) =
            (values.next(), values.next(), values.next(), values.next())
        {
            let (Ok(m), Ok(who), Ok(token), Ok(rooms)) = (
                redis::from_redis_value::<String>(m),
                redis::from_redis_value::<String>(who),
                redis::from_redis_value::<String>(token),
                redis::from_redis_value::<Vec<String>>(rooms),
            ) else {
                continue;
            };
            if self.is_own(&m) {
                continue;
            }
            let nick = who.split_once('\t').map_or(who.as_str(), |(_, n)| n).to_owned();
            snapshot.push((m, nick, token, rooms));
        }
        self.version = version;
        hub.apply_cluster(vec![ClusterEvent::Snapshot(snapshot)]).flush();
    }

    /// The heartbeat, the reaper, and what the flags say.
    async fn tick(&mut self, hub: &Hub, pending: &mut Vec<Op>) {
        if self.overflow.swap(false, Ordering::Relaxed) {
            tracing::error!("presence changes could not be queued for Redis; this node starts over");
            self.start_over(hub, pending).await;
            return;
        }
        match self.beat(false).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(node = %self.node, "this node was taken for dead by the cluster; its clients reconnect elsewhere");
                self.start_over(hub, pending).await;
                return;
            }
            Err(e) => {
                if self.healthy_since.take().is_some() {
                    tracing::warn!(error = %e, "Redis does not answer the heartbeat");
                }
                return;
            }
        }
        let healthy = *self.healthy_since.get_or_insert_with(Instant::now);
        if self.missed.swap(false, Ordering::Relaxed) {
            self.resync(hub).await;
        }
        if healthy.elapsed() >= ALIVE_FOR + BEAT {
            self.reap_dead(hub).await;
        }
    }

    /// Closes every socket and registers again under a new id (the replica of the other
    /// nodes is kept, and read again).
    async fn start_over(&mut self, hub: &Hub, pending: &mut Vec<Op>) {
        self.epoch += 1;
        hub.apply_cluster(vec![ClusterEvent::StartOver { epoch: self.epoch }]).flush();
        pending.clear();
        let old = std::mem::replace(&mut self.node, new_node_id());
        // Whatever the old id still holds goes (others may have reaped it already).
        let _ = self.reap(&old, true).await;
        self.healthy_since = None;
        match self.beat(true).await {
            Ok(_) => self.resync(hub).await,
            Err(e) => {
                tracing::warn!(error = %e, "registering again failed; trying again");
                self.missed.store(true, Ordering::Relaxed);
            }
        }
    }

    async fn beat(&mut self, register: bool) -> redis::RedisResult<bool> {
        let ms = ALIVE_FOR.as_millis() as u64;
        let mut call = self.scripts.beat.prepare_invoke();
        call.arg(&self.node).arg(ms).arg(u8::from(register));
        let alive: i64 = timed(call.invoke_async(&mut self.conn)).await?;
        Ok(alive == 1)
    }

    async fn reap(&mut self, node: &str, force: bool) -> redis::RedisResult<i64> {
        let mut call = self.scripts.reap.prepare_invoke();
        call.arg(node).arg(u8::from(force)).arg(SESSION_SECS);
        timed(call.invoke_async(&mut self.conn)).await
    }

    async fn reap_dead(&mut self, hub: &Hub) {
        let nodes: redis::RedisResult<Vec<String>> = timed(self.conn.smembers("chat:p:nodes")).await;
        let Ok(nodes) = nodes else { return };
        let alive: Vec<String> = nodes.iter().map(|n| format!("chat:p:alive:{n}")).collect();
        if alive.is_empty() {
            return;
        }
        let exists: redis::RedisResult<Vec<bool>> = timed(async {
            let mut pipe = redis::pipe();
            for key in &alive {
                pipe.exists(key);
            }
            pipe.query_async(&mut self.conn).await
        })
        .await;
        let Ok(exists) = exists else { return };
        hub.metrics().live_nodes(exists.iter().filter(|alive| **alive).count());
        for (node, alive) in nodes.iter().zip(exists) {
            if alive || *node == self.node {
                continue;
            }
            match self.reap(node, false).await {
                Ok(n) if n >= 0 => {
                    tracing::warn!(%node, members = n, "a node stopped beating; its members left")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, %node, "reaping a dead node failed"),
            }
        }
    }
}

/// A Redis call that gives up after [`CALL_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from((redis::ErrorKind::Io, "no answer in time"))),
    }
}
