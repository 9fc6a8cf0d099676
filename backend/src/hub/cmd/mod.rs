//! The rules of each request but `join`, one file each (a `join`'s, which may need more
//! than one trip to the lock, are `hub::join`'s). Each runs under the hub's lock, changes
//! the state through its parts' methods, queues what it sends, and says what is left to do
//! once the lock is released ([`Next`]: a read of history, say).
//!
//! [`Hub::apply`] is only the dispatch.

mod history;
mod leave;
mod members;
mod nick;
mod say;
mod typing;

use common::{Request, ServerMsg};

use super::read::Next;
use super::{ConnId, Hub, State, queue};
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
            Request::Say { room, text, cid, image } => say::say(state, id, room, text, cid, image),
            Request::Typing(room) => typing::typing(state, id, room),
            Request::Ping => {
                if let Some(conn) = state.sessions.get(id) {
                    queue(&conn.link, encode(&ServerMsg::Pong), &mut state.dirty);
                }
                Ok(Next::Done)
            }
            Request::History { room, before, limit } => history::history(state, id, room, before, limit),
            Request::Members(page) => members::members(state, id, page),
            Request::Rooms(ask) => state.rooms_page(id, ask).map(|()| Next::Done),
            Request::RoomsWatch(on) => state.rooms_watch(id, on).map(|()| Next::Done),
        }
    }
}
