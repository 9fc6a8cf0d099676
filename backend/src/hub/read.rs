//! What a request still has to do once the hub's lock is released: reads of the store
//! (on tokio's blocking threads when the store may block), and sending what they found.

use super::*;

impl Hub {
    /// Does the read [`Hub::handle`] left, on tokio's blocking threads and at most
    /// [`READS_AT_ONCE`] at a time (so a slow disk or a slow Redis holds up only the
    /// sessions that read, never a runtime thread and the sessions it serves), then sends
    /// what it found. A `history` answer is encoded there too: a page of 200 long messages
    /// is most of a megabyte of JSON. A `join` left halfway is admitted first
    /// ([`Hub::admit_off_runtime`]).
    ///
    /// Returns the bytes of stored history the request read and sent, so that the handler
    /// can charge a request by what it cost, and the links its last step gave frames, to
    /// be flushed (those of the steps before an await are flushed before it).
    pub async fn read(&self, id: ConnId, read: Read) -> (Result<usize, RequestError>, Deliveries) {
        let next = match *read.0 {
            Pending::Next(next) => next,
            Pending::Join(joining, work) => match self.admit_off_runtime(id, joining, work).await {
                Ok(next) => next,
                Err(e) => return (Err(e), Deliveries::default()),
            },
        };
        if matches!(next, Next::Done) {
            return (Ok(0), Deliveries::default());
        }
        if !self.shared.history.may_block() {
            // The memory store: a join that needed Argon2 reads its history at once.
            let fetched = fetch(&self.shared.history, &next, &self.shared.metrics);
            return self.finish(id, next, fetched);
        }
        let join = next.join();
        let metrics = self.shared.metrics.clone();
        match self.blocking(move |history| (fetch(history, &next, &metrics), next)).await {
            Ok((fetched, next)) => self.finish(id, next, fetched),
            Err(e) => {
                // A panic in the store's code: the request failed as if the read had, and
                // a join that holds the member's frames lets them go.
                tracing::error!(error = %e, "a read of the store panicked");
                match join {
                    Some(join) => self.finish(id, join, Err(RequestError::Unavailable)),
                    None => (Err(RequestError::Unavailable), Deliveries::default()),
                }
            }
        }
    }

    /// Runs `f` with the store's reading side on tokio's blocking threads, at most
    /// [`READS_AT_ONCE`] at a time.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&History) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        // Never closed: the hub owns it.
        let permit =
            self.shared.readers.clone().acquire_owned().await.expect("the readers' semaphore is open");
        let history = self.shared.history.clone();
        let metrics = self.shared.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let done = f(&history);
            metrics.read(started.elapsed().as_secs_f64());
            drop(permit);
            done
        })
        .await
    }

    /// Sends what a read brought (or tells the client it failed): a page of history or a
    /// retried message at once (no lock is held), a join's frames queued for the caller
    /// to flush.
    pub(super) fn finish(
        &self,
        id: ConnId,
        next: Next,
        fetched: Result<Fetched, RequestError>,
    ) -> (Result<usize, RequestError>, Deliveries) {
        let sent = match (next, fetched) {
            (Next::Join { room, newly, create, .. }, fetched) => {
                let page = match fetched {
                    Ok(Fetched::Page(page)) => Ok(page),
                    Ok(_) => Err(RequestError::Unavailable),
                    Err(e) => Err(e),
                };
                let bytes = page.as_ref().map_or(0, |p| p.messages.iter().map(|m| m.text.len()).sum());
                let announce = newly && create.is_some();
                let ((), out) = self.locked(|state| self.joined(state, id, &room, page, newly, announce));
                return (Ok(bytes), out);
            }
            (Next::History { link, .. }, Ok(Fetched::Answer(frame))) => {
                let bytes = frame.len();
                link.send_answer(frame);
                Ok(bytes)
            }
            (Next::Moderator { .. }, Ok(_)) => Ok(0),
            (Next::Again { link, .. }, Ok(Fetched::Message(Some(msg)))) => {
                link.send(encode(&ServerMsg::Message(msg), &self.shared.metrics));
                Ok(0)
            }
            (_, Err(e)) => Err(e),
            _ => Err(RequestError::Unavailable),
        };
        (sent, Deliveries::default())
    }
}

/// What [`Hub::handle`] still has to do once the lock is released.
#[derive(Debug)]
pub(super) enum Next {
    Done,
    /// Store the settings of a room the join creates, if any, read the joiner's history,
    /// then finish the join ([`Hub::joined`]).
    Join {
        room: RoomName,
        after: Option<u64>,
        newly: bool,
        create: Option<RoomSettings>,
        /// The resume token of the session this join makes the room's owner (it creates
        /// the room), to be stored.
        owner: Option<SenderKey>,
    },
    /// Read a page of history and send it; first, with `check`, make sure the room is not
    /// private (the asker is not a member, and the room has no member here).
    History {
        link: Link,
        room: RoomName,
        before: u64,
        limit: usize,
        check: bool,
    },
    /// A retried `say` whose message is stored: read it and send it to the sender alone.
    Again {
        link: Link,
        room: RoomName,
        id: u64,
    },
    /// Store a moderator named or removed (the room's members were told already).
    Moderator {
        room: RoomName,
        token: SenderKey,
        on: bool,
    },
}

impl Next {
    /// A copy of a join, to finish it as failed if its read is lost (a panic).
    pub(super) fn join(&self) -> Option<Next> {
        match self {
            Self::Join { room, after, newly, create, owner } => Some(Self::Join {
                room: room.clone(),
                after: *after,
                newly: *newly,
                create: create.clone(),
                owner: owner.clone(),
            }),
            _ => None,
        }
    }
}

/// What [`Hub::handle`] did.
#[derive(Debug)]
pub enum Handled {
    /// Done: the bytes of stored history it read and sent (for the rate limit).
    Done(usize),
    /// A read of a store that may block, or a private room's password to hash or check,
    /// is left: finish it with [`Hub::read`].
    Read(Read),
}

/// What [`Hub::read`] does, off the runtime's threads.
#[derive(Debug)]
pub struct Read(pub(super) Box<Pending>);

#[derive(Debug)]
pub(super) enum Pending {
    /// The rules are done: read (and write a new room's settings), then send.
    Next(Next),
    /// A join not admitted yet: its Argon2 work, if any, then the rules again.
    Join(Joining, Option<Work>),
}

/// How many reads of a store that may block run at once; more wait their turn. Each
/// session has at most one under way (it reads nothing more from its client meanwhile).
pub const READS_AT_ONCE: usize = 4;

/// What a read of the store brought.
#[derive(Debug)]
pub(super) enum Fetched {
    /// A joiner's history.
    Page(Page),
    /// The answer to `history`, encoded.
    Answer(Frame),
    /// A retried `say`'s stored message, if it is still there.
    Message(Option<common::ChatMessage>),
}

/// A room's settings as the store has them; a failure is logged here.
pub(super) fn read_room(history: &History, room: &RoomName) -> Result<StoredRoom, RequestError> {
    history.room(room).map_err(|e| {
        tracing::error!(error = %e, %room, "reading a room's settings failed");
        RequestError::Unavailable
    })
}

/// Does the store's part of a [`Next`] with no lock held (a new room's settings written,
/// what it needs read); a failure is logged here.
pub(super) fn fetch(history: &History, next: &Next, metrics: &Metrics) -> Result<Fetched, RequestError> {
    match next {
        Next::Done => Err(RequestError::Unavailable),
        Next::Join { room, after, create, owner, .. } => {
            // The creator owns it; a failure leaves it the owner here only, until the
            // room is forgotten (logged: the operator can act in its place).
            if let Some(owner) = owner
                && let Err(e) = history.set_owner(room, owner)
            {
                tracing::error!(error = %e, %room, "storing a new room's owner failed");
            }
            // A room created by this join: its settings are stored before it is joined.
            if let Some(settings) = create {
                match history.create_room(room, settings) {
                    Ok(true) => {}
                    // Another node created it, or it has messages after all.
                    Ok(false) => return Err(RequestError::CreatedMeanwhile(room.clone())),
                    Err(e) => {
                        tracing::error!(error = %e, %room, "storing a new room's settings failed");
                        return Err(RequestError::Unavailable);
                    }
                }
            }
            let page = match after {
                Some(after) => history.after(room, *after, RESUME_HISTORY_MAX).and_then(|mut page| {
                    // What changed meanwhile in what the client has; a change stored
                    // after this read reaches it live (held until `joined` if need be).
                    let (changes, complete) = history.changes(room, *after, common::RESUME_CHANGES_MAX)?;
                    (page.changes, page.changes_left_out) = (changes, !complete);
                    Ok(page)
                }),
                None => history.recent(room, JOIN_HISTORY),
            };
            page.map(Fetched::Page).map_err(|e| {
                tracing::error!(error = %e, %room, "reading history for a join failed");
                RequestError::Unavailable
            })
        }
        Next::History { room, before, limit, check, .. } => {
            if *check && read_room(history, room)?.settings.is_private() {
                return Err(RequestError::PrivateHistory(room.clone()));
            }
            let page = history.before(room, *before, *limit).map_err(|e| {
                tracing::error!(error = %e, %room, "reading history failed");
                RequestError::Unavailable
            })?;
            let answer = ServerMsg::History {
                room: room.to_string(),
                messages: page.messages,
                complete: page.complete,
            };
            Ok(Fetched::Answer(encode(&answer, metrics)))
        }
        Next::Moderator { room, token, on } => {
            history.set_moderator(room, token, *on).map_err(|e| {
                tracing::error!(error = %e, %room, "storing a moderator failed");
                RequestError::Unavailable
            })?;
            Ok(Fetched::Message(None))
        }
        Next::Again { room, id, .. } => history.message(room, *id).map(Fetched::Message).map_err(|e| {
            tracing::error!(error = %e, %room, "reading a stored message failed");
            RequestError::Unavailable
        }),
    }
}
