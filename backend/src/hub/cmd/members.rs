//! `members` (version 2 only): a page of a room's members, by nick, for a member of the
//! room.

use common::v2::MembersPage;
use common::{ServerMsg, Version};

use crate::encode::encode;
use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::replica::nick_of;
use crate::hub::{ConnId, State, queue};

pub(super) fn members(
    state: &mut State,
    id: ConnId,
    MembersPage { room, after, limit }: MembersPage,
) -> Result<Next, RequestError> {
    let Some(conn) = state.sessions.get_mut(id) else { return Ok(Next::Done) };
    if conn.version == Version::V1 {
        // Version 1 has no such frame, and stays exactly as it was.
        return Err(RequestError::BadRequest(
            "unknown frame type `members` (it is version 2's: offer the subprotocol chat.v2)".into(),
        ));
    }
    let Some(members) = state.rooms.joined(conn, &room) else {
        return Err(RequestError::NotInRoom(room));
    };
    let (sessions, cluster) = (&state.sessions, &state.cluster);
    let (page, complete) = members.page(after.as_ref(), limit as usize, |c| nick_of(sessions, cluster, c));
    let frame = encode(
        &ServerMsg::Members { room: room.to_string(), members: page, total: members.total(), complete },
        &state.metrics,
    );
    if let Some(conn) = sessions.get(id) {
        queue(&conn.link, frame, &mut state.dirty);
    }
    Ok(Next::Done)
}
