//! A `--redis` node's part of the cluster's shared state, on the hub's side: the replica
//! of the other nodes' members, and the changes of this node's own that go to Redis.
//!
//! Another node's member is a member of this hub's rooms like any other, without a link:
//! it has an id from the connections' counter, a place in each room's sorted index (so
//! pages, `total`, the threshold of counted presence and the directory count the whole
//! cluster), and its nick in the nick table (so a local `nick` sees it taken at once).
//! Its changes come as the cluster's events (`cluster::events`), already ordered by
//! Redis, through the one entry [`Hub::apply_cluster`]; each is applied here like the
//! local event it mirrors (a `presence` frame encoded once, or a count in a big room). The
//! same entry takes the messages (and their changes) the fan-out brings, another node's `typing` (told to the
//! local members of its room, its typer known here by its nick), Redis's answers to this
//! node's claims, and a start-over. The replica's fields are this file's alone: nothing
//! else feeds it.
//!
//! This node's own changes are applied at once, as on a single node, and queued for Redis
//! (memory only, under the lock) on the [`Outbox`] the cluster gave at start; only a nick
//! waits for Redis's word, since two nodes may claim one at the same moment. A local
//! `typing` is queued there too when its room has members on other nodes. Nothing here
//! waits on Redis or on a socket, and nothing here knows Redis: that is `cluster`'s.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use common::{ChatMessage, Nick, PresenceEvent, RoomName, ServerMsg};
use tokio::sync::mpsc;

use super::room::Event;
use super::sessions::Sessions;
use super::{ConnId, Hub, State, queue};
use crate::cluster::events::{ClusterEvent, Op, Outbox, Snapshot, Typing};
use crate::conn::link::{Close, Deliveries};
use crate::encode::{encode, refusal};
use crate::error::RequestError;
use crate::store::SenderKey;

/// Close code for the sockets of a node that lost its place in the cluster (1012,
/// "service restart"): the client reconnects, to any node, and resumes.
pub const RESTART: u16 = 1012;

#[derive(Debug)]
pub(super) struct Replica {
    ops: mpsc::Sender<Op>,
    /// Set when an op could not be queued: `presence` then starts the node over.
    overflow: Arc<AtomicBool>,
    /// Bumped when the node starts over: changes of an earlier epoch are not sent.
    epoch: u64,
    /// Other nodes' members, by the id this hub gave them, and those ids by member and
    /// by resume token.
    remote: HashMap<ConnId, Remote>,
    ids: HashMap<String, ConnId>,
    tokens: HashMap<SenderKey, ConnId>,
    /// Where this node's typing notices go for the other nodes (bounded; full: dropped).
    typing: mpsc::Sender<Typing>,
}

#[derive(Debug)]
pub(super) struct Remote {
    nick: Nick,
    rooms: BTreeSet<RoomName>,
    token: SenderKey,
}

/// The nick of a local connection or of another node's member.
pub(super) fn nick_of<'a>(
    sessions: &'a Sessions,
    cluster: &'a Option<Replica>,
    id: ConnId,
) -> Option<&'a Nick> {
    sessions.get(id).map(|c| c.nick()).or_else(|| cluster.as_ref()?.remote.get(&id).map(|r| &r.nick))
}

/// Queues a local member's `typing` in `room` for the other nodes (dropped when the queue
/// is full: a notice is ephemeral).
pub(super) fn share_typing(cluster: &Option<Replica>, room: &RoomName, nick: &Nick) {
    let Some(replica) = cluster else { return };
    let _ = replica.typing.try_send(Typing { room: room.to_string(), nick: nick.to_string() });
}

impl Hub {
    /// Makes this hub a node of a cluster: its changes go to `outbox`, and the other
    /// nodes' come through [`Hub::apply_cluster`].
    pub fn join_cluster(&self, outbox: Outbox) {
        let Outbox { ops, overflow, typing } = outbox;
        self.lock().cluster = Some(Replica {
            ops,
            overflow,
            epoch: 0,
            remote: HashMap::new(),
            ids: HashMap::new(),
            tokens: HashMap::new(),
            typing,
        });
    }

    /// Applies what the cluster says, in order, under one lock: the other nodes' members
    /// and their typing, the messages the fan-out brings, and Redis's answers to this
    /// node's own changes. The one way the cluster changes this hub. Without
    /// [`Hub::join_cluster`] only messages are delivered. Returns the links given frames,
    /// to be flushed by the caller.
    pub fn apply_cluster(&self, events: Vec<ClusterEvent>) -> Deliveries {
        if events.is_empty() {
            return Deliveries::default();
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Instant::now();
        for event in events {
            match event {
                ClusterEvent::Connected { member, nick, token } => {
                    state.remote_nick(&member, &nick);
                    state.remote_token(&member, token.into(), true);
                }
                ClusterEvent::Renamed { member, nick } => state.remote_nick(&member, &nick),
                ClusterEvent::Joined { member, room, nick } => state.remote_join(&member, &room, &nick),
                ClusterEvent::Left { member, room } => state.remote_leave(&member, &room),
                ClusterEvent::Gone { member } => state.remote_gone(&member),
                ClusterEvent::Snapshot(snapshot) => state.resync(snapshot),
                ClusterEvent::Typing(notice) => state.remote_typing(notice, now),
                ClusterEvent::Message(msg) => state.fanned_out(msg),
                ClusterEvent::Change(change) => state.changed(change),
                ClusterEvent::Registered { epoch, conn, nick } => state.registered(epoch, conn, &nick),
                ClusterEvent::NickAnswer { epoch, conn, nick, ok } => {
                    state.nick_answer(epoch, conn, &nick, ok)
                }
                ClusterEvent::NickFailed { epoch, conn } => state.nick_failed(epoch, conn),
                ClusterEvent::Moderate(moderation) => self.moderate(state, moderation),
                ClusterEvent::StartOver { epoch } => {
                    state.start_over(epoch);
                    self.shared.directory_changed.notify_one();
                }
            }
        }
        self.after_remote(state);
        guard.unlock()
    }

    fn after_remote(&self, state: &State) {
        if state.rooms.any_touched() {
            self.shared.directory_changed.notify_one();
        }
        self.wake_counts(state);
    }
}

impl State {
    /// Tells this node's members of the room that another node's member is typing, as a
    /// local `typing` would (the same bound in big rooms, per typer). A typer not (yet)
    /// known here as a member of the room is skipped: notices are ephemeral and their
    /// typer renews them.
    fn remote_typing(&mut self, Typing { room, nick }: Typing, now: Instant) {
        let (Ok(room), Ok(nick)) = (RoomName::parse(&room), Nick::parse(&nick)) else { return };
        let Some(replica) = &self.cluster else { return };
        let Some(id) = self.sessions.nick_owner(&nick) else { return };
        let Some(remote) = replica.remote.get(&id).filter(|r| r.rooms.contains(&room)) else { return };
        let threshold = self.rooms.presence_threshold();
        let Some(members) = self.rooms.get_mut(&room) else { return };
        let frame = encode(&ServerMsg::Typing { room: room.to_string(), nick: remote.nick.to_string() });
        members.typing(&frame, id, threshold, now, &mut self.dirty);
    }

    /// Delivers a message the fan-out brought (stored by Redis, from any node) to the
    /// room's members here.
    fn fanned_out(&mut self, msg: ChatMessage) {
        let Ok(room) = RoomName::parse(&msg.room) else { return };
        if let Some(members) = self.rooms.get_mut(&room) {
            members.deliver(msg, &mut self.dirty);
        }
    }

    /// Replaces the replica by `snapshot` (every other node's member), telling the rooms
    /// the difference as if it had come change by change.
    fn resync(&mut self, snapshot: Snapshot) {
        let Some(replica) = &self.cluster else { return };
        let fresh: HashMap<String, (String, String, Vec<String>)> =
            snapshot.into_iter().map(|(m, nick, token, rooms)| (m, (nick, token, rooms))).collect();
        let gone: Vec<String> = replica.ids.keys().filter(|m| !fresh.contains_key(*m)).cloned().collect();
        for member in gone {
            self.remote_gone(&member);
        }
        for (member, (nick, token, rooms)) in fresh {
            self.remote_nick(&member, &nick);
            self.remote_token(&member, token.into(), false);
            let wanted: BTreeSet<RoomName> = rooms.iter().filter_map(|r| RoomName::parse(r).ok()).collect();
            let have = self.remote_rooms(&member);
            for room in have.difference(&wanted) {
                self.remote_leave(&member, room.as_str());
            }
            for room in wanted.difference(&have) {
                self.remote_join(&member, room.as_str(), &nick);
            }
        }
    }

    /// Redis registered connection `conn` with `nick`: if that is not the nick it was
    /// welcomed with (its resume token's, or a guest nick another node took meanwhile),
    /// it changes to it.
    fn registered(&mut self, epoch: u64, conn: ConnId, nick: &str) {
        if !self.current(epoch) || self.sessions.get(conn).is_none_or(|c| c.nick().as_str() == nick) {
            return;
        }
        if let Ok(nick) = Nick::parse(nick) {
            self.rename(conn, nick);
        }
    }

    /// Redis's answer to a nick claim: the change, or `nick_taken`.
    fn nick_answer(&mut self, epoch: u64, conn: ConnId, nick: &str, ok: bool) {
        if !self.current(epoch) {
            return;
        }
        let Some(link) = self.sessions.get(conn).map(|c| c.link.clone()) else { return };
        match Nick::parse(nick) {
            Ok(nick) if ok => self.rename(conn, nick),
            _ => queue(&link, refusal(&RequestError::NickTaken(nick.to_owned()), None), &mut self.dirty),
        }
    }

    /// A nick claim that Redis could not answer: `unavailable` (the client may ask again).
    fn nick_failed(&mut self, epoch: u64, conn: ConnId) {
        if !self.current(epoch) {
            return;
        }
        if let Some(link) = self.sessions.get(conn).map(|c| c.link.clone()) {
            queue(&link, refusal(&RequestError::Unavailable, None), &mut self.dirty);
        }
    }

    /// The node lost its place in the cluster: every socket is closed (its client
    /// reconnects and resumes, here or elsewhere) and changes of an earlier epoch than
    /// `epoch` are no longer sent. The replica of the other nodes stays (`presence` reads
    /// it again).
    fn start_over(&mut self, epoch: u64) {
        let ids = self.sessions.ids();
        for id in ids {
            if let Some(conn) = self.remove_conn(id) {
                conn.link.close(Close {
                    code: RESTART,
                    reason: "this node lost its cluster; reconnect",
                    last_frame: None,
                    too_slow: false,
                });
                let (sender, nick, admitted) = conn.departing();
                self.sessions.remember(sender, nick, admitted);
            }
        }
        if let Some(replica) = &mut self.cluster {
            replica.epoch = epoch;
        }
    }

    /// Queues a change of this node's for Redis (nothing without `--redis`). A full queue
    /// means Redis has been away for long: the node will start over.
    pub(super) fn cluster_op(&mut self, op: impl FnOnce(u64) -> Op) {
        let Some(replica) = &self.cluster else { return };
        if replica.ops.try_send(op(replica.epoch)).is_err() {
            replica.overflow.store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn clustered(&self) -> bool {
        self.cluster.is_some()
    }

    fn current(&self, epoch: u64) -> bool {
        self.cluster.as_ref().is_some_and(|r| r.epoch == epoch)
    }

    fn remote_rooms(&self, member: &str) -> BTreeSet<RoomName> {
        let Some(replica) = &self.cluster else { return BTreeSet::new() };
        replica
            .ids
            .get(member)
            .and_then(|id| replica.remote.get(id))
            .map(|r| r.rooms.clone())
            .unwrap_or_default()
    }

    /// The id of a remote member, created with `nick` if new.
    fn remote_id(&mut self, member: &str, nick: &Nick) -> Option<ConnId> {
        let replica = self.cluster.as_mut()?;
        if let Some(id) = replica.ids.get(member) {
            return Some(*id);
        }
        let id = self.sessions.next_id();
        replica.ids.insert(member.to_owned(), id);
        replica
            .remote
            .insert(id, Remote { nick: nick.clone(), rooms: BTreeSet::new(), token: SenderKey::from("") });
        self.sessions.take_remote_key(nick, id);
        Some(id)
    }

    fn remote_nick(&mut self, member: &str, nick: &str) {
        let Ok(nick) = Nick::parse(nick) else { return };
        let Some(id) = self.remote_id(member, &nick) else { return };
        let Some(remote) = self.cluster.as_mut().and_then(|r| r.remote.get_mut(&id)) else { return };
        if remote.nick == nick {
            return;
        }
        let old = std::mem::replace(&mut remote.nick, nick.clone());
        let rooms: Vec<RoomName> = remote.rooms.iter().cloned().collect();
        self.sessions.free_remote_key(&old, id);
        self.sessions.take_remote_key(&nick, id);
        self.renamed_in(id, rooms, &old, &nick);
    }

    /// Records a remote member's resume token. With `replace`, a local connection that
    /// has the same token is closed as replaced, as on one node: its client resumed on
    /// another node.
    fn remote_token(&mut self, member: &str, token: SenderKey, replace: bool) {
        let Some(replica) = self.cluster.as_mut() else { return };
        let Some(&id) = replica.ids.get(member) else { return };
        let Some(remote) = replica.remote.get_mut(&id) else { return };
        remote.token = token.clone();
        replica.tokens.insert(token.clone(), id);
        let Some(local) = self.sessions.by_token(&token).filter(|_| replace) else { return };
        if let Some(conn) = self.remove_conn(local) {
            conn.link.close(Close {
                code: super::REPLACED,
                reason: "replaced by a new connection",
                last_frame: None,
                too_slow: false,
            });
        }
    }

    /// The nick of another node's member with this resume token: the client is resuming
    /// here before its old connection was seen to end (its node died, or its socket there
    /// is not closed yet). Redis hands the nick over (see `presence`'s `CONNECT`).
    /// Another node's member `id`: its resume token, and whether it is in `room` (any
    /// room: `None`).
    pub(super) fn remote_member(&self, id: ConnId, room: Option<&RoomName>) -> Option<(SenderKey, bool)> {
        let remote = self.cluster.as_ref()?.remote.get(&id)?;
        Some((remote.token.clone(), room.is_none_or(|r| remote.rooms.contains(r))))
    }

    /// Takes another node's member with resume token `token` out of `room` without a word:
    /// its client resumed here and is joining the room again, while its old connection,
    /// on a node that died, is not reaped yet (on one node, the old connection would have
    /// been replaced). Returns whether it was there.
    pub(super) fn replace_remote_in(&mut self, token: &SenderKey, room: &RoomName) -> bool {
        let Some(replica) = self.cluster.as_mut() else { return false };
        let Some(&id) = replica.tokens.get(token) else { return false };
        let Some(remote) = replica.remote.get_mut(&id) else { return false };
        if !remote.rooms.remove(room) {
            return false;
        }
        let nick = remote.nick.clone();
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id, &nick);
        }
        true
    }

    /// Another node's member with this resume token: its id here and its nick.
    pub(super) fn remote_by_token(&self, token: &SenderKey) -> Option<(ConnId, Nick)> {
        let replica = self.cluster.as_ref()?;
        let id = *replica.tokens.get(token)?;
        Some((id, replica.remote.get(&id)?.nick.clone()))
    }

    pub(super) fn remote_nick_of_token(&self, token: &SenderKey) -> Option<Nick> {
        let replica = self.cluster.as_ref()?;
        replica.tokens.get(token).and_then(|id| replica.remote.get(id)).map(|r| r.nick.clone())
    }

    fn remote_join(&mut self, member: &str, room: &str, nick: &str) {
        let (Ok(room), Ok(nick)) = (RoomName::parse(room), Nick::parse(nick)) else { return };
        let Some(id) = self.remote_id(member, &nick) else { return };
        let Some(remote) = self.cluster.as_mut().and_then(|r| r.remote.get_mut(&id)) else { return };
        if !remote.rooms.insert(room.clone()) {
            return;
        }
        let nick = remote.nick.clone();
        let members = self.rooms.entry(&room);
        // Resumed on its node while its old connection's (dead) node is not reaped yet:
        // the person is in the room already, nobody joined.
        let back = members.has_nick(&nick);
        members.add_remote(id, &nick);
        if back {
            self.rooms.touch(room);
            return;
        }
        let frame = encode(&ServerMsg::Presence {
            room: room.to_string(),
            event: PresenceEvent::Join,
            nick: nick.to_string(),
            old_nick: None,
        });
        self.rooms.presence(&room, &frame, Event::Join, None, &mut self.dirty);
        self.rooms.touch(room);
    }

    fn remote_leave(&mut self, member: &str, room: &str) {
        let Ok(room) = RoomName::parse(room) else { return };
        let Some(replica) = self.cluster.as_mut() else { return };
        let Some(&id) = replica.ids.get(member) else { return };
        let Some(remote) = replica.remote.get_mut(&id) else { return };
        if !remote.rooms.remove(&room) {
            return;
        }
        let nick = remote.nick.clone();
        self.remove_member(&room, id, &nick);
    }

    /// A remote member's connection ended: it leaves every room and frees its nick.
    fn remote_gone(&mut self, member: &str) {
        for room in self.remote_rooms(member) {
            self.remote_leave(member, room.as_str());
        }
        let Some(replica) = self.cluster.as_mut() else { return };
        let Some(id) = replica.ids.remove(member) else { return };
        let Some(remote) = replica.remote.remove(&id) else { return };
        if replica.tokens.get(&remote.token) == Some(&id) {
            replica.tokens.remove(&remote.token);
        }
        self.sessions.free_remote_key(&remote.nick, id);
        // Its client may come back here: it gets its nick back if still free, as on one
        // node.
        if !remote.token.is_empty() {
            self.sessions.remember(remote.token, remote.nick, Default::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use common::{Request, Version};

    use super::*;
    use crate::conn::link::{Flushed, Link};
    use crate::hub::decode;
    use crate::store::Store;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    /// A clustered hub (presence threshold 3) and what it queues for Redis.
    fn clustered() -> (Hub, mpsc::Receiver<Op>) {
        let (store, history) = Store::memory(100);
        let hub = Hub::new(store, history, 3);
        let (ops, rx) = mpsc::channel(64);
        let (typing, _) = mpsc::channel(64);
        hub.join_cluster(Outbox { ops, overflow: Arc::new(AtomicBool::new(false)), typing });
        (hub, rx)
    }

    fn member(hub: &Hub, version: Version, nick: &str) -> (ConnId, Link) {
        let link = Link::detached(256);
        let id = hub.connect(link.clone(), None, version).flushed();
        hub.lock().rename(id, Nick::parse(nick).unwrap());
        hub.handle(id, Request::Join { room: room("r"), after: None, password: None, max: None })
            .flushed()
            .unwrap();
        link.sent();
        (id, link)
    }

    fn join(member: &str, nick: &str) -> ClusterEvent {
        ClusterEvent::Joined { member: member.into(), room: "r".into(), nick: nick.into() }
    }

    /// A client whose node died resumes here before the cluster reaps that node: it
    /// replaces its old connection in the room as on one node. Nobody is told it joined,
    /// nor, once the dead node is reaped, that it left.
    #[test]
    fn a_client_resumed_here_from_a_dead_node_replaces_its_old_connection_in_the_room() {
        let (hub, _ops) = clustered();
        let (_, ann) = member(&hub, Version::V2, "ann");
        let token = "tok-bob-0123456789abcdef";
        hub.apply_cluster(vec![
            ClusterEvent::Connected { member: "n2/1".into(), nick: "Bob".into(), token: token.into() },
            join("n2/1", "Bob"),
        ])
        .flush();
        assert_eq!(ann.sent().len(), 1, "Bob's join");
        let link = Link::detached(256);
        let bob = hub.connect(link.clone(), Some(token), Version::V2).flushed();
        hub.handle(bob, Request::Join { room: room("r"), after: None, password: None, max: None })
            .flushed()
            .unwrap();
        let joined = link.sent().iter().map(decode).find(|m| matches!(m, ServerMsg::Joined { .. })).unwrap();
        let ServerMsg::Joined { members, total, .. } = joined else { unreachable!() };
        assert_eq!((total, &members[..]), (Some(2), &["ann".to_owned(), "Bob".to_owned()][..]));
        // The dead node reaped: its connection goes, without a word to the room.
        hub.apply_cluster(vec![ClusterEvent::Gone { member: "n2/1".into() }]).flush();
        let told: Vec<ServerMsg> = ann.sent().iter().map(decode).collect();
        assert!(told.is_empty(), "{told:?}");
        let listed = hub.lock().directory().into_iter().find(|r| r.name == "r").map(|r| r.members);
        assert_eq!(listed, Some(2));
    }

    #[test]
    fn another_node_s_members_are_told_listed_counted_and_hold_their_nicks() {
        let (hub, mut ops) = clustered();
        let (a, la) = member(&hub, Version::V1, "ann");
        let got: Vec<Op> = std::iter::from_fn(|| ops.try_recv().ok()).collect();
        assert!(matches!(&got[..], [Op::Connect { .. }, Op::Join { room, .. }] if room == "r"), "{got:?}");
        hub.apply_cluster(vec![join("n2/1", "Bob")]).flush();
        let told: Vec<ServerMsg> = la.sent().iter().map(decode).collect();
        assert!(
            matches!(&told[..], [ServerMsg::Presence { event: PresenceEvent::Join, nick, .. }] if nick == "Bob")
        );
        // The nick is taken here at once; the room lists and counts Bob.
        assert!(matches!(
            hub.handle(a, Request::Nick(Nick::parse("bob").unwrap())).flushed(),
            Err(RequestError::NickTaken(_))
        ));
        let (_, lc) = {
            let link = Link::detached(256);
            let id = hub.connect(link.clone(), None, Version::V2).flushed();
            hub.handle(id, Request::Join { room: room("r"), after: None, password: None, max: None })
                .flushed()
                .unwrap();
            let joined =
                link.sent().iter().map(decode).find(|m| matches!(m, ServerMsg::Joined { .. })).unwrap();
            let ServerMsg::Joined { members, total, .. } = joined else { unreachable!() };
            assert_eq!(total, Some(3));
            assert_eq!(&members[..2], ["ann", "Bob"]);
            (id, link)
        };
        assert_eq!(hub.lock().directory()[1].members, 3);
        // Above the threshold a remote join is counted for version 2, told to version 1.
        hub.apply_cluster(vec![join("n2/2", "cy")]).flush();
        assert_eq!(la.sent().len(), 2, "the v2 joiner and cy, one by one");
        assert!(lc.sent().is_empty());
        hub.locked(State::flush_counted).1.flush();
        let count: Vec<ServerMsg> = lc.sent().iter().map(decode).collect();
        assert!(matches!(&count[..], [ServerMsg::PresenceCount { joined: 1, total: 4, .. }]), "{count:?}");
        // Its node gone, Bob leaves and his nick is free.
        hub.apply_cluster(vec![
            ClusterEvent::Left { member: "n2/1".into(), room: "r".into() },
            ClusterEvent::Gone { member: "n2/1".into() },
        ])
        .flush();
        let told: Vec<ServerMsg> = la.sent().iter().map(decode).collect();
        assert!(
            matches!(&told[..], [ServerMsg::Presence { event: PresenceEvent::Leave, nick, .. }] if nick == "Bob")
        );
        assert!(hub.handle(a, Request::Nick(Nick::parse("bob").unwrap())).flushed().is_ok());
        // A snapshot without cy: cy leaves too.
        hub.apply_cluster(vec![ClusterEvent::Snapshot(Vec::new())]).flush();
        assert_eq!(hub.lock().directory()[1].members, 2);
    }

    #[test]
    fn another_node_s_typing_reaches_the_room_only_from_a_member_of_it() {
        let (hub, _ops) = clustered();
        let (_, la) = member(&hub, Version::V1, "ann");
        hub.apply_cluster(vec![
            join("n2/1", "Bob"),
            ClusterEvent::Connected { member: "n2/2".into(), nick: "cy".into(), token: "t".into() },
        ])
        .flush();
        la.sent();
        let typing =
            |nick: &str, room: &str| ClusterEvent::Typing(Typing { room: room.into(), nick: nick.into() });
        // Ann's own nick (a notice of hers come back), cy (not in the room), a room nobody
        // here is in, a nick nobody has: nothing.
        hub.apply_cluster(vec![
            typing("ann", "r"),
            typing("cy", "r"),
            typing("Bob", "s"),
            typing("dan", "r"),
        ])
        .flush();
        assert!(la.sent().is_empty());
        hub.apply_cluster(vec![typing("bob", "r")]).flush();
        let told: Vec<ServerMsg> = la.sent().iter().map(decode).collect();
        assert!(matches!(&told[..], [ServerMsg::Typing { nick, .. }] if nick == "Bob"), "{told:?}");
    }

    #[test]
    fn redis_s_answers_hold_only_for_the_epoch_they_were_asked_in() {
        use common::ErrorCode;
        let (hub, mut ops) = clustered();
        let (a, la) = member(&hub, Version::V1, "ann");
        let drain =
            |ops: &mut mpsc::Receiver<Op>| std::iter::from_fn(|| ops.try_recv().ok()).collect::<Vec<_>>();
        drain(&mut ops);
        // A claim waits for Redis's word: here taken, then unanswered, then granted.
        hub.handle(a, Request::Nick(Nick::parse("zed").unwrap())).flushed().unwrap();
        assert!(la.sent().is_empty());
        let claimed = drain(&mut ops);
        assert!(matches!(&claimed[..], [Op::Nick { epoch: 0, conn, .. }] if *conn == a), "{claimed:?}");
        let answer = |epoch, ok| ClusterEvent::NickAnswer { epoch, conn: a, nick: "zed".into(), ok };
        hub.apply_cluster(vec![
            answer(0, false),
            ClusterEvent::NickFailed { epoch: 0, conn: a },
            answer(0, true),
        ])
        .flush();
        let told: Vec<ServerMsg> = la.sent().iter().map(decode).collect();
        assert!(
            matches!(
                &told[..],
                [
                    ServerMsg::Error { code: ErrorCode::NickTaken, .. },
                    ServerMsg::Error { code: ErrorCode::Unavailable, .. },
                    ServerMsg::You { nick },
                    ServerMsg::Presence { event: PresenceEvent::Rename, .. },
                ] if nick == "zed"
            ),
            "{told:?}"
        );
        // The node starts over: its socket is closed (1012), and what it asked before is
        // neither answered nor sent; a new connection's changes carry the new epoch.
        hub.apply_cluster(vec![ClusterEvent::StartOver { epoch: 1 }]).flush();
        let close = Close { code: 1000, reason: "", last_frame: None, too_slow: false };
        assert_eq!(la.close(close).code, RESTART);
        let (b, lb) = member(&hub, Version::V1, "bea");
        hub.apply_cluster(vec![
            ClusterEvent::Registered { epoch: 0, conn: b, nick: "old".into() },
            ClusterEvent::NickFailed { epoch: 0, conn: b },
        ])
        .flush();
        assert!(lb.sent().is_empty());
        let sent = drain(&mut ops);
        let new: Vec<&Op> = sent
            .iter()
            .filter(|op| matches!(op, Op::Connect { conn, .. } | Op::Join { conn, .. } if *conn == b))
            .collect();
        assert!(new.len() == 2 && new.iter().all(|op| op.epoch() == 1), "{sent:?}");
        // Redis gave the new connection another nick than its welcome's: it changes to it.
        hub.apply_cluster(vec![ClusterEvent::Registered { epoch: 1, conn: b, nick: "bee".into() }]).flush();
        let told: Vec<ServerMsg> = lb.sent().iter().map(decode).collect();
        assert!(matches!(told.first(), Some(ServerMsg::You { nick }) if nick == "bee"), "{told:?}");
    }
}
