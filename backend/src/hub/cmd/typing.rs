//! `typing`: a notice to a room's other members that the connection is typing (bounded
//! per typer in big rooms), shared with the other nodes when some of their members are in
//! the room.

use std::time::Instant;

use common::{RoomName, ServerMsg};

use crate::encode::encode;
use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::replica::share_typing;
use crate::hub::{ConnId, State};

pub(super) fn typing(state: &mut State, id: ConnId, room: RoomName) -> Result<Next, RequestError> {
    let Some(conn) = state.sessions.get_mut(id) else { return Ok(Next::Done) };
    let threshold = state.rooms.presence_threshold();
    let Some(members) = state.rooms.joined(conn, &room) else {
        return Err(RequestError::NotInRoom(room));
    };
    let frame =
        encode(&ServerMsg::Typing { room: room.to_string(), nick: conn.nick().to_string() }, &state.metrics);
    members.typing(&frame, id, threshold, Instant::now(), &mut state.dirty);
    if members.has_remote() {
        share_typing(&state.cluster, &room, conn.nick());
    }
    Ok(Next::Done)
}
