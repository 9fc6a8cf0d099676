//! What crosses between a node's hub and the rest of its cluster, as closed types: the
//! [`ClusterEvent`]s a node applies (the other nodes' members and their typing, the
//! messages and changes of messages the fan-out brings, Redis's answers to this node's own changes), and what this
//! node's hub queues for Redis through its [`Outbox`] (the [`Op`]s of the shared state, the
//! [`Typing`] notices).
//!
//! A leaf: it knows neither the hub nor Redis. The hub imports this and nothing else of
//! `cluster`, and takes every event through one entry (`Hub::apply_cluster`); the
//! cluster's tasks make the events from what Redis says. So the arrows run one way: the
//! cluster's tasks know the hub, the hub knows only these types.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::{Change, ChatMessage};
use tokio::sync::mpsc;

/// A change of this node's, for Redis's shared state. `epoch` is the hub's when it was
/// made: after the node started over ([`ClusterEvent::StartOver`]), older changes are
/// dropped. `conn` is the hub's id of the local connection.
#[derive(Debug)]
pub enum Op {
    /// A connection opened with the first of `nicks` (the others to fall back on, each
    /// `(key, nick)`), and its resume token.
    Connect {
        epoch: u64,
        conn: u64,
        token: String,
        nicks: Vec<(String, String)>,
    },
    /// A claim of a nick (key, nick).
    Nick {
        epoch: u64,
        conn: u64,
        nick: (String, String),
    },
    Join {
        epoch: u64,
        conn: u64,
        room: String,
    },
    Leave {
        epoch: u64,
        conn: u64,
        room: String,
    },
    Disconnect {
        epoch: u64,
        conn: u64,
    },
    /// A kick or ban for every node (published, not kept in the shared state).
    Moderate {
        epoch: u64,
        moderation: Moderation,
    },
}

impl Op {
    pub fn epoch(&self) -> u64 {
        match self {
            Op::Connect { epoch, .. }
            | Op::Nick { epoch, .. }
            | Op::Join { epoch, .. }
            | Op::Leave { epoch, .. }
            | Op::Disconnect { epoch, .. }
            | Op::Moderate { epoch, .. } => *epoch,
        }
    }
}

/// A `typing` notice as it crosses the cluster: who typed (a nick, unique in the cluster)
/// in which room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typing {
    pub room: String,
    pub nick: String,
}

/// Every other node's member, as Redis holds it: id, nick, resume token, rooms.
pub type Snapshot = Vec<(String, String, String, Vec<String>)>;

/// What a node applies from the rest of its cluster, in the order given. A `member` is
/// another node's connection as Redis names it (`<node>/<connection>`); `epoch` and
/// `conn` name a change of this node's that Redis answered (see [`Op`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// Another node's member connected (its resume token: a local connection with the
    /// same one has been replaced: its client resumed there).
    Connected {
        member: String,
        nick: String,
        token: String,
    },
    Renamed {
        member: String,
        nick: String,
    },
    Joined {
        member: String,
        room: String,
        nick: String,
    },
    Left {
        member: String,
        room: String,
    },
    /// Its connection ended: it leaves every room and frees its nick.
    Gone {
        member: String,
    },
    /// The whole state, read again after a change was missed: the replica becomes this,
    /// the rooms told the difference as if it had come change by change.
    Snapshot(Snapshot),
    /// Another node's member is typing (the typer renews it; one lost does not matter).
    Typing(Typing),
    /// A message Redis stored, from any node (this one's too), in id order per room.
    Message(ChatMessage),
    /// A change of a message Redis stored, in the same order as the room's messages.
    Change(Change),
    /// Redis registered connection `conn` with `nick` (its resume token's, or a guest
    /// nick if another node took the one it was welcomed with).
    Registered {
        epoch: u64,
        conn: u64,
        nick: String,
    },
    /// Redis's answer to a nick claim: `ok`, or taken by another member.
    NickAnswer {
        epoch: u64,
        conn: u64,
        nick: String,
        ok: bool,
    },
    /// A nick claim Redis could not answer (the client may ask again).
    NickFailed {
        epoch: u64,
        conn: u64,
    },
    /// The node lost its place in the cluster: every local connection is closed (its
    /// client resumes, here or elsewhere), and changes of an earlier epoch are dropped.
    StartOver {
        epoch: u64,
    },
    /// A kick or a ban, from the operator or a room's owner or moderator on any node:
    /// every node applies it to what it holds (see [`Moderation`]).
    Moderate(Moderation),
}

/// A kick or a ban as it crosses the cluster (JSON on its own channel). A nick names the
/// person on whichever node holds it; the node that holds it also publishes its address
/// ([`Moderation::Address`]), which only that node knows, so that every node keeps the
/// ban by address too.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Moderation {
    /// Out of `room`, or (no room) off the server; `until` (ms since the epoch) makes it
    /// a ban, kept by the person's resume token and address until then. `by`: the nick of
    /// the owner or moderator who did it, absent for the operator.
    Kick {
        nick: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The owner of `room` named (`on`) or removed a moderator: the session with resume
    /// token `token`, now `nick`.
    Role { room: String, token: String, nick: String, on: bool },
    /// A banned person's address, as the node that held it saw it.
    Address {
        address: std::net::IpAddr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        until: u64,
    },
}

/// The hub's ends of the queues to Redis, handed to it once (`Hub::join_cluster`).
#[derive(Debug)]
pub struct Outbox {
    /// This node's changes of the shared state, in order. Full: `overflow` is raised and
    /// the node starts over, since the cluster's view of it can no longer be kept true.
    pub ops: mpsc::Sender<Op>,
    pub overflow: Arc<AtomicBool>,
    /// This node's typing notices for the other nodes. Full: dropped (a notice is
    /// renewed by its typer every few seconds anyway).
    pub typing: mpsc::Sender<Typing>,
}
