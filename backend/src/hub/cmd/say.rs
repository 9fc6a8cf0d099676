//! `say`: a message to a room the connection is in. The store takes it (memory only under
//! the lock) and the room delivers it, encoded once, to every member (`hub::room`'s
//! loop); a durable store delivers it once committed, and a retry of a message already
//! stored gets the stored copy back.

use common::{Cid, ImageRef, RoomName, Text};

use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::{ConnId, State, now_ms};
use crate::store::{Appended, NewMessage};

pub(super) fn say(
    state: &mut State,
    id: ConnId,
    room: RoomName,
    text: Text,
    cid: Cid,
    image: Option<ImageRef>,
    reply_to: Option<u64>,
) -> Result<Next, RequestError> {
    let Some(conn) = state.sessions.get_mut(id) else { return Ok(Next::Done) };
    let Some(members) = state.rooms.joined(conn, &room) else {
        return Err(RequestError::NotInRoom(room));
    };
    let new = NewMessage {
        sender: &conn.sender,
        room: &room,
        nick: conn.nick(),
        text,
        cid,
        ts: now_ms(),
        image,
        reply_to,
    };
    match state.store.append(new) {
        Appended::Deliver(msg) => {
            state.metrics.stored(0);
            members.deliver(msg, &state.metrics, &mut state.dirty);
        }
        Appended::Duplicate { room, id } => {
            return Ok(Next::Again { link: conn.link.clone(), room, id });
        }
        // Delivered to the room, the sender included, once committed.
        Appended::Queued | Appended::InFlight => {}
        Appended::Busy => return Err(RequestError::Busy),
        // A reply to a message the room does not have.
        Appended::Refused(refusal) => {
            return Err(RequestError::refused(refusal, room, reply_to.unwrap_or_default()));
        }
    }
    Ok(Next::Done)
}
