//! The chat as this client sees it: a plain Rust value ([`Chat`]) and the plain methods
//! that change it.
//!
//! Every frame from the server goes through [`Chat::apply`], which returns the frames the
//! client must send in answer (rejoining rooms after `welcome`, re-sending the outbox
//! after `joined`). Every user intent ([`Chat::say`], [`Chat::open_room`], [`Chat::leave`],
//! [`Chat::typing`], [`Chat::load_older`], [`Chat::request_nick`]) is recorded here first,
//! so that a reconnect can replay it from this value alone. Timed behaviour (typing
//! indicators that expire, refused messages retried later) is driven by [`Chat::tick`]
//! at [`Chat::next_deadline`]. This module must not know about signals, the DOM, storage,
//! timers or sockets: time and randomness come in as arguments, so the whole protocol
//! logic is testable without a browser.

use std::fmt;
use std::sync::Arc;

use common::{
    ChatMessage, ClientMsg, ErrorCode, InvalidName, LOBBY, Nick, PresenceEvent, RoomInfo, RoomName,
    ServerMsg, Text,
};

/// A room keeps at most this many log entries as new ones arrive; older ones are dropped
/// from memory (the server keeps the history, and scroll-back fetches them again).
pub const MAX_ENTRIES: usize = 1000;
/// At most this many messages wait for the server's echo; further `say`s are refused
/// until the connection drains them.
pub const MAX_OUTBOX: usize = 100;
/// A `typing` frame counts for this long unless renewed (PROTOCOL.md: at most 5 s).
pub const TYPING_MS: f64 = 5000.0;
/// While the user types, a `typing` frame goes out at most this often: often enough to
/// renew the others' indicator before it expires, rarely enough to cost nothing.
pub const TYPING_SEND_MS: f64 = 2000.0;
/// A `say` refused as `rate_limited` is sent again after this long, with the same `cid`.
pub const RETRY_MS: f64 = 1000.0;
/// How many older messages one scroll-back request asks for.
pub const HISTORY_PAGE: u32 = 50;

/// The connection as the user sees it. `Display` is the exact text of the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
    /// Waiting before the next attempt; `secs` counts down each second.
    Reconnecting {
        secs: u32,
    },
    /// The browser says there is no network; waiting for it to come back.
    Offline,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("Connecting…"),
            Self::Connected => f.write_str("Connected"),
            Self::Reconnecting { secs } => write!(f, "Reconnecting in {secs} s"),
            Self::Offline => f.write_str("Offline"),
        }
    }
}

/// What identifies an entry of a room's log for keyed rendering: never its index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKey {
    /// A chat message, by its room's [`RoomState::serial`] and its server id (unique
    /// within a room only).
    Message(u64, u64),
    /// A notice, by a sequence number local to this client.
    Notice(u64),
    /// A message not acknowledged yet, by its `cid`; whether it failed is part of the key
    /// so that the view redraws it when it does.
    Outgoing(String, bool),
}

/// One line of a room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message {
        msg: ChatMessage,
        /// Sent by this user (from this page, or under the nick this user holds).
        own: bool,
        /// The [`RoomState::serial`] of its room.
        room: u64,
    },
    /// Someone joined, left or renamed.
    Notice { seq: u64, text: String },
    /// Said here and not acknowledged by the server yet: shown as being sent, or with the
    /// reason the server refused it (`failed`).
    Outgoing { cid: String, nick: String, text: String, failed: Option<String> },
}

impl Entry {
    pub fn key(&self) -> EntryKey {
        match self {
            Self::Message { msg, room, .. } => EntryKey::Message(*room, msg.id),
            Self::Notice { seq, .. } => EntryKey::Notice(*seq),
            Self::Outgoing { cid, failed, .. } => EntryKey::Outgoing(cid.clone(), failed.is_some()),
        }
    }

    /// Written by this user: shown on the own side of the log.
    pub fn is_own(&self) -> bool {
        matches!(self, Self::Message { own: true, .. } | Self::Outgoing { .. })
    }
}

/// Where a `say` the server has not echoed yet stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Sent, or waiting for the room to be (re)joined to be sent.
    Sending,
    /// Refused as `rate_limited`: sent again at this time (ms).
    RetryAt(f64),
    /// Refused for good (`invalid`): shown with the server's reason, never re-sent.
    Failed(String),
}

/// A `say` the server has not echoed yet; re-sent with the same `cid` after a reconnect,
/// which the server turns into a no-op if it had stored it already.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub room: String,
    pub text: String,
    pub cid: String,
    pub delivery: Delivery,
}

impl Pending {
    fn frame(&self) -> ClientMsg {
        ClientMsg::Say { room: self.room.clone(), text: self.text.clone(), cid: self.cid.clone() }
    }
}

/// An error for the user, shown until dismissed or replaced; `seq` tells one from the
/// next so a timer can hide exactly the one it was started for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub seq: u64,
    pub text: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayError {
    /// Nothing but whitespace: silently not sent.
    Empty,
    /// Over the protocol's limit; `chars` is how many the user typed.
    TooLong { chars: usize },
    /// Refused for another reason (control characters), as a sentence.
    Invalid(String),
    /// Too many messages are still waiting for the server.
    OutboxFull,
}

impl fmt::Display for SayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("The message is empty."),
            Self::TooLong { chars } => {
                write!(f, "Too long to send: {chars} characters, at most {}.", Text::MAX)
            }
            Self::Invalid(why) => write!(f, "Cannot send this: {why}."),
            Self::OutboxFull => {
                f.write_str("Too many messages are waiting for the connection; try again in a moment.")
            }
        }
    }
}

/// How much of a room's older history the log can still fetch, for the top of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// Not known yet (the room is not joined).
    Unknown,
    /// Older messages exist on the server: scrolling to the top fetches them.
    More,
    /// A `history` request is in flight.
    Loading,
    /// The log starts at the room's first message.
    Complete,
}

/// One line of the room list: a room of the directory or one this client joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEntry {
    pub name: String,
    /// Members, as the directory counts them (or as `joined` listed them, for a room the
    /// directory does not show yet).
    pub members: u32,
    pub joined: bool,
    pub unread: u32,
    pub current: bool,
}

/// One room this client has joined (or will rejoin on the next connection).
///
/// Plain `Vec`s throughout, searched linearly or by bisection: a room holds about
/// [`MAX_ENTRIES`] entries, and maps and hash sets would cost the web app more code size
/// than they save time.
#[derive(Debug, Clone, Default)]
pub struct RoomState {
    pub name: String,
    /// Tells this room from every other one this page has held, for the keys of its log
    /// entries ([`EntryKey::Message`]): message ids are only unique within a room.
    pub serial: u64,
    /// The log, oldest first; `Arc` so that handing a copy to the view is cheap.
    pub entries: Vec<Arc<Entry>>,
    /// The ids of the messages in `entries`, sorted.
    ids: Vec<u64>,
    /// Nicks of the members, as of the last `joined` and `presence`, in [`by_name`] order.
    pub members: Vec<String>,
    /// The highest message id seen: `join.after` on a reconnect resumes from it.
    pub last_id: Option<u64>,
    /// Messages from others that arrived while another room was shown.
    pub unread: u32,
    /// The server answered `join` on the current connection.
    pub joined: bool,
    /// The log holds the room's first message: there is nothing older to fetch.
    complete: bool,
    /// The first `joined` has told whether older messages exist.
    known: bool,
    /// A `history` request is in flight (one at a time per room).
    loading: bool,
    /// Who is typing, with the time (ms) their last `typing` arrived.
    typing: Vec<(String, f64)>,
}

impl RoomState {
    fn new(name: &str, serial: u64) -> Self {
        Self { name: name.to_owned(), serial, ..Self::default() }
    }

    /// Adds a message in id order; returns false (and drops it) if its id is known.
    fn insert(&mut self, msg: ChatMessage, own: bool) -> bool {
        let id = msg.id;
        match self.ids.binary_search(&id) {
            Ok(_) => return false,
            Err(at) => self.ids.insert(at, id),
        }
        let entry = Arc::new(Entry::Message { msg, own, room: self.serial });
        if self.last_id.is_none_or(|last| id > last) {
            self.last_id = Some(id);
            self.entries.push(entry);
        } else {
            // Older than a message we hold (a `history` page): before the first newer one.
            let at = self
                .entries
                .iter()
                .position(|e| matches!(&**e, Entry::Message { msg, .. } if msg.id > id))
                .unwrap_or(self.entries.len());
            self.entries.insert(at, entry);
        }
        true
    }

    fn notice(&mut self, seq: u64, text: String) {
        self.entries.push(Arc::new(Entry::Notice { seq, text }));
        self.trim();
    }

    /// Drops the oldest entries beyond [`MAX_ENTRIES`]. Called when entries arrive at the
    /// new end only: a page of older history the user scrolled back for must stay.
    fn trim(&mut self) {
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            for gone in self.entries.drain(..excess) {
                if let Entry::Message { msg, .. } = &*gone
                    && let Ok(at) = self.ids.binary_search(&msg.id)
                {
                    self.ids.remove(at);
                    // The server still has it: scroll-back can bring it back.
                    self.complete = false;
                }
            }
        }
    }

    /// The state of the top of the log.
    pub fn older(&self) -> Older {
        match (self.known, self.loading, self.complete) {
            (false, _, _) => Older::Unknown,
            (true, true, _) => Older::Loading,
            (true, false, true) => Older::Complete,
            (true, false, false) => Older::More,
        }
    }

    fn add_member(&mut self, nick: &str) {
        if !self.members.iter().any(|m| m == nick) {
            let at = self.members.partition_point(|m| by_name(m, nick).is_lt());
            self.members.insert(at, nick.to_owned());
        }
    }

    fn remove_member(&mut self, nick: &str) {
        self.members.retain(|m| m != nick);
        self.stop_typing(nick);
    }

    fn rename_member(&mut self, old: &str, new: &str) {
        self.members.retain(|m| m != old);
        self.add_member(new);
        self.stop_typing(old);
    }

    fn typing_seen(&mut self, nick: String, now_ms: f64) {
        self.stop_typing(&nick);
        self.typing.push((nick, now_ms));
    }

    fn stop_typing(&mut self, nick: &str) {
        self.typing.retain(|(n, _)| n != nick);
    }

    /// Nicks that sent `typing` within the last [`TYPING_MS`] before `now_ms`, in the
    /// order they started.
    pub fn typing(&self, now_ms: f64) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|&&(_, at)| now_ms - at < TYPING_MS)
            .map(|(nick, _)| nick.as_str())
            .collect()
    }
}

/// The order of names in lists: case-insensitively (ASCII only: it is for display, and
/// the Unicode case tables would cost the web app more than they are worth here).
fn by_name(a: &str, b: &str) -> std::cmp::Ordering {
    let fold = |s: &str| s.bytes().map(|b| b.to_ascii_lowercase()).collect::<Vec<u8>>();
    fold(a).cmp(&fold(b)).then_with(|| a.cmp(b))
}

/// "bob is typing…", "bob and ann are typing…", "3 people are typing…", or "" when
/// nobody is.
pub fn typing_text(nicks: &[&str]) -> String {
    match nicks {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        many => format!("{} people are typing…", many.len()),
    }
}

/// The page's title: the unread count first, so it shows in a tab strip.
pub fn page_title(unread: u32) -> String {
    if unread > 0 { format!("({unread}) Chat") } else { "Chat".to_owned() }
}

/// Everything the client knows about the chat.
#[derive(Debug, Clone)]
pub struct Chat {
    pub status: Status,
    /// Our nick as the server knows it; empty until the first `welcome`.
    pub nick: String,
    /// The nick the user chose (confirmed by `you`, or remembered from an earlier visit):
    /// asked for again on every connection.
    chosen_nick: Option<String>,
    /// A nick asked for and not answered yet; it wins over `chosen_nick`.
    pending_nick: Option<String>,
    /// Why the last nick request was refused, shown beside the nickname form.
    pub nick_error: Option<String>,
    /// Joined rooms, in the order they were joined; rejoined after every reconnect.
    pub rooms: Vec<RoomState>,
    /// The room shown.
    pub current: String,
    /// A room the user asked to open that the server has not answered yet: an `invalid`
    /// error without a `cid` is about it.
    joining: Option<String>,
    /// Why the last room the user asked for was refused, shown beside the room form.
    pub room_error: Option<String>,
    /// The public room directory.
    pub directory: Vec<RoomInfo>,
    /// Messages sent and not yet echoed, oldest first.
    pub outbox: Vec<Pending>,
    pub alert: Option<Alert>,
    /// `welcome` arrived on the current connection: frames may be sent.
    welcomed: bool,
    /// The room and time (ms) of the last `typing` sent, to send it at most every
    /// [`TYPING_SEND_MS`].
    typing_sent: Option<(String, f64)>,
    /// The server's resume token from the last `welcome`: reconnecting with it keeps our
    /// nick and our `cid`s' de-duplication. Held for this page's life only.
    pub resume: Option<String>,
    cid_prefix: String,
    next_cid: u32,
    next_seq: u64,
}

impl Chat {
    /// A chat that will join the lobby. `cid_prefix` must differ between page loads (it
    /// makes `cid`s unique per sender); `chosen_nick` is the nick remembered from before.
    pub fn new(cid_prefix: impl Into<String>, chosen_nick: Option<String>) -> Self {
        let rooms = vec![RoomState::new(LOBBY, 0)];
        Self {
            status: Status::Connecting,
            nick: String::new(),
            chosen_nick,
            pending_nick: None,
            nick_error: None,
            rooms,
            current: LOBBY.to_owned(),
            joining: None,
            room_error: None,
            directory: Vec::new(),
            outbox: Vec::new(),
            alert: None,
            welcomed: false,
            typing_sent: None,
            resume: None,
            cid_prefix: cid_prefix.into(),
            next_cid: 0,
            next_seq: 0,
        }
    }

    /// The room shown, if it is among the joined rooms.
    pub fn current_room(&self) -> Option<&RoomState> {
        self.room(&self.current)
    }

    pub fn room(&self, name: &str) -> Option<&RoomState> {
        self.rooms.iter().find(|r| r.name == name)
    }

    fn room_mut(&mut self, name: &str) -> Option<&mut RoomState> {
        self.rooms.iter_mut().find(|r| r.name == name)
    }

    /// Frames may go out now. Not while the browser says it is offline, even if the old
    /// socket is still open: what is said then waits in the outbox and goes out on the
    /// fresh connection made when the network is back (the same `cid`s, so at most once).
    fn can_send(&self) -> bool {
        self.welcomed && self.status == Status::Connected
    }

    /// The connection was lost: nothing can be sent until the next `welcome`, and who is
    /// typing no longer holds. The members stay as last known (the app shows them as
    /// such until the rejoin's `joined` replaces them): a network blip on a phone must
    /// not empty the room on screen.
    pub fn disconnected(&mut self) {
        self.welcomed = false;
        self.typing_sent = None;
        for room in &mut self.rooms {
            room.joined = false;
            room.loading = false;
            room.typing.clear();
        }
    }

    /// Records a message for the current room and returns the `say` to send now, or
    /// `None` if it must wait for the room to be (re)joined.
    pub fn say(&mut self, text: &str) -> Result<Option<ClientMsg>, SayError> {
        let text = Text::parse(text).map_err(|e| match e {
            InvalidName::Empty(_) => SayError::Empty,
            InvalidName::TooLong(..) => SayError::TooLong { chars: text.trim_end().chars().count() },
            other => SayError::Invalid(other.to_string()),
        })?;
        let waiting = self.outbox.iter().filter(|p| !matches!(p.delivery, Delivery::Failed(_))).count();
        if waiting >= MAX_OUTBOX {
            return Err(SayError::OutboxFull);
        }
        self.next_cid += 1;
        let pending = Pending {
            room: self.current.clone(),
            text: text.into(),
            cid: format!("{}-{}", self.cid_prefix, self.next_cid),
            delivery: Delivery::Sending,
        };
        let ready = self.can_send() && self.current_room().is_some_and(|r| r.joined);
        let frame = ready.then(|| pending.frame());
        self.outbox.push(pending);
        // Our own message ends our "typing": the next keystroke announces it again.
        self.typing_sent = None;
        Ok(frame)
    }

    /// Forgets a message the server refused for good.
    pub fn discard(&mut self, cid: &str) {
        self.outbox.retain(|p| p.cid != cid || !matches!(p.delivery, Delivery::Failed(_)));
    }

    /// Records that the user wants `raw` as nick; returns the frame to send now (if
    /// connected) or the reason it is not a valid nick (also kept in `nick_error`).
    pub fn request_nick(&mut self, raw: &str) -> Result<Option<ClientMsg>, String> {
        let nick = match Nick::parse(raw) {
            Ok(nick) => nick,
            Err(e) => {
                let why = sentence(&e);
                self.nick_error = Some(why.clone());
                return Err(why);
            }
        };
        self.nick_error = None;
        if nick.as_str() == self.nick {
            self.pending_nick = None;
            return Ok(None);
        }
        self.pending_nick = Some(nick.as_str().to_owned());
        Ok(self.welcomed.then(|| ClientMsg::Nick { nick: nick.into() }))
    }

    /// Shows the room `raw` (trimmed), joining it first if need be; returns the `join` to
    /// send now, or why `raw` is not a room name (also kept in `room_error`).
    pub fn open_room(&mut self, raw: &str) -> Result<Option<ClientMsg>, String> {
        let name = match RoomName::parse(raw) {
            Ok(name) => String::from(name),
            Err(e) => {
                let why = sentence(&e);
                self.room_error = Some(why.clone());
                return Err(why);
            }
        };
        self.room_error = None;
        let frame = if self.room(&name).is_some() {
            None
        } else {
            let room = self.new_room(&name);
            self.rooms.push(room);
            self.joining = Some(name.clone());
            self.welcomed.then(|| ClientMsg::Join { room: name.clone(), after: None })
        };
        self.show(name);
        Ok(frame)
    }

    /// Makes `name` (a joined room) the room shown: its messages count as read.
    fn show(&mut self, name: String) {
        if let Some(room) = self.room_mut(&name) {
            room.unread = 0;
        }
        self.current = name;
    }

    /// Leaves the room shown; returns the `leave` to send. Without a connection the room
    /// is simply forgotten (it will not be rejoined), and the frames are those of
    /// [`Chat::left`] (none: the next `welcome` joins what is left).
    pub fn leave(&mut self) -> Vec<ClientMsg> {
        let room = self.current.clone();
        if self.welcomed { vec![ClientMsg::Leave { room }] } else { self.left(&room) }
    }

    /// `room` is no longer joined: forget it and what waits to be said in it, and show the
    /// most recently joined room left, or join the lobby again if none is.
    fn left(&mut self, room: &str) -> Vec<ClientMsg> {
        self.rooms.retain(|r| r.name != room);
        self.outbox.retain(|p| p.room != room);
        let mut frames = Vec::new();
        if self.rooms.is_empty() {
            let lobby = self.new_room(LOBBY);
            self.rooms.push(lobby);
            if self.welcomed {
                frames.push(ClientMsg::Join { room: LOBBY.into(), after: None });
            }
        }
        if self.current == room {
            let next = self.rooms.last().map(|r| r.name.clone()).unwrap_or_default();
            self.show(next);
        }
        frames
    }

    /// The user typed in the message field: the `typing` frame to send, at most one every
    /// [`TYPING_SEND_MS`] per room.
    pub fn typing(&mut self, now_ms: f64) -> Option<ClientMsg> {
        if !self.can_send() || !self.current_room().is_some_and(|r| r.joined) {
            return None;
        }
        let recent = self
            .typing_sent
            .as_ref()
            .is_some_and(|(room, at)| *room == self.current && now_ms - at < TYPING_SEND_MS);
        if recent {
            return None;
        }
        self.typing_sent = Some((self.current.clone(), now_ms));
        Some(ClientMsg::Typing { room: self.current.clone() })
    }

    /// The user scrolled to the top of the log: the `history` request for the page before
    /// the oldest message held, unless one is in flight or there is nothing older.
    pub fn load_older(&mut self) -> Option<ClientMsg> {
        let online = self.can_send();
        let room = self.rooms.iter_mut().find(|r| r.name == self.current)?;
        if !online || !room.joined || room.older() != Older::More {
            return None;
        }
        let before = *room.ids.first()?;
        room.loading = true;
        Some(ClientMsg::History { room: room.name.clone(), before, limit: Some(HISTORY_PAGE) })
    }

    /// When [`Chat::tick`] next has something to do (ms), if ever: a typing indicator
    /// expires, or a refused message is due to be sent again.
    pub fn next_deadline(&self) -> Option<f64> {
        let typing = self.rooms.iter().flat_map(|r| r.typing.iter().map(|(_, at)| at + TYPING_MS));
        let retries = self.outbox.iter().filter_map(|p| match p.delivery {
            Delivery::RetryAt(at) => Some(at),
            _ => None,
        });
        typing.chain(retries).reduce(f64::min)
    }

    /// Time passed: forgets typing indicators older than [`TYPING_MS`] and returns the
    /// refused messages that are due to be sent again.
    pub fn tick(&mut self, now_ms: f64) -> Vec<ClientMsg> {
        for room in &mut self.rooms {
            room.typing.retain(|&(_, at)| now_ms - at < TYPING_MS);
        }
        let online = self.can_send();
        let mut frames = Vec::new();
        for pending in &mut self.outbox {
            if let Delivery::RetryAt(at) = pending.delivery
                && at <= now_ms
            {
                pending.delivery = Delivery::Sending;
                let joined = self.rooms.iter().any(|r| r.name == pending.room && r.joined);
                // Otherwise the next `joined` sends it.
                if online && joined {
                    frames.push(pending.frame());
                }
            }
        }
        frames
    }

    pub fn dismiss_alert(&mut self, seq: u64) {
        if self.alert.as_ref().is_some_and(|a| a.seq == seq) {
            self.alert = None;
        }
    }

    /// The room shown's log: what the server sent, then what this user said that the
    /// server has not acknowledged yet (which has no id, so it comes last).
    pub fn log(&self) -> Vec<Arc<Entry>> {
        let mut log = self.current_room().map(|r| r.entries.clone()).unwrap_or_default();
        log.extend(self.outbox.iter().filter(|p| p.room == self.current).map(|p| {
            Arc::new(Entry::Outgoing {
                cid: p.cid.clone(),
                nick: self.nick.clone(),
                text: p.text.clone(),
                failed: match &p.delivery {
                    Delivery::Failed(why) => Some(why.clone()),
                    _ => None,
                },
            })
        }));
        log
    }

    /// The room list: the lobby first, then every room of the directory and every joined
    /// room, by name.
    pub fn room_list(&self) -> Vec<RoomEntry> {
        let mut list: Vec<RoomEntry> = Vec::new();
        let listed = self.directory.iter().map(|info| (info.name.as_str(), info.members));
        // A joined room the directory does not list yet counts the members `joined` gave.
        let joined =
            self.rooms.iter().map(|r| (r.name.as_str(), u32::try_from(r.members.len()).unwrap_or(u32::MAX)));
        for (name, members) in listed.chain(joined) {
            if list.iter().any(|e| e.name == name) {
                continue;
            }
            let room = self.room(name);
            // Inserted in order rather than sorted afterwards: a sort is more code to ship.
            let before = |e: &RoomEntry| match (e.name == LOBBY, name == LOBBY) {
                (true, _) => true,
                (false, true) => false,
                (false, false) => by_name(&e.name, name).is_lt(),
            };
            let at = list.partition_point(before);
            list.insert(
                at,
                RoomEntry {
                    name: name.to_owned(),
                    members,
                    joined: room.is_some(),
                    unread: room.map_or(0, |r| r.unread),
                    current: name == self.current,
                },
            );
        }
        list
    }

    /// The members of the room shown, by name (case-insensitively).
    pub fn members(&self) -> Vec<String> {
        self.current_room().map(|r| r.members.clone()).unwrap_or_default()
    }

    /// Who is typing in the room shown, as a sentence; empty when nobody is. The indicator
    /// disappears through [`Chat::tick`], so no time is needed here.
    pub fn typing_line(&self) -> String {
        let Some(room) = self.current_room() else {
            return String::new();
        };
        let nicks: Vec<&str> =
            room.typing.iter().map(|(n, _)| n.as_str()).filter(|n| *n != self.nick).collect();
        typing_text(&nicks)
    }

    /// Messages from others, in joined rooms not shown, not yet seen.
    pub fn unread_total(&self) -> u32 {
        self.rooms.iter().map(|r| r.unread).sum()
    }

    /// A room to join, with a serial no other room of this page has had.
    fn new_room(&mut self, name: &str) -> RoomState {
        let serial = self.seq();
        RoomState::new(name, serial)
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn show_alert(&mut self, text: String) {
        let seq = self.seq();
        self.alert = Some(Alert { seq, text });
    }

    /// Applies a frame from the server; returns the frames to send in answer. `now_ms` is
    /// the local time, used to age typing indicators and to schedule retries.
    pub fn apply(&mut self, msg: ServerMsg, now_ms: f64) -> Vec<ClientMsg> {
        match msg {
            ServerMsg::Welcome { nick, rooms, resume, .. } => {
                if resume.is_some() {
                    self.resume = resume;
                }
                return self.welcome(nick, rooms);
            }
            ServerMsg::You { nick } => {
                self.chosen_nick = Some(nick.clone());
                self.pending_nick = None;
                self.nick_error = None;
                self.nick = nick;
            }
            ServerMsg::Rooms { rooms } => self.directory = rooms,
            ServerMsg::Joined { room, members, history, complete } => {
                return self.joined(room, members, history, complete);
            }
            ServerMsg::Left { room } => return self.left(&room),
            ServerMsg::Message(msg) => self.message(msg),
            ServerMsg::Presence { room, event, nick, old_nick } => {
                self.presence(&room, event, nick, old_nick)
            }
            ServerMsg::Typing { room, nick } => {
                if let Some(r) = self.room_mut(&room) {
                    r.typing_seen(nick, now_ms);
                }
            }
            ServerMsg::History { room, messages, complete } => self.history(&room, messages, complete),
            ServerMsg::Error { code, message, cid } => return self.error(code, message, cid, now_ms),
            // The answer to a `ping`; this client sends none, and the frame says nothing more.
            ServerMsg::Pong => {}
        }
        Vec::new()
    }

    fn welcome(&mut self, nick: String, rooms: Vec<RoomInfo>) -> Vec<ClientMsg> {
        self.welcomed = true;
        self.nick = nick;
        self.directory = rooms;
        let mut frames = Vec::new();
        // The nick first, so that the rooms see us arrive under the chosen name.
        let wanted = self.pending_nick.clone().or_else(|| self.chosen_nick.clone());
        // Compared exactly: asking for "Alice" while holding "alice" is a real change.
        if let Some(wanted) = wanted
            && wanted != self.nick
        {
            self.pending_nick = Some(wanted.clone());
            frames.push(ClientMsg::Nick { nick: wanted });
        }
        if self.rooms.is_empty() {
            let lobby = self.new_room(LOBBY);
            self.rooms.push(lobby);
        }
        frames.extend(
            self.rooms.iter().map(|room| ClientMsg::Join { room: room.name.clone(), after: room.last_id }),
        );
        frames
    }

    fn joined(
        &mut self,
        room: String,
        members: Vec<String>,
        history: Vec<ChatMessage>,
        complete: bool,
    ) -> Vec<ClientMsg> {
        if self.joining.as_deref() == Some(room.as_str()) {
            self.joining = None;
        }
        // What the server already stored is no longer waiting, whatever happened to its echo.
        self.outbox.retain(|p| !history.iter().any(|m| m.cid.as_deref() == Some(p.cid.as_str())));
        let own: Vec<bool> = history.iter().map(|m| self.is_own(m)).collect();
        let shown = self.current == room;
        if self.room(&room).is_none() {
            let state = self.new_room(&room);
            self.rooms.push(state);
        }
        let state = self.room_mut(&room).expect("just added");
        state.joined = true;
        state.members.clear();
        for nick in &members {
            state.add_member(nick);
        }
        // We asked with `after` exactly when we had seen a message (see `welcome`).
        let resumed = state.last_id.is_some();
        let mut added = false;
        for (msg, own) in history.into_iter().zip(own) {
            if state.insert(msg, own) {
                added = true;
                if resumed && !shown && !own {
                    state.unread += 1;
                }
            }
        }
        state.trim();
        let mut frames = Vec::new();
        if resumed {
            // More than a page was missed: the page holds the oldest of them, so ask for
            // the next one (docs/protocol.md). Only when this page brought something, so a
            // server that lost part of the gap cannot keep us asking.
            if !complete && added {
                frames.push(ClientMsg::Join { room: room.clone(), after: state.last_id });
            }
        } else {
            state.complete = complete;
            state.known = true;
        }
        // What was said while the room was not joined goes out now, with its first cid (a
        // message waiting out `rate_limited` too: this is a new connection).
        let online = self.can_send();
        for pending in self.outbox.iter_mut().filter(|p| p.room == room) {
            if !matches!(pending.delivery, Delivery::Failed(_)) {
                pending.delivery = Delivery::Sending;
                if online {
                    frames.push(pending.frame());
                }
            }
        }
        frames
    }

    fn is_own(&self, msg: &ChatMessage) -> bool {
        let sent_here = msg.cid.as_deref().is_some_and(|cid| self.outbox.iter().any(|p| p.cid == cid));
        sent_here || (!self.nick.is_empty() && msg.nick == self.nick)
    }

    fn message(&mut self, msg: ChatMessage) {
        let own = self.is_own(&msg);
        if let Some(cid) = &msg.cid
            && own
        {
            self.outbox.retain(|p| &p.cid != cid);
        }
        let shown = self.current == msg.room;
        let Some(room) = self.room_mut(&msg.room) else {
            return;
        };
        room.stop_typing(&msg.nick);
        if room.insert(msg, own) {
            room.trim();
            if !shown && !own {
                room.unread += 1;
            }
        }
    }

    fn history(&mut self, room: &str, messages: Vec<ChatMessage>, complete: bool) {
        let own: Vec<bool> = messages.iter().map(|m| self.is_own(m)).collect();
        let Some(r) = self.room_mut(room) else {
            return;
        };
        r.loading = false;
        for (msg, own) in messages.into_iter().zip(own) {
            r.insert(msg, own);
        }
        // The page ends where our log began: `complete` says whether it reaches the start.
        r.complete = complete;
        r.known = true;
    }

    fn presence(&mut self, room: &str, event: PresenceEvent, nick: String, old_nick: Option<String>) {
        let seq = self.seq();
        let Some(r) = self.room_mut(room) else {
            return;
        };
        let text = match event {
            PresenceEvent::Join => {
                r.add_member(&nick);
                format!("{nick} joined")
            }
            PresenceEvent::Leave => {
                r.remove_member(&nick);
                format!("{nick} left")
            }
            PresenceEvent::Rename => match old_nick {
                Some(old) => {
                    r.rename_member(&old, &nick);
                    format!("{old} is now {nick}")
                }
                None => {
                    r.add_member(&nick);
                    format!("{nick} changed their nickname")
                }
            },
        };
        r.notice(seq, text);
    }

    fn error(
        &mut self,
        code: ErrorCode,
        message: String,
        cid: Option<String>,
        now_ms: f64,
    ) -> Vec<ClientMsg> {
        match (code, cid) {
            (ErrorCode::NickTaken, _) => {
                self.pending_nick = None;
                self.nick_error = Some(message);
            }
            // The client validates names and texts before sending them, so an `invalid`
            // without a cid is about a nick or a room it asked for with the same rules.
            (ErrorCode::Invalid, None) if self.pending_nick.is_some() => {
                self.pending_nick = None;
                self.nick_error = Some(message);
            }
            (ErrorCode::Invalid, None) if self.joining.is_some() => {
                let room = self.joining.take().unwrap_or_default();
                self.room_error = Some(message);
                return self.left(&room);
            }
            // Said before the room was joined: it stays in the outbox, sent on `joined`;
            // `too_slow` drops the connection, and the outbox is replayed after it.
            (ErrorCode::NotInRoom | ErrorCode::TooSlow, Some(_)) => {}
            (code, Some(cid)) => {
                if let Some(pending) = self.outbox.iter_mut().find(|p| p.cid == cid) {
                    pending.delivery = match code {
                        ErrorCode::RateLimited => Delivery::RetryAt(now_ms + RETRY_MS),
                        _ => Delivery::Failed(message),
                    };
                }
            }
            (code, None) => {
                if code == ErrorCode::RateLimited {
                    // Perhaps a `history` request: let scrolling ask again.
                    for room in &mut self.rooms {
                        room.loading = false;
                    }
                }
                self.show_alert(message);
            }
        }
        Vec::new()
    }
}

/// A name's validation error as a sentence: "A room name must …".
fn sentence(e: &InvalidName) -> String {
    let mut why = e.to_string();
    if let Some(first) = why.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    why.push('.');
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    fn msg(room: &str, id: u64, nick: &str, text: &str, cid: Option<&str>) -> ChatMessage {
        ChatMessage {
            room: room.into(),
            id,
            nick: nick.into(),
            text: text.into(),
            ts: 1_763_760_000_000 + id,
            cid: cid.map(Into::into),
        }
    }

    fn welcome(nick: &str) -> ServerMsg {
        ServerMsg::Welcome {
            protocol: 1,
            nick: nick.into(),
            rooms: vec![],
            resume: Some("token-0123456789abcdef".into()),
        }
    }

    fn joined(room: &str, history: Vec<ChatMessage>) -> ServerMsg {
        joined_page(room, history, true)
    }

    fn joined_page(room: &str, history: Vec<ChatMessage>, complete: bool) -> ServerMsg {
        ServerMsg::Joined {
            room: room.into(),
            members: vec!["bob".into(), "alice".into()],
            history,
            complete,
        }
    }

    fn texts(chat: &Chat) -> Vec<String> {
        chat.log()
            .iter()
            .map(|e| match &**e {
                Entry::Message { msg, .. } => msg.text.clone(),
                Entry::Notice { text, .. } => format!("[{text}]"),
                Entry::Outgoing { text, failed: None, .. } => format!("{text}…"),
                Entry::Outgoing { text, failed: Some(why), .. } => format!("{text}!{why}"),
            })
            .collect()
    }

    fn cid_of(frame: Option<ClientMsg>) -> String {
        frame.and_then(|f| f.cid().map(str::to_owned)).expect("a say")
    }

    /// A chat that went through `welcome` and `joined` for the lobby.
    fn connected(nick: &str) -> Chat {
        let mut chat = Chat::new("p", None);
        chat.status = Status::Connected;
        chat.apply(welcome(nick), 0.0);
        chat.apply(joined(LOBBY, vec![]), 0.0);
        chat
    }

    #[test]
    fn status_texts() {
        assert_eq!(Status::Connecting.to_string(), "Connecting…");
        assert_eq!(Status::Connected.to_string(), "Connected");
        assert_eq!(Status::Reconnecting { secs: 3 }.to_string(), "Reconnecting in 3 s");
        assert_eq!(Status::Offline.to_string(), "Offline");
    }

    #[test]
    fn welcome_asks_for_the_remembered_nick_then_joins_the_lobby() {
        let mut chat = Chat::new("p", Some("alice".into()));
        let frames = chat.apply(welcome("guest-1"), 0.0);
        assert_eq!(
            frames,
            vec![
                ClientMsg::Nick { nick: "alice".into() },
                ClientMsg::Join { room: LOBBY.into(), after: None },
            ]
        );
        assert_eq!(chat.nick, "guest-1");
        assert_eq!(chat.resume.as_deref(), Some("token-0123456789abcdef"));
        chat.apply(ServerMsg::You { nick: "alice".into() }, 0.0);
        assert_eq!(chat.nick, "alice");
    }

    #[test]
    fn reconnect_rejoins_every_room_after_the_last_id() {
        let mut chat = connected("alice");
        chat.apply(joined("rust", vec![msg("rust", 7, "bob", "hi", None)]), 0.0);
        chat.disconnected();
        assert!(!chat.room("rust").unwrap().joined);
        let frames = chat.apply(welcome("guest-2"), 0.0);
        assert_eq!(
            frames,
            vec![
                ClientMsg::Join { room: LOBBY.into(), after: None },
                ClientMsg::Join { room: "rust".into(), after: Some(7) },
            ]
        );
    }

    #[test]
    fn messages_are_deduplicated_by_id_and_kept_in_id_order() {
        let mut chat = connected("alice");
        chat.apply(ServerMsg::Message(msg(LOBBY, 2, "bob", "two", None)), 0.0);
        chat.apply(ServerMsg::Message(msg(LOBBY, 2, "bob", "two", None)), 0.0);
        chat.apply(
            ServerMsg::History {
                room: LOBBY.into(),
                messages: vec![msg(LOBBY, 1, "bob", "one", None)],
                complete: true,
            },
            0.0,
        );
        chat.apply(joined(LOBBY, vec![msg(LOBBY, 2, "bob", "two", None)]), 0.0);
        assert_eq!(texts(&chat), ["one", "two"]);
        assert_eq!(chat.current_room().unwrap().last_id, Some(2));
    }

    #[test]
    fn say_goes_to_the_outbox_until_echoed() {
        let mut chat = connected("alice");
        let frame = chat.say("hello  ").unwrap().expect("sent at once");
        let ClientMsg::Say { room, text, cid } = frame else { panic!("not a say") };
        assert_eq!((room.as_str(), text.as_str()), (LOBBY, "hello"));
        assert_eq!(chat.outbox.len(), 1);
        assert_eq!(texts(&chat), ["hello…"], "shown at once, as being sent");
        assert!(chat.log()[0].is_own());
        let mut echo = msg(LOBBY, 1, "alice", "hello", Some(&cid));
        chat.apply(ServerMsg::Message(echo.clone()), 0.0);
        assert!(chat.outbox.is_empty());
        assert_eq!(texts(&chat), ["hello"], "the echo replaces the pending entry");
        assert!(matches!(chat.log()[0].key(), EntryKey::Message(_, 1)));
        assert!(chat.log()[0].is_own());
        echo.id = 2;
        echo.nick = "bob".into();
        echo.cid = None;
        chat.apply(ServerMsg::Message(echo), 0.0);
        assert!(!chat.log()[1].is_own(), "someone else's message");
    }

    #[test]
    fn cids_are_unique() {
        let mut chat = connected("alice");
        let a = cid_of(chat.say("a").unwrap());
        let b = cid_of(chat.say("a").unwrap());
        assert_ne!(a, b);
    }

    #[test]
    fn say_refuses_empty_and_too_long_text() {
        let mut chat = connected("alice");
        assert_eq!(chat.say(" \n "), Err(SayError::Empty));
        let long = "x".repeat(4001);
        assert_eq!(chat.say(&long), Err(SayError::TooLong { chars: 4001 }));
        assert!(chat.outbox.is_empty());
        assert!(chat.say(&"x".repeat(4000)).is_ok());
    }

    #[test]
    fn say_while_disconnected_shows_pending_and_goes_out_on_joined_with_the_same_cid() {
        let mut chat = connected("alice");
        chat.disconnected();
        assert_eq!(chat.say("later"), Ok(None));
        assert_eq!(texts(&chat), ["later…"]);
        let cid = chat.outbox[0].cid.clone();
        chat.apply(welcome("alice"), 0.0);
        let frames = chat.apply(joined(LOBBY, vec![]), 0.0);
        assert_eq!(frames, [ClientMsg::Say { room: LOBBY.into(), text: "later".into(), cid: cid.clone() }]);
        chat.apply(ServerMsg::Message(msg(LOBBY, 1, "alice", "later", Some(&cid))), 0.0);
        assert_eq!(texts(&chat), ["later"]);
    }

    #[test]
    fn say_while_the_browser_is_offline_waits_even_if_the_socket_is_open() {
        let mut chat = connected("alice");
        chat.status = Status::Offline;
        assert_eq!(chat.say("in a tunnel"), Ok(None));
        assert_eq!(chat.typing(0.0), None);
        assert_eq!(texts(&chat), ["in a tunnel…"]);
    }

    #[test]
    fn a_resume_page_with_our_stored_message_ends_its_wait() {
        let mut chat = connected("alice");
        chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "one", None)), 0.0);
        let cid = cid_of(chat.say("mine").unwrap());
        chat.disconnected();
        chat.apply(welcome("alice"), 0.0);
        // The server stored it before the connection dropped; its echo was lost.
        let frames = chat.apply(joined(LOBBY, vec![msg(LOBBY, 2, "alice", "mine", Some(&cid))]), 0.0);
        assert!(frames.is_empty(), "not sent again: {frames:?}");
        assert!(chat.outbox.is_empty());
        assert_eq!(texts(&chat), ["one", "mine"]);
        assert!(chat.log()[1].is_own());
    }

    #[test]
    fn invalid_marks_a_message_failed_and_rate_limited_retries_it() {
        let mut chat = connected("alice");
        let bad = cid_of(chat.say("bad").unwrap());
        let slow = cid_of(chat.say("slow").unwrap());
        chat.apply(ServerMsg::error(ErrorCode::Invalid, "text must not be empty", Some(bad.clone())), 100.0);
        chat.apply(ServerMsg::error(ErrorCode::RateLimited, "slow down", Some(slow.clone())), 100.0);
        assert!(chat.alert.is_none(), "shown in the log, not as an alert");
        assert_eq!(texts(&chat), ["bad!text must not be empty", "slow…"]);
        assert_eq!(chat.log()[0].key(), EntryKey::Outgoing(bad.clone(), true));
        assert_eq!(chat.next_deadline(), Some(100.0 + RETRY_MS));
        assert!(chat.tick(100.0 + RETRY_MS - 1.0).is_empty(), "not yet");
        let frames = chat.tick(100.0 + RETRY_MS);
        assert_eq!(frames, [ClientMsg::Say { room: LOBBY.into(), text: "slow".into(), cid: slow }]);
        assert_eq!(chat.next_deadline(), None);
        // A failed message is never re-sent, not even after a reconnect.
        chat.disconnected();
        chat.apply(welcome("alice"), 0.0);
        let frames = chat.apply(joined(LOBBY, vec![]), 0.0);
        assert!(frames.iter().all(|f| f.cid() != Some(bad.as_str())), "{frames:?}");
        chat.discard(&bad);
        assert_eq!(texts(&chat), ["slow…"]);
    }

    #[test]
    fn presence_updates_members_and_logs_notices() {
        let mut chat = connected("alice");
        let presence = |event, nick: &str, old: Option<&str>| ServerMsg::Presence {
            room: LOBBY.into(),
            event,
            nick: nick.into(),
            old_nick: old.map(Into::into),
        };
        chat.apply(presence(PresenceEvent::Join, "Carol", None), 0.0);
        chat.apply(presence(PresenceEvent::Join, "carol", None), 0.0);
        chat.apply(presence(PresenceEvent::Rename, "bobby", Some("bob")), 0.0);
        assert_eq!(chat.members(), ["alice", "bobby", "Carol", "carol"], "by name, case aside");
        chat.apply(presence(PresenceEvent::Leave, "Carol", None), 0.0);
        assert_eq!(chat.members(), ["alice", "bobby", "carol"]);
        chat.apply(presence(PresenceEvent::Leave, "carol", None), 0.0);
        assert_eq!(
            texts(&chat),
            ["[Carol joined]", "[carol joined]", "[bob is now bobby]", "[Carol left]", "[carol left]"]
        );
        assert_eq!(chat.current_room().unwrap().members, ["alice", "bobby"]);
        assert_eq!(chat.members(), ["alice", "bobby"]);
    }

    #[test]
    fn typing_expires_by_tick_and_is_renewed() {
        let mut chat = connected("alice");
        let typing = |nick: &str| ServerMsg::Typing { room: LOBBY.into(), nick: nick.into() };
        chat.apply(typing("bob"), 1000.0);
        let room = chat.current_room().unwrap();
        assert_eq!(room.typing(2000.0), ["bob"]);
        assert!(room.typing(1000.0 + TYPING_MS).is_empty());
        assert_eq!(chat.typing_line(), "bob is typing…");
        assert_eq!(chat.next_deadline(), Some(1000.0 + TYPING_MS));
        // Renewed at 4 s: still there at 5.5 s, gone at 9 s.
        chat.apply(typing("bob"), 4000.0);
        chat.apply(typing("ann"), 4500.0);
        chat.tick(5500.0);
        assert_eq!(chat.typing_line(), "bob and ann are typing…");
        assert_eq!(chat.next_deadline(), Some(4000.0 + TYPING_MS));
        chat.tick(4000.0 + TYPING_MS);
        assert_eq!(chat.typing_line(), "ann is typing…");
        chat.tick(4500.0 + TYPING_MS);
        assert_eq!(chat.typing_line(), "");
        assert_eq!(chat.next_deadline(), None);
    }

    #[test]
    fn a_message_ends_its_authors_typing() {
        let mut chat = connected("alice");
        chat.apply(ServerMsg::Typing { room: LOBBY.into(), nick: "bob".into() }, 0.0);
        chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "hi", None)), 10.0);
        assert_eq!(chat.typing_line(), "");
    }

    #[test]
    fn typing_text_says_who() {
        assert_eq!(typing_text(&[]), "");
        assert_eq!(typing_text(&["bob"]), "bob is typing…");
        assert_eq!(typing_text(&["bob", "ann"]), "bob and ann are typing…");
        assert_eq!(typing_text(&["bob", "ann", "cy"]), "3 people are typing…");
    }

    #[test]
    fn typing_is_sent_at_most_every_two_seconds_per_room() {
        let mut chat = connected("alice");
        assert_eq!(chat.typing(0.0), Some(ClientMsg::Typing { room: LOBBY.into() }));
        assert_eq!(chat.typing(1999.0), None);
        assert!(chat.typing(2000.0).is_some());
        chat.apply(joined("rust", vec![]), 0.0);
        chat.open_room("rust").unwrap();
        assert_eq!(chat.typing(2001.0), Some(ClientMsg::Typing { room: "rust".into() }), "another room");
    }

    #[test]
    fn nick_taken_shows_beside_the_form_and_is_not_retried() {
        let mut chat = connected("guest-1");
        let frame = chat.request_nick(" bob ").unwrap();
        assert_eq!(frame, Some(ClientMsg::Nick { nick: "bob".into() }));
        chat.apply(ServerMsg::error(ErrorCode::NickTaken, "bob is taken", None), 0.0);
        assert_eq!(chat.nick_error.as_deref(), Some("bob is taken"));
        assert!(chat.alert.is_none());
        chat.disconnected();
        let frames = chat.apply(welcome("guest-2"), 0.0);
        assert!(
            !frames.iter().any(|f| matches!(f, ClientMsg::Nick { .. })),
            "a refused nick is not asked for again"
        );
        assert!(chat.request_nick("").is_err());
        assert_eq!(chat.nick_error.as_deref(), Some("A nickname must not be empty."));
    }

    #[test]
    fn other_errors_become_a_dismissible_alert() {
        let mut chat = connected("alice");
        chat.apply(ServerMsg::error(ErrorCode::BadRequest, "what?", None), 0.0);
        let alert = chat.alert.clone().expect("an alert");
        assert_eq!(alert.text, "what?");
        chat.dismiss_alert(alert.seq + 1);
        assert!(chat.alert.is_some(), "another alert's timer changes nothing");
        chat.dismiss_alert(alert.seq);
        assert!(chat.alert.is_none());
    }

    #[test]
    fn unread_counts_others_messages_of_rooms_not_shown_and_resets_on_switch() {
        let mut chat = connected("alice");
        chat.apply(joined("rust", vec![]), 0.0);
        chat.apply(ServerMsg::Message(msg("rust", 1, "bob", "psst", None)), 0.0);
        chat.apply(ServerMsg::Message(msg("rust", 2, "alice", "from my other tab", None)), 0.0);
        chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "hi", None)), 0.0);
        assert_eq!(chat.room("rust").unwrap().unread, 1);
        assert_eq!(chat.room(LOBBY).unwrap().unread, 0);
        assert_eq!(chat.unread_total(), 1);
        assert_eq!(page_title(chat.unread_total()), "(1) Chat");
        let rust = chat.room_list().into_iter().find(|e| e.name == "rust").unwrap();
        assert_eq!(rust.unread, 1);
        assert_eq!(chat.open_room("rust"), Ok(None), "already joined: nothing to send");
        assert_eq!(chat.current, "rust");
        assert_eq!(chat.unread_total(), 0);
        assert_eq!(page_title(0), "Chat");
    }

    #[test]
    fn missed_messages_of_a_room_not_shown_count_as_unread_after_a_resume() {
        let mut chat = connected("alice");
        chat.apply(joined("rust", vec![msg("rust", 1, "bob", "one", None)]), 0.0);
        chat.disconnected();
        chat.apply(welcome("alice"), 0.0);
        chat.apply(joined("rust", vec![msg("rust", 2, "bob", "two", None)]), 0.0);
        assert_eq!(chat.room("rust").unwrap().unread, 1, "the first page of a room is not unread");
    }

    #[test]
    fn open_room_joins_once_switches_and_validates() {
        let mut chat = connected("alice");
        assert_eq!(chat.open_room("  rust "), Ok(Some(ClientMsg::Join { room: "rust".into(), after: None })));
        assert_eq!(chat.current, "rust");
        assert_eq!(chat.open_room("rust"), Ok(None));
        let long = "r".repeat(65);
        assert_eq!(chat.open_room(&long), Err("A room name must be at most 64 characters.".into()));
        assert_eq!(chat.room_error.as_deref(), Some("A room name must be at most 64 characters."));
        assert_eq!(chat.current, "rust", "a refused name changes nothing");
        assert!(chat.open_room("").is_err());
        chat.open_room(LOBBY).unwrap();
        assert!(chat.room_error.is_none());
        // Asked before the connection: joined at `welcome` like every other room.
        let mut offline = Chat::new("p", None);
        assert_eq!(offline.open_room("go"), Ok(None));
        let frames = offline.apply(welcome("x"), 0.0);
        assert!(frames.contains(&ClientMsg::Join { room: "go".into(), after: None }));
    }

    #[test]
    fn the_servers_invalid_for_a_room_is_shown_beside_the_form() {
        let mut chat = connected("alice");
        chat.open_room("weird").unwrap();
        chat.apply(ServerMsg::error(ErrorCode::Invalid, "a room name must not be odd", None), 0.0);
        assert_eq!(chat.room_error.as_deref(), Some("a room name must not be odd"));
        assert!(chat.room("weird").is_none());
        assert_eq!(chat.current, LOBBY);
        assert!(chat.alert.is_none());
    }

    #[test]
    fn leaving_switches_to_the_most_recent_room_or_rejoins_the_lobby() {
        let mut chat = connected("alice");
        chat.open_room("a").unwrap();
        chat.apply(joined("a", vec![]), 0.0);
        chat.open_room("b").unwrap();
        chat.apply(joined("b", vec![]), 0.0);
        chat.open_room("a").unwrap();
        assert_eq!(chat.leave(), [ClientMsg::Leave { room: "a".into() }]);
        assert_eq!(chat.current, "a", "still shown until the server agrees");
        assert!(chat.apply(ServerMsg::Left { room: "a".into() }, 0.0).is_empty());
        assert_eq!(chat.current, "b");
        assert!(chat.room("a").is_none());
        chat.apply(ServerMsg::Left { room: "b".into() }, 0.0);
        assert_eq!(chat.current, LOBBY);
        let frames = chat.apply(ServerMsg::Left { room: LOBBY.into() }, 0.0);
        assert_eq!(frames, [ClientMsg::Join { room: LOBBY.into(), after: None }], "never in no room");
        assert_eq!(chat.current, LOBBY);
    }

    #[test]
    fn the_room_list_merges_the_directory_and_joined_rooms() {
        let mut chat = connected("alice");
        chat.apply(
            ServerMsg::Rooms {
                rooms: vec![
                    RoomInfo { name: "zed".into(), members: 1 },
                    RoomInfo { name: LOBBY.into(), members: 3 },
                    RoomInfo { name: "art".into(), members: 2 },
                ],
            },
            0.0,
        );
        chat.open_room("new").unwrap();
        chat.apply(joined("new", vec![]), 0.0);
        let list = chat.room_list();
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, [LOBBY, "art", "new", "zed"]);
        assert_eq!(
            list[0],
            RoomEntry { name: LOBBY.into(), members: 3, joined: true, unread: 0, current: false }
        );
        assert_eq!(
            list[1],
            RoomEntry { name: "art".into(), members: 2, joined: false, unread: 0, current: false }
        );
        assert_eq!(
            list[2],
            RoomEntry { name: "new".into(), members: 2, joined: true, unread: 0, current: true }
        );
    }

    #[test]
    fn scroll_back_asks_once_before_the_oldest_id_and_prepends() {
        let mut chat = connected("alice");
        chat.open_room("r").unwrap();
        let page: Vec<_> = (51..=100).map(|id| msg("r", id, "bob", &id.to_string(), None)).collect();
        chat.apply(joined_page("r", page, false), 0.0);
        assert_eq!(chat.current_room().unwrap().older(), Older::More);
        let ask = chat.load_older();
        assert_eq!(ask, Some(ClientMsg::History { room: "r".into(), before: 51, limit: Some(HISTORY_PAGE) }));
        assert_eq!(chat.current_room().unwrap().older(), Older::Loading);
        assert_eq!(chat.load_older(), None, "one request in flight per room");
        // The page overlaps what we hold by one message: it is not shown twice.
        let older: Vec<_> = (1..=51).map(|id| msg("r", id, "bob", &id.to_string(), None)).collect();
        chat.apply(ServerMsg::History { room: "r".into(), messages: older, complete: true }, 0.0);
        let shown = texts(&chat);
        assert_eq!(shown.len(), 100);
        assert_eq!((shown[0].as_str(), shown[99].as_str()), ("1", "100"));
        assert_eq!(chat.current_room().unwrap().older(), Older::Complete);
        assert_eq!(chat.load_older(), None, "nothing older");
    }

    #[test]
    fn members_stay_as_last_known_while_disconnected_and_the_rejoin_replaces_them() {
        let mut chat = connected("alice");
        let carol = ServerMsg::Presence {
            room: LOBBY.into(),
            event: PresenceEvent::Join,
            nick: "carol".into(),
            old_nick: None,
        };
        chat.apply(carol, 0.0);
        assert_eq!(chat.members(), ["alice", "bob", "carol"]);
        chat.disconnected();
        assert_eq!(chat.members(), ["alice", "bob", "carol"], "last known, not an empty room");
        let lobby = chat.room_list().into_iter().find(|r| r.name == LOBBY).unwrap();
        assert_eq!(lobby.members, 3, "nor a count of 0");
        chat.apply(welcome("alice"), 0.0);
        chat.apply(joined(LOBBY, vec![]), 0.0);
        assert_eq!(chat.members(), ["alice", "bob"], "carol left meanwhile");
    }

    #[test]
    fn a_lost_connection_lets_scroll_back_ask_again() {
        let mut chat = connected("alice");
        chat.apply(joined_page(LOBBY, vec![msg(LOBBY, 9, "bob", "x", None)], false), 0.0);
        assert!(chat.load_older().is_some());
        chat.disconnected();
        assert_eq!(chat.load_older(), None, "not while disconnected");
        chat.apply(welcome("alice"), 0.0);
        chat.apply(joined(LOBBY, vec![]), 0.0);
        assert_eq!(chat.current_room().unwrap().older(), Older::More, "a resume does not change it");
        assert!(chat.load_older().is_some());
    }

    #[test]
    fn an_incomplete_resume_page_asks_for_the_next_one() {
        let mut chat = connected("alice");
        chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "x", None)), 0.0);
        chat.disconnected();
        chat.apply(welcome("alice"), 0.0);
        let page: Vec<_> = (2..=501).map(|id| msg(LOBBY, id, "bob", "x", None)).collect();
        let frames = chat.apply(joined_page(LOBBY, page, false), 0.0);
        assert_eq!(frames, [ClientMsg::Join { room: LOBBY.into(), after: Some(501) }]);
        let frames = chat.apply(joined_page(LOBBY, vec![msg(LOBBY, 502, "bob", "x", None)], true), 0.0);
        assert!(frames.is_empty());
        // A gap the server cannot fill (nothing new in the page) is not asked for forever.
        assert!(chat.apply(joined_page(LOBBY, vec![], false), 0.0).is_empty());
    }

    #[test]
    fn the_log_is_bounded_and_then_has_older_messages_to_fetch() {
        let mut chat = connected("alice");
        assert_eq!(chat.current_room().unwrap().older(), Older::Complete);
        for id in 1..=(MAX_ENTRIES as u64 + 5) {
            chat.apply(ServerMsg::Message(msg(LOBBY, id, "bob", "x", None)), 0.0);
        }
        let room = chat.current_room().unwrap();
        assert_eq!(room.entries.len(), MAX_ENTRIES);
        assert_eq!(room.entries[0].key(), EntryKey::Message(room.serial, 6));
        assert_eq!(room.older(), Older::More);
    }
}
