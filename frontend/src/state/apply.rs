//! Every frame from the server, applied to the [`Chat`]: [`Chat::apply`] and one method
//! per kind of frame. Each returns the frames the client must send in answer (rejoining
//! rooms after `welcome`, re-sending the outbox after `joined`, asking for the rest of a
//! resume page).
//!
//! This is the only place that reads [`ServerMsg`]; a new variant of it does not compile
//! until it has an arm in [`Chat::apply`].

use common::{
    Change, ChatMessage, ClientMsg, ErrorCode, LOBBY, PresenceEvent, Role, RoleInfo, RoomInfo, ServerMsg,
};

use super::changes::mentions_nick;
use super::{Chat, isolated};
use crate::words::{Words, fill, words};

impl Chat {
    /// Applies a frame from the server; returns the frames to send in answer. `now_ms` is
    /// the local time, used to age typing indicators and to schedule retries.
    pub fn apply(&mut self, msg: ServerMsg, now_ms: f64) -> Vec<ClientMsg> {
        match msg {
            ServerMsg::Welcome { protocol, nick, rooms, resume, rooms_total } => {
                self.protocol = protocol;
                if resume.is_some() {
                    self.resume = resume;
                }
                self.rooms_total = rooms_total.unwrap_or_default();
                let mut frames = self.welcome(nick, rooms);
                frames.extend(self.rooms_reset());
                return frames;
            }
            ServerMsg::You { nick } => {
                self.chosen_nick = Some(nick.clone());
                self.pending_nick = None;
                self.nick_error = None;
                self.nick = nick;
            }
            ServerMsg::Rooms { rooms } => self.directory = rooms,
            ServerMsg::Joined {
                room,
                members,
                history,
                complete,
                total,
                roles,
                changes,
                changes_complete,
            } => {
                if !changes_complete {
                    // More changed while away than `joined` could tell: the room is read anew.
                    let password = self.room_mut(&room).and_then(|r| {
                        r.reload();
                        r.password.clone()
                    });
                    return vec![ClientMsg::Join { room, after: None, password, max: None }];
                }
                let frames = self.joined(room.clone(), members, history, complete, total);
                if let Some(r) = self.room_mut(&room) {
                    r.roles = roles;
                    for change in changes {
                        r.change(change);
                    }
                }
                return frames;
            }
            ServerMsg::Left { room } => return self.left(&room),
            // Taken out of the room: as if it had left (joining again is the person's own
            // choice, so nothing rejoins it by itself), and the user is told who did it and
            // whether it is a ban (`until`: its end, which a `join` before it meets as
            // `forbidden`).
            ServerMsg::Kicked { room, by, until } => {
                let w = words();
                let template = match (by.is_some(), until.is_some()) {
                    (true, false) => w.kicked_by,
                    (false, false) => w.kicked,
                    (true, true) => w.banned_by,
                    (false, true) => w.banned_room,
                };
                let text = fill(
                    template,
                    &[("nick", &isolated(&by.unwrap_or_default())), ("room", &isolated(&room))],
                );
                self.show_alert(text);
                return self.left(&room);
            }
            ServerMsg::Role { room, nick, role } => {
                if let Some(r) = self.room_mut(&room) {
                    r.roles.retain(|i| i.nick != nick);
                    if role != Role::Member {
                        r.roles.push(RoleInfo { nick, role });
                    }
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
            ServerMsg::History { room, messages, complete } => self.history(&room, messages, complete),
            ServerMsg::Error { code, message, cid } => return self.error(code, message, cid, now_ms),
            // The answer to a `ping`; this client sends none, and the frame says nothing more.
            ServerMsg::Pong => {}
            ServerMsg::Edited(c) => self.change(Change::Edited(c)),
            ServerMsg::Deleted(c) => self.change(Change::Deleted(c)),
            ServerMsg::Reacted(c) => self.change(Change::Reacted(c)),
            ServerMsg::RoomsDelta { changed, removed, total } => {
                self.directory.retain(|r| !removed.contains(&r.name));
                self.upsert_rooms(changed);
                self.rooms_total = total.unwrap_or(self.rooms_total);
            }
            ServerMsg::RoomsPage { rooms, next, total, query } => {
                self.rooms_total = total;
                return self.rooms_page(rooms, next, query).into_iter().collect();
            }
            ServerMsg::Members { room, members, total, complete } => {
                if let Some(r) = self.room_mut(&room) {
                    r.paging = false;
                    if r.refreshing {
                        r.refreshing = false;
                        r.members.clear();
                    }
                    // A page is a snapshot: a nick it shares with one told earlier is
                    // one member, and the order stays the list's.
                    for nick in &members {
                        r.add_member(nick);
                    }
                    r.total = Some(total);
                    r.more = !complete;
                }
            }
            ServerMsg::PresenceCount { room, joined, left, renamed, total } => {
                let seq = self.seq();
                if let Some(r) = self.room_mut(&room) {
                    r.total = Some(total);
                    // Nobody is named: the list may now miss newcomers anywhere in it and
                    // hold people who left, so "more" means a fresh list (see `stale`).
                    r.stale = true;
                    r.more = true;
                    r.notice(seq, counted_text(words(), joined, left, renamed));
                }
            }
        }
        Vec::new()
    }

    /// Sets each room's entry in the directory, adding those it did not list.
    pub(super) fn upsert_rooms(&mut self, rooms: Vec<RoomInfo>) {
        for room in rooms {
            match self.directory.iter_mut().find(|r| r.name == room.name) {
                Some(known) => *known = room,
                None => self.directory.push(room),
            }
        }
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
            // A private room's password goes along (a server that restarted asks for it
            // again; one that remembers this session admits it without).
            self.rooms.iter().map(|room| ClientMsg::Join {
                room: room.name.clone(),
                after: room.last_id,
                password: room.password.clone(),
                max: None,
            }),
        );
        frames
    }

    fn joined(
        &mut self,
        room: String,
        members: Vec<String>,
        history: Vec<ChatMessage>,
        complete: bool,
        total: Option<u32>,
    ) -> Vec<ClientMsg> {
        if self.joining.as_deref() == Some(room.as_str()) {
            self.joining = None;
        }
        // What the server already stored is no longer waiting, whatever happened to its echo.
        self.outbox.acknowledge_page(&history);
        let own: Vec<bool> = history.iter().map(|m| self.is_own(m)).collect();
        let mention: Vec<bool> = history.iter().map(|m| mentions_nick(&m.text, &self.nick)).collect();
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
        // Version 2 gives the first page and the room's size; version 1 every member.
        state.more = total.is_some_and(|t| t as usize > state.members.len());
        state.total = total;
        state.paging = false;
        state.refreshing = false;
        state.stale = false;
        // We asked with `after` exactly when we had seen a message (see `welcome`).
        let resumed = state.last_id.is_some();
        let mut added = false;
        for ((msg, own), mention) in history.into_iter().zip(own).zip(mention) {
            if state.insert(msg, own) {
                added = true;
                if resumed && !shown && !own {
                    state.unread += 1;
                    state.mentioned |= mention;
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
                frames.push(ClientMsg::Join {
                    room: room.clone(),
                    after: state.last_id,
                    password: None,
                    max: None,
                });
            }
        } else {
            state.complete = complete;
            state.known = true;
        }
        // What was said while the room was not joined goes out now, with its first cid (a
        // message waiting out `rate_limited` too: this is a new connection).
        let online = self.can_send();
        frames.extend(self.outbox.resend(&room, online));
        frames
    }

    fn is_own(&self, msg: &ChatMessage) -> bool {
        let sent_here = msg.cid.as_deref().is_some_and(|cid| self.outbox.holds(cid));
        sent_here || (!self.nick.is_empty() && msg.nick == self.nick)
    }

    fn message(&mut self, msg: ChatMessage) {
        let own = self.is_own(&msg);
        if let Some(cid) = &msg.cid
            && own
        {
            self.outbox.acknowledge(cid);
        }
        let shown = self.current == msg.room;
        let mention = mentions_nick(&msg.text, &self.nick);
        let Some(room) = self.room_mut(&msg.room) else {
            return;
        };
        room.stop_typing(&msg.nick);
        if room.insert(msg, own) {
            room.trim();
            if !shown && !own {
                room.unread += 1;
                room.mentioned |= mention;
            }
        }
    }

    fn change(&mut self, change: Change) {
        if let Some(r) = self.room_mut(change.room()) {
            r.change(change);
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
        let w = words();
        let who = isolated(&nick);
        let text = match event {
            PresenceEvent::Join => {
                r.total = r.total.map(|t| t + 1);
                r.member_joined(&nick);
                fill(w.joined, &[("nick", &who)])
            }
            PresenceEvent::Leave => {
                r.total = r.total.map(|t| t.saturating_sub(1));
                r.remove_member(&nick);
                fill(w.left, &[("nick", &who)])
            }
            PresenceEvent::Rename => match old_nick {
                Some(old) => {
                    r.rename_member(&old, &nick);
                    for role in r.roles.iter_mut().filter(|i| i.nick == old) {
                        role.nick.clone_from(&nick);
                    }
                    fill(w.renamed, &[("old", &isolated(&old)), ("nick", &who)])
                }
                None => {
                    r.member_joined(&nick);
                    fill(w.renamed_unknown, &[("nick", &who)])
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
            // A join the server could not finish (its store failing) did not happen either.
            // A private room refused: a wrong or missing password (or too many wrong
            // ones) asks for it again, saying why; a full room, or a ban from a public
            // one, says so.
            (
                ErrorCode::Invalid | ErrorCode::Unavailable | ErrorCode::Forbidden | ErrorCode::RoomFull,
                None,
            )
            | (ErrorCode::RateLimited, None)
                if self.joining.is_some() =>
            {
                let room = self.joining.take().unwrap_or_default();
                let with_password = self.room(&room).is_some_and(|r| r.password.is_some());
                // A room the directory lists as public refuses nobody for a password: a
                // `forbidden` there is a ban by its owner or a moderator.
                let public = !with_password && self.directory.iter().any(|r| r.name == room && !r.private);
                match code {
                    ErrorCode::Forbidden if !public => {}
                    ErrorCode::RateLimited if with_password => {}
                    // An ordinary refusal of another request: the join still stands.
                    ErrorCode::RateLimited => {
                        self.joining = Some(room);
                        self.show_alert(message);
                        return Vec::new();
                    }
                    // Said in an alert too: on a phone the room form is in a closed drawer.
                    ErrorCode::RoomFull | ErrorCode::Forbidden => {
                        self.show_alert(message.clone());
                        self.room_error = Some(message);
                        return self.left(&room);
                    }
                    _ => {
                        self.room_error = Some(message);
                        return self.left(&room);
                    }
                }
                self.prompt = Some(room.clone());
                self.room_error = Some(message);
                return self.left(&room);
            }
            // Said before the room was joined: it stays in the outbox, sent on `joined`;
            // `too_slow` drops the connection, and the outbox is replayed after it.
            (ErrorCode::NotInRoom | ErrorCode::TooSlow, Some(_)) => {}
            (code, Some(cid)) => self.outbox.refused(&cid, code, message, now_ms),
            (code, None) => {
                if matches!(code, ErrorCode::RateLimited | ErrorCode::Unavailable) {
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

/// A `presence_count` as the log shows it in the language of `w`: "12 people joined, 3
/// left", "1 person left", "2 people changed their nickname". Only the first count names
/// people (in English); the parts with nothing to tell are left out.
pub fn counted_text(w: &Words, joined: u32, left: u32, renamed: u32) -> String {
    let mut text = String::new();
    for (n, what) in [(joined, w.counted_joined), (left, w.counted_left), (renamed, w.counted_renamed)] {
        if n == 0 {
            continue;
        }
        let who = if text.is_empty() { &w.counted_who_first } else { &w.counted_who_then };
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&fill(w.counted, &[("n", &n.to_string()), ("who", who.of(n)), ("what", what)]));
    }
    text
}
