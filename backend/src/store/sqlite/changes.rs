//! The SQLite store's part in changing a message after it was said: a change judged
//! (`change`'s rules) and written in the writer's transaction, a deletion that leaves
//! nothing of the message's text behind (its row, its earlier versions, its reactions, the
//! quotes of its replies; then the write-ahead log checkpointed and truncated), and the
//! reactions of a page of messages read in one query.

use common::changes::{Deleted, Edited, Quote, Reacted, Reaction};
use common::{Change, ChatMessage, RoomName};
use rusqlite::{Connection, OptionalExtension, params};

use super::super::{Changed, Outcome};
use crate::change::{Action, ChangeRequest, Given, Reactions, Refusal, may_delete, may_edit};

/// Judges a change where the message is and writes it as number `seq`: `None` when it
/// changes nothing.
pub(super) fn write_change(
    tx: &Connection,
    c: &ChangeRequest,
    seq: u64,
) -> rusqlite::Result<Option<Outcome>> {
    let (room, id) = (c.room.as_str(), c.id as i64);
    let refused = |refusal| {
        let (sender, room) = (c.actor.sender.clone(), c.room.clone());
        Ok(Some(Outcome::Refused { sender, room, id: c.id, cid: None, refusal }))
    };
    let found = tx
        .prepare_cached(
            "SELECT sender, nick, image FROM messages WHERE room = ?1 AND id = ?2 AND deleted = 0",
        )?
        .query_row(params![room, id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
        })
        .optional()?;
    let Some((author, nick, image)) = found else { return refused(Refusal::NotFound) };
    let mut orphan = None;
    let change = match &c.action {
        Action::Edit(text) => {
            if !may_edit(&c.actor, &author) {
                return refused(Refusal::Forbidden);
            }
            let quote = Quote::of(&nick, text.as_str());
            tx.prepare_cached("UPDATE messages SET text = ?3, edited = ?4 WHERE room = ?1 AND id = ?2")?
                .execute(params![room, id, text.as_str(), c.ts as i64])?;
            tx.prepare_cached("UPDATE messages SET quote_text = ?3 WHERE room = ?1 AND reply_to = ?2")?
                .execute(params![room, id, quote.text])?;
            let text = text.to_string();
            Change::Edited(Edited { room: room.to_owned(), id: c.id, text, edited: c.ts, seq })
        }
        Action::Delete => {
            if !may_delete(&c.actor, &author) {
                return refused(Refusal::Forbidden);
            }
            tx.prepare_cached(
                "UPDATE messages SET text = '', image = NULL, edited = NULL, deleted = 1, reply_to = NULL,
                 quote_nick = NULL, quote_text = NULL, quote_deleted = 0 WHERE room = ?1 AND id = ?2",
            )?
            .execute(params![room, id])?;
            tx.prepare_cached(
                "UPDATE messages SET quote_text = '', quote_deleted = 1 WHERE room = ?1 AND reply_to = ?2",
            )?
            .execute(params![room, id])?;
            // Its earlier versions go with it: only the deletion is left to tell.
            tx.prepare_cached("DELETE FROM changes WHERE room = ?1 AND id = ?2")?
                .execute(params![room, id])?;
            tx.prepare_cached("DELETE FROM reactions WHERE room = ?1 AND id = ?2")?
                .execute(params![room, id])?;
            if let Some(url) = image {
                let named = tx
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE image = ?1)")?
                    .query_row(params![url], |r| r.get::<_, bool>(0))?;
                orphan = (!named).then_some(url);
            }
            Change::Deleted(Deleted { room: room.to_owned(), id: c.id, seq })
        }
        Action::React { emoji, on } => {
            let mut given = Reactions(
                tx.prepare_cached(
                    "SELECT emoji, sender, nick FROM reactions WHERE room = ?1 AND id = ?2 ORDER BY seq",
                )?
                .query_map(params![room, id], |r| {
                    Ok(Given { emoji: r.get(0)?, sender: r.get::<_, String>(1)?.into(), nick: r.get(2)? })
                })?
                .collect::<rusqlite::Result<_>>()?,
            );
            match given.toggle(&c.actor, emoji, *on) {
                Err(refusal) => return refused(refusal),
                Ok(false) => return Ok(None),
                Ok(true) => {}
            }
            let sender = &*c.actor.sender;
            if *on {
                tx.prepare_cached(
                    "INSERT INTO reactions (room, id, emoji, sender, nick, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![room, id, emoji, sender, c.actor.nick.as_str(), seq as i64])?;
            } else {
                tx.prepare_cached(
                    "DELETE FROM reactions WHERE room = ?1 AND id = ?2 AND emoji = ?3 AND sender = ?4",
                )?
                .execute(params![room, id, emoji, sender])?;
            }
            let nick = c.actor.nick.to_string();
            Change::Reacted(Reacted {
                room: room.to_owned(),
                id: c.id,
                emoji: emoji.clone(),
                nick,
                on: *on,
                seq,
            })
        }
    };
    let body = serde_json::to_string(&change).expect("a change always serializes");
    tx.prepare_cached("INSERT INTO changes (room, seq, id, body) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![room, seq as i64, id, body])?;
    Ok(Some(Outcome::Changed(Changed { change, published: false, orphan })))
}

/// Copies the write-ahead log into the database and truncates it to nothing: what a
/// deletion overwrote is then gone from both files. `false` when readers kept it from
/// completing (it is tried again).
pub(super) fn checkpoint(conn: &Connection) -> bool {
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "checkpointing the write-ahead log after a deletion failed; trying again");
            false
        }
    }
}

/// Adds their reactions to `msgs` (of `room`, in either order), read in one query.
pub(super) fn with_reactions(
    conn: &Connection,
    room: &RoomName,
    msgs: &mut [ChatMessage],
) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (msgs.iter().map(|m| m.id).min(), msgs.iter().map(|m| m.id).max()) else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, emoji, nick FROM reactions WHERE room = ?1 AND id BETWEEN ?2 AND ?3 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![room.as_str(), first as i64, last as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
    })?;
    for row in rows {
        let (id, emoji, nick) = row?;
        let Some(at) = msgs.iter().position(|m| m.id == id as u64) else { continue };
        let reactions: &mut Vec<Reaction> = &mut msgs[at].reactions;
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => r.nicks.push(nick),
            None => reactions.push(Reaction { emoji, nicks: vec![nick] }),
        }
    }
    Ok(())
}
