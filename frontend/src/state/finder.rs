//! The room list's search and pages (protocol version 2): what the user looks for, where
//! the next page of the directory starts, and whether there is one. The server sends a
//! short first list; the rest comes a page at a time, when asked for ("More rooms"), and a
//! search ("Find a room") asks the server for the rooms whose name starts with it. What a
//! page brings joins the directory, whose changes the server then keeps sending.

use common::v2::PROTOCOL_V2;
use common::{ClientMsg, RoomInfo};

use super::Chat;

#[derive(Debug, Clone, Default)]
pub(super) struct Finder {
    /// The search, trimmed; empty for the whole list.
    query: String,
    /// The `after` of the next page (`None`: from the start).
    next: Option<String>,
    /// A page follows, to be asked for.
    more: bool,
    /// A `rooms` request is in flight: another waits for its answer.
    asking: bool,
}

impl Chat {
    /// The user searches the room list for `raw` (empty: the whole list again): the list
    /// shows the rooms whose name starts with it, and the server is asked for them.
    pub fn find_rooms(&mut self, raw: &str) -> Option<ClientMsg> {
        let query = raw.trim().to_owned();
        let total = self.rooms_total;
        let f = &mut self.finder;
        f.next = None;
        f.asking = false;
        f.more = query.is_empty() && total as usize > self.directory.len();
        f.query = query;
        if f.query.is_empty() {
            return None;
        }
        f.more = true;
        self.more_rooms()
    }

    /// Asks for the next page of the list (or of the search), unless there is none, one is
    /// on its way, or the server speaks version 1 (whose list is whole).
    pub fn more_rooms(&mut self) -> Option<ClientMsg> {
        let online = self.can_send() && self.protocol >= PROTOCOL_V2;
        let f = &mut self.finder;
        if !online || !f.more || f.asking {
            return None;
        }
        f.asking = true;
        let query = (!f.query.is_empty()).then(|| f.query.clone());
        Some(ClientMsg::Rooms { after: f.next.clone(), query, limit: None })
    }

    /// Whether the list has more rooms to ask for.
    pub fn rooms_more(&self) -> bool {
        self.finder.more && self.protocol >= PROTOCOL_V2
    }

    /// Whether the room `name` is shown while searching: its name starts with the search,
    /// compared without regard to ASCII case (the server also folds other letters; the
    /// Unicode case tables would cost the app more than they are worth here).
    pub(super) fn found(&self, name: &str) -> bool {
        let q = self.finder.query.as_bytes();
        name.len() >= q.len() && name.as_bytes()[..q.len()].eq_ignore_ascii_case(q)
    }

    /// A page of the directory arrived: its rooms join the list; the next page starts
    /// after it if it answers the search shown.
    pub(super) fn rooms_page(&mut self, rooms: Vec<RoomInfo>, next: Option<String>, query: Option<String>) {
        self.upsert_rooms(rooms);
        let f = &mut self.finder;
        if query.unwrap_or_default() == f.query {
            f.asking = false;
            f.more = next.is_some();
            f.next = next;
        }
    }

    /// A new connection's first list: paging starts again.
    pub(super) fn rooms_reset(&mut self) {
        let query = std::mem::take(&mut self.finder.query);
        self.finder.more = self.rooms_total as usize > self.directory.len();
        self.finder.next = None;
        self.finder.asking = false;
        self.finder.query = query;
    }
}
