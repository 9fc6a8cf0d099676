//! The chat as this client sees it: a plain Rust value ([`Chat`]) and the plain methods
//! that change it.
//!
//! Every frame from the server goes through [`Chat::apply`], which returns the frames the
//! client must send in answer (rejoining rooms after `welcome`, re-sending the outbox
//! after `joined`). Every user intent ([`Chat::say`], [`Chat::request_nick`]) is recorded
//! here first, so that a reconnect can replay it from this value alone. This module must
//! not know about signals, the DOM, storage, timers or sockets: time and randomness come
//! in as arguments, so the whole protocol logic is testable without a browser.

use std::fmt;
use std::sync::Arc;

use common::{
    ChatMessage, ClientMsg, ErrorCode, InvalidName, LOBBY, Nick, PresenceEvent, RoomInfo, ServerMsg, Text,
};

/// A room keeps at most this many log entries; older ones are dropped from memory (the
/// server keeps the history).
pub const MAX_ENTRIES: usize = 1000;
/// At most this many messages wait for the server's echo; further `say`s are refused
/// until the connection drains them.
pub const MAX_OUTBOX: usize = 100;
/// A `typing` frame counts for this long unless renewed (PROTOCOL.md: at most 5 s).
pub const TYPING_MS: f64 = 5000.0;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKey {
    /// A chat message, by its server id (unique within a room).
    Message(u64),
    /// A notice, by a sequence number local to this client.
    Notice(u64),
}

/// One line of a room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message {
        msg: ChatMessage,
        /// Sent by this user (from this page, or under the nick this user holds).
        own: bool,
    },
    /// Someone joined, left or renamed.
    Notice { seq: u64, text: String },
}

impl Entry {
    pub fn key(&self) -> EntryKey {
        match self {
            Self::Message { msg, .. } => EntryKey::Message(msg.id),
            Self::Notice { seq, .. } => EntryKey::Notice(*seq),
        }
    }
}

/// A `say` the server has not echoed yet; re-sent with the same `cid` after a reconnect,
/// which the server turns into a no-op if it had stored it already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub room: String,
    pub text: String,
    pub cid: String,
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

/// One room this client has joined (or will rejoin on the next connection).
///
/// Plain `Vec`s throughout, searched linearly or by bisection: a room holds at most
/// [`MAX_ENTRIES`] entries, and maps and hash sets would cost the web app more code size
/// than they save time.
#[derive(Debug, Clone, Default)]
pub struct RoomState {
    pub name: String,
    /// The log, oldest first; `Arc` so that handing a copy to the view is cheap.
    pub entries: Vec<Arc<Entry>>,
    /// The ids of the messages in `entries`, sorted.
    ids: Vec<u64>,
    /// Nicks of the members, as of the last `joined` and `presence`.
    pub members: Vec<String>,
    /// The highest message id seen: `join.after` on a reconnect resumes from it.
    pub last_id: Option<u64>,
    /// Messages that arrived while another room was shown.
    pub unread: u32,
    /// The server answered `join` on the current connection.
    pub joined: bool,
    /// Who is typing, with the time (ms) their last `typing` arrived.
    typing: Vec<(String, f64)>,
}

impl RoomState {
    fn new(name: &str) -> Self {
        Self { name: name.to_owned(), ..Self::default() }
    }

    /// Adds a message in id order; returns false (and drops it) if its id is known.
    fn insert(&mut self, msg: ChatMessage, own: bool) -> bool {
        let id = msg.id;
        match self.ids.binary_search(&id) {
            Ok(_) => return false,
            Err(at) => self.ids.insert(at, id),
        }
        let entry = Arc::new(Entry::Message { msg, own });
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
        self.trim();
        true
    }

    fn notice(&mut self, seq: u64, text: String) {
        self.entries.push(Arc::new(Entry::Notice { seq, text }));
        self.trim();
    }

    fn trim(&mut self) {
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            for gone in self.entries.drain(..excess) {
                if let Entry::Message { msg, .. } = &*gone
                    && let Ok(at) = self.ids.binary_search(&msg.id)
                {
                    self.ids.remove(at);
                }
            }
        }
    }

    fn add_member(&mut self, nick: &str) {
        if !self.members.iter().any(|m| m == nick) {
            self.members.push(nick.to_owned());
        }
    }

    fn remove_member(&mut self, nick: &str) {
        self.members.retain(|m| m != nick);
        self.stop_typing(nick);
    }

    /// Keeps the member's place in the list.
    fn rename_member(&mut self, old: &str, new: &str) {
        match self.members.iter_mut().find(|m| *m == old) {
            Some(member) => new.clone_into(member),
            None => self.add_member(new),
        }
        self.stop_typing(old);
    }

    fn typing_seen(&mut self, nick: String, now_ms: f64) {
        self.stop_typing(&nick);
        self.typing.push((nick, now_ms));
    }

    fn stop_typing(&mut self, nick: &str) {
        self.typing.retain(|(n, _)| n != nick);
    }

    /// Nicks that sent `typing` within the last [`TYPING_MS`] before `now_ms`.
    pub fn typing(&self, now_ms: f64) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|&&(_, at)| now_ms - at < TYPING_MS)
            .map(|(nick, _)| nick.as_str())
            .collect()
    }
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
    /// The public room directory.
    pub directory: Vec<RoomInfo>,
    /// Messages sent and not yet echoed, oldest first.
    pub outbox: Vec<Pending>,
    pub alert: Option<Alert>,
    /// `welcome` arrived on the current connection: frames may be sent.
    welcomed: bool,
    /// The server's resume token from the last `welcome`: reconnecting with it keeps our
    /// nick and our `cid`s' de-duplication. Held for this page's life only.
    pub resume: Option<String>,
    cid_prefix: String,
    next_cid: u64,
    next_seq: u64,
}

impl Chat {
    /// A chat that will join the lobby. `cid_prefix` must differ between page loads (it
    /// makes `cid`s unique per sender); `chosen_nick` is the nick remembered from before.
    pub fn new(cid_prefix: impl Into<String>, chosen_nick: Option<String>) -> Self {
        let rooms = vec![RoomState::new(LOBBY)];
        Self {
            status: Status::Connecting,
            nick: String::new(),
            chosen_nick,
            pending_nick: None,
            nick_error: None,
            rooms,
            current: LOBBY.to_owned(),
            directory: Vec::new(),
            outbox: Vec::new(),
            alert: None,
            welcomed: false,
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

    /// The connection was lost: what the server told us about members and typing no
    /// longer holds, and nothing can be sent until the next `welcome`.
    pub fn disconnected(&mut self) {
        self.welcomed = false;
        for room in &mut self.rooms {
            room.joined = false;
            room.members.clear();
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
        if self.outbox.len() >= MAX_OUTBOX {
            return Err(SayError::OutboxFull);
        }
        self.next_cid += 1;
        let pending = Pending {
            room: self.current.clone(),
            text: text.into(),
            cid: format!("{}-{}", self.cid_prefix, self.next_cid),
        };
        let ready = self.welcomed && self.current_room().is_some_and(|r| r.joined);
        let frame = ready.then(|| pending.frame());
        self.outbox.push(pending);
        Ok(frame)
    }

    /// Records that the user wants `raw` as nick; returns the frame to send now (if
    /// connected) or the reason it is not a valid nick (also kept in `nick_error`).
    pub fn request_nick(&mut self, raw: &str) -> Result<Option<ClientMsg>, String> {
        let nick = match Nick::parse(raw) {
            Ok(nick) => nick,
            Err(e) => {
                // "a nickname must …" as a sentence.
                let mut why = e.to_string();
                why[..1].make_ascii_uppercase();
                why.push('.');
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

    pub fn dismiss_alert(&mut self, seq: u64) {
        if self.alert.as_ref().is_some_and(|a| a.seq == seq) {
            self.alert = None;
        }
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
    /// the local time, used only to age typing indicators.
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
            ServerMsg::Joined { room, members, history, complete: _ } => {
                return self.joined(room, members, history);
            }
            ServerMsg::Left { room } => {
                self.rooms.retain(|r| r.name != room);
                self.outbox.retain(|p| p.room != room);
                if self.current == room {
                    self.current = LOBBY.to_owned();
                }
            }
            ServerMsg::Message(msg) => self.message(msg),
            ServerMsg::Presence { room, event, nick, old_nick } => {
                self.presence(&room, event, nick, old_nick)
            }
            ServerMsg::Typing { room, nick } => {
                if let Some(r) = self.room_mut(&room) {
                    r.typing_seen(nick, now_ms);
                }
            }
            ServerMsg::History { room, messages, .. } => {
                for msg in messages {
                    let own = self.is_own(&msg);
                    if let Some(r) = self.room_mut(&room) {
                        r.insert(msg, own);
                    }
                }
            }
            ServerMsg::Error { code, message, cid } => self.error(code, message, cid),
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
            self.rooms.push(RoomState::new(LOBBY));
        }
        frames.extend(
            self.rooms.iter().map(|room| ClientMsg::Join { room: room.name.clone(), after: room.last_id }),
        );
        frames
    }

    fn joined(&mut self, room: String, members: Vec<String>, history: Vec<ChatMessage>) -> Vec<ClientMsg> {
        let own: Vec<bool> = history.iter().map(|m| self.is_own(m)).collect();
        if self.room(&room).is_none() {
            self.rooms.push(RoomState::new(&room));
        }
        let state = self.room_mut(&room).expect("just added");
        state.joined = true;
        state.members = members;
        for (msg, own) in history.into_iter().zip(own) {
            state.insert(msg, own);
        }
        // What was said while the room was not joined goes out now, with its first cid.
        self.outbox.iter().filter(|p| p.room == room).map(Pending::frame).collect()
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
        if room.insert(msg, own) && !shown {
            room.unread += 1;
        }
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

    fn error(&mut self, code: ErrorCode, message: String, cid: Option<String>) {
        match (code, cid) {
            (ErrorCode::NickTaken, _) => {
                self.pending_nick = None;
                self.nick_error = Some(message);
            }
            // Only a `nick` request is answered `invalid` without a cid in practice: the
            // client validates rooms and texts before sending them.
            (ErrorCode::Invalid, None) if self.pending_nick.is_some() => {
                self.pending_nick = None;
                self.nick_error = Some(message);
            }
            // Said before the room was joined: it stays in the outbox, sent on `joined`.
            (ErrorCode::NotInRoom, Some(_)) => {}
            (_, Some(cid)) => {
                self.outbox.retain(|p| p.cid != cid);
                self.show_alert(message);
            }
            (_, None) => self.show_alert(message),
        }
    }
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
        ServerMsg::Joined {
            room: room.into(),
            members: vec!["bob".into(), "alice".into()],
            history,
            complete: true,
        }
    }

    fn texts(chat: &Chat) -> Vec<String> {
        chat.current_room()
            .unwrap()
            .entries
            .iter()
            .map(|e| match &**e {
                Entry::Message { msg, .. } => msg.text.clone(),
                Entry::Notice { text, .. } => format!("[{text}]"),
            })
            .collect()
    }

    /// A chat that went through `welcome` and `joined` for the lobby.
    fn connected(nick: &str) -> Chat {
        let mut chat = Chat::new("p", None);
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
        let mut echo = msg(LOBBY, 1, "alice", "hello", Some(&cid));
        chat.apply(ServerMsg::Message(echo.clone()), 0.0);
        assert!(chat.outbox.is_empty());
        let Entry::Message { own, .. } = &*chat.current_room().unwrap().entries[0] else {
            panic!("not a message")
        };
        assert!(own);
        echo.id = 2;
        echo.nick = "bob".into();
        echo.cid = None;
        chat.apply(ServerMsg::Message(echo), 0.0);
        let Entry::Message { own, .. } = &*chat.current_room().unwrap().entries[1] else {
            panic!("not a message")
        };
        assert!(!own, "someone else's message");
    }

    #[test]
    fn cids_are_unique() {
        let mut chat = connected("alice");
        let cid = |f: Option<ClientMsg>| f.and_then(|f| f.cid().map(str::to_owned));
        let a = cid(chat.say("a").unwrap());
        let b = cid(chat.say("a").unwrap());
        assert!(a.is_some() && a != b);
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
    fn say_while_disconnected_waits_for_joined() {
        let mut chat = connected("alice");
        chat.disconnected();
        assert_eq!(chat.say("later"), Ok(None));
        chat.apply(welcome("alice"), 0.0);
        let frames = chat.apply(joined(LOBBY, vec![]), 0.0);
        assert!(matches!(&frames[..], [ClientMsg::Say { text, .. }] if text == "later"));
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
        chat.apply(presence(PresenceEvent::Join, "carol", None), 0.0);
        chat.apply(presence(PresenceEvent::Rename, "bobby", Some("bob")), 0.0);
        chat.apply(presence(PresenceEvent::Leave, "carol", None), 0.0);
        assert_eq!(texts(&chat), ["[carol joined]", "[bob is now bobby]", "[carol left]"]);
        assert_eq!(chat.current_room().unwrap().members, ["bobby", "alice"]);
    }

    #[test]
    fn typing_expires() {
        let mut chat = connected("alice");
        let typing = ServerMsg::Typing { room: LOBBY.into(), nick: "bob".into() };
        chat.apply(typing, 1000.0);
        let room = chat.current_room().unwrap();
        assert_eq!(room.typing(2000.0), ["bob"]);
        assert!(room.typing(1000.0 + TYPING_MS).is_empty());
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
        let frame = chat.say("hi").unwrap().unwrap();
        let cid = frame.cid().map(str::to_owned);
        chat.apply(ServerMsg::error(ErrorCode::RateLimited, "slow down", cid), 0.0);
        assert!(chat.outbox.is_empty(), "a refused say is not retried");
        let alert = chat.alert.clone().expect("an alert");
        assert_eq!(alert.text, "slow down");
        chat.dismiss_alert(alert.seq + 1);
        assert!(chat.alert.is_some(), "another alert's timer changes nothing");
        chat.dismiss_alert(alert.seq);
        assert!(chat.alert.is_none());
    }

    #[test]
    fn unread_counts_messages_of_rooms_not_shown() {
        let mut chat = connected("alice");
        chat.apply(joined("rust", vec![]), 0.0);
        chat.apply(ServerMsg::Message(msg("rust", 1, "bob", "psst", None)), 0.0);
        chat.apply(ServerMsg::Message(msg(LOBBY, 1, "bob", "hi", None)), 0.0);
        assert_eq!(chat.room("rust").unwrap().unread, 1);
        assert_eq!(chat.room(LOBBY).unwrap().unread, 0);
    }

    #[test]
    fn the_log_is_bounded() {
        let mut chat = connected("alice");
        for id in 1..=(MAX_ENTRIES as u64 + 5) {
            chat.apply(ServerMsg::Message(msg(LOBBY, id, "bob", "x", None)), 0.0);
        }
        let room = chat.current_room().unwrap();
        assert_eq!(room.entries.len(), MAX_ENTRIES);
        assert_eq!(room.entries[0].key(), EntryKey::Message(6));
    }
}
