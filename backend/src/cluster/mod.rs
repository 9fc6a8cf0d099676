//! A node of a `--redis` cluster, all in this folder: the connection to the shared Redis,
//! checked at start, and the tasks that keep this node and the others in step through it.
//!
//! - `events`: what crosses between the hub and the cluster, closed enums (a leaf: the
//!   hub imports it and nothing else of this folder, and takes every event through one
//!   entry, `Hub::apply_cluster`);
//! - `fanout`: every room's messages brought to this node in id order, gaps read from the
//!   rooms' streams;
//! - `presence`: the cluster's shared state in Redis (nicks, members, rooms, live nodes)
//!   and the task that keeps it and this node's replica of it true;
//! - `typing`: typing notices across the nodes, outside the shared state;
//! - `relay`: an HTTP stream's posts handed to the node that holds the stream;
//! - `probe`: the publish lag through Redis, measured once a second for the metrics;
//! - this file: the connections, and the one subscription that carries all three.
//!
//! Every node subscribes once to every room's channel (a pattern), so each chat message
//! crosses from Redis to each node once, whatever the number of its members there; the
//! hub then encodes it once and queues the same bytes for each local member. A node's
//! own `say`s come back the same way (the store's script publishes them), so every node
//! delivers a room in the one order Redis gave its ids.
//!
//! After a lost connection (Redis restarted or unreachable for a while) it waits for the
//! connection manager to reconnect and resubscribe, then the fan-out reads what every
//! room it knows missed. A heartbeat keeps the manager trying meanwhile.
//!
//! The same subscription carries the cluster's presence changes (`presence::CHANNEL`):
//! they are handed to the presence task as they come, with word of any that may have
//! been missed (a full queue, a reconnect), so that it reads the whole state again. And
//! it carries the typing notices (`typing::CHANNEL`), handed to the hub, and what other
//! nodes relay to this one (its own channel, `relay::PREFIX` and its address).
//!
//! This module knows Redis's connection and channels; how messages are stored is the
//! store's (`store::redis`).

pub mod events;
mod fanout;
pub mod moderation;
mod presence;
mod probe;
pub mod relay;
mod typing;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::redis::CHANNELS;
use events::{ClusterEvent, Outbox, Typing};
use fanout::{Fanout, published};
use presence::{Feed, Presence};
use relay::{Ask, Relay};

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

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0} is not a Redis URL (for example redis://127.0.0.1:6379/): {1}")]
    Url(String, redis::RedisError),
    #[error("cannot reach Redis at {0}: {1} (is redis-server running there? see --redis)")]
    Unreachable(String, String),
}

/// The connections of a node to its cluster's Redis (and its tasks, until it starts).
pub struct Cluster {
    client: Client,
    /// Commands: the store's scripts, the fan-out's reads, the typing notices.
    commands: ConnectionManager,
    /// The subscription and what it brings.
    subscription: Subscription,
    /// The presence task, and the hub's ends of the queues to Redis.
    presence: Presence,
    outbox: Outbox,
    notices: mpsc::Receiver<Typing>,
    asks: mpsc::Receiver<Ask>,
}

/// The subscription to every room's channel, the presence channel and the typing channel.
struct Subscription {
    /// The subscription: its pushes arrive on `pushes`.
    subscriber: ConnectionManager,
    pushes: mpsc::Receiver<PushInfo>,
    /// Set when a push could not be queued: some room may have a gap nobody will notice.
    overflowed: Arc<AtomicBool>,
    /// Where presence changes go, and the flag raised when some may have been missed.
    feed: mpsc::Sender<Feed>,
    feed_missed: Arc<AtomicBool>,
    /// Where Redis is, for logs (no password).
    addr: String,
    /// This process's mark on the typing notices it publishes (it skips its own), and
    /// its address on the relay.
    origin: String,
    relay: Relay,
    /// Where this node publishes its lag probes (the connection its messages go out on),
    /// and the instant their times count from.
    commands: ConnectionManager,
    start: Instant,
}

/// A node's tasks, once started: the server waits for `presence` at shutdown (it takes
/// this node's members out of the cluster) and ends the others.
#[derive(Debug)]
pub struct Running {
    pub presence: JoinHandle<()>,
    pub subscription: JoinHandle<()>,
    pub typing: JoinHandle<()>,
    /// The relay, and the posts other nodes hand to this one (taken by the streams, which
    /// apply them).
    pub relay: Relay,
    pub asks: Option<mpsc::Receiver<Ask>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("addr", &self.subscription.addr).finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to the Redis at `url`, warns if it would lose acknowledged messages when
    /// it crashes, subscribes to every room's channel and registers this node.
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
        subscriber.subscribe(typing::CHANNEL).await.map_err(|e| unreachable(e.to_string()))?;
        let origin = typing::new_origin();
        let (relay, asks) = Relay::new(commands.clone(), origin.clone());
        subscriber.subscribe(relay.channel()).await.map_err(|e| unreachable(e.to_string()))?;
        subscriber.subscribe(moderation::CHANNEL).await.map_err(|e| unreachable(e.to_string()))?;
        subscriber.subscribe(probe::CHANNEL).await.map_err(|e| unreachable(e.to_string()))?;
        let (typing_tx, notices) = mpsc::channel(typing::QUEUED_MAX);
        let (feed, feed_rx) = mpsc::channel(presence::FEED_MAX);
        let feed_missed = Arc::new(AtomicBool::new(false));
        let (presence, ops, overflow) = Presence::start(commands.clone(), feed_rx, feed_missed.clone())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tracing::info!(redis = %addr, "this node shares its chat through Redis");
        let subscription = Subscription {
            subscriber,
            pushes,
            overflowed,
            feed,
            feed_missed,
            addr,
            origin,
            relay,
            commands: commands.clone(),
            start: Instant::now(),
        };
        Ok(Self {
            client,
            commands,
            subscription,
            presence,
            outbox: Outbox { ops, overflow, typing: typing_tx },
            notices,
            asks,
        })
    }

    /// The connection for commands (the store's writer uses a clone of it).
    pub fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Makes `hub` a node of the cluster and starts the node's tasks until `shutdown`:
    /// the presence task, the typing notices' publisher, and the subscription that
    /// delivers every room's messages to this node's members. Their log lines carry the
    /// node (its listen address `node`), as a connection's do: what they apply (another
    /// node's kick of a member here, a role named there) is logged by the node it reached.
    pub fn start(self, hub: &Hub, node: std::net::SocketAddr, shutdown: CancellationToken) -> Running {
        let Self { commands, subscription, presence, outbox, notices, asks, .. } = self;
        let span = tracing::info_span!("cluster", node = %node);
        hub.join_cluster(outbox);
        let origin = subscription.origin.clone();
        let relay = subscription.relay.clone();
        Running {
            relay,
            asks: Some(asks),
            presence: tokio::spawn(presence.run(hub.clone(), shutdown.clone()).instrument(span.clone())),
            typing: tokio::spawn(
                typing::publish(commands.clone(), notices, origin, shutdown.clone()).instrument(span.clone()),
            ),
            subscription: tokio::spawn(
                subscription
                    .run(Fanout::new(hub.clone(), commands), hub.metrics().clone(), shutdown)
                    .instrument(span),
            ),
        }
    }
}

impl Subscription {
    /// Hands what is published to the fan-out, the presence task and the hub, until
    /// `shutdown`; after a lost connection, waits for the reconnect and catches up.
    async fn run(self, mut fanout: Fanout, metrics: Arc<Metrics>, shutdown: CancellationToken) {
        let Self {
            mut subscriber,
            mut pushes,
            overflowed,
            feed,
            feed_missed,
            addr,
            origin,
            relay,
            commands,
            start,
        } = self;
        let relayed = relay.channel();
        let hand_over = |json: String| {
            // Never wait for the presence task: a full queue means it reads the whole
            // state again instead.
            if feed.try_send(json).is_err() {
                feed_missed.store(true, Ordering::Relaxed);
            }
        };
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
                            PushKind::Message => match subscribed(push.data, &relayed) {
                                Some((Channel::Presence, json)) => hand_over(json),
                                Some((Channel::Relay, json)) => relay.received(&json),
                                Some((Channel::Typing, json)) => {
                                    typing.extend(typing::notice(&json, &origin).map(ClusterEvent::Typing));
                                }
                                Some((Channel::Moderation, json)) => {
                                    typing.extend(moderation::parse(&json).map(ClusterEvent::Moderate));
                                }
                                Some((Channel::Probe, payload)) => {
                                    if let Some(lag) = probe::lag(&payload, &origin, start) {
                                        metrics.redis_lag(lag.as_secs_f64());
                                    }
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
                    // One trip to the hub's lock for the batch: its messages, then its notices.
                    out.append(&mut typing);
                    fanout.deliver(out);
                }
                _ = heartbeat.tick() => {
                    let alive = redis::cmd("PING").query_async::<()>(&mut subscriber).await.is_ok();
                    if alive && !lost {
                        publish_probe(commands.clone(), probe::payload(&origin, start));
                    }
                    if !alive && !lost {
                        tracing::warn!(redis = %addr, "Redis does not answer; reconnecting");
                        lost = true;
                    } else if alive && lost {
                        // Reconnected (the manager resubscribed; subscribing again is
                        // harmless and makes sure): whatever was published meanwhile is
                        // in the streams.
                        if subscriber.psubscribe(CHANNELS).await.is_ok()
                            && subscriber.subscribe(presence::CHANNEL).await.is_ok()
                            && subscriber.subscribe(typing::CHANNEL).await.is_ok()
                            && subscriber.subscribe(&relayed).await.is_ok()
                            && subscriber.subscribe(moderation::CHANNEL).await.is_ok()
                            && subscriber.subscribe(probe::CHANNEL).await.is_ok()
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
    Relay,
    Moderation,
    Probe,
}

/// The channel and payload of a pushed `message` (channel, payload); `relayed` is this
/// node's relay channel.
fn subscribed(data: Vec<Value>, relayed: &str) -> Option<(Channel, String)> {
    let mut data = data.into_iter();
    let channel: String = redis::from_redis_value(data.next()?).ok()?;
    let channel = match channel.as_str() {
        presence::CHANNEL => Channel::Presence,
        typing::CHANNEL => Channel::Typing,
        c if c == relayed => Channel::Relay,
        moderation::CHANNEL => Channel::Moderation,
        probe::CHANNEL => Channel::Probe,
        _ => return None,
    };
    Some((channel, redis::from_redis_value(data.next()?).ok()?))
}

/// Publishes a lag probe on a task of its own, so that the subscription never waits for
/// Redis's answer (the probe comes back as a push). The connection manager's response
/// timeout bounds how long one may take, so at most a few are ever under way; a failed
/// one is simply not measured.
fn publish_probe(mut commands: ConnectionManager, payload: String) {
    tokio::spawn(async move {
        let _: Result<(), _> = redis::AsyncCommands::publish(&mut commands, probe::CHANNEL, payload).await;
    });
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
