//! Who may moderate a room: its owner (the session that created it) and the moderators
//! the owner named, by resume token, kept with the room's settings in the store and in
//! the hub's `Room` while it is known here. This file answers the one question every
//! moderation rule asks ([`State::role`]: a `kick`, a `ban`, a `mod`, and the deletion of
//! someone else's message), and lists the roles of a room's members for `joined.roles`.
//!
//! A role belongs to a session, not a nick: it follows its resume token through renames
//! and reconnects, and a nick is looked up only to name it in a frame.

use common::{Nick, Role, RoleInfo, RoomName};

use super::{ConnId, State};
use crate::store::SenderKey;

impl State {
    /// The role in `room` of the session whose resume token is `token`: [`Role::Owner`],
    /// [`Role::Moderator`], or [`Role::Member`] for anyone else (member of the room or
    /// not; the lobby has no owner). What a check of "may this session delete any
    /// message, kick or ban here" calls.
    pub(super) fn role(&self, room: &RoomName, token: &SenderKey) -> Role {
        let Some(roles) = self.rooms.get(room).map(|r| &r.roles) else { return Role::Member };
        if roles.owner.as_ref() == Some(token) {
            Role::Owner
        } else if roles.moderators.contains(token) {
            Role::Moderator
        } else {
            Role::Member
        }
    }

    /// The owner and moderators among the members of `room` (here or on other nodes),
    /// owner first: what `joined.roles` carries. Looked up by their tokens, so the cost
    /// is the number of roles, never the room's size.
    pub(super) fn roles_of(&self, room: &RoomName) -> Vec<RoleInfo> {
        let Some(r) = self.rooms.get(room) else { return Vec::new() };
        let owner = r.roles.owner.iter().map(|t| (t, Role::Owner));
        let moderators = r.roles.moderators.iter().map(|t| (t, Role::Moderator));
        owner
            .chain(moderators)
            .filter_map(|(token, role)| {
                let (id, nick) = self.session_of(token)?;
                r.contains(id).then(|| RoleInfo { nick: nick.to_string(), role })
            })
            .collect()
    }

    /// The connection (here, or another node's member) holding resume token `token`,
    /// with its nick.
    pub(super) fn session_of(&self, token: &SenderKey) -> Option<(ConnId, Nick)> {
        if let Some(id) = self.sessions.by_token(token) {
            return Some((id, self.sessions.get(id)?.nick().clone()));
        }
        self.remote_by_token(token)
    }

    /// The resume token of whoever has `nick` (here or on another node), with its id.
    pub(super) fn token_of(&self, nick: &Nick) -> Option<(ConnId, SenderKey)> {
        let id = self.sessions.nick_owner(nick)?;
        match self.sessions.get(id) {
            Some(conn) => Some((id, conn.sender.clone())),
            None => self.remote_member(id, None).map(|(token, _)| (id, token)),
        }
    }
}
