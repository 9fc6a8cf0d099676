//! The chat as this client sees it: a plain Rust value ([`Chat`]) and the plain methods
//! that change it, split by job:
//! - this module: the [`Chat`] itself and every user intent ([`Chat::say`],
//!   [`Chat::open_room`], [`Chat::leave`], [`Chat::typing`], [`Chat::load_older`],
//!   a message's `edit`, `delete` and `react`, a moderator's [`Chat::remove`] and
//!   [`Chat::moderate`],
//!   [`Chat::load_members`], [`Chat::request_nick`], and [`Chat::open_room_with`] for
//!   private rooms), recorded here first so that a
//!   reconnect can replay them from this value alone; timed behaviour (typing indicators
//!   that expire, refused messages retried later) through [`Chat::tick`] at
//!   [`Chat::next_deadline`].
//! - [`room`]: one room's log, members and typing nicks ([`RoomState`]).
//! - [`outbox`]: what was said and not acknowledged yet, its retries and failures.
//! - [`apply`]: every server frame, through [`Chat::apply`], which returns the frames to
//!   send in answer.
//! - [`view`]: what the views read (the log, the room list, the texts shown).
//!
//! The fields are private: the socket task and the views go through methods. This module
//! must not know about signals, the DOM, storage, timers or sockets: time and randomness
//! come in as arguments, so the whole protocol logic is tested on the host, with plain
//! `cargo test -p frontend --lib` (see `tests/`).

mod apply;
pub mod changes;
mod finder;
pub mod outbox;
pub mod room;
pub mod view;

#[cfg(test)]
mod tests;

use common::names::room_max;
use common::{ChatMessage, ClientMsg, InvalidName, LOBBY, Nick, Password, Role, RoomInfo, RoomName, Text};

use crate::words::{fill, words};

pub use apply::counted_text;
pub use outbox::{Delivery, MAX_OUTBOX, Outbox, Pending, RETRY_MS, SayError};
pub use room::{Entry, EntryKey, MAX_ENTRIES, Older, RoomState, TYPING_MS};
pub use view::{Acts, Member, RoomEntry, count_text, isolated, page_title, typing_text};

/// While the user types, a `typing` frame goes out at most this often: often enough to
/// renew the others' indicator before it expires, rarely enough to cost nothing.
pub const TYPING_SEND_MS: f64 = 2000.0;
/// How many older messages one scroll-back request asks for.
pub const HISTORY_PAGE: u32 = 50;
/// How long the members list's "Ban" keeps someone out of the room: a day, long enough
/// for a spammer to go elsewhere, short enough that a ban by mistake ends by itself (the
/// protocol has no way to lift a room's ban).
pub const BAN_MINUTES: u64 = 24 * 60;

/// What happens to a picture's upload (see [`Chat::upload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// This much of it went (percent).
    Progress(u8),
    /// The server has it, at this URL.
    Done(String),
    /// It failed, for this reason; the user may retry.
    Failed(&'static str),
    /// The user tries again.
    Retry,
}

/// The connection as the user sees it. `Display` (in `view`) is the exact text of the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
    /// Connected through the HTTP stream and posts: the network refused the WebSocket.
    ConnectedHttp,
    /// Waiting before the next attempt; `secs` counts down each second.
    Reconnecting {
        secs: u32,
    },
    /// The browser says there is no network; waiting for it to come back.
    Offline,
    /// The operator took this client off the server: no reconnecting by itself.
    Removed,
    /// The same for a ban (while connected, or turned away at the door).
    Banned,
}

impl Status {
    /// Connected, whichever way: frames may go out once `welcome` has come.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::ConnectedHttp)
    }
}

/// An error for the user, shown until dismissed or replaced; `seq` tells one from the
/// next so a timer can hide exactly the one it was started for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub seq: u64,
    pub text: String,
}

/// Everything the client knows about the chat.
#[derive(Debug, Clone)]
pub struct Chat {
    status: Status,
    /// Our nick as the server knows it; empty until the first `welcome`.
    nick: String,
    /// The nick the user chose (confirmed by `you`, or remembered from an earlier visit):
    /// asked for again on every connection.
    chosen_nick: Option<String>,
    /// A nick asked for and not answered yet; it wins over `chosen_nick`.
    pending_nick: Option<String>,
    /// Why the last nick request was refused, shown beside the nickname form.
    nick_error: Option<String>,
    /// The protocol version of the current connection, from `welcome` (0 before it):
    /// member pages are asked for only in version 2.
    protocol: u32,
    /// Joined rooms, in the order they were joined; rejoined after every reconnect.
    rooms: Vec<RoomState>,
    /// The room shown.
    current: String,
    /// A room the user asked to open that the server has not answered yet: an `invalid`
    /// error without a `cid` is about it.
    joining: Option<String>,
    /// Why the last room the user asked for was refused, shown beside the room form.
    room_error: Option<String>,
    /// A private room the user asked to open without its password: the room form asks
    /// for it (the reason in `room_error`), then the view clears this.
    prompt: Option<String>,
    /// The public room directory (version 2: the part of it the server sent).
    directory: Vec<RoomInfo>,
    /// Version 2: how many rooms the server's directory lists.
    rooms_total: u32,
    /// The room list's search and pages.
    finder: finder::Finder,
    /// Messages sent and not yet echoed.
    outbox: Outbox,
    alert: Option<Alert>,
    /// `welcome` arrived on the current connection: frames may be sent.
    welcomed: bool,
    /// The room and time (ms) of the last `typing` sent, to send it at most every
    /// [`TYPING_SEND_MS`].
    typing_sent: Option<(String, f64)>,
    /// The server's resume token from the last `welcome`: reconnecting with it keeps our
    /// nick and our `cid`s' de-duplication. Held for this page's life only.
    resume: Option<String>,
    cid_prefix: String,
    next_cid: u32,
    next_seq: u64,
    /// The message the next `say` answers (`say.reply_to`), shown above the composer.
    replying: Option<ChatMessage>,
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
            protocol: 0,
            rooms,
            current: LOBBY.to_owned(),
            joining: None,
            room_error: None,
            prompt: None,
            directory: Vec::new(),
            rooms_total: 0,
            finder: finder::Finder::default(),
            outbox: Outbox::default(),
            alert: None,
            welcomed: false,
            typing_sent: None,
            resume: None,
            cid_prefix: cid_prefix.into(),
            next_cid: 0,
            next_seq: 0,
            replying: None,
        }
    }

    /// The connection as the status line shows it.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The socket task's view of the connection changed. Only it says so.
    pub fn set_status(&mut self, status: Status) {
        self.status = status;
    }

    /// Our nick as the server knows it; empty until the first `welcome`.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Why the last nick request was refused.
    pub fn nick_error(&self) -> Option<&str> {
        self.nick_error.as_deref()
    }

    /// The name of the room shown.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Why the last room the user asked for was refused.
    pub fn room_error(&self) -> Option<&str> {
        self.room_error.as_deref()
    }

    /// The private room whose password is to be asked for, if any.
    pub fn prompt(&self) -> Option<&str> {
        self.prompt.as_deref()
    }

    /// The error shown to the user, if any.
    pub fn alert(&self) -> Option<&Alert> {
        self.alert.as_ref()
    }

    /// The token to reconnect with, so the server knows this is the same client.
    pub fn resume(&self) -> Option<&str> {
        self.resume.as_deref()
    }

    /// The server closed our connection because a newer one took our resume token over:
    /// that token must not be used again.
    pub fn forget_resume(&mut self) {
        self.resume = None;
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
        self.welcomed && self.status.is_connected()
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
            room.paging = false;
            room.refreshing = false;
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
        if self.outbox.is_full() {
            return Err(SayError::OutboxFull);
        }
        let frame = self.record(text.into(), None);
        self.replying = None;
        // Our own message ends our "typing": the next keystroke announces it again.
        self.typing_sent = None;
        Ok(frame)
    }

    /// Records a new message of the current room; the frame to send now, if it can go.
    fn record(&mut self, text: String, preview: Option<String>) -> Option<ClientMsg> {
        self.next_cid += 1;
        let progress = preview.as_ref().map(|_| 0);
        let pending = Pending {
            room: self.current.clone(),
            text,
            cid: format!("{}-{}", self.cid_prefix, self.next_cid),
            delivery: Delivery::Sending,
            preview,
            image: None,
            progress,
            reply_to: self.replying().map(|m| m.id),
        };
        let frame = if self.ready(&pending.room) { pending.frame() } else { None };
        self.outbox.push(pending);
        frame
    }

    fn ready(&self, room: &str) -> bool {
        self.can_send() && self.room(room).is_some_and(|r| r.joined)
    }

    /// A picture is being uploaded to the current room, shown meanwhile from `preview`
    /// (a local URL); returns its `cid`, which the upload reports to.
    pub fn start_upload(&mut self, preview: String) -> Result<String, SayError> {
        if self.outbox.is_full() {
            return Err(SayError::OutboxFull);
        }
        self.record(String::new(), Some(preview));
        Ok(format!("{}-{}", self.cid_prefix, self.next_cid))
    }

    /// What became of the upload of the picture `cid`; returns the `say` to send now
    /// once it is up, if it can go (else it goes with the room's next `joined`).
    pub fn upload(&mut self, cid: &str, event: Upload) -> Option<ClientMsg> {
        let p = self.outbox.get_mut(cid)?;
        match event {
            Upload::Progress(percent) => {
                p.progress = p.progress.map(|_| percent.min(100));
            }
            Upload::Done(url) => {
                p.image = Some(url);
                p.progress = None;
                let (room, frame) = (p.room.clone(), p.frame());
                return if self.ready(&room) { frame } else { None };
            }
            Upload::Failed(why) => {
                p.progress = None;
                p.delivery = Delivery::Failed(why.to_owned());
            }
            Upload::Retry => {
                p.progress = Some(0);
                p.delivery = Delivery::Sending;
            }
        }
        None
    }

    /// Forgets a message the server refused for good.
    pub fn discard(&mut self, cid: &str) {
        self.outbox.discard(cid);
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
    /// send now, or why `raw` is not a room name (also kept in `room_error`). A private
    /// room of the directory is not joined yet: its password is asked for ([`Chat::prompt`]).
    pub fn open_room(&mut self, raw: &str) -> Result<Option<ClientMsg>, String> {
        self.open_room_with(raw, "", "")
    }

    /// [`Chat::open_room`] with a `password` (making a room it creates private, or opening a
    /// private room) and a member limit `max` for a room it creates, both optional (empty).
    pub fn open_room_with(
        &mut self,
        raw: &str,
        password: &str,
        max: &str,
    ) -> Result<Option<ClientMsg>, String> {
        let checked = RoomName::parse(raw).and_then(|name| {
            let password = (!password.is_empty()).then(|| Password::parse(password)).transpose()?;
            let max = match max.trim() {
                "" => None,
                // Not a number at all: out of range all the same.
                n => Some(room_max(n.parse().unwrap_or(0))?),
            };
            Ok((String::from(name), password, max))
        });
        let (name, password, max) = match checked {
            Ok(ok) => ok,
            Err(e) => {
                let why = sentence(&e);
                self.room_error = Some(why.clone());
                return Err(why);
            }
        };
        self.room_error = None;
        let frame = if self.room(&name).is_some() {
            None
        } else if password.is_none() && self.directory.iter().any(|r| r.private && r.name == name) {
            self.room_error = Some(fill(words().private_prompt, &[("room", &isolated(&name))]));
            self.prompt = Some(name);
            return Ok(None);
        } else {
            let mut room = self.new_room(&name);
            room.password = password.map(|p| p.expose().to_owned());
            let frame =
                ClientMsg::Join { room: name.clone(), after: None, password: room.password.clone(), max };
            self.rooms.push(room);
            self.joining = Some(name.clone());
            self.welcomed.then_some(frame)
        };
        self.show(name);
        Ok(frame)
    }

    /// The room form now asks for the password of [`Chat::prompt`].
    pub fn prompted(&mut self) {
        self.prompt = None;
    }

    /// Makes `name` (a joined room) the room shown: its messages count as read.
    fn show(&mut self, name: String) {
        if let Some(room) = self.room_mut(&name) {
            room.unread = 0;
            room.mentioned = false;
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
        self.outbox.forget_room(room);
        let mut frames = Vec::new();
        if self.rooms.is_empty() {
            let lobby = self.new_room(LOBBY);
            self.rooms.push(lobby);
            if self.welcomed {
                frames.push(ClientMsg::Join { room: LOBBY.into(), after: None, password: None, max: None });
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

    /// The user reached the end of the members panel: the `members` request for the page
    /// after the last member held (version 2), unless one is in flight or the room has
    /// no more members. After counted presence (a big room) the list held may miss people
    /// anywhere in it, so the request is for a fresh list from the start, a page longer
    /// than the one held (at most [`MEMBERS_MAX`](common::v2::MEMBERS_MAX)), which
    /// replaces it.
    pub fn load_members(&mut self) -> Option<ClientMsg> {
        use common::v2::{MEMBERS_MAX, MEMBERS_PAGE, PROTOCOL_V2};
        let online = self.can_send() && self.protocol >= PROTOCOL_V2;
        let room = self.rooms.iter_mut().find(|r| r.name == self.current)?;
        if !online || !room.joined || !room.more || room.paging {
            return None;
        }
        room.paging = true;
        let (after, limit) = if room.stale {
            room.stale = false;
            room.refreshing = true;
            let held = u32::try_from(room.members.len()).unwrap_or(MEMBERS_MAX);
            (None, Some(held.saturating_add(MEMBERS_PAGE).min(MEMBERS_MAX)))
        } else {
            (room.members.last().cloned(), None)
        };
        Some(ClientMsg::Members { room: room.name.clone(), after, limit })
    }

    /// When [`Chat::tick`] next has something to do (ms), if ever: a typing indicator
    /// expires, or a refused message is due to be sent again.
    pub fn next_deadline(&self) -> Option<f64> {
        let typing = self.rooms.iter().flat_map(|r| r.typing.iter().map(|(_, at)| at + TYPING_MS));
        typing.chain(self.outbox.next_retry()).reduce(f64::min)
    }

    /// Time passed: forgets typing indicators older than [`TYPING_MS`] and returns the
    /// refused messages that are due to be sent again.
    pub fn tick(&mut self, now_ms: f64) -> Vec<ClientMsg> {
        for room in &mut self.rooms {
            room.typing.retain(|&(_, at)| now_ms - at < TYPING_MS);
        }
        let online = self.can_send();
        let rooms = &self.rooms;
        self.outbox.due(now_ms, |room| online && rooms.iter().any(|r| r.name == room && r.joined))
    }

    /// The message of the room shown with this `id`, if held.
    pub fn held(&self, id: u64) -> Option<&ChatMessage> {
        self.current_room()?.entries.iter().find_map(|e| match &**e {
            Entry::Message { msg, .. } if msg.id == id => Some(msg),
            _ => None,
        })
    }

    /// The message the next `say` in the room shown answers.
    pub fn replying(&self) -> Option<&ChatMessage> {
        self.replying.as_ref().filter(|m| m.room == self.current)
    }

    /// The next `say` answers the message `id` of the room shown (`None`: none).
    pub fn reply(&mut self, id: Option<u64>) {
        self.replying = id.and_then(|id| self.held(id)).cloned();
    }

    /// We may delete this message of the room shown: ours, or the room's owner or a
    /// moderator may (the server decides; this only offers the button).
    pub fn may_delete(&self, own: bool) -> bool {
        own || self.current_room().is_some_and(|r| r.role(&self.nick) != Role::Member)
    }

    /// The `kick` of `nick` from the room shown, or (`ban`) its `ban` for [`BAN_MINUTES`].
    pub fn remove(&self, nick: &str, ban: bool) -> Option<ClientMsg> {
        let (room, nick) = (self.current.clone(), nick.to_owned());
        self.about(if ban {
            ClientMsg::Ban { room, nick, minutes: BAN_MINUTES }
        } else {
            ClientMsg::Kick { room, nick }
        })
    }

    /// The `mod` that makes `nick` a moderator of the room shown (`on`), or no longer one.
    pub fn moderate(&self, nick: &str, on: bool) -> Option<ClientMsg> {
        self.about(ClientMsg::Mod { room: self.current.clone(), nick: nick.to_owned(), on })
    }

    /// A frame about the message `id` of the room shown, if it can go now: an edit, a
    /// deletion or a reaction is not kept for later, as a message is.
    fn about(&self, frame: ClientMsg) -> Option<ClientMsg> {
        self.ready(&self.current).then_some(frame)
    }

    /// The `edit` of our message `id` to `text`, unless `text` is not a message's text or
    /// the same as before.
    pub fn edit(&self, id: u64, text: &str) -> Option<ClientMsg> {
        let text = Text::parse(text).ok()?;
        let same = self.held(id).is_some_and(|m| m.text == text.as_str());
        let room = self.current.clone();
        if same { None } else { self.about(ClientMsg::Edit { room, id, text: text.into() }) }
    }

    /// The `delete` of the message `id`.
    pub fn delete(&self, id: u64) -> Option<ClientMsg> {
        self.about(ClientMsg::Delete { room: self.current.clone(), id })
    }

    /// The `react` that turns our `emoji` on the message `id` on, or off if it is on.
    pub fn react(&self, id: u64, emoji: &str) -> Option<ClientMsg> {
        let on = !self
            .held(id)
            .is_some_and(|m| m.reactions.iter().any(|r| r.emoji == emoji && r.nicks.contains(&self.nick)));
        self.about(ClientMsg::React { room: self.current.clone(), id, emoji: emoji.to_owned(), on })
    }

    pub fn dismiss_alert(&mut self, seq: u64) {
        if self.alert.as_ref().is_some_and(|a| a.seq == seq) {
            self.alert = None;
        }
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
