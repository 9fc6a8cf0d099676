//! The handle the views use to act: send a message, open or leave a room, say that the
//! user is typing, fetch older messages, ask for a nick, dismiss an alert.
//!
//! [`Client`] is `Copy` and given to components through context. Each command records the
//! user's intent in the [`Chat`] first (so a reconnect can replay it) and then queues the
//! frames the chat says are ready to go. It must not read anything for display: the views
//! get narrow read-only signals of the chat for that.

use leptos::prelude::*;

use crate::socket::Link;
use crate::state::{Chat, SayError, Upload};
use common::ClientMsg;

#[derive(Debug, Clone, Copy)]
pub struct Client {
    chat: RwSignal<Chat>,
    link: StoredValue<Link>,
}

impl Client {
    pub fn new(chat: RwSignal<Chat>, link: Link) -> Self {
        Self { chat, link: StoredValue::new(link) }
    }

    fn send(&self, frames: impl IntoIterator<Item = ClientMsg>) {
        for frame in frames {
            self.link.update_value(|link| link.send(frame));
        }
    }

    /// Sends `text` to the room shown. `Err(SayError::Empty)` means there was nothing to
    /// send; other errors are for the user.
    pub fn say(&self, text: &str) -> Result<(), SayError> {
        let frame = self.chat.try_update(|c| c.say(text)).unwrap_or(Err(SayError::Empty))?;
        self.send(frame);
        Ok(())
    }

    /// The next message answers the message `id` of the room shown (`None`: no message).
    pub fn reply(&self, id: Option<u64>) {
        self.chat.update(|c| c.reply(id));
    }

    /// Edits, deletes or reacts to a message of the room shown, as `f` says; nothing is
    /// kept for later (see [`Chat::edit`]).
    pub fn change(&self, f: impl FnOnce(&Chat) -> Option<ClientMsg>) {
        self.send(self.chat.with_untracked(f));
    }

    /// The resume token of the connection, the credential of an upload.
    pub fn token(&self) -> Option<String> {
        self.chat.with_untracked(|c| c.resume().map(str::to_owned))
    }

    /// A picture starts uploading to the room shown, shown meanwhile from `preview`; its
    /// `cid`, or why it cannot be sent now.
    pub fn start_upload(&self, preview: String) -> Result<String, SayError> {
        self.chat.try_update(|c| c.start_upload(preview)).unwrap_or(Err(SayError::Empty))
    }

    /// What became of the upload of the picture `cid`; once it is up, it is said now (or
    /// on the next join).
    pub fn upload(&self, cid: &str, event: Upload) {
        self.send(self.chat.try_update(|c| c.upload(cid, event)).flatten());
    }

    /// Forgets a message the server refused.
    pub fn discard(&self, cid: &str) {
        self.chat.try_update(|c| c.discard(cid));
    }

    /// Asks the server for the nickname `raw`; `Err` says why it is not a valid one. The
    /// answer (`you` or `nick_taken`) arrives later through the chat.
    pub fn set_nick(&self, raw: &str) -> Result<(), String> {
        let frame = self.chat.try_update(|c| c.request_nick(raw)).unwrap_or(Ok(None))?;
        self.send(frame);
        Ok(())
    }

    /// Shows the room `raw`, joining (and so creating) it if need be; `Err` says why it is
    /// not a valid room name.
    pub fn open_room(&self, raw: &str) -> Result<(), String> {
        let frame = self.chat.try_update(|c| c.open_room(raw)).unwrap_or(Ok(None))?;
        self.send(frame);
        Ok(())
    }

    /// [`Client::open_room`] with a password and a member limit for a room it creates
    /// (either may be empty).
    pub fn open_room_with(&self, raw: &str, password: &str, max: &str) -> Result<(), String> {
        let frame = self.chat.try_update(|c| c.open_room_with(raw, password, max)).unwrap_or(Ok(None))?;
        self.send(frame);
        Ok(())
    }

    /// The room form asks for the private room's password now.
    pub fn prompted(&self) {
        self.chat.try_update(Chat::prompted);
    }

    /// Leaves the room shown.
    pub fn leave(&self) {
        self.send(self.chat.try_update(Chat::leave).unwrap_or_default());
    }

    /// The user is typing in the room shown (throttled by the chat).
    pub fn typing(&self) {
        let now = js_sys::Date::now();
        self.send(self.quiet_update(|c| c.typing(now)));
    }

    /// Asks for the page of messages before the oldest one shown, unless there is none
    /// or a request is in flight.
    pub fn load_older(&self) {
        self.send(self.quiet_update(Chat::load_older));
    }

    /// Asks for the next page of the room's members (version 2), unless there is none or
    /// a request is in flight.
    pub fn load_members(&self) {
        self.send(self.quiet_update(Chat::load_members));
    }

    /// Runs a command that usually has nothing to send (a keystroke, a scroll event) and
    /// notifies the views only when it does: anything else it records is not displayed.
    fn quiet_update(&self, f: impl FnOnce(&mut Chat) -> Option<ClientMsg>) -> Option<ClientMsg> {
        self.chat
            .try_maybe_update(|c| {
                let frame = f(c);
                (frame.is_some(), frame)
            })
            .flatten()
    }

    /// Searches the room list (empty: shows it whole again).
    pub fn find_rooms(&self, raw: &str) {
        self.send(self.chat.try_update(|c| c.find_rooms(raw)).flatten());
    }

    /// Asks for the next page of the room list, unless there is none or one is on its way.
    pub fn more_rooms(&self) {
        self.send(self.quiet_update(Chat::more_rooms));
    }

    /// Whether the user can see the room list now (see [`Chat::show_rooms`]).
    pub fn show_rooms(&self, page_visible: bool, phone: bool, drawer_open: bool) {
        self.send(self.quiet_update(|c| c.show_rooms(page_visible, phone, drawer_open)));
    }

    /// Hides the alert `seq`, if it is still the one shown.
    pub fn dismiss_alert(&self, seq: u64) {
        self.chat.try_update(|c| c.dismiss_alert(seq));
    }
}
