//! The handle the views use to act: send a message, ask for a nick, dismiss an alert.
//!
//! [`Client`] is `Copy` and given to components through context. Each command records the
//! user's intent in the [`Chat`] first (so a reconnect can replay it) and then queues the
//! frame the chat says is ready to go. It must not read anything for display: the views
//! get narrow read-only signals for that (see [`crate::ui`]).

use leptos::prelude::*;

use crate::socket::Link;
use crate::state::{Chat, SayError};

#[derive(Debug, Clone, Copy)]
pub struct Client {
    chat: RwSignal<Chat>,
    link: StoredValue<Link>,
}

impl Client {
    pub fn new(chat: RwSignal<Chat>, link: Link) -> Self {
        Self { chat, link: StoredValue::new(link) }
    }

    /// Sends `text` to the room shown. `Err(SayError::Empty)` means there was nothing to
    /// send; other errors are for the user.
    pub fn say(&self, text: &str) -> Result<(), SayError> {
        let frame = self.chat.try_update(|c| c.say(text)).unwrap_or(Err(SayError::Empty))?;
        if let Some(frame) = frame {
            self.link.update_value(|link| link.send(frame));
        }
        Ok(())
    }

    /// Asks the server for the nickname `raw`; `Err` says why it is not a valid one. The
    /// answer (`you` or `nick_taken`) arrives later through the chat.
    pub fn set_nick(&self, raw: &str) -> Result<(), String> {
        let frame = self.chat.try_update(|c| c.request_nick(raw)).unwrap_or(Ok(None))?;
        if let Some(frame) = frame {
            self.link.update_value(|link| link.send(frame));
        }
        Ok(())
    }

    /// Hides the alert `seq`, if it is still the one shown.
    pub fn dismiss_alert(&self, seq: u64) {
        self.chat.try_update(|c| c.dismiss_alert(seq));
    }
}
