//! `edit`, `delete` and `react`: a change of a message of a room the connection is in.
//! Under the lock only what needs no store (a member, one emoji); the store judges the rest
//! where the message is, by `change`'s rules, and gives the change the room's next number.
//! The room is told once the store has it, encoded once, in the room's one order (the
//! memory store at once; SQLite once its batch is committed, through `Hub::deliver`, as
//! [`State::stored_change`]; a cluster through its fan-out).

use common::{Role, RoomName, ServerMsg};

use crate::change::{Action, Actor, ChangeRequest, Orphans, one_emoji};
use crate::encode::{encode, refusal};
use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::room::Audience;
use crate::hub::{ConnId, Hub, State, now_ms, queue};
use crate::store::{Changed, Changing, SenderKey};

pub(super) fn change(
    state: &mut State,
    id: ConnId,
    room: RoomName,
    message: u64,
    action: Action,
) -> Result<Next, RequestError> {
    let Some(conn) = state.sessions.get(id) else { return Ok(Next::Done) };
    if state.rooms.joined(conn, &room).is_none() {
        return Err(RequestError::NotInRoom(room));
    }
    if let Action::React { emoji, .. } = &action
        && !one_emoji(emoji)
    {
        return Err(RequestError::NotAnEmoji);
    }
    // The room's owner and moderators may delete any of its messages (`may_delete`).
    let moderates = matches!(action, Action::Delete)
        && matches!(state.role(&room, &conn.sender), Role::Owner | Role::Moderator);
    let actor = Actor { sender: conn.sender.clone(), nick: conn.nick().clone(), moderates };
    let request = ChangeRequest { actor, room: room.clone(), id: message, action, ts: now_ms() };
    match state.store.change(request) {
        Changing::Deliver(changed) => state.stored_change(changed),
        // Told to the room once committed; the asker hears of a refusal then.
        Changing::Queued | Changing::Nothing => {}
        Changing::Refused(refusal) => return Err(RequestError::refused(refusal, room, message)),
        Changing::Busy => return Err(RequestError::Busy),
    }
    Ok(Next::Done)
}

/// What became of the operator's deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleting {
    /// Done, or handed to the store's writer.
    Done,
    /// No such message in that room.
    NotFound,
    /// The store's queue is full: try again.
    Busy,
}

impl Hub {
    /// The operator deletes message `id` of `room` (the admin API): the same path as a
    /// member's `delete`, with the operator's right to delete any message. `false` when the
    /// store says at once that there is no such message; a store that judges later (SQLite's
    /// writer, Redis's script) tells nobody of a refusal, as the operator holds no session.
    pub fn delete_as_operator(&self, room: RoomName, id: u64) -> (Deleting, crate::conn::link::Deliveries) {
        self.locked(|state| {
            let request =
                ChangeRequest { actor: Actor::operator(), room, id, action: Action::Delete, ts: now_ms() };
            match state.store.change(request) {
                Changing::Deliver(changed) => {
                    state.stored_change(changed);
                    Deleting::Done
                }
                Changing::Queued | Changing::Nothing => Deleting::Done,
                Changing::Refused(_) => Deleting::NotFound,
                Changing::Busy => Deleting::Busy,
            }
        })
    }

    /// Where the pictures of deleted messages go once no message names them (the media
    /// folder's sweeper).
    pub fn sweep_orphans_to(&self, orphans: Orphans) {
        self.lock().orphans = orphans;
    }
}

impl State {
    /// Tells the room's members here of a stored change (unless the cluster's fan-out
    /// does), and lets a picture no message names any more go.
    pub(in crate::hub) fn stored_change(&mut self, changed: Changed) {
        let Changed { change, published, orphan } = changed;
        if let Some(url) = orphan {
            self.orphans.remove(url);
        }
        if published {
            return;
        }
        self.changed(change);
    }

    /// Tells the room's members here of a change, in the room's order: its number counts
    /// as a message's id does for a member whose `joined` is still being read.
    pub(in crate::hub) fn changed(&mut self, change: common::Change) {
        let Ok(room) = RoomName::parse(change.room()) else { return };
        let seq = change.seq();
        if let Some(members) = self.rooms.get_mut(&room) {
            let frame = encode(&ServerMsg::from(change));
            members.broadcast(&frame, Some(seq), None, Audience::All, &mut self.dirty);
        }
    }

    /// A change (or a reply) the store refused once it judged it: the asker is told.
    pub(in crate::hub) fn change_refused(
        &mut self,
        sender: &SenderKey,
        error: RequestError,
        cid: Option<String>,
    ) {
        if let Some(conn) = self.sessions.by_token(sender).and_then(|id| self.sessions.get(id)) {
            queue(&conn.link, refusal(&error, cid), &mut self.dirty);
        }
    }
}
