//! The node's figures for Prometheus (`GET /metrics`), with the `prometheus-client` crate:
//! one [`Metrics`] per server, created with the hub and shared by everything that counts.
//!
//! Every handle is created once, here, and kept (a labelled family is looked up only for
//! close codes, once per connection's end): an increment is one relaxed atomic add. What
//! happens per delivery is never counted per delivery: the hub adds up what one operation
//! queued (plain integers, see `link::Deliveries`) and adds it once when it releases its
//! lock, so a broadcast to 10,000 members costs two atomic adds. Frames out are counted by
//! type where they are encoded (`encode`), once per frame made: the broadcast adds one more.
//! Store latencies are per request (one `say` stored, one read of history), never per
//! receiver. With `--redis`, the live nodes come from the presence task's reaping and the
//! publish lag from the probes of `cluster::probe`, once a second each.
//!
//! This module knows the protocol's names (frame types, error codes) only to label them;
//! it decides nothing, and serves nothing: `admin::scrape` answers `/metrics`.

use std::sync::atomic::AtomicI64;

use common::{ClientMsg, ErrorCode, ServerMsg};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a connection reaches the server, as `chat_connections` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Http,
}

impl Transport {
    const ALL: [Self; 2] = [Self::WebSocket, Self::Http];

    fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Http => "http",
        }
    }
}

/// The client frames counted by type, in [`frame_index`]'s order; `bad` is one that is not
/// a frame at all.
const FRAME_TYPES: [&str; 17] = [
    "nick",
    "join",
    "leave",
    "say",
    "typing",
    "history",
    "ping",
    "members",
    "rooms",
    "rooms_watch",
    "mod",
    "kick",
    "ban",
    "edit",
    "delete",
    "react",
    "bad",
];
const BAD_FRAME: usize = FRAME_TYPES.len() - 1;

/// The server frames counted by type, in [`out_index`]'s order.
const OUT_TYPES: [&str; 20] = [
    "welcome",
    "you",
    "rooms",
    "joined",
    "left",
    "message",
    "presence",
    "typing",
    "history",
    "pong",
    "error",
    "members",
    "presence_count",
    "rooms_delta",
    "rooms_page",
    "kicked",
    "role",
    "edited",
    "deleted",
    "reacted",
];
const ERROR_OUT: usize = 10;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabel {
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

/// The node's figures: the registry that encodes them, and a kept handle to each.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: [Gauge; 2],
    by_version: [Gauge; 2],
    connects: [Counter; 2],
    closes: Family<CodeLabel, Counter>,
    frames_in: Vec<Counter>,
    frames_out: Vec<Counter>,
    errors: Vec<Counter>,
    /// Frames the hub queued for connections, and their bytes.
    deliveries: Counter,
    delivered_bytes: Counter,
    messages: Counter,
    too_slow: Counter,
    store_write: Histogram,
    store_read: Histogram,
    live_nodes: Gauge<i64, AtomicI64>,
    redis_lag: Histogram,
    admin: Family<ActionLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let family = Family::<TransportLabel, Gauge>::default();
        registry.register("chat_connections", "Open connections of this node, by transport", family.clone());
        let connections =
            Transport::ALL.map(|t| family.get_or_create(&TransportLabel { transport: t.label() }).clone());
        let family = Family::<VersionLabel, Gauge>::default();
        registry.register(
            "chat_connections_by_version",
            "Open connections of this node, by the protocol version they speak",
            family.clone(),
        );
        let by_version = ["1", "2"].map(|v| family.get_or_create(&VersionLabel { version: v }).clone());
        let family = Family::<TransportLabel, Counter>::default();
        registry.register("chat_connects", "Connections opened, by transport", family.clone());
        let connects =
            Transport::ALL.map(|t| family.get_or_create(&TransportLabel { transport: t.label() }).clone());
        let closes = Family::<CodeLabel, Counter>::default();
        registry.register(
            "chat_closes",
            "Connections ended, by WebSocket close code (1006: the socket ended without one)",
            closes.clone(),
        );
        let family = Family::<TypeLabel, Counter>::default();
        registry.register("chat_frames_in", "Client frames received, by type", family.clone());
        let frames_in =
            FRAME_TYPES.iter().map(|t| family.get_or_create(&TypeLabel { r#type: t }).clone()).collect();
        let family = Family::<TypeLabel, Counter>::default();
        registry.register(
            "chat_frames_out",
            "Server frames made, by type: a broadcast counts once, whatever its receivers (see chat_deliveries)",
            family.clone(),
        );
        let frames_out =
            OUT_TYPES.iter().map(|t| family.get_or_create(&TypeLabel { r#type: t }).clone()).collect();
        let family = Family::<ErrorLabel, Counter>::default();
        registry.register("chat_errors", "Requests refused with an error frame, by code", family.clone());
        let errors = ErrorCode::ALL
            .iter()
            .map(|c| family.get_or_create(&ErrorLabel { code: c.as_str() }).clone())
            .collect();
        let deliveries = Counter::default();
        registry.register(
            "chat_deliveries",
            "Frames queued for connections by broadcasts and answers",
            deliveries.clone(),
        );
        let delivered_bytes = Counter::default();
        registry.register(
            "chat_delivered_bytes",
            "Bytes of the frames counted by chat_deliveries",
            delivered_bytes.clone(),
        );
        let messages = Counter::default();
        registry.register("chat_messages", "Messages this node stored", messages.clone());
        let too_slow = Counter::default();
        registry.register(
            "chat_too_slow",
            "Connections dropped for not keeping up (too_slow)",
            too_slow.clone(),
        );
        // 0.5 ms to about 8 s: a memory store's microseconds fall in the first bucket, a
        // disk's fsync or a Redis round trip in the middle ones.
        let buckets = || exponential_buckets(0.0005, 2.0, 15);
        let store_write = Histogram::new(buckets());
        registry.register(
            "chat_store_write_seconds",
            "From a say's arrival to its message stored (a durable store's batch committed)",
            store_write.clone(),
        );
        let store_read = Histogram::new(buckets());
        registry.register(
            "chat_store_read_seconds",
            "One read of the store (history, a room's settings), per request",
            store_read.clone(),
        );
        let live_nodes = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "chat_live_nodes",
            "Live nodes of the cluster, as this node last saw (--redis)",
            live_nodes.clone(),
        );
        // 0.1 ms to about 3 s: a Redis beside the nodes answers in a fraction of a
        // millisecond; seconds mean a node's subscription is falling behind.
        let redis_lag = Histogram::new(exponential_buckets(0.0001, 2.0, 15));
        registry.register(
            "chat_redis_publish_lag_seconds",
            "From publishing a probe on the cluster's Redis to this node's subscription handling it, once a second (--redis)",
            redis_lag.clone(),
        );
        let admin = Family::<ActionLabel, Counter>::default();
        registry.register("chat_admin_actions", "Operator and moderator actions, by kind", admin.clone());
        Self {
            registry,
            connections,
            by_version,
            connects,
            closes,
            frames_in,
            frames_out,
            errors,
            deliveries,
            delivered_bytes,
            messages,
            too_slow,
            store_write,
            store_read,
            live_nodes,
            redis_lag,
            admin,
        }
    }

    /// A connection opened (its `welcome` is queued).
    pub fn connected(&self, transport: Transport) {
        self.connections[transport as usize].inc();
        self.connects[transport as usize].inc();
    }

    /// A session of `version` joined (`up`) or left the hub.
    pub fn session(&self, version: common::Version, up: bool) {
        let gauge = &self.by_version[version_index(version)];
        if up {
            gauge.inc();
        } else {
            gauge.dec();
        }
    }

    /// A connection ended with close `code` (`None`: the socket ended without a close).
    pub fn closed(&self, transport: Transport, code: Option<u16>, too_slow: bool) {
        self.connections[transport as usize].dec();
        self.closes.get_or_create(&CodeLabel { code: code.unwrap_or(1006) }).inc();
        if too_slow {
            self.too_slow.inc();
            // Its `error` `too_slow` goodbye, made by its link rather than encoded here.
            self.frames_out[ERROR_OUT].inc();
        }
    }

    /// A client frame arrived (`None`: it was not a frame the server could decode).
    pub fn frame_in(&self, msg: Option<&ClientMsg>) {
        self.frames_in[msg.map_or(BAD_FRAME, frame_index)].inc();
    }

    /// A server frame was made (encoded once, however many connections it is queued for).
    pub fn frame_out(&self, msg: &ServerMsg) {
        self.frames_out[out_index(msg)].inc();
    }

    /// A request was refused with `code`.
    pub fn refused(&self, code: ErrorCode) {
        // `ALL` lists the codes in declaration order, so a code indexes it.
        self.errors[code as usize].inc();
    }

    /// What one operation of the hub queued: `frames` frames, `bytes` bytes in all.
    pub fn delivered(&self, frames: u64, bytes: u64) {
        if frames > 0 {
            self.deliveries.inc_by(frames);
            self.delivered_bytes.inc_by(bytes);
        }
    }

    /// A message was stored by this node, `ms` milliseconds after its `say` arrived.
    pub fn stored(&self, ms: u64) {
        self.messages.inc();
        self.store_write.observe(ms as f64 / 1000.0);
    }

    /// One read of the store took `seconds`.
    pub fn read(&self, seconds: f64) {
        self.store_read.observe(seconds);
    }

    pub fn live_nodes(&self, n: usize) {
        self.live_nodes.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A probe published on Redis came back to this node's subscription after `seconds`.
    pub fn redis_lag(&self, seconds: f64) {
        self.redis_lag.observe(seconds);
    }

    /// An operator's or moderator's action (`kick`, `ban`, ...).
    pub fn action(&self, action: &'static str) {
        self.admin.get_or_create(&ActionLabel { action }).inc();
    }

    /// The figures in the Prometheus text format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn version_index(version: common::Version) -> usize {
    match version {
        common::Version::V1 => 0,
        common::Version::V2 => 1,
    }
}

fn frame_index(msg: &ClientMsg) -> usize {
    match msg {
        ClientMsg::Nick { .. } => 0,
        ClientMsg::Join { .. } => 1,
        ClientMsg::Leave { .. } => 2,
        ClientMsg::Say { .. } => 3,
        ClientMsg::Typing { .. } => 4,
        ClientMsg::History { .. } => 5,
        ClientMsg::Ping => 6,
        ClientMsg::Members { .. } => 7,
        ClientMsg::Rooms { .. } => 8,
        ClientMsg::RoomsWatch { .. } => 9,
        ClientMsg::Mod { .. } => 10,
        ClientMsg::Kick { .. } => 11,
        ClientMsg::Ban { .. } => 12,
        ClientMsg::Edit { .. } => 13,
        ClientMsg::Delete { .. } => 14,
        ClientMsg::React { .. } => 15,
    }
}

/// A server frame's place in [`OUT_TYPES`] (every variant named: a new frame type does not
/// compile until it is counted).
fn out_index(msg: &ServerMsg) -> usize {
    match msg {
        ServerMsg::Welcome { .. } => 0,
        ServerMsg::You { .. } => 1,
        ServerMsg::Rooms { .. } => 2,
        ServerMsg::Joined { .. } => 3,
        ServerMsg::Left { .. } => 4,
        ServerMsg::Message(_) => 5,
        ServerMsg::Presence { .. } => 6,
        ServerMsg::Typing { .. } => 7,
        ServerMsg::History { .. } => 8,
        ServerMsg::Pong => 9,
        ServerMsg::Error { .. } => ERROR_OUT,
        ServerMsg::Members { .. } => 11,
        ServerMsg::PresenceCount { .. } => 12,
        ServerMsg::RoomsDelta { .. } => 13,
        ServerMsg::RoomsPage { .. } => 14,
        ServerMsg::Kicked { .. } => 15,
        ServerMsg::Role { .. } => 16,
        ServerMsg::Edited(_) => 17,
        ServerMsg::Deleted(_) => 18,
        ServerMsg::Reacted(_) => 19,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_s_figures_are_named_as_it_says() {
        let m = Metrics::new();
        m.connected(Transport::WebSocket);
        m.connected(Transport::Http);
        m.closed(Transport::Http, Some(1000), false);
        m.stored(3);
        m.delivered(10_000, 1_000_000);
        let text = m.encode();
        assert!(text.contains("chat_connections{transport=\"websocket\"} 1\n"), "{text}");
        assert!(text.contains("chat_connections{transport=\"http\"} 0\n"), "{text}");
        assert!(text.contains("chat_messages_total 1\n"), "{text}");
        assert!(text.contains("chat_deliveries_total 10000\n"), "{text}");
        assert!(text.contains("chat_closes_total{code=\"1000\"} 1\n"), "{text}");
    }

    #[test]
    fn every_frame_is_labelled_with_its_type() {
        use common::protocol::samples;
        for msg in samples::server() {
            assert_eq!(OUT_TYPES[out_index(&msg)], samples::server_kind(&msg));
        }
        for msg in samples::client() {
            assert_eq!(FRAME_TYPES[frame_index(&msg)], samples::client_kind(&msg));
        }
    }
}
