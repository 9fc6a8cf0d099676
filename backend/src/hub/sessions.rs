//! Sessions: this node's connections, the nick table and the resume tokens, and the
//! nicks of connections that closed lately.
//!
//! The invariants live here, behind private fields: a nick's key (lowercase) is in the
//! nick table iff a connection here or another node's member holds it (so nicks are
//! unique case-insensitively across the cluster), and a resume token is in the token
//! table iff an open connection here has it, and the count of version 1 connections is
//! theirs in the table. Everything that adds, removes or renames a
//! connection goes through [`Sessions`]; what the rooms are told of it is the caller's.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use common::{Nick, RoomName, Version};

use super::ConnId;
use super::private::WrongTries;
use crate::conn::link::Link;
use crate::names::NickKey as _;
use crate::store::SenderKey;

/// One connection of this node.
#[derive(Debug)]
pub(super) struct Conn {
    /// Its nick: changed only through [`Sessions::rename`], which keeps the nick table.
    nick: Nick,
    pub(super) rooms: BTreeSet<RoomName>,
    pub(super) link: Link,
    pub(super) sender: SenderKey,
    pub(super) version: Version,
    /// The private rooms this session has been admitted to (by their password, or as their
    /// creator): it may join them again without the password, on a resumed connection too.
    pub(super) admitted: HashSet<RoomName>,
    /// Its wrong passwords lately: past [`super::private::WRONG_MAX`] a minute, joins by
    /// password are refused.
    pub(super) wrong: WrongTries,
}

impl Conn {
    pub(super) fn new(
        nick: Nick,
        link: Link,
        sender: SenderKey,
        version: Version,
        admitted: HashSet<RoomName>,
    ) -> Self {
        Self { nick, rooms: BTreeSet::new(), link, sender, version, admitted, wrong: WrongTries::default() }
    }

    pub(super) fn nick(&self) -> &Nick {
        &self.nick
    }

    /// What a closed connection leaves for its resume token: the token, its nick and the
    /// private rooms it was admitted to.
    pub(super) fn departing(self) -> (SenderKey, Nick, HashSet<RoomName>) {
        (self.sender, self.nick, self.admitted)
    }
}

/// This node's connections, with their nicks and resume tokens.
#[derive(Debug)]
pub(super) struct Sessions {
    /// The next id, for a connection here or another node's member.
    next_id: ConnId,
    conns: HashMap<ConnId, Conn>,
    /// Nick keys (lowercase) to their owner, here or on another node.
    nicks: HashMap<String, ConnId>,
    /// Resume tokens of open connections: a reconnect with one takes the old one's place.
    tokens: HashMap<SenderKey, ConnId>,
    /// The nicks of connections that closed lately, by resume token: a client that comes
    /// back (a phone that switched networks and closed its old socket first) gets its nick
    /// back if nobody took it meanwhile.
    departed: Departed,
    /// Open version 1 connections: only while there are some is the full directory
    /// computed for each push.
    v1_conns: usize,
}

impl Sessions {
    pub(super) fn new() -> Self {
        Self {
            next_id: 1,
            conns: HashMap::new(),
            nicks: HashMap::new(),
            tokens: HashMap::new(),
            departed: Departed::default(),
            v1_conns: 0,
        }
    }

    /// A fresh id, for a connection here or another node's member.
    pub(super) fn next_id(&mut self) -> ConnId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(super) fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(&id)
    }

    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values()
    }

    pub(super) fn ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Whether a version 1 connection is open (it is sent the full directory).
    pub(super) fn any_v1(&self) -> bool {
        self.v1_conns > 0
    }

    /// The open connection with this resume token.
    pub(super) fn by_token(&self, sender: &SenderKey) -> Option<ConnId> {
        self.tokens.get(sender).copied()
    }

    pub(super) fn is_open(&self, token: &str) -> bool {
        self.tokens.contains_key(token)
    }

    /// Who holds the nick with this key (a connection here or another node's member).
    pub(super) fn nick_owner(&self, nick: &Nick) -> Option<ConnId> {
        self.nicks.get(&nick.key()).copied()
    }

    /// Adds a connection, with its nick and resume token.
    pub(super) fn insert(&mut self, id: ConnId, conn: Conn) {
        self.nicks.insert(conn.nick.key(), id);
        self.tokens.insert(conn.sender.clone(), id);
        if conn.version == Version::V1 {
            self.v1_conns += 1;
        }
        self.conns.insert(id, conn);
    }

    /// Forgets a connection, its nick and its token. The rooms it was in are the caller's.
    pub(super) fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        if conn.version == Version::V1 {
            self.v1_conns -= 1;
        }
        self.nicks.remove(&conn.nick.key());
        if self.tokens.get(&conn.sender) == Some(&id) {
            self.tokens.remove(&conn.sender);
        }
        Some(conn)
    }

    /// Gives connection `id` the nick `nick`; returns its old one.
    pub(super) fn rename(&mut self, id: ConnId, nick: Nick) -> Option<Nick> {
        let conn = self.conns.get_mut(&id)?;
        let (key, old_key) = (nick.key(), conn.nick.key());
        if old_key != key && self.nicks.get(&old_key) == Some(&id) {
            self.nicks.remove(&old_key);
        }
        self.nicks.insert(key, id);
        Some(std::mem::replace(&mut conn.nick, nick))
    }

    /// Takes a nick's key for another node's member `id`, unless a connection here holds
    /// it (Redis gave it to the remote one; the local one's own change is on its way).
    pub(super) fn take_remote_key(&mut self, nick: &Nick, id: ConnId) {
        let key = nick.key();
        if self.nicks.get(&key).is_none_or(|owner| !self.conns.contains_key(owner)) {
            self.nicks.insert(key, id);
        }
    }

    /// Frees a nick's key held by another node's member `id`.
    pub(super) fn free_remote_key(&mut self, nick: &Nick, id: ConnId) {
        let key = nick.key();
        if self.nicks.get(&key) == Some(&id) {
            self.nicks.remove(&key);
        }
    }

    /// Keeps a closed connection's nick and admissions for its resume token.
    pub(super) fn remember(&mut self, sender: SenderKey, nick: Nick, admitted: HashSet<RoomName>) {
        self.departed.remember(sender, nick, admitted);
    }

    /// What a connection with this resume token that closed lately had: its nick if
    /// nobody took it meanwhile, and the private rooms it was admitted to.
    pub(super) fn departed(&mut self, sender: &SenderKey) -> Option<(Option<Nick>, HashSet<RoomName>)> {
        let (old, rooms) = self.departed.take(sender)?;
        let nick = Some(old).filter(|n| !self.nicks.contains_key(&n.key()));
        Some((nick, rooms))
    }

    /// A `guest-NNNN` nick nobody uses, with more digits if the server is crowded.
    pub(super) fn guest_nick(&self) -> Nick {
        let random = RandomState::new();
        // Start with as many digits as keep at most a quarter of the numbers taken, so a
        // guest is found in about one try however many are online (four digits up to
        // 2,500 nicks): from four digits always, a connect among 10k guests tried about
        // three numbers, each a `format!` and a lookup (bench/TUNING.md).
        let taken = self.nicks.len() as u64 + 1;
        let first = (4..18u64).find(|&d| 10u64.pow(d as u32) >= 4 * taken).unwrap_or(18);
        let mut nick = String::with_capacity(24);
        for attempt in 0u64.. {
            let digits = (first + attempt / 16).min(18);
            let n = random.hash_one(attempt) % 10u64.pow(digits as u32);
            nick.clear();
            let _ = write!(nick, "guest-{n:0width$}", width = digits as usize);
            // Under its key: digits have look-alikes (`0` is `o`'s), so a guest's key is
            // not its nick.
            let guest = Nick::parse(&nick).expect("guest nicks are valid");
            if !self.nicks.contains_key(&guest.key()) {
                return guest;
            }
        }
        unreachable!("the loop only ends by returning")
    }
}

/// How long, and for how many, a closed connection's nick is kept for its resume token.
const DEPARTED_FOR: Duration = Duration::from_secs(10 * 60);
const DEPARTED_MAX: usize = 10_000;

/// The nicks of connections that closed lately, bounded in time and number.
#[derive(Debug, Default)]
struct Departed {
    /// Each one's nick and the private rooms it was admitted to.
    nicks: HashMap<SenderKey, (Nick, HashSet<RoomName>, Instant)>,
    /// Oldest first; an entry taken or replaced early stays here until it comes round.
    order: VecDeque<SenderKey>,
}

impl Departed {
    fn remember(&mut self, sender: SenderKey, nick: Nick, admitted: HashSet<RoomName>) {
        while self.order.len() >= DEPARTED_MAX {
            let Some(old) = self.order.pop_front() else { break };
            self.nicks.remove(&old);
        }
        self.order.push_back(sender.clone());
        self.nicks.insert(sender, (nick, admitted, Instant::now()));
    }

    fn take(&mut self, sender: &SenderKey) -> Option<(Nick, HashSet<RoomName>)> {
        let (nick, admitted, at) = self.nicks.remove(sender)?;
        (at.elapsed() < DEPARTED_FOR).then_some((nick, admitted))
    }
}

/// A resume token: 16 to 64 URL-safe characters.
pub(super) fn valid_token(t: &str) -> bool {
    (16..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 128 random bits as 32 hex characters, from the operating system's generator.
pub(super) fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // The OS generator failing is not something a chat server can work around.
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    // One encoding pass, not a formatted String per byte: this runs on every connect, and
    // the per-byte `format!` was 15% of a bare upgrade's instructions (bench/TUNING.md).
    data_encoding::HEXLOWER.encode(&bytes)
}
