//! Kicks and bans: who may not come back (a room, or the whole server) until when, by
//! resume token and by address, and the acts themselves on the connections this node
//! holds. The operator's API (`admin`) and the cluster's events (a kick or ban decided on
//! another node) come through here; the rules of who may do it are the callers'.
//!
//! Bans end by themselves: each holds its end (ms since the epoch, the same on every
//! node), and every check is given the time, so a test can move the clock. The table is
//! bounded ([`BANS_MAX`]): ended bans are dropped when it fills, and past that the oldest
//! ending goes first. A loopback address is never banned (it is a proxy on this machine,
//! standing for everyone behind it).
//!
//! Bans are also kept by the store ([`Hub::keep_bans`]), so that a node that restarts, or
//! joins a cluster later, knows them: each new ban is queued (bounded, never awaited under
//! the lock) for a task that writes it off the async threads, and a node reads the bans
//! not yet ended when it starts.

use std::collections::HashMap;
use std::net::IpAddr;

use common::{Nick, RoomName, ServerMsg};
use tokio::sync::mpsc;

use super::{ConnId, Hub, State, now_ms, queue};
use crate::cluster::events::{Moderation, Op};
use crate::conn::link::{Close, Deliveries};
use crate::encode::encode;
use crate::store::{History, SenderKey};

/// Bans kept at most (tokens and addresses together).
pub const BANS_MAX: usize = 100_000;

/// New bans waiting to be written to the store at most; past it a ban is kept in memory
/// only (and the log says so).
const BANS_TO_WRITE: usize = 1024;

/// What a ban keeps out: a resume token or an address, of a room or (`None`) the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Token(SenderKey, Option<RoomName>),
    Address(IpAddr, Option<RoomName>),
}

impl Key {
    /// How the store keeps it: a JSON array, `["token", <token>, <room or null>]` or
    /// `["address", <address>, <room or null>]` (room names and addresses may hold any
    /// separator a plain string would use).
    fn stored(&self) -> String {
        let (kind, what, room) = match self {
            Self::Token(token, room) => ("token", token.to_string(), room),
            Self::Address(address, room) => ("address", address.to_string(), room),
        };
        serde_json::json!([kind, what, room.as_ref().map(RoomName::as_str)]).to_string()
    }

    /// The key [`Key::stored`] made; `None` for anything else (the store's data is not
    /// trusted to be ours: it is skipped, never a panic).
    fn parse(stored: &str) -> Option<Self> {
        let (kind, what, room): (String, String, Option<String>) = serde_json::from_str(stored).ok()?;
        let room = match room {
            Some(room) => Some(RoomName::parse(&room).ok()?),
            None => None,
        };
        match kind.as_str() {
            "token" => Some(Self::Token(SenderKey::from(what), room)),
            "address" => Some(Self::Address(what.parse().ok()?, room)),
            _ => None,
        }
    }
}

/// The bans and the addresses of this node's connections.
#[derive(Debug, Default)]
pub(super) struct Bans {
    /// Each ban's end, ms since the epoch.
    bans: HashMap<Key, u64>,
    /// Where each connection of this node comes from (the client's own address behind a
    /// trusted proxy).
    addresses: HashMap<ConnId, IpAddr>,
    /// New bans for the store, once [`Hub::keep_bans`] started its writer.
    to_store: Option<mpsc::Sender<(String, u64)>>,
}

/// What became of a kick or a ban of a nick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kicked {
    /// Done here: the person was on this node.
    Here,
    /// The person is another node's: that node does it (the caller tells the cluster).
    Elsewhere,
    /// Nobody has that nick, or (with a room) it is not in that room.
    NotFound,
}

impl Bans {
    pub(super) fn address(&self, id: ConnId) -> Option<IpAddr> {
        self.addresses.get(&id).copied()
    }

    pub(super) fn forget(&mut self, id: ConnId) {
        self.addresses.remove(&id);
    }

    /// Whether a ban holds `token` or `address` out of `room` (or the server: `None`)
    /// at `now`; a server ban keeps out of every room too.
    pub(super) fn banned(
        &self,
        token: Option<&SenderKey>,
        address: Option<IpAddr>,
        room: Option<&RoomName>,
        now: u64,
    ) -> bool {
        let holds = |key: &Key| self.bans.get(key).is_some_and(|&until| until > now);
        let scopes = [None, room.cloned()];
        let scopes = if room.is_some() { &scopes[..] } else { &scopes[..1] };
        scopes.iter().any(|scope| {
            token.is_some_and(|t| holds(&Key::Token(t.clone(), scope.clone())))
                || address.is_some_and(|a| holds(&Key::Address(a, scope.clone())))
        })
    }

    fn ban(&mut self, key: Key, until: u64, now: u64) {
        if let Key::Address(a, _) = &key
            && crate::admission::canonical(*a).is_loopback()
        {
            return;
        }
        if self.bans.len() >= BANS_MAX && !self.bans.contains_key(&key) {
            self.bans.retain(|_, &mut end| end > now);
            if self.bans.len() >= BANS_MAX
                && let Some(first) = self.bans.iter().min_by_key(|(_, end)| **end).map(|(k, _)| k.clone())
            {
                self.bans.remove(&first);
            }
        }
        if let Some(to_store) = &self.to_store
            && to_store.try_send((key.stored(), until)).is_err()
        {
            tracing::error!(until, "a ban is kept in this node's memory only: the store is too far behind");
        }
        let end = self.bans.entry(key).or_insert(until);
        *end = (*end).max(until);
    }
}

impl Hub {
    /// Reads the bans the store keeps that have not ended (a restarted node's, the
    /// cluster's) into this node's table, then writes every new ban to the store from a
    /// task of its own. Called once, when the server starts; a store that cannot be read
    /// is logged, and the node starts without the bans kept there.
    pub async fn keep_bans(&self) {
        let history = self.shared.history.clone();
        let now = now_ms();
        match tokio::task::spawn_blocking(move || history.bans(now)).await {
            Ok(Ok(stored)) => {
                let mut state = self.lock();
                let mut kept = 0;
                for (key, until) in stored {
                    if let Some(key) = Key::parse(&key) {
                        state.moderation.ban(key, until, now);
                        kept += 1;
                    }
                }
                if kept > 0 {
                    tracing::info!(bans = kept, "bans read from the store");
                }
            }
            failed => tracing::error!(?failed, "the stored bans could not be read: starting without them"),
        }
        let (tx, rx) = mpsc::channel(BANS_TO_WRITE);
        self.lock().moderation.to_store = Some(tx);
        tokio::spawn(write_bans(self.shared.history.clone(), rx));
    }

    /// The room directory as it is now (every node's members, with `--redis`).
    pub fn rooms(&self) -> Vec<common::RoomInfo> {
        self.lock().directory()
    }

    /// Where `nick` is: its nick as written, whether on this node, and its rooms (for the
    /// operator's search); `None` when nobody has it.
    pub fn person(&self, nick: &Nick) -> Option<(String, bool, Vec<String>)> {
        let state = self.lock();
        let id = state.sessions.nick_owner(nick)?;
        if let Some(conn) = state.sessions.get(id) {
            return Some((
                conn.nick().to_string(),
                true,
                conn.rooms.iter().map(ToString::to_string).collect(),
            ));
        }
        let nick = super::replica::nick_of(&state.sessions, &state.cluster, id)?.clone();
        let rooms =
            state.rooms.iter().filter(|(_, r)| r.contains(id)).map(|(name, _)| name.to_string()).collect();
        Some((nick.to_string(), false, rooms))
    }

    /// Records where connection `id` comes from (for bans by address).
    pub fn set_address(&self, id: ConnId, address: IpAddr) {
        let mut state = self.lock();
        // A connection already gone (replaced at once) would never be forgotten.
        if state.sessions.get(id).is_some() {
            state.moderation.addresses.insert(id, address);
        }
    }

    /// Whether a server-wide ban keeps this resume token or address out now (the
    /// upgrade and the HTTP stream answer `403`).
    pub fn banned_from_server(&self, token: Option<&str>, address: IpAddr) -> bool {
        let token = token.map(SenderKey::from);
        self.lock().moderation.banned(token.as_ref(), Some(address), None, now_ms())
    }

    /// Kicks (or, with `until`, bans) `nick` out of `room`, or off the server; `by` is the
    /// owner's or moderator's nick, `None` for the operator. Acts on a connection of this
    /// node at once, records the ban here by token (and address when the person is here),
    /// tells the cluster when the person is [`Kicked::Elsewhere`] (with a ban, always:
    /// every node must keep it), and says where the person was.
    pub fn kick(
        &self,
        nick: &Nick,
        room: Option<&RoomName>,
        until: Option<u64>,
        by: Option<&str>,
    ) -> (Kicked, Deliveries) {
        self.locked(|state| self.kick_shared(state, nick, room, until, by))
    }

    /// [`Hub::kick`] under the lock: acts here, and tells the cluster when the person is
    /// elsewhere or a ban must be kept by every node.
    pub(super) fn kick_shared(
        &self,
        state: &mut State,
        nick: &Nick,
        room: Option<&RoomName>,
        until: Option<u64>,
        by: Option<&str>,
    ) -> Kicked {
        let kicked = self.kick_locked(state, nick, room, until, by);
        if kicked == Kicked::Elsewhere || (kicked == Kicked::Here && until.is_some()) {
            let moderation = Moderation::Kick {
                nick: nick.to_string(),
                room: room.map(ToString::to_string),
                until,
                by: by.map(str::to_owned),
            };
            state.cluster_op(|epoch| Op::Moderate { epoch, moderation });
        }
        kicked
    }

    fn kick_locked(
        &self,
        state: &mut State,
        nick: &Nick,
        room: Option<&RoomName>,
        until: Option<u64>,
        by: Option<&str>,
    ) -> Kicked {
        let now = now_ms();
        let Some(id) = state.sessions.nick_owner(nick) else { return Kicked::NotFound };
        let Some(conn) = state.sessions.get(id) else {
            // Another node's member: its token is known here from the replica.
            let Some((token, in_room)) = state.remote_member(id, room) else { return Kicked::NotFound };
            if !in_room {
                return Kicked::NotFound;
            }
            if let Some(until) = until {
                state.moderation.ban(Key::Token(token, room.cloned()), until, now);
            }
            return Kicked::Elsewhere;
        };
        if room.is_some_and(|r| !conn.rooms.contains(r)) {
            return Kicked::NotFound;
        }
        let sender = conn.sender.clone();
        if let Some(until) = until {
            state.moderation.ban(Key::Token(sender, room.cloned()), until, now);
            // A loopback address stands for everyone behind a proxy on this machine.
            if let Some(&address) = state.moderation.addresses.get(&id)
                && !crate::admission::canonical(address).is_loopback()
            {
                state.moderation.ban(Key::Address(address, room.cloned()), until, now);
                let room = room.map(ToString::to_string);
                let moderation = Moderation::Address { address, room, until };
                state.cluster_op(|epoch| Op::Moderate { epoch, moderation });
            }
        }
        match room {
            Some(room) => {
                let Some(conn) = state.sessions.get_mut(id) else { return Kicked::NotFound };
                conn.rooms.remove(room);
                let kicked = ServerMsg::Kicked { room: room.to_string(), by: by.map(str::to_owned) };
                queue(&conn.link, encode(&kicked), &mut state.dirty);
                let nick = conn.nick().clone();
                state.remove_member(room, id, &nick);
                let name = room.to_string();
                state.cluster_op(|epoch| Op::Leave { epoch, conn: id, room: name });
                self.shared.directory_changed.notify_one();
                self.wake_counts(state);
            }
            None => {
                if let Some(conn) = state.remove_conn(id) {
                    let reason =
                        if until.is_some() { crate::banned::REASON } else { "kicked by the operator" };
                    conn.link.close(Close {
                        code: common::close::KICKED,
                        reason,
                        last_frame: None,
                        too_slow: false,
                    });
                    if !conn.rooms.is_empty() {
                        self.shared.directory_changed.notify_one();
                    }
                    self.wake_counts(state);
                }
            }
        }
        tracing::info!(%nick, room = room.map(RoomName::as_str), by, banned_until = until, "kicked");
        Kicked::Here
    }

    /// Applies a kick or ban decided on another node (or this one, come back through
    /// the cluster: then the person is gone already and only the ban is kept again).
    pub(super) fn moderate(&self, state: &mut State, moderation: Moderation) {
        match moderation {
            Moderation::Kick { nick, room, until, by } => {
                let Ok(nick) = Nick::parse(&nick) else { return };
                let room = match room.map(|r| RoomName::parse(&r)) {
                    Some(Ok(room)) => Some(room),
                    Some(Err(_)) => return,
                    None => None,
                };
                self.kick_locked(state, &nick, room.as_ref(), until, by.as_deref());
            }
            Moderation::Role { room, token, nick, on } => {
                let (Ok(room), Ok(nick)) = (RoomName::parse(&room), Nick::parse(&nick)) else { return };
                state.set_moderator(&room, &SenderKey::from(token), &nick, on);
            }
            Moderation::Address { address, .. } if crate::admission::canonical(address).is_loopback() => {}
            Moderation::Address { address, room, until } => {
                let room = match room.map(|r| RoomName::parse(&r)) {
                    Some(Ok(room)) => Some(room),
                    Some(Err(_)) => return,
                    None => None,
                };
                state.moderation.ban(Key::Address(address, room.clone()), until, now_ms());
                // Whoever comes from there is out now, on this node too.
                let held: Vec<ConnId> = state
                    .moderation
                    .addresses
                    .iter()
                    .filter(|(_, a)| **a == address)
                    .map(|(id, _)| *id)
                    .collect();
                for id in held {
                    let Some(nick) = state.sessions.get(id).map(|c| c.nick().clone()) else { continue };
                    self.kick_locked(state, &nick, room.as_ref(), Some(until), None);
                }
            }
        }
    }
}

/// Writes each new ban to the store, one at a time, off the async threads; ends with the
/// hub (its sender dropped).
async fn write_bans(history: History, mut bans: mpsc::Receiver<(String, u64)>) {
    while let Some((key, until)) = bans.recv().await {
        let history = history.clone();
        let written = tokio::task::spawn_blocking(move || history.ban(&key, until, now_ms())).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!(?written, until, "a ban could not be written to the store: kept in memory only");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_ends_by_itself_and_a_server_ban_covers_every_room() {
        let mut m = Bans::default();
        let token = SenderKey::from("tok-0123456789abcdef");
        let room = RoomName::parse("den").unwrap();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        m.ban(Key::Token(token.clone(), Some(room.clone())), 2_000, 1_000);
        assert!(m.banned(Some(&token), None, Some(&room), 1_999));
        assert!(!m.banned(Some(&token), None, Some(&room), 2_000), "ended");
        assert!(!m.banned(Some(&token), None, None, 1_500), "a room ban is not a server ban");
        m.ban(Key::Address(address, None), 5_000, 1_000);
        assert!(m.banned(None, Some(address), None, 4_999));
        assert!(m.banned(Some(&SenderKey::from("other")), Some(address), Some(&room), 4_999));
        assert!(!m.banned(None, Some(address), Some(&room), 5_000));
    }

    #[test]
    fn loopback_is_never_banned_as_an_address() {
        let mut m = Bans::default();
        for a in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let a: IpAddr = a.parse().unwrap();
            m.ban(Key::Address(a, None), u64::MAX, 0);
            assert!(!m.banned(None, Some(a), None, 1), "{a}");
        }
    }

    #[test]
    fn a_ban_s_key_reads_back_as_it_was_stored() {
        let room = RoomName::parse("a room: with, [odd] \"names\"").unwrap();
        for key in [
            Key::Token(SenderKey::from("tok-0123456789abcdef"), None),
            Key::Token(SenderKey::from("tok-0123456789abcdef"), Some(room.clone())),
            Key::Address("2001:db8::7".parse().unwrap(), Some(room)),
            Key::Address("192.0.2.7".parse().unwrap(), None),
        ] {
            assert_eq!(Key::parse(&key.stored()), Some(key.clone()), "{}", key.stored());
        }
        for junk in ["", "[]", "[\"user\",\"x\",null]", "[\"address\",\"not an ip\",null]", "{}"] {
            assert_eq!(Key::parse(junk), None, "{junk}");
        }
    }
}
