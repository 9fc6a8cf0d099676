//! The fan-out: every room's messages and changes of messages, as Redis's pub/sub brings
//! them to this node, handed to the hub in the order of their numbers per room (a message's
//! id, a change's `seq`: one sequence), without gaps and without repeats.
//!
//! Pub/sub may lose messages (a dropped connection, a full queue), so delivery is by id:
//! for each room [`Fanout`] knows the last id it delivered, skips what it already
//! delivered, and when a message is more than one past it, first reads the missing ones
//! from the room's stream. After a lost connection the node's subscription loop (see
//! `cluster`) calls [`Fanout::catch_up`], which reads what every room it knows missed.
//! It reads the streams only: how messages are stored is the store's (`store::redis`).

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, Value};

use super::events::ClusterEvent;
use crate::hub::Hub;
use crate::store::redis::{Entry, decode_entry, log_key};

/// Messages read from a stream per request when filling a gap.
const FILL_PAGE: usize = 1000;

/// Delivery in id order, room by room.
pub struct Fanout {
    hub: Hub,
    commands: ConnectionManager,
    /// The last number delivered per room, for every room this node has seen a message or
    /// change of since it started: one small entry per room.
    last: HashMap<String, u64>,
}

impl Fanout {
    pub fn new(hub: Hub, commands: ConnectionManager) -> Self {
        Self { hub, commands, last: HashMap::new() }
    }

    /// Takes one message for delivery: skipped if already delivered, preceded by what is
    /// missing before it if there is a gap. A gap that cannot be read now (Redis went away
    /// meanwhile) leaves the message for the catch-up after the reconnect, so order holds.
    pub async fn accept(&mut self, msg: Entry, out: &mut Vec<ClusterEvent>) {
        let last = self.last.get(msg.room()).copied();
        let n = msg.number();
        match last {
            Some(last) if n <= last => {}
            // A gap: read from the stream (a deleted message's entries are gone from it,
            // and so are skipped).
            Some(last) if n > last + 1 => match self.read(msg.room(), last, Some(n - 1)).await {
                Ok(missing) => {
                    for m in missing {
                        self.push(m, out);
                    }
                    self.push(msg, out);
                }
                Err(e) => {
                    tracing::warn!(error = %e, room = %msg.room(), "filling a gap failed; retried on reconnect")
                }
            },
            _ => self.push(msg, out),
        }
    }

    fn push(&mut self, entry: Entry, out: &mut Vec<ClusterEvent>) {
        let last = self.last.entry(entry.room().to_owned()).or_insert(0);
        if entry.number() > *last {
            *last = entry.number();
            out.push(match entry {
                Entry::Message(msg) => ClusterEvent::Message(msg),
                Entry::Change(change) => ClusterEvent::Change(change),
            });
        }
    }

    /// Hands `events` (messages, and anything else the subscription brought with them)
    /// to the hub.
    pub fn deliver(&self, events: Vec<ClusterEvent>) {
        self.hub.apply_cluster(events).flush();
    }

    /// Messages and changes of `room` after `after` (up to `to`), oldest first.
    async fn read(&mut self, room: &str, after: u64, to: Option<u64>) -> Result<Vec<Entry>, String> {
        let key = log_key(room);
        let end = to.map_or_else(|| "+".to_owned(), |to| format!("{to}-0"));
        let mut messages = Vec::new();
        let mut from = after + 1;
        loop {
            let call = self.commands.xrange_count::<_, _, _, _, StreamRangeReply>(
                &key,
                format!("{from}-0"),
                &end,
                FILL_PAGE,
            );
            let reply = match tokio::time::timeout(Duration::from_secs(2), call).await {
                Ok(reply) => reply.map_err(|e| e.to_string())?,
                Err(_) => return Err("no answer".into()),
            };
            let full = reply.ids.len() == FILL_PAGE;
            for entry in &reply.ids {
                let msg = decode_entry(entry).map_err(|e| e.to_string())?;
                from = msg.number() + 1;
                messages.push(msg);
            }
            if !full {
                return Ok(messages);
            }
        }
    }

    /// Reads what every known room missed and delivers it; `false` if Redis failed.
    pub async fn catch_up(&mut self) -> bool {
        let rooms: Vec<(String, u64)> = self.last.iter().map(|(r, l)| (r.clone(), *l)).collect();
        let mut out = Vec::new();
        let mut ok = true;
        for (room, last) in rooms {
            match self.read(&room, last, None).await {
                Ok(missing) => {
                    for m in missing {
                        self.push(m, &mut out);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, %room, "catching up failed; trying again");
                    ok = false;
                    break;
                }
            }
        }
        self.deliver(out);
        ok
    }
}

/// The message or change of a pushed `pmessage` (pattern, channel, payload) or `message`
/// (channel, payload).
pub fn published(data: Vec<Value>) -> Option<Entry> {
    let payload = data.into_iter().last()?;
    let json: String = redis::from_redis_value(payload).ok()?;
    match Entry::parse(&json) {
        Ok(msg) => Some(msg),
        Err(e) => {
            tracing::error!(error = %e, "a published message cannot be read; skipped");
            None
        }
    }
}
