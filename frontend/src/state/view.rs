//! What the views show, read from the [`Chat`]: the room shown's log with what is still
//! being sent, the room list, the members, the typing line, the unread count and the
//! texts of the status and the page's title.
//!
//! Reading only: nothing here changes the chat.

use std::fmt;
use std::sync::Arc;

use common::{LOBBY, Role};

use super::room::{Entry, by_name};
use super::{Chat, Delivery, RoomState, Status};
use crate::words::{Words, fill, words};

impl fmt::Display for Status {
    /// The exact text of the status line, in the page's language.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = words();
        match self {
            Self::Connecting => f.write_str(w.connecting),
            Self::Connected => f.write_str(w.connected),
            Self::ConnectedHttp => f.write_str(w.connected_http),
            Self::Reconnecting { secs } => f.write_str(&fill(w.reconnecting, &[("n", &secs.to_string())])),
            Self::Offline => f.write_str(w.offline),
            Self::Removed => f.write_str(w.removed),
            Self::Banned => f.write_str(w.banned),
        }
    }
}

/// One line of the room list: a room of the directory or one this client joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEntry {
    pub name: String,
    /// Members, as the directory counts them (or as `joined` listed them, for a room the
    /// directory does not show yet).
    pub members: u32,
    pub joined: bool,
    pub unread: u32,
    /// A message among the unread ones mentions us.
    pub mentioned: bool,
    pub current: bool,
    /// The directory says it asks a password.
    pub private: bool,
}

/// One line of the members list: a nick, whether it is ours, and what we may do to that
/// member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub nick: String,
    pub me: bool,
    pub acts: Acts,
}

/// What the members list offers to do to a member (the server decides; this only offers
/// the buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acts {
    /// Nothing: we are a plain member, or it is us, or they rank as high as we do.
    Nothing,
    /// Remove them from the room, or ban them: we moderate it and they are a plain member.
    Remove,
    /// The same, and name them a moderator or no longer (`true`: they are one now): we
    /// own the room.
    Own(bool),
}

/// A count as people read it: "1,200" (digits grouped by three with commas).
pub fn count_text(n: u32) -> String {
    let digits = n.to_string();
    let mut text = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(d);
    }
    text
}

/// A name someone chose (a nick, a room's name) as it goes into a sentence of the app's,
/// between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE (U+2068, U+2069), as Fluent
/// puts every value it places in a message: an Arabic or Hebrew name then reads right to
/// left within the sentence, and a direction control in it (U+202E, right-to-left
/// override) ends with the name rather than turning the rest of the line around ("bob
/// joined" read backwards). An ASCII name holds neither a right-to-left letter nor a
/// control, so it stays as it is and so does the sentence's text.
pub fn isolated(name: &str) -> String {
    // A plain loop rather than `str::is_ascii`, whose word-at-a-time code costs the wasm
    // about 100 bytes of Brotli more.
    if name.bytes().all(|b| b < 0x80) { name.to_owned() } else { "\u{2068}".to_owned() + name + "\u{2069}" }
}

/// "bob is typing…", "bob and ann are typing…", "3 people are typing…" in the language of
/// `w`, or "" when nobody is; each nick [`isolated`].
pub fn typing_text(w: &Words, nicks: &[&str]) -> String {
    match nicks {
        [] => String::new(),
        [one] => fill(w.typing_one, &[("nick", &isolated(one))]),
        [a, b] => fill(w.typing_two, &[("a", &isolated(a)), ("b", &isolated(b))]),
        many => fill(w.typing_many, &[("n", &many.len().to_string())]),
    }
}

/// The page's title in the language of `w`: the unread count first, so it shows in a tab
/// strip.
pub fn page_title(w: &Words, unread: u32) -> String {
    if unread > 0 { fill(w.title_unread, &[("n", &unread.to_string())]) } else { w.chat.to_owned() }
}

impl Chat {
    /// The room shown's log: what the server sent, then what this user said that the
    /// server has not acknowledged yet (which has no id, so it comes last).
    pub fn log(&self) -> Vec<Arc<Entry>> {
        let mut log = self.current_room().map(|r| r.entries.clone()).unwrap_or_default();
        log.extend(self.outbox.in_room(&self.current).map(|p| {
            Arc::new(Entry::Outgoing {
                cid: p.cid.clone(),
                nick: self.nick.clone(),
                text: p.text.clone(),
                failed: match &p.delivery {
                    Delivery::Failed(why) => Some(why.clone()),
                    _ => None,
                },
                image: p.preview.clone(),
                progress: p.progress,
                retry: p.preview.is_some() && p.image.is_none(),
            })
        }));
        log
    }

    /// The room list: the lobby first, then every room of the directory and every joined
    /// room, by name; while searching, those whose name starts with the search.
    pub fn room_list(&self) -> Vec<RoomEntry> {
        let mut list: Vec<RoomEntry> = Vec::new();
        let listed = self.directory.iter().map(|info| (info.name.as_str(), info.members, info.private));
        // A joined room the directory does not list yet counts the members `joined` gave.
        let joined = self.rooms.iter().map(|r| (r.name.as_str(), r.member_total(), r.password.is_some()));
        for (name, members, private) in listed.chain(joined) {
            if !self.found(name) || list.iter().any(|e| e.name == name) {
                continue;
            }
            let room = self.room(name);
            // Inserted in order rather than sorted afterwards: a sort is more code to ship.
            let before = |e: &RoomEntry| match (e.name == LOBBY, name == LOBBY) {
                (true, _) => true,
                (false, true) => false,
                (false, false) => by_name(&e.name, name).is_lt(),
            };
            let at = list.partition_point(before);
            list.insert(
                at,
                RoomEntry {
                    name: name.to_owned(),
                    members,
                    joined: room.is_some(),
                    unread: room.map_or(0, |r| r.unread),
                    mentioned: room.is_some_and(|r| r.mentioned),
                    current: name == self.current,
                    private,
                },
            );
        }
        list
    }

    /// The members of the room shown, by name (case-insensitively): all of them in
    /// version 1, the pages loaded so far in version 2; each with what we may do to them.
    pub fn members(&self) -> Vec<Member> {
        let Some(r) = self.current_room() else {
            return Vec::new();
        };
        let mine = r.role(&self.nick);
        let mut list = Vec::new();
        for nick in &r.members {
            let me = *nick == self.nick;
            let theirs = r.role(nick);
            // As the server rules: the owner acts on anyone, a moderator on plain members.
            let acts = match mine {
                _ if me => Acts::Nothing,
                Role::Owner => Acts::Own(theirs == Role::Moderator),
                Role::Moderator if theirs == Role::Member => Acts::Remove,
                _ => Acts::Nothing,
            };
            list.push(Member { nick: nick.clone(), me, acts });
        }
        list
    }

    /// How many members the room shown has (the server's count in version 2).
    pub fn member_total(&self) -> u32 {
        self.current_room().map_or(0, RoomState::member_total)
    }

    /// The room shown has members after those loaded: a `members` page can bring them.
    pub fn more_members(&self) -> bool {
        self.current_room().is_some_and(|r| r.more)
    }

    /// Who is typing in the room shown, as a sentence; empty when nobody is. The indicator
    /// disappears through [`Chat::tick`], so no time is needed here.
    pub fn typing_line(&self) -> String {
        let Some(room) = self.current_room() else {
            return String::new();
        };
        let nicks: Vec<&str> =
            room.typing.iter().map(|(n, _)| n.as_str()).filter(|n| *n != self.nick).collect();
        typing_text(words(), &nicks)
    }

    /// Messages from others, in joined rooms not shown, not yet seen.
    pub fn unread_total(&self) -> u32 {
        self.rooms.iter().map(|r| r.unread).sum()
    }
}
