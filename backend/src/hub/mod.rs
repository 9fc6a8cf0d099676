//! The shared state of the server and every protocol rule: connections and their nicks,
//! rooms and their members, and what each request makes the server send to whom. This
//! file holds the lock, the state's parts together, and the operations on a connection's
//! life (connect, disconnect, a request handled, the store's writes delivered).
//!
//! The hub never waits on a socket: it queues encoded frames on bounded [`Link`]s, so one
//! slow client can never stall a room. Nor does it wait on the disk under its lock: reads
//! of history happen with the lock released (see [`Hub::handle`]'s `join`), and taking a
//! new message is memory only (see `store`). A broadcast is encoded once and the same bytes go
//! to every receiver. All state sits behind one std `Mutex`: no `.await` ever happens
//! under it, every operation under it is short (a push is a queue append), and one lock
//! keeps replies and broadcasts in a single order for everyone. The writes themselves
//! happen after the lock is released: every operation returns the [`Deliveries`] it
//! queued, and its caller flushes them, so a broadcast's syscalls never hold up the rest
//! of the server.
//!
//! Each connection speaks the protocol version its handshake chose. The rules exist once,
//! here; where the versions differ (`joined`'s members, presence in big rooms, the
//! directory), the hub encodes each version's frame once and gives it to that version's
//! connections. The state is made of parts with private fields, each keeping its own
//! invariants; the rules of each request are files of their own:
//! - `sessions`: connections, the nick table, resume tokens, nicks of closed connections;
//! - `rooms`: the rooms with a member, their looks, and which changed for the directory
//!   and for `presence_count`;
//! - `room`: one room's members, broadcasts, presence (counted in big rooms), member pages;
//! - `cmd`: each request's rules but `join`'s (`nick`, `leave`, `say`, `typing`,
//!   `history`, `members`, and `change`: `edit`, `delete`, `react`), and [`Hub::apply`],
//!   their dispatch;
//! - `directory`: the room directory and its pushes (full lists, version 2's first view,
//!   pages, search and deltas);
//! - `watch`: which directory entries each version 2 connection holds, and who holds each;
//! - `join`: a `join`'s admission (private rooms, member limits), its trips off the lock,
//!   and its end (`joined`, once its history is read);
//! - `moderate`: kicks and bans (by resume token and address, ending by themselves), from
//!   the operator's API or another node through the cluster's events;
//! - `roles`: a room's owner and moderators, and the one question moderation asks
//!   (`State::role`: owner, moderator or member, by resume token);
//! - `private`: private rooms' passwords (Argon2, off the lock) and wrong guesses;
//! - `read`: what a request does once the lock is released (reads of the store, on the
//!   blocking pool when it may block) and sends;
//! - `replica`: with `--redis`, the other nodes' members, fed only by the cluster's
//!   events through [`Hub::apply_cluster`], and this node's changes for the cluster.
//!
//! A `join` is the one request that may need more than one trip to the lock: the rules run
//! under it as far as they can, and when they need the store's settings of a room not
//! known here (no member here, or only other nodes'), or a password hashed or checked, the
//! lock is released, that is done (on the blocking pool, awaited by the handler through
//! [`Hub::read`], but for a read of the memory store), and the rules run again with what
//! it established ([`Joining`]). Whatever changed meanwhile is judged afresh on the next
//! trip, so nothing decided on stale state is acted on.

mod cmd;
mod directory;
mod join;
mod moderate;
mod private;
mod read;
mod replica;
mod roles;
mod room;
mod rooms;
mod sessions;
mod watch;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::v2::MEMBERS_PAGE;
use common::{
    JOIN_HISTORY, Nick, Password, PresenceEvent, RESUME_HISTORY_MAX, Request, RoomName, ServerMsg, Version,
};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::cluster::events::Op;
use crate::conn::link::{Close, Deliveries, Frame, Link};
use crate::encode::{encode, refusal};
use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::names::NickKey as _;
use crate::store::{History, Outcome, Page, Roles, RoomSettings, SenderKey, Store, StoredRoom, Written};
pub use cmd::change::Deleting;
use join::{Admit, Joining};
pub use moderate::Kicked;
use private::{Work, Worked};
pub use read::{Handled, READS_AT_ONCE, Read};
use read::{Next, Pending, fetch, read_room};
use replica::{Replica, nick_of};
use room::{Member, Room};
use rooms::Rooms;
use sessions::{Conn, Sessions, new_token, valid_token};
use watch::Watchers;

pub type ConnId = u64;

/// A cheap handle to the shared state.
#[derive(Debug, Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The store's reading side, used with the lock released.
    history: History,
    /// Wakes the directory task when member counts may have changed.
    directory_changed: Notify,
    /// Wakes the presence task when a big room has counted presence to send.
    counted: Notify,
    /// Bounds the Argon2 work of private rooms running at once (CPU and 19 MiB each).
    hashing: Semaphore,
    /// Permits for reads of a store that may block ([`READS_AT_ONCE`]).
    readers: Arc<Semaphore>,
    /// The node's figures (see `metrics`).
    metrics: Arc<Metrics>,
}

/// How often, at most, a big room sends its version 2 members a `presence_count`.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct State {
    /// This node's connections, the nick table and the resume tokens.
    sessions: Sessions,
    /// Rooms with a member, and what changed in them for the directory and presence counts.
    rooms: Rooms,
    store: Store,
    /// Links given a frame under the lock, handed to the operation's caller with the lock's
    /// release ([`Locked::unlock`]) to be written then.
    dirty: Deliveries,
    /// With `--redis`: the other nodes' members, and where this node's changes go.
    cluster: Option<Replica>,
    /// The node's figures: what was queued under the lock is counted at its release.
    metrics: Arc<Metrics>,
    /// Kicks' and bans' state: the bans, and this node's connections' addresses.
    moderation: moderate::Bans,
    /// Where the pictures of deleted messages go once no message names them.
    orphans: crate::change::Orphans,
    /// Version 2 connections and the directory entries each holds.
    watch: Watchers,
}

/// Queues a frame for one connection, to be written when the hub's lock is released. A
/// full queue closes that connection as too slow (see `link`); a gone one is being
/// cleaned up by its handler. Neither concerns the others.
fn queue(link: &Link, frame: Frame, dirty: &mut Deliveries) {
    dirty.queue(link, frame);
}

/// The hub's state, locked. The frames queued under it are written by whoever released it
/// with [`Locked::unlock`], which hands them over.
struct Locked<'a>(MutexGuard<'a, State>);

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.0
    }
}

impl Locked<'_> {
    /// Releases the lock and returns the links given frames under it, to be flushed.
    /// What they were given is counted here, once per operation (never per delivery).
    fn unlock(mut self) -> Deliveries {
        let mut dirty = std::mem::take(&mut self.0.dirty);
        let counted = dirty.take_counted();
        self.0.metrics.delivered(counted.frames, counted.bytes);
        dirty
    }
}

impl Hub {
    /// A hub whose rooms above `presence_threshold` members count presence for version 2.
    pub fn new(store: Store, history: History, presence_threshold: usize) -> Self {
        let metrics = Arc::new(Metrics::new());
        let state = State {
            sessions: Sessions::new(),
            rooms: Rooms::new(presence_threshold),
            store,
            dirty: Deliveries::default(),
            cluster: None,
            metrics: metrics.clone(),
            moderation: moderate::Bans::default(),
            orphans: crate::change::Orphans::default(),
            watch: Watchers::default(),
        };
        let shared = Shared {
            state: Mutex::new(state),
            history,
            directory_changed: Notify::new(),
            counted: Notify::new(),
            hashing: Semaphore::new(private::HASHING_MAX),
            readers: Arc::new(Semaphore::new(READS_AT_ONCE)),
            metrics,
        };
        Self { shared: Arc::new(shared) }
    }

    fn lock(&self) -> Locked<'_> {
        // A panic under the lock leaves no half-applied invariant we rely on more than
        // the server staying up, so keep serving with the state as it is (the links it had
        // given frames go out with the next operation's).
        Locked(self.shared.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs `f` under the lock; returns what it returned and what it queued, to be
    /// flushed by the caller.
    fn locked<R>(&self, f: impl FnOnce(&mut State) -> R) -> (R, Deliveries) {
        let mut state = self.lock();
        let r = f(&mut state);
        (r, state.unlock())
    }

    /// Registers a connection and queues its `welcome`. With the resume token of an open
    /// connection, the new one takes its place and its nick (the old socket is closed);
    /// with that of one closed lately, its nick if still free; otherwise it gets a free
    /// guest nick. A token the server does not know (say, after a
    /// restart) is kept, so the client's `cid`s stay de-duplicated. `version` is what its
    /// handshake negotiated.
    pub fn connect(&self, link: Link, resume: Option<&str>, version: Version) -> (ConnId, Deliveries) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let id = state.sessions.next_id();
        let sender: SenderKey = match resume.filter(|t| valid_token(t)) {
            Some(t) => t.into(),
            None => new_token().into(),
        };
        let mut nick = None;
        let mut admitted = HashSet::new();
        if let Some(old) = state.sessions.by_token(&sender)
            && let Some(conn) = state.remove_conn(old)
        {
            conn.link.close(Close {
                code: REPLACED,
                reason: "replaced by a new connection",
                last_frame: None,
                too_slow: false,
            });
            let (_, old, rooms) = conn.departing();
            (nick, admitted) = (Some(old), rooms);
            self.shared.directory_changed.notify_one();
        }
        if nick.is_none() {
            nick = state.remote_nick_of_token(&sender);
        }
        if nick.is_none()
            && let Some((old, rooms)) = state.sessions.departed(&sender)
        {
            admitted = rooms;
            nick = old;
        }
        let nick = nick.unwrap_or_else(|| state.sessions.guest_nick());
        let token = sender.to_string();
        let key = (nick.key(), nick.to_string());
        let welcome_nick = nick.to_string();
        state.sessions.insert(id, Conn::new(nick, link.clone(), sender, version, admitted));
        state.metrics.session(version, true);
        // Version 1 gets the whole directory (its contract); version 2 a first view of it.
        let (rooms, rooms_total) = match version {
            Version::V1 => (state.directory(), None),
            Version::V2 => {
                let total = state.rooms.listed();
                state.watch.add(id, total);
                (state.first_view(id), Some(total))
            }
        };
        let welcome = encode(&ServerMsg::Welcome {
            protocol: version.number(),
            nick: welcome_nick,
            rooms,
            resume: Some(token.clone()),
            rooms_total,
        });
        queue(&link, welcome, &mut state.dirty);
        if state.clustered() {
            // Its nick first; two guest nicks in case another node took it meanwhile.
            let mut nicks = vec![key];
            for _ in 0..2 {
                let guest = state.sessions.guest_nick();
                nicks.push((guest.key(), guest.to_string()));
            }
            state.cluster_op(|epoch| Op::Connect { epoch, conn: id, token, nicks });
        }
        self.wake_counts(state);
        (id, guard.unlock())
    }

    /// Removes a connection: it leaves every room (the others are told) and frees its nick.
    pub fn disconnect(&self, id: ConnId) -> Deliveries {
        let mut state = self.lock();
        if let Some(conn) = state.remove_conn(id) {
            if !conn.rooms.is_empty() {
                self.shared.directory_changed.notify_one();
            }
            self.wake_counts(&state);
            let (sender, nick, admitted) = conn.departing();
            state.sessions.remember(sender, nick, admitted);
        }
        state.unlock()
    }

    /// Acts on what the durable store's writer did with a batch: delivers what it
    /// committed to the rooms' current members, gives a sender back the stored copy of an
    /// old retry, and tells the senders of what could not be written.
    pub fn deliver(&self, written: Written) -> Deliveries {
        let mut guard = self.lock();
        let state = &mut *guard;
        for outcome in written {
            state.store.written(&outcome);
            match outcome {
                Outcome::Stored(_, msg) => {
                    // In a cluster this is the fan-out's copy, stored by whichever node
                    // took it (and counted there, as `Published`).
                    if !state.clustered() {
                        state.metrics.stored(now_ms().saturating_sub(msg.ts));
                    }
                    let Ok(room) = RoomName::parse(&msg.room) else { continue };
                    if let Some(members) = state.rooms.get_mut(&room) {
                        members.deliver(msg, &mut state.dirty);
                    }
                }
                // The cluster's fan-out delivers it, here as on every node.
                Outcome::Published(_, msg) => state.metrics.stored(now_ms().saturating_sub(msg.ts)),
                Outcome::Existing(sender, msg) => {
                    let Some((conn_id, conn)) =
                        state.sessions.by_token(&sender).and_then(|id| Some((id, state.sessions.get(id)?)))
                    else {
                        continue;
                    };
                    // A member of the room that has not been given it yet gets it from the
                    // room, in order (in a cluster, a retry on another node can find the
                    // message stored before this node's fan-out brings it): sent alone
                    // now, it would come ahead of older messages.
                    let coming = RoomName::parse(&msg.room)
                        .ok()
                        .and_then(|room| state.rooms.get(&room)?.members.get(&conn_id))
                        .is_some_and(|m| m.held.is_some() || msg.id > m.shown);
                    if !coming {
                        queue(&conn.link, encode(&ServerMsg::Message(msg)), &mut state.dirty);
                    }
                }
                Outcome::Failed(sender, msg) => {
                    if let Some(conn) = state.sessions.by_token(&sender).and_then(|id| state.sessions.get(id))
                    {
                        queue(&conn.link, refusal(&RequestError::Unavailable, msg.cid), &mut state.dirty);
                    }
                }
                // Changes of messages (`hub::cmd::change`).
                Outcome::Changed(changed) => state.stored_change(changed),
                Outcome::Refused { sender, room, id, cid, refusal } => {
                    state.change_refused(&sender, RequestError::refused(refusal, room, id), cid);
                }
                Outcome::ChangeFailed(sender) => {
                    state.change_refused(&sender, RequestError::Unavailable, None)
                }
            }
        }
        guard.unlock()
    }

    /// Applies one validated request from connection `id`. What needs the store's history
    /// is read after the lock is released (a slow disk must not stall every room): at once
    /// from the memory store, and from a store that may block (a disk, Redis) only through
    /// [`Hub::read`], which the handler awaits.
    ///
    /// A `join` may need more first ([`Joining`]): the settings of a room this node has no
    /// settings of (read like history: at once from memory, through [`Hub::read`] from a
    /// store that may block), and a private room's password hashed or checked (Argon2,
    /// always through [`Hub::read`]: tens of milliseconds of CPU never run on a runtime
    /// thread).
    ///
    /// Returns, beside that, the links it gave frames, for the caller to flush.
    pub fn handle(&self, id: ConnId, request: Request) -> (Result<Handled, RequestError>, Deliveries) {
        let mut out = Deliveries::default();
        let handled = self.handle_into(id, request, &mut out);
        (handled, out)
    }

    /// [`Hub::handle`], adding the links it gives frames to `out`.
    fn handle_into(
        &self,
        id: ConnId,
        request: Request,
        out: &mut Deliveries,
    ) -> Result<Handled, RequestError> {
        let next = match request {
            Request::Join { room, after, password, max } => {
                let mut joining = Joining::new(room, after, password, max);
                loop {
                    let (admitted, queued) = self.locked(|state| self.admit(state, id, &joining));
                    out.append(queued);
                    match admitted? {
                        Admit::Done(next) => break next,
                        Admit::Work(work) => {
                            return Ok(Handled::Read(Read(Box::new(Pending::Join(joining, Some(work))))));
                        }
                        Admit::Read if self.shared.history.may_block() => {
                            return Ok(Handled::Read(Read(Box::new(Pending::Join(joining, None)))));
                        }
                        // Only once: the next trip has the stored room.
                        Admit::Read => joining.stored = Some(read_room(&self.shared.history, &joining.room)?),
                    }
                }
            }
            request => {
                let (next, queued) = self.locked(|state| self.apply(state, id, request));
                out.append(queued);
                next?
            }
        };
        if matches!(next, Next::Done) {
            return Ok(Handled::Done(0));
        }
        if self.shared.history.may_block() {
            return Ok(Handled::Read(Read(Box::new(Pending::Next(next)))));
        }
        let fetched = fetch(&self.shared.history, &next);
        let (finished, queued) = self.finish(id, next, fetched);
        out.append(queued);
        finished.map(Handled::Done)
    }

    /// Sends the presence counted in big rooms to their version 2 members, one
    /// `presence_count` per room at most once per [`PRESENCE_INTERVAL`]: in a room of any
    /// size, a join costs a counter increment, and the count's frame is shared.
    pub async fn run_presence(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = self.shared.counted.notified() => {}
                () = shutdown.cancelled() => return,
            }
            let ((), out) = self.locked(State::flush_counted);
            out.flush();
            tokio::time::sleep(PRESENCE_INTERVAL).await;
        }
    }

    /// Wakes the presence task if a room has counted presence to send.
    fn wake_counts(&self, state: &State) {
        if state.rooms.any_counted() {
            self.shared.counted.notify_one();
        }
    }

    /// The number of open connections (for logs and tests).
    /// Whether `token` is the resume token of an open connection (the credential of the
    /// HTTP calls, such as uploads).
    pub fn is_open(&self, token: &str) -> bool {
        self.lock().sessions.is_open(token)
    }

    /// The node's figures, for `/metrics` and whoever counts.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    pub fn connections(&self) -> usize {
        self.lock().sessions.len()
    }

    /// A connection's resume token (the credential of an HTTP stream's `POST`s).
    pub fn token(&self, id: ConnId) -> Option<String> {
        self.lock().sessions.get(id).map(|c| c.sender.to_string())
    }

    /// The current nick of a connection.
    pub fn nick(&self, id: ConnId) -> Option<String> {
        self.lock().sessions.get(id).map(|c| c.nick().to_string())
    }
}

impl State {
    /// Forgets a connection: it leaves every room (the others are told), its nick and
    /// token are freed. Returns it, or `None` if it was already gone.
    fn remove_conn(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.sessions.remove(id)?;
        self.metrics.session(conn.version, false);
        self.moderation.forget(id);
        self.watch.remove(id);
        for room in &conn.rooms {
            self.remove_member(room, id, conn.nick());
        }
        self.cluster_op(|epoch| Op::Disconnect { epoch, conn: id });
        Some(conn)
    }

    /// Sends every pending `presence_count`.
    fn flush_counted(&mut self) {
        self.rooms.flush_counted(&mut self.dirty);
    }

    /// Removes `id` from `room`, tells the remaining members, and forgets an empty room.
    fn remove_member(&mut self, room: &RoomName, id: ConnId, nick: &Nick) {
        self.rooms.remove_member(room, id, nick, &mut self.dirty);
    }
}

/// The most private rooms a session remembers being admitted to.
const ADMITTED_MAX: usize = 1000;

/// Close code for a connection whose resume token was taken over by a newer connection
/// (application range 4000-4999): the client must not reconnect with it.
pub const REPLACED: u16 = common::close::REPLACED;

pub fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// For tests in this crate: a message as the hub would store it.
#[cfg(test)]
pub fn decode(frame: &Frame) -> ServerMsg {
    serde_json::from_slice(crate::ws::payload(frame)).expect("the hub sends valid frames")
}

#[cfg(test)]
mod tests;
