//! `leave`: the connection leaves a room (`left` to it, `presence` `leave` to the
//! others; an emptied room is forgotten here, its history stays in the store).

use common::{RoomName, ServerMsg};

use crate::cluster::events::Op;
use crate::encode::encode;
use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::{ConnId, Hub, State, queue};

impl Hub {
    pub(super) fn leave(&self, state: &mut State, id: ConnId, room: RoomName) -> Result<Next, RequestError> {
        let Some(conn) = state.sessions.get_mut(id) else { return Ok(Next::Done) };
        if !conn.rooms.remove(&room) {
            return Err(RequestError::NotInRoom(room));
        }
        queue(
            &conn.link,
            encode(&ServerMsg::Left { room: room.to_string() }, &state.metrics),
            &mut state.dirty,
        );
        let nick = conn.nick().clone();
        state.remove_member(&room, id, &nick);
        let name = room.to_string();
        state.cluster_op(|epoch| Op::Leave { epoch, conn: id, room: name });
        self.shared.directory_changed.notify_one();
        self.wake_counts(state);
        Ok(Next::Done)
    }
}
