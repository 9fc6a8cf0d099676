//! The fan-out: every room's messages, as Redis's pub/sub brings them to this node, handed
//! to the hub in id order per room, without gaps and without repeats.
//!
//! Pub/sub may lose messages (a dropped connection, a full queue), so delivery is by id:
//! for each room [`Fanout`] knows the last id it delivered, skips what it already
//! delivered, and when a message is more than one past it, first reads the missing ones
//! from the room's stream. After a lost connection the node's subscription loop (see
//! `cluster`) calls [`Fanout::catch_up`], which reads what every room it knows missed.
//! It reads the streams only: how messages are stored is the store's (`store::redis`).

use std::collections::HashMap;
use std::time::Duration;

use common::ChatMessage;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, Value};

use super::events::ClusterEvent;
use crate::hub::Hub;
use crate::store::redis::{decode_entry, log_key};

/// Messages read from a stream per request when filling a gap.
const FILL_PAGE: usize = 1000;

/// Delivery in id order, room by room.
pub struct Fanout {
    hub: Hub,
    commands: ConnectionManager,
    /// The last id delivered per room, for every room this node has seen a message of
    /// since it started: one small entry per room.
    last: HashMap<String, u64>,
}

impl Fanout {
    pub fn new(hub: Hub, commands: ConnectionManager) -> Self {
        Self { hub, commands, last: HashMap::new() }
    }

    /// Takes one message for delivery: skipped if already delivered, preceded by what is
    /// missing before it if there is a gap. A gap that cannot be read now (Redis went away
    /// meanwhile) leaves the message for the catch-up after the reconnect, so order holds.
    pub async fn accept(&mut self, msg: ChatMessage, out: &mut Vec<ClusterEvent>) {
        let last = self.last.get(&msg.room).copied();
        match last {
            Some(last) if msg.id <= last => {}
            Some(last) if msg.id > last + 1 => match self.read(&msg.room, last, Some(msg.id - 1)).await {
                Ok(missing) => {
                    for m in missing {
                        self.push(m, out);
                    }
                    self.push(msg, out);
                }
                Err(e) => {
                    tracing::warn!(error = %e, room = %msg.room, "filling a gap failed; retried on reconnect")
                }
            },
            _ => self.push(msg, out),
        }
    }

    fn push(&mut self, msg: ChatMessage, out: &mut Vec<ClusterEvent>) {
        let last = self.last.entry(msg.room.clone()).or_insert(0);
        if msg.id > *last {
            *last = msg.id;
            out.push(ClusterEvent::Message(msg));
        }
    }

    /// Hands `events` (messages, and anything else the subscription brought with them)
    /// to the hub.
    pub fn deliver(&self, events: Vec<ClusterEvent>) {
        self.hub.apply_cluster(events).flush();
    }

    /// Messages of `room` after `after` (up to `to`), oldest first.
    async fn read(&mut self, room: &str, after: u64, to: Option<u64>) -> Result<Vec<ChatMessage>, String> {
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
                from = msg.id + 1;
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

/// The message of a pushed `pmessage` (pattern, channel, payload) or `message`
/// (channel, payload).
pub fn published(data: Vec<Value>) -> Option<ChatMessage> {
    let payload = data.into_iter().last()?;
    let json: String = redis::from_redis_value(payload).ok()?;
    match serde_json::from_str(&json) {
        Ok(msg) => Some(msg),
        Err(e) => {
            tracing::error!(error = %e, "a published message cannot be read; skipped");
            None
        }
    }
}
