//! Why a request is refused, and the one mapping of each refusal to the protocol's
//! `ErrorCode` and text (its frame is encoded by `encode::refusal`). Messages are for
//! people and never leak internals (no paths, no debug dumps).

use common::{ErrorCode, InvalidName, RoomName};

use crate::change::{EMOJI_PER_MESSAGE, REACTIONS_PER_PERSON, Refusal};

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Invalid(#[from] InvalidName),
    #[error("the nickname {0} is taken")]
    NickTaken(String),
    #[error("you are not in the room {0}; join it first")]
    NotInRoom(RoomName),
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("too many wrong passwords; wait a minute")]
    TooManyGuesses,
    #[error("the room {0} is private: it needs its password")]
    PasswordNeeded(RoomName),
    #[error("wrong password for the room {0}")]
    WrongPassword(RoomName),
    #[error("the room {0} is private: join it to read its history")]
    PrivateHistory(RoomName),
    #[error("the room {0} is full ({1} members at most)")]
    RoomFull(RoomName, u32),
    /// A new room whose name looks like a room's with members: the second is the latter.
    #[error(
        "the room name {0} looks like the room {1}: join that one, or choose a name that looks different"
    )]
    LookAlike(RoomName, RoomName),
    #[error("the room {0} exists and is public: join it without a password")]
    PublicRoom(RoomName),
    #[error("the lobby is open to everyone: it takes no password or member limit")]
    OpenLobby,
    #[error("the room {0} was just created by someone else; join it again")]
    CreatedMeanwhile(RoomName),
    /// A moderation request its sender may not make (the text says why).
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("nobody called {0} is here")]
    NotFound(String),
    #[error("you are banned from the room {0} for now")]
    Banned(RoomName),
    #[error("the server is busy; retry in a moment")]
    Busy,
    /// A `history` request while the answer to the last one is still queued, unread.
    #[error("read the history of {0} already sent to you before asking for more")]
    Unread(RoomName),
    /// A change of a message, or a reply, naming a message the room does not have (or
    /// no longer has).
    #[error("the room {0} has no message {1}")]
    NoMessage(RoomName, u64),
    /// A change of someone else's message.
    #[error("only its sender may change the message {1} of {0}")]
    NotYours(RoomName, u64),
    #[error("a reaction must be one emoji")]
    NotAnEmoji,
    #[error("a message takes at most {0} different emoji")]
    TooManyEmoji(usize),
    #[error("one person may give a message at most {0} reactions")]
    TooManyReactions(usize),
    /// The store failed (it was logged where it happened); the details stay in the log.
    #[error("the server cannot reach its message store; retry in a moment")]
    Unavailable,
}

impl RequestError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Invalid(_)
            | Self::PublicRoom(_)
            | Self::OpenLobby
            | Self::LookAlike(..)
            | Self::NotAnEmoji
            | Self::TooManyEmoji(_)
            | Self::TooManyReactions(_) => ErrorCode::Invalid,
            Self::NoMessage(..) => ErrorCode::NotFound,
            Self::NotYours(..) => ErrorCode::Forbidden,
            Self::PasswordNeeded(_)
            | Self::WrongPassword(_)
            | Self::PrivateHistory(_)
            | Self::CreatedMeanwhile(_)
            | Self::Banned(_)
            | Self::NotAllowed(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RoomFull(..) => ErrorCode::RoomFull,
            Self::NickTaken(_) => ErrorCode::NickTaken,
            Self::NotInRoom(_) => ErrorCode::NotInRoom,
            // Busy is the server's side of "not now": the same retry-later answer.
            Self::RateLimited | Self::Busy | Self::Unread(_) | Self::TooManyGuesses => ErrorCode::RateLimited,
            Self::Unavailable => ErrorCode::Unavailable,
        }
    }

    /// A change's refusal, of message `id` of `room`.
    pub fn refused(refusal: Refusal, room: RoomName, id: u64) -> Self {
        match refusal {
            Refusal::NotFound => Self::NoMessage(room, id),
            Refusal::Forbidden => Self::NotYours(room, id),
            Refusal::TooManyEmoji => Self::TooManyEmoji(EMOJI_PER_MESSAGE),
            Refusal::TooManyReactions => Self::TooManyReactions(REACTIONS_PER_PERSON),
        }
    }
}
