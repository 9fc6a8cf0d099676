//! `history`: an older page of a room's messages. Under the lock only the rules (a
//! client that does not read its answers, a private room's history for its members
//! only); the page is read once the lock is released (`hub::read`).

use common::RoomName;

use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::{ConnId, State};

pub(super) fn history(
    state: &mut State,
    id: ConnId,
    room: RoomName,
    before: u64,
    limit: u32,
) -> Result<Next, RequestError> {
    let Some(conn) = state.sessions.get(id) else { return Ok(Next::Done) };
    // Its last answer is still queued: the client is not reading. Refused at the price of
    // a small frame, rather than a page read, encoded and queued until the bound in bytes
    // drops the client (docs/protocol.md).
    if conn.link.answer_unread() {
        return Err(RequestError::Unread(room));
    }
    // A private room's history is for its members; one whose settings are not known here
    // (no member here, or only other nodes') is looked up in the store, with the lock
    // released.
    let check = !conn.rooms.contains(&room)
        && match state.rooms.get(&room).and_then(|r| r.settings.as_ref()) {
            Some(s) if s.is_private() => return Err(RequestError::PrivateHistory(room)),
            Some(_) => false,
            None => true,
        };
    Ok(Next::History { link: conn.link.clone(), room, before, limit: limit as usize, check })
}
