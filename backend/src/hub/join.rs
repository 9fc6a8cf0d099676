//! A `join`'s rules: its admission (private rooms and member limits) under the lock, what
//! it needs off it (a room's stored settings, Argon2), with the rules run again after each
//! trip, and its end once its history is read (`joined`, then what the room sent
//! meanwhile).

use super::room::Event;
use super::*;

impl Hub {
    /// The rest of a join's admission, awaited by its handler: Argon2 on the blocking pool
    /// (at most [`private::HASHING_MAX`] at once), the room's settings read there too from a
    /// store that may block, and the rules run again under the lock after each (the lock
    /// is free meanwhile).
    pub(super) async fn admit_off_runtime(
        &self,
        id: ConnId,
        mut joining: Joining,
        mut work: Option<Work>,
    ) -> Result<Next, RequestError> {
        loop {
            if let Some(work) = work.take() {
                // The semaphore is never closed; its permit is held while the work runs.
                let _permit = self.shared.hashing.acquire().await.map_err(|_| RequestError::Unavailable)?;
                let worked = tokio::task::spawn_blocking(move || work.run()).await.map_err(|e| {
                    tracing::error!(error = %e, "hashing a password panicked");
                    RequestError::Unavailable
                })?;
                self.proved(id, &mut joining, worked)?;
            }
            let (admitted, out) = self.locked(|state| self.admit(state, id, &joining));
            // Before any await: the frames of a join (its `presence`) must not wait on it.
            out.flush();
            match admitted? {
                Admit::Done(next) => return Ok(next),
                Admit::Work(next) => work = Some(next),
                Admit::Read if self.shared.history.may_block() => {
                    let room = joining.room.clone();
                    let stored =
                        self.blocking(move |history| read_room(history, &room)).await.map_err(|e| {
                            tracing::error!(error = %e, "reading a room's settings panicked");
                            RequestError::Unavailable
                        })??;
                    joining.stored = Some(stored);
                }
                Admit::Read => joining.stored = Some(read_room(&self.shared.history, &joining.room)?),
            }
        }
    }

    /// Takes what Argon2 found into the join; a wrong password counts against the
    /// connection and refuses the join.
    pub(super) fn proved(
        &self,
        id: ConnId,
        joining: &mut Joining,
        worked: Worked,
    ) -> Result<(), RequestError> {
        match worked {
            Worked::Hashed(phc) => joining.hashed = Some(phc),
            Worked::Verified(true, phc) => joining.verified = Some(phc),
            Worked::Verified(false, _) => {
                if let Some(conn) = self.lock().sessions.get_mut(id) {
                    conn.wrong.record(Instant::now());
                }
                return Err(RequestError::WrongPassword(joining.room.clone()));
            }
        }
        Ok(())
    }

    /// The rules of a `join`, under the lock: who may enter, and the entry itself.
    pub(super) fn admit(
        &self,
        state: &mut State,
        id: ConnId,
        joining: &Joining,
    ) -> Result<Admit, RequestError> {
        let Some(conn) = state.sessions.get_mut(id) else { return Ok(Admit::Done(Next::Done)) };
        let room = &joining.room;
        let address = state.moderation.address(id);
        if state.moderation.banned(Some(&conn.sender), address, Some(room), now_ms()) {
            return Err(RequestError::Banned(room.clone()));
        }
        let asks_settings = joining.password.is_some() || joining.max.is_some();
        if asks_settings && *room == RoomName::lobby() {
            return Err(RequestError::OpenLobby);
        }
        // The room as it is: its settings here decide, with its members (in a cluster,
        // every node's: `max` is the cluster's); without them (no member here, or only
        // other nodes' members), the store's.
        let (exists, settings, members) = match (state.rooms.get(room), &joining.stored) {
            (Some(r), stored) => match (&r.settings, stored) {
                (Some(settings), _) => (true, settings.clone(), r.len()),
                (None, Some(stored)) => (true, stored.settings.clone(), r.len()),
                (None, None) => return Ok(Admit::Read),
            },
            (None, Some(stored)) => (stored.exists, stored.settings.clone(), 0),
            (None, None) => return Ok(Admit::Read),
        };
        // A room nobody has created (no member, nothing stored) that would be taken for
        // one with members: refused, so that no one can stand in for a room people know.
        // Its look is computed once, for this check and for its entry among the rooms.
        let look = (!exists && !state.rooms.contains(room)).then(|| crate::names::look(room));
        if let Some(look) = &look
            && let Some(like) = state.rooms.like(look, room)
        {
            return Err(RequestError::LookAlike(room.clone(), like.clone()));
        }
        let mut create = None;
        // Nobody has it (no member anywhere, nothing stored): this join creates it, and
        // its session owns it. The lobby has no owner.
        let creating = !exists && *room != RoomName::lobby();
        let sender = conn.sender.clone();
        let settings = if conn.rooms.contains(room) {
            // Already a member: a join again (a resume of its history) asks nothing.
            settings
        } else if !exists && asks_settings {
            let password = match (&joining.password, &joining.hashed) {
                (Some(password), None) => return Ok(Admit::Work(Work::Hash(password.clone()))),
                (_, hashed) => hashed.clone(),
            };
            let settings = RoomSettings { password, max: joining.max };
            create = Some(settings.clone());
            settings
        } else {
            if let Some(phc) = &settings.password {
                if !conn.admitted.contains(room) {
                    let Some(password) = &joining.password else {
                        return Err(RequestError::PasswordNeeded(room.clone()));
                    };
                    if joining.verified.as_ref() != Some(phc) {
                        if conn.wrong.limited(Instant::now()) {
                            return Err(RequestError::TooManyGuesses);
                        }
                        return Ok(Admit::Work(Work::Verify(password.clone(), phc.clone())));
                    }
                }
            } else if exists && joining.password.is_some() {
                return Err(RequestError::PublicRoom(room.clone()));
            }
            // `max` only shapes a room being created; for one that exists it is ignored.
            if let Some(max) = settings.max
                && members >= max as usize
            {
                return Err(RequestError::RoomFull(room.clone(), max));
            }
            settings
        };
        // Bounded: past that many, a session gives the password again for the others.
        if settings.is_private() && conn.admitted.len() < ADMITTED_MAX {
            conn.admitted.insert(room.clone());
        }
        let newly = conn.rooms.insert(room.clone());
        let link = conn.link.clone();
        let nick = conn.nick().clone();
        let v1 = conn.version == Version::V1;
        // Its client resumed here while its old connection's node is dead and not reaped
        // yet: the old connection is replaced in the room, silently, as on one node.
        let back = newly && state.replace_remote_in(&sender, room);
        let members = state.rooms.entry_looked(room, look);
        // Known from now on (a room only other nodes' members were in had none here),
        // with its roles.
        if members.settings.is_none() {
            members.roles = match (&joining.stored, creating) {
                (_, true) => Roles { owner: Some(sender.clone()), moderators: Default::default() },
                (Some(stored), false) => stored.roles.clone(),
                (None, false) => Roles::default(),
            };
        }
        members.settings.get_or_insert(settings);
        if newly {
            let frame = encode(
                &ServerMsg::Presence {
                    room: room.to_string(),
                    event: PresenceEvent::Join,
                    nick: nick.to_string(),
                    old_nick: None,
                },
                &state.metrics,
            );
            members.insert(id, &nick, v1, Member { link, held: Some(Vec::new()), shown: 0 });
            if !back {
                state.rooms.presence(room, &frame, Event::Join, Some(id), &mut state.dirty);
            }
            self.wake_counts(state);
            state.rooms.touch(room.clone());
            // Its own rooms are among the directory entries a version 2 connection holds.
            if let Some(conn) = state.sessions.get(id) {
                state.watch.hold(id, [room], &conn.rooms);
            }
            self.shared.directory_changed.notify_one();
            // A join that creates a room tells the cluster once the store has the room's
            // settings ([`Hub::joined`]): another node must never find a member of a room
            // whose settings it cannot read yet (it would take the room for a public one).
            if create.is_none() {
                let name = room.to_string();
                state.cluster_op(|epoch| Op::Join { epoch, conn: id, room: name });
            }
        } else if let Some(member) = members.members.get_mut(&id) {
            member.held.get_or_insert_with(Vec::new);
        }
        let owner = (creating && newly).then_some(sender);
        Ok(Admit::Done(Next::Join { room: room.clone(), after: joining.after, newly, create, owner }))
    }

    /// Ends a join once its history is read: `joined` (with the members as they are now),
    /// then what the room sent meanwhile, less what `joined` already holds. When the read
    /// failed, the joiner hears so and a new member leaves again (the others saw it come).
    /// With `announce` (a join that created the room, its settings now stored), the
    /// cluster is told of the join only now.
    pub(super) fn joined(
        &self,
        state: &mut State,
        id: ConnId,
        room: &RoomName,
        page: Result<Page, RequestError>,
        newly: bool,
        announce: bool,
    ) {
        let Some(version) = state.sessions.get(id).map(|c| c.version) else { return };
        // Version 1 lists every member; version 2 the first page and the total.
        let (nicks, total) = match (state.rooms.get(room), version) {
            (None, _) => (Vec::new(), None),
            (Some(r), Version::V1) => (r.all(|c| nick_of(&state.sessions, &state.cluster, c)), None),
            (Some(r), Version::V2) => {
                let (page, _) =
                    r.page(None, MEMBERS_PAGE as usize, |c| nick_of(&state.sessions, &state.cluster, c));
                (page, Some(r.total()))
            }
        };
        let Some(conn) = state.sessions.get_mut(id) else { return };
        let last = page.as_ref().ok().and_then(Page::last_id).unwrap_or(0);
        let Some(held) = state.rooms.get_mut(room).and_then(|r| r.members.get_mut(&id)).map(|m| {
            m.shown = m.shown.max(last);
            m.held.take()
        }) else {
            return; // It left meanwhile (replaced by a resumed connection).
        };
        let link = conn.link.clone();
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                queue(&link, refusal(&error, None, &state.metrics), &mut state.dirty);
                if newly {
                    conn.rooms.remove(room);
                    let nick = conn.nick().clone();
                    state.remove_member(room, id, &nick);
                    // The cluster never heard of a join that was to create the room.
                    if !announce {
                        let name = room.to_string();
                        state.cluster_op(|epoch| Op::Leave { epoch, conn: id, room: name });
                    }
                    self.shared.directory_changed.notify_one();
                    self.wake_counts(state);
                } else {
                    for (_, frame) in held.into_iter().flatten() {
                        queue(&link, frame, &mut state.dirty);
                    }
                }
                return;
            }
        };
        if announce {
            let name = room.to_string();
            state.cluster_op(|epoch| Op::Join { epoch, conn: id, room: name });
        }
        let joined = encode(
            &ServerMsg::Joined {
                room: room.to_string(),
                members: nicks,
                history: page.messages,
                complete: page.complete,
                total,
                roles: state.roles_of(room),
                changes: page.changes,
                changes_complete: !page.changes_left_out,
            },
            &state.metrics,
        );
        queue(&link, joined, &mut state.dirty);
        let mut newest = last;
        for (msg_id, frame) in held.into_iter().flatten() {
            if msg_id.is_none_or(|m| m > last) {
                newest = newest.max(msg_id.unwrap_or(0));
                queue(&link, frame, &mut state.dirty);
            }
        }
        if let Some(member) = state.rooms.get_mut(room).and_then(|r| r.members.get_mut(&id)) {
            member.shown = newest;
        }
    }
}

/// A `join` on its way through [`Hub::admit`]: the request, and what was established
/// with the lock released so far.
#[derive(Debug)]
pub(super) struct Joining {
    pub(super) room: RoomName,
    pub(super) after: Option<u64>,
    pub(super) password: Option<Password>,
    pub(super) max: Option<u32>,
    /// The room as the store has it: read when it had no member here.
    pub(super) stored: Option<StoredRoom>,
    /// The hash the password was found to match.
    pub(super) verified: Option<Arc<str>>,
    /// The password's hash, for a room this join creates.
    pub(super) hashed: Option<Arc<str>>,
}

impl Joining {
    pub(super) fn new(
        room: RoomName,
        after: Option<u64>,
        password: Option<Password>,
        max: Option<u32>,
    ) -> Self {
        Self { room, after, password, max, stored: None, verified: None, hashed: None }
    }
}

/// What [`Hub::admit`] decided.
#[derive(Debug)]
pub(super) enum Admit {
    /// Admitted (or nothing to do): finish it.
    Done(Next),
    /// The room's settings are not known here (no member here, or only other nodes'):
    /// read them from the store, then try again.
    Read,
    /// Hash or check a password, then try again.
    Work(Work),
}
