//! `mod`, `kick` and `ban`: a room's owner and moderators at work. The owner names and
//! removes moderators (every member gets `role`); owner and moderators take members out
//! (`kicked` with `by`, a `presence` `leave` for the others) and keep them out for a
//! time (a ban, by resume token and address: see `hub::moderate`). Nobody acts on someone
//! of their own rank or above: a moderator cannot remove the owner or another moderator.
//! Anyone else is `forbidden`.

use common::{Nick, Role, RoomName, ServerMsg};

use crate::cluster::events::{Moderation, Op};
use crate::encode::encode;
use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::room::Audience;
use crate::hub::{ConnId, Hub, Kicked, State, now_ms};

/// How far a role reaches: one acts only on lower ranks.
fn rank(role: Role) -> u8 {
    match role {
        Role::Owner => 2,
        Role::Moderator => 1,
        Role::Member => 0,
    }
}

impl Hub {
    pub(super) fn moderator(
        &self,
        state: &mut State,
        id: ConnId,
        room: RoomName,
        nick: Nick,
        on: bool,
    ) -> Result<Next, RequestError> {
        let Some(conn) = state.sessions.get(id) else { return Ok(Next::Done) };
        if !conn.rooms.contains(&room) {
            return Err(RequestError::NotInRoom(room));
        }
        if state.role(&room, &conn.sender) != Role::Owner {
            return Err(RequestError::NotAllowed("only the room's owner names or removes its moderators"));
        }
        let target =
            state.token_of(&nick).filter(|(tid, _)| state.rooms.get(&room).is_some_and(|r| r.contains(*tid)));
        let Some((_, token)) = target else { return Err(RequestError::NotFound(nick.to_string())) };
        if state.role(&room, &token) == Role::Owner {
            return Err(RequestError::NotAllowed("the owner stays the owner"));
        }
        if !state.set_moderator(&room, &token, &nick, on) {
            return Ok(Next::Done); // No change: no frame.
        }
        let moderation =
            Moderation::Role { room: room.to_string(), token: token.to_string(), nick: nick.to_string(), on };
        state.cluster_op(|epoch| Op::Moderate { epoch, moderation });
        Ok(Next::Moderator { room, token, on })
    }

    /// `kick` (no `minutes`) and `ban`.
    pub(super) fn kick_request(
        &self,
        state: &mut State,
        id: ConnId,
        room: RoomName,
        nick: Nick,
        minutes: Option<u64>,
    ) -> Result<Next, RequestError> {
        let Some(conn) = state.sessions.get(id) else { return Ok(Next::Done) };
        if !conn.rooms.contains(&room) {
            return Err(RequestError::NotInRoom(room));
        }
        let by = conn.nick().to_string();
        let mine = state.role(&room, &conn.sender);
        if mine == Role::Member {
            return Err(RequestError::NotAllowed(
                "only the room's owner and moderators take people out of it",
            ));
        }
        let Some((_, token)) = state.token_of(&nick) else {
            return Err(RequestError::NotFound(nick.to_string()));
        };
        if rank(state.role(&room, &token)) >= rank(mine) {
            return Err(RequestError::NotAllowed("you cannot take out someone of your rank or above"));
        }
        let until = minutes.map(|m| now_ms().saturating_add(m.saturating_mul(60_000)));
        if self.kick_shared(state, &nick, Some(&room), until, Some(&by)) == Kicked::NotFound {
            return Err(RequestError::NotFound(nick.to_string()));
        }
        let action = if until.is_some() { "room_ban" } else { "room_kick" };
        state.metrics.action(action);
        // Logged here, where it was decided (the person may be on another node, which logs
        // its `kicked` there).
        tracing::info!(action, %room, %nick, by, minutes, "moderation");
        Ok(Next::Done)
    }
}

impl State {
    /// Names or removes a moderator of `room` here and tells its members here; `false`
    /// when nothing changed (so a change that comes back through the cluster is told once).
    pub(in crate::hub) fn set_moderator(
        &mut self,
        room: &RoomName,
        token: &crate::store::SenderKey,
        nick: &Nick,
        on: bool,
    ) -> bool {
        let Some(r) = self.rooms.get_mut(room) else { return false };
        let changed =
            if on { r.roles.moderators.insert(token.clone()) } else { r.roles.moderators.remove(token) };
        if changed {
            let role = if on { Role::Moderator } else { Role::Member };
            let frame = encode(
                &ServerMsg::Role { room: room.to_string(), nick: nick.to_string(), role },
                &self.metrics,
            );
            r.broadcast(&frame, None, None, Audience::All, &mut self.dirty);
            tracing::info!(%room, %nick, ?role, "role changed");
        }
        changed
    }
}
