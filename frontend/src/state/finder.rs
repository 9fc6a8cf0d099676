//! The room list's search and pages (protocol version 2): what the user looks for, where
//! the next page of the directory starts, and whether there is one. The server sends a
//! short first list; the rest comes a page at a time, when asked for ("More rooms"), and a
//! search ("Find a room") asks the server for the rooms whose name starts with it. What a
//! page brings joins the directory, whose changes the server then keeps sending.
//!
//! While the list cannot be seen (a phone's drawer is closed, the page is hidden), the
//! server is told so (`rooms_watch` off) and sends no directory changes; shown again, it
//! is told so too and answers with a fresh first list, which replaces the one held. The
//! unread counts and mentions of the rooms one is in come with their messages, which
//! `rooms_watch` does not stop.

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
    /// The user cannot see the list now.
    hidden: bool,
    /// The server was told so on this connection (every connection starts watching).
    unwatched: bool,
    /// `rooms_watch` on was sent: its answer, a first list, is awaited.
    rewatch: bool,
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

    /// Whether the user can see the room list: the page is visible and, on a phone (where
    /// the list is a drawer), its drawer is open. Returns the `rooms_watch` to send now,
    /// if the server is to be told (version 2, connected, and it changed).
    pub fn show_rooms(&mut self, page_visible: bool, phone: bool, drawer_open: bool) -> Option<ClientMsg> {
        self.finder.hidden = !page_visible || (phone && !drawer_open);
        self.watch()
    }

    /// The `rooms_watch` that brings the server in step with what the user sees, if it
    /// is not already: at most one per change, and again after each `welcome`.
    pub(super) fn watch(&mut self) -> Option<ClientMsg> {
        let online = self.can_send() && self.protocol >= PROTOCOL_V2;
        let f = &mut self.finder;
        if !online || f.hidden == f.unwatched {
            return None;
        }
        f.unwatched = f.hidden;
        f.rewatch = !f.hidden;
        Some(ClientMsg::RoomsWatch { on: !f.hidden })
    }

    /// A page of the directory arrived: its rooms join the list; the next page starts
    /// after it if it answers the search shown. The answer to `rooms_watch` on (a whole
    /// first list: no `query`, no `next`) replaces the list instead, as a `welcome` does
    /// (the server forgot what it sent before), and asks again for the search shown.
    pub(super) fn rooms_page(
        &mut self,
        rooms: Vec<RoomInfo>,
        next: Option<String>,
        query: Option<String>,
    ) -> Option<ClientMsg> {
        if self.finder.rewatch && query.is_none() && next.is_none() {
            self.finder.rewatch = false;
            self.directory = rooms;
            let search = self.finder.query.clone();
            return self.find_rooms(&search);
        }
        self.upsert_rooms(rooms);
        let f = &mut self.finder;
        if query.unwrap_or_default() == f.query {
            f.asking = false;
            f.more = next.is_some();
            f.next = next;
        }
        None
    }

    /// A new connection's first list: paging starts again, and the server, which starts
    /// watching, is told if the list is hidden.
    pub(super) fn rooms_reset(&mut self) -> Option<ClientMsg> {
        let query = std::mem::take(&mut self.finder.query);
        self.finder.more = self.rooms_total as usize > self.directory.len();
        self.finder.next = None;
        self.finder.asking = false;
        self.finder.query = query;
        self.finder.unwatched = false;
        self.finder.rewatch = false;
        self.watch()
    }
}
