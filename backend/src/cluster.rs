//! A node of a `--redis` cluster: the connection to the shared Redis, checked at start,
//! and the fan-out that brings every room's messages from Redis to this node's members.
//!
//! Every node subscribes once to every room's channel (a pattern), so each chat message
//! crosses from Redis to each node once, whatever the number of its members there; the
//! hub then encodes it once and queues the same bytes for each local member. A node's
//! own `say`s come back the same way (the store's script publishes them), so every node
//! delivers a room in the one order Redis gave its ids.
//!
//! Pub/sub may lose messages (a dropped connection, a full queue here), so delivery is
//! by id: for each room the fan-out knows the last id it delivered, skips what it already
//! delivered, and when a message is more than one past it, first reads the missing ones
//! from the room's stream. After a lost connection (Redis restarted or unreachable for a
//! while) it waits for the connection manager to reconnect and resubscribe, then reads
//! what every room it knows missed. A heartbeat keeps the manager trying meanwhile.
//!
//! The same subscription carries the cluster's presence changes (`presence::CHANNEL`):
//! they are handed to the presence task as they come, with word of any that may have
//! been missed (a full queue, a reconnect), so that it reads the whole state again.
//!
//! Typing notices cross the cluster too, on a channel of their own ([`TYPING_CHANNEL`]),
//! outside the versioned state: a notice is ephemeral, so one lost does not matter. The
//! hub queues a local `typing` for [`publish_typing`] (bounded, dropped when full; only
//! when the room has members on other nodes), which PUBLISHes it once with this process's
//! random origin; every other node's fan-out hands it to its hub, which tells its local
//! members of the room as it would a local `typing` (the same bound in big rooms, per
//! typer). A node skips its own notices: its members had them at once.
//!
//! This module knows Redis's connection and channels; how messages are stored is the
//! store's (`store::redis`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::ChatMessage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::presence::{self, Feed, Presence};
use crate::store::redis::{CHANNELS, decode_entry, log_key};
use crate::store::{Outcome, SenderKey};

/// How long the first connection may take before the node gives up starting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pushes (published messages) waiting for the fan-out at most. Past that they are
/// dropped and counted as lost: the fan-out then reads every room's stream again, so a
/// burst costs a read, never a message.
const PUSH_MAX: usize = 64 * 1024;
/// Pushes delivered under one lock of the hub at most.
const BATCH_MAX: usize = 512;
/// How often the node checks its subscription's connection (and so keeps the connection
/// manager reconnecting while Redis is away).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Messages read from a stream per request when filling a gap.
const FILL_PAGE: usize = 1000;
/// The channel typing notices cross the cluster on.
pub const TYPING_CHANNEL: &str = "chat:typing";
/// This node's typing notices waiting to be published at most; past that they are
/// dropped (a notice is renewed by the typer every few seconds anyway).
pub const TYPING_MAX: usize = 1024;
/// Typing notices published in one pipeline at most.
const TYPING_BATCH: usize = 128;

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0} is not a Redis URL (for example redis://127.0.0.1:6379/): {1}")]
    Url(String, redis::RedisError),
    #[error("cannot reach Redis at {0}: {1} (is redis-server running there? see --redis)")]
    Unreachable(String, String),
}

/// The connections of a node to its cluster's Redis.
pub struct Cluster {
    client: Client,
    /// Commands: the store's scripts and the fan-out's reads.
    commands: ConnectionManager,
    /// The subscription: its pushes arrive on `pushes`.
    subscriber: ConnectionManager,
    pushes: mpsc::Receiver<PushInfo>,
    /// Set when a push could not be queued: some room may have a gap nobody will notice.
    overflowed: Arc<AtomicBool>,
    /// Where presence changes go, and the flag raised when some may have been missed.
    feed: mpsc::Sender<Feed>,
    feed_missed: Arc<AtomicBool>,
    /// The presence task, until the server takes it.
    presence: Option<Presence>,
    handles: Option<presence::Handles>,
    /// Where Redis is, for logs (no password).
    addr: String,
    /// This process's mark on the typing notices it publishes (it skips its own).
    origin: String,
    /// This node's typing notices for Redis: the hub's end (taken once), and the
    /// publisher's.
    typing_tx: Option<mpsc::Sender<Typing>>,
    typing_rx: mpsc::Receiver<Typing>,
}

/// A `typing` notice as it crosses the cluster: who typed (a nick, unique in the cluster)
/// in which room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typing {
    pub room: String,
    pub nick: String,
}

/// A typing notice as published: origin, room, nick.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TypingWire {
    o: String,
    r: String,
    n: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to the Redis at `url`, warns if it would lose acknowledged messages when
    /// it crashes, and subscribes to every room's channel.
    pub async fn connect(url: &str) -> Result<Self, ClusterError> {
        let info = url.into_connection_info().map_err(|e| ClusterError::Url(url.to_owned(), e))?;
        let addr = info.addr().to_string();
        // RESP3: pub/sub pushes share the connection manager, which resubscribes by itself.
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))
            .map_err(|e| ClusterError::Url(url.to_owned(), e))?;
        let unreachable = |e: String| ClusterError::Unreachable(addr.clone(), e);
        let mut first = tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| unreachable("no answer".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        check_durability(&mut first, &addr).await;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(1));
        let commands = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (tx, pushes) = mpsc::channel(PUSH_MAX);
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = overflowed.clone();
        let sender = move |push: PushInfo| {
            // The connection must never wait for us: a full queue drops the push and
            // the fan-out reads the streams again instead.
            if tx.try_send(push).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
            Ok::<(), ()>(())
        };
        let config = config.set_push_sender(sender).set_automatic_resubscription();
        let mut subscriber = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        subscriber.psubscribe(CHANNELS).await.map_err(|e| unreachable(e.to_string()))?;
        subscriber.subscribe(presence::CHANNEL).await.map_err(|e| unreachable(e.to_string()))?;
        subscriber.subscribe(TYPING_CHANNEL).await.map_err(|e| unreachable(e.to_string()))?;
        let (typing_tx, typing_rx) = mpsc::channel(TYPING_MAX);
        let (feed, feed_rx) = mpsc::channel(presence::FEED_MAX);
        let feed_missed = Arc::new(AtomicBool::new(false));
        let (presence, handles) = Presence::start(commands.clone(), feed_rx, feed_missed.clone())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tracing::info!(redis = %addr, "this node shares its chat through Redis");
        Ok(Self {
            client,
            commands,
            subscriber,
            pushes,
            overflowed,
            feed,
            feed_missed,
            presence: Some(presence),
            handles: Some(handles),
            addr,
            origin: new_origin(),
            typing_tx: Some(typing_tx),
            typing_rx,
        })
    }

    /// The presence task and the hub's ends of it (taken once, by the server).
    pub fn presence(&mut self) -> Option<(Presence, presence::Handles)> {
        Some((self.presence.take()?, self.handles.take()?))
    }

    /// Where the hub queues this node's typing notices for the cluster (taken once).
    pub fn typing(&mut self) -> Option<mpsc::Sender<Typing>> {
        self.typing_tx.take()
    }

    /// The connection for commands (the store's writer uses a clone of it).
    pub fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Delivers every room's messages to this node's members until `shutdown`.
    pub async fn run(self, hub: Hub, shutdown: CancellationToken) {
        let Self {
            commands,
            mut subscriber,
            mut pushes,
            overflowed,
            feed,
            feed_missed,
            addr,
            origin,
            typing_rx,
            ..
        } = self;
        tokio::spawn(publish_typing(commands.clone(), typing_rx, origin.clone(), shutdown.clone()));
        let hand_over = |json: String| {
            // Never wait for the presence task: a full queue means it reads the whole
            // state again instead.
            if feed.try_send(json).is_err() {
                feed_missed.store(true, Ordering::Relaxed);
            }
        };
        let mut fanout = Fanout { hub, commands, last: HashMap::new(), nobody: SenderKey::from("") };
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(BATCH_MAX);
        // Whether the subscription may have missed messages since the last catch-up.
        let mut lost = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                n = pushes.recv_many(&mut batch, BATCH_MAX) => {
                    if n == 0 {
                        return;
                    }
                    let mut out = Vec::with_capacity(batch.len());
                    let mut typing = Vec::new();
                    for push in batch.drain(..) {
                        match push.kind {
                            PushKind::Message => match subscribed(push.data) {
                                Some((Channel::Presence, json)) => hand_over(json),
                                Some((Channel::Typing, json)) => {
                                    typing.extend(typing_notice(&json, &origin));
                                }
                                None => {}
                            },
                            PushKind::PMessage => {
                                if let Some(msg) = published(push.data) {
                                    fanout.accept(msg, &mut out).await;
                                }
                            }
                            PushKind::Disconnection => {
                                tracing::warn!(redis = %addr, "lost the connection to Redis; reconnecting");
                                lost = true;
                            }
                            _ => {}
                        }
                    }
                    fanout.deliver(out);
                    if !typing.is_empty() {
                        fanout.hub.remote_typing(typing).flush();
                    }
                }
                _ = heartbeat.tick() => {
                    let alive = redis::cmd("PING").query_async::<()>(&mut subscriber).await.is_ok();
                    if !alive && !lost {
                        tracing::warn!(redis = %addr, "Redis does not answer; reconnecting");
                        lost = true;
                    } else if alive && lost {
                        // Reconnected (the manager resubscribed; subscribing again is
                        // harmless and makes sure): whatever was published meanwhile is
                        // in the streams.
                        if subscriber.psubscribe(CHANNELS).await.is_ok()
                            && subscriber.subscribe(presence::CHANNEL).await.is_ok()
                            && subscriber.subscribe(TYPING_CHANNEL).await.is_ok()
                            && fanout.catch_up().await
                        {
                            tracing::info!(redis = %addr, "reconnected to Redis; caught up");
                            lost = false;
                            // Presence changes published meanwhile were missed too.
                            feed_missed.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            if overflowed.swap(false, Ordering::Relaxed) {
                tracing::warn!("the fan-out fell behind; reading the rooms' streams");
                if !fanout.catch_up().await {
                    lost = true;
                }
            }
        }
    }
}

/// The channels subscribed to by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Presence,
    Typing,
}

/// The channel and payload of a pushed `message` (channel, payload).
fn subscribed(data: Vec<Value>) -> Option<(Channel, String)> {
    let mut data = data.into_iter();
    let channel: String = redis::from_redis_value(data.next()?).ok()?;
    let channel = match channel.as_str() {
        presence::CHANNEL => Channel::Presence,
        TYPING_CHANNEL => Channel::Typing,
        _ => return None,
    };
    Some((channel, redis::from_redis_value(data.next()?).ok()?))
}

/// Another node's typing notice (`None` for this node's own, or one that cannot be read).
fn typing_notice(json: &str, origin: &str) -> Option<Typing> {
    let wire: TypingWire = serde_json::from_str(json).ok()?;
    (wire.o != origin).then_some(Typing { room: wire.r, nick: wire.n })
}

fn new_origin() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    data_encoding::HEXLOWER.encode(&bytes)
}

/// Publishes this node's typing notices as they are queued, a pipeline per batch, until
/// `shutdown`. A failed publish is dropped, not retried: a notice is stale in seconds.
pub async fn publish_typing(
    mut commands: ConnectionManager,
    mut queued: mpsc::Receiver<Typing>,
    origin: String,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(TYPING_BATCH);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            n = queued.recv_many(&mut batch, TYPING_BATCH) => {
                if n == 0 {
                    return;
                }
                let mut pipe = redis::pipe();
                for Typing { room, nick } in batch.drain(..) {
                    let wire = TypingWire { o: origin.clone(), r: room, n: nick };
                    let json = serde_json::to_string(&wire).expect("strings serialize");
                    pipe.publish(TYPING_CHANNEL, json).ignore();
                }
                let sent = tokio::time::timeout(Duration::from_secs(2), pipe.query_async::<()>(&mut commands)).await;
                if let Some(e) = match sent {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("no answer".to_owned()),
                } {
                    tracing::debug!(error = %e, notices = n, "typing notices not published; dropped");
                }
            }
        }
    }
}

/// The message of a pushed `pmessage` (pattern, channel, payload) or `message`
/// (channel, payload).
fn published(data: Vec<Value>) -> Option<ChatMessage> {
    let payload = data.into_iter().last()?;
    let json: String = redis::from_redis_value(payload).ok()?;
    match serde_json::from_str(&json) {
        Ok(msg) => Some(msg),
        Err(e) => {
            tracing::error!(error = %e, "a published message cannot be read; skipped");
            None
        }
    }
}

/// Delivery in id order, room by room.
struct Fanout {
    hub: Hub,
    commands: ConnectionManager,
    /// The last id delivered per room, for every room this node has seen a message of
    /// since it started: one small entry per room.
    last: HashMap<String, u64>,
    /// Messages from the fan-out have no sender here (its `cid` record is in Redis).
    nobody: SenderKey,
}

impl Fanout {
    /// Takes one message for delivery: skipped if already delivered, preceded by what is
    /// missing before it if there is a gap. A gap that cannot be read now (Redis went away
    /// meanwhile) leaves the message for the catch-up after the reconnect, so order holds.
    async fn accept(&mut self, msg: ChatMessage, out: &mut Vec<Outcome>) {
        let last = self.last.get(&msg.room).copied();
        match last {
            Some(last) if msg.id <= last => {}
            Some(last) if msg.id > last + 1 => match self.read(&msg.room, last, Some(msg.id - 1)).await {
                Ok(missing) => {
                    for m in missing {
                        self.push(m, out);
                    }
                    self.push(msg, out);
                }
                Err(e) => {
                    tracing::warn!(error = %e, room = %msg.room, "filling a gap failed; retried on reconnect")
                }
            },
            _ => self.push(msg, out),
        }
    }

    fn push(&mut self, msg: ChatMessage, out: &mut Vec<Outcome>) {
        let last = self.last.entry(msg.room.clone()).or_insert(0);
        if msg.id > *last {
            *last = msg.id;
            out.push(Outcome::Stored(self.nobody.clone(), msg));
        }
    }

    fn deliver(&self, out: Vec<Outcome>) {
        if !out.is_empty() {
            self.hub.deliver(out).flush();
        }
    }

    /// Messages of `room` after `after` (up to `to`), oldest first.
    async fn read(&mut self, room: &str, after: u64, to: Option<u64>) -> Result<Vec<ChatMessage>, String> {
        let key = log_key(room);
        let end = to.map_or_else(|| "+".to_owned(), |to| format!("{to}-0"));
        let mut messages = Vec::new();
        let mut from = after + 1;
        loop {
            let call = self.commands.xrange_count::<_, _, _, _, StreamRangeReply>(
                &key,
                format!("{from}-0"),
                &end,
                FILL_PAGE,
            );
            let reply = match tokio::time::timeout(Duration::from_secs(2), call).await {
                Ok(reply) => reply.map_err(|e| e.to_string())?,
                Err(_) => return Err("no answer".into()),
            };
            let full = reply.ids.len() == FILL_PAGE;
            for entry in &reply.ids {
                let msg = decode_entry(entry).map_err(|e| e.to_string())?;
                from = msg.id + 1;
                messages.push(msg);
            }
            if !full {
                return Ok(messages);
            }
        }
    }

    /// Reads what every known room missed and delivers it; `false` if Redis failed.
    async fn catch_up(&mut self) -> bool {
        let rooms: Vec<(String, u64)> = self.last.iter().map(|(r, l)| (r.clone(), *l)).collect();
        let mut out = Vec::new();
        let mut ok = true;
        for (room, last) in rooms {
            match self.read(&room, last, None).await {
                Ok(missing) => {
                    for m in missing {
                        self.push(m, &mut out);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, %room, "catching up failed; trying again");
                    ok = false;
                    break;
                }
            }
        }
        self.deliver(out);
        ok
    }
}

/// Warns unless Redis keeps every write on disk before answering: the cluster's promise
/// (nothing acknowledged is lost) holds only with `appendonly yes` and `appendfsync always`.
async fn check_durability(conn: &mut redis::aio::MultiplexedConnection, addr: &str) {
    let mut settings = HashMap::new();
    for name in ["appendonly", "appendfsync"] {
        match redis::cmd("CONFIG").arg("GET").arg(name).query_async::<HashMap<String, String>>(conn).await {
            Ok(got) => settings.extend(got),
            Err(e) => {
                tracing::warn!(redis = %addr, error = %e, "cannot read Redis's settings; make sure it runs with appendonly yes and appendfsync always, or acknowledged messages may be lost if it crashes");
                return;
            }
        }
    }
    let get = |name: &str| settings.get(name).map_or("?", String::as_str).to_owned();
    let (appendonly, appendfsync) = (get("appendonly"), get("appendfsync"));
    if appendonly != "yes" || appendfsync != "always" {
        tracing::warn!(
            redis = %addr,
            %appendonly,
            %appendfsync,
            "Redis may lose acknowledged messages if it crashes: run it with appendonly yes and appendfsync always"
        );
    }
}
