//! `nick`: a change of nick, unique case-insensitively (in a cluster, Redis decides
//! between two nodes' claims), told to the connection (`you`) and to its rooms
//! (`presence` `rename`).

use common::{Nick, RoomName, ServerMsg};

use crate::cluster::events::Op;
use crate::encode::encode;
use crate::error::RequestError;
use crate::hub::read::Next;
use crate::hub::{ConnId, Hub, State, queue};
use crate::names::NickKey as _;

impl Hub {
    pub(super) fn set_nick(&self, state: &mut State, id: ConnId, nick: Nick) -> Result<Next, RequestError> {
        if state.sessions.get(id).is_none() {
            return Ok(Next::Done);
        }
        if state.sessions.nick_owner(&nick).is_some_and(|owner| owner != id) {
            return Err(RequestError::NickTaken(nick.to_string()));
        }
        if state.clustered() {
            // Another node may claim it at the same moment: Redis decides, and the answer
            // (`you` or `nick_taken`) comes from `nick_answer`.
            let nick = (nick.key(), nick.to_string());
            state.cluster_op(|epoch| Op::Nick { epoch, conn: id, nick });
            return Ok(Next::Done);
        }
        state.rename(id, nick);
        self.wake_counts(state);
        Ok(Next::Done)
    }
}

impl State {
    /// Gives connection `id` the nick `nick`: `you` to it, `presence` (`rename`) to its
    /// rooms.
    pub(in crate::hub) fn rename(&mut self, id: ConnId, nick: Nick) {
        let Some(old) = self.sessions.rename(id, nick.clone()) else { return };
        let Some(conn) = self.sessions.get(id) else { return };
        queue(&conn.link, encode(&ServerMsg::You { nick: nick.to_string() }, &self.metrics), &mut self.dirty);
        if old != nick {
            let rooms: Vec<RoomName> = conn.rooms.iter().cloned().collect();
            self.renamed_in(id, rooms, &old, &nick);
        }
    }

    /// Tells `rooms` that member `id` (of this node or another) is now `nick`.
    pub(in crate::hub) fn renamed_in(&mut self, id: ConnId, rooms: Vec<RoomName>, old: &Nick, nick: &Nick) {
        for room in rooms {
            self.rooms.renamed(room, id, old, nick, &mut self.dirty);
        }
    }
}
