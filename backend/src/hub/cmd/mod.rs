//! The rules of each request but `join`, one file each (`moderate`: `mod`, `kick`, `ban`) (a `join`'s, which may need more
//! than one trip to the lock, are `hub::join`'s). Each runs under the hub's lock, changes
//! the state through its parts' methods, queues what it sends, and says what is left to do
//! once the lock is released ([`Next`]: a read of history, say).
//!
//! [`Hub::apply`] is only the dispatch.

pub(super) mod change;
mod history;
mod leave;
mod members;
mod moderate;
mod nick;
mod say;
mod typing;

use common::{Request, ServerMsg};

use super::read::Next;
use super::{ConnId, Hub, State, queue};
use crate::change::Action;
use crate::encode::encode;
use crate::error::RequestError;

impl Hub {
    /// The part of [`Hub::handle`] that runs under the lock: the request's rules.
    pub(super) fn apply(
        &self,
        state: &mut State,
        id: ConnId,
        request: Request,
    ) -> Result<Next, RequestError> {
        // Each rule looks its connection up itself (one lookup on a `say`, as before the
        // split): a connection that is gone meanwhile gets `Next::Done`.
        match request {
            Request::Nick(nick) => self.set_nick(state, id, nick),
            // The rules of a join are `admit`'s (it may need more than one trip to the lock).
            Request::Join { .. } => unreachable!("Hub::handle sends joins to Hub::admit"),
            Request::Leave(room) => self.leave(state, id, room),
            Request::Say { room, text, cid, image, reply_to } => {
                say::say(state, id, room, text, cid, image, reply_to)
            }
            Request::Typing(room) => typing::typing(state, id, room),
            Request::Ping => {
                if let Some(conn) = state.sessions.get(id) {
                    queue(&conn.link, encode(&ServerMsg::Pong), &mut state.dirty);
                }
                Ok(Next::Done)
            }
            Request::History { room, before, limit } => history::history(state, id, room, before, limit),
            Request::Members(page) => members::members(state, id, page),
            Request::Mod { room, nick, on } => self.moderator(state, id, room, nick, on),
            Request::Kick { room, nick } => self.kick_request(state, id, room, nick, None),
            Request::Ban { room, nick, minutes } => self.kick_request(state, id, room, nick, Some(minutes)),
            // Changing a message after it was said.
            Request::Edit { room, id: msg, text } => change::change(state, id, room, msg, Action::Edit(text)),
            Request::Delete { room, id: msg } => change::change(state, id, room, msg, Action::Delete),
            Request::React { room, id: msg, emoji, on } => {
                let action = Action::React { emoji: emoji.as_str().to_owned(), on };
                change::change(state, id, room, msg, action)
            }
            Request::Rooms(ask) => state.rooms_page(id, ask).map(|()| Next::Done),
            Request::RoomsWatch(on) => state.rooms_watch(id, on).map(|()| Next::Done),
        }
    }
}
