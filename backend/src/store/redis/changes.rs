//! The cluster's store's part in changing a message after it was said, in Redis.
//!
//! A change takes the room's next number from the room's counter, as a message does, and
//! is an entry of the room's stream (`<seq>-0`, its frame's JSON in the field `c`, beside
//! the messages' `m`), published on the room's channel: the fan-out delivers messages and
//! changes in one order, and fills a gap of either from the stream. A changed message's
//! current JSON is in the room's hash `chat:cur:<room>` (read over its stream entry); who
//! sent each message is in `chat:from:<room>` (its resume token), its reactions with who
//! gave them in `chat:rx:<room>`, the numbers of its changes in the set
//! `chat:cs:<room>:<id>` and its replies in `chat:re:<room>:<id>`. A deletion makes the
//! message a tombstone in `chat:cur`, and removes its stream entry, its changes' entries,
//! its reactions and the text quoted of it in replies (whose entries go too: their current
//! JSON is in `chat:cur`); the ids whose entries are gone are in the sorted set
//! `chat:moved:<room>`, so that pages keep their tombstones. How many messages name each
//! picture is counted in `chat:img`: the last one deleted lets the file go.
//!
//! Each change is one script ([`CHANGE`]), so no other node can interleave; whether the
//! asker may edit or delete is `change`'s to decide: the script answers with the
//! message's sender when it is not the asker, the writer asks [`may_edit`] or
//! [`may_delete`], and runs the script again saying which sender it allowed.

use common::{Change, ChatMessage};
use redis::Value;

use super::{Entry, Outcome, StoreError};
use crate::change::{
    Action, ChangeRequest, EMOJI_PER_MESSAGE, REACTIONS_PER_PERSON, Refusal, may_delete, may_edit,
};
use crate::store::Changed;

/// The key of the hash of changed messages' current JSON.
pub fn cur_key(room: &str) -> String {
    format!("chat:cur:{room}")
}

/// The key of the sorted set of message ids whose stream entries are gone (their current
/// JSON is in [`cur_key`]'s hash).
pub fn moved_key(room: &str) -> String {
    format!("chat:moved:{room}")
}

/// The key of the hash of who gave each message's reactions (JSON of `[emoji, resume
/// token, nick]`), by id.
pub fn rx_key(room: &str) -> String {
    format!("chat:rx:{room}")
}

/// The key of the hash of each message's sender (its resume token).
pub fn from_key(room: &str) -> String {
    format!("chat:from:{room}")
}

/// Lua helpers shared by the scripts: a message's current JSON (decoded) and the first
/// `n` characters of a UTF-8 string.
pub const HELPERS: &str = r"
local function current(cur, log, id)
  local j = redis.call('HGET', cur, id)
  if not j then
    local e = redis.call('XRANGE', log, id .. '-0', id .. '-0')
    if #e == 0 or e[1][2][1] ~= 'm' then return nil end
    j = e[1][2][2]
  end
  return cjson.decode(j)
end
local function head(s, n)
  local i, c = 1, 0
  while i <= #s and c < n do
    local b = string.byte(s, i)
    if b < 128 then i = i + 1 elseif b < 224 then i = i + 2 elseif b < 240 then i = i + 3 else i = i + 4 end
    c = c + 1
  end
  return string.sub(s, 1, i - 1)
end
";

/// One change. KEYS: the room's counter, stream, `chat:cur`, `chat:from`, `chat:rx`,
/// `chat:moved`, channel. ARGV: kind (`edit`, `delete`, `react`), the message id, the
/// asker's token, its nick, the time, the text or emoji, `on` (`1`/`0`), the room, the
/// prefix of the per-message sets (`chat:cs:<room>:`, `chat:re:<room>:`), the sender the
/// writer allowed (or ``), the bounds of reactions (emoji a message, reactions a person).
/// Returns `{1, change, orphaned picture or ''}`, `{0, ''}` when it changes nothing,
/// `{-1, reason}` when refused, `{-2, sender}` when the asker is not the sender.
pub const CHANGE: &str = r"
local kind, id, asker, nick, ts, arg, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[8]
local cs, re, allowed = ARGV[9] .. 'cs:' .. room .. ':', ARGV[9] .. 're:' .. room .. ':', ARGV[10]
local msg = current(KEYS[3], KEYS[2], id)
if not msg or msg.deleted then return {-1, 'not_found'} end
local author = redis.call('HGET', KEYS[4], id) or ''
if kind ~= 'react' and author ~= asker and (allowed == '' or author ~= allowed) then return {-2, author} end
local change, orphan = nil, ''
local function requote(rid, quote)
  local r = current(KEYS[3], KEYS[2], rid)
  if r then
    r.quote = quote
    redis.call('HSET', KEYS[3], rid, cjson.encode(r))
    return true
  end
  return false
end
if kind == 'react' then
  local given = cjson.decode(redis.call('HGET', KEYS[5], id) or '[]')
  local on = ARGV[7] == '1'
  local at, mine, distinct, seen, known = nil, 0, 0, {}, false
  for i, g in ipairs(given) do
    if g[2] == asker then
      mine = mine + 1
      if g[1] == arg then at = i end
    end
    if not seen[g[1]] then seen[g[1]] = true; distinct = distinct + 1 end
    if g[1] == arg then known = true end
  end
  if (at and on) or (not at and not on) then return {0, ''} end
  if on then
    if mine >= tonumber(ARGV[12]) then return {-1, 'too_many_reactions'} end
    if not known and distinct >= tonumber(ARGV[11]) then return {-1, 'too_many_emoji'} end
    table.insert(given, {arg, asker, nick})
  else
    table.remove(given, at)
  end
  local seq = redis.call('INCR', KEYS[1])
  local view, index = {}, {}
  for _, g in ipairs(given) do
    local r = index[g[1]]
    if not r then r = {emoji = g[1], nicks = {}}; table.insert(view, r); index[g[1]] = r end
    table.insert(r.nicks, g[3])
  end
  if #given == 0 then redis.call('HDEL', KEYS[5], id) else redis.call('HSET', KEYS[5], id, cjson.encode(given)) end
  if #view == 0 then msg.reactions = nil else msg.reactions = view end
  redis.call('HSET', KEYS[3], id, cjson.encode(msg))
  change = {type = 'reacted', room = room, id = tonumber(id), emoji = arg, nick = nick, on = on, seq = seq}
elseif kind == 'edit' then
  local seq = redis.call('INCR', KEYS[1])
  msg.text = arg
  msg.edited = ts
  redis.call('HSET', KEYS[3], id, cjson.encode(msg))
  for _, rid in ipairs(redis.call('SMEMBERS', re .. id)) do
    requote(rid, {nick = msg.nick, text = head(arg, 100)})
  end
  change = {type = 'edited', room = room, id = tonumber(id), text = arg, edited = ts, seq = seq}
else
  local seq = redis.call('INCR', KEYS[1])
  if msg.image then
    -- The last message naming a picture lets it go; a picture said before pictures were
    -- counted is never taken for unnamed.
    local n = redis.call('HINCRBY', 'chat:img', msg.image, -1)
    if n == 0 then
      redis.call('HDEL', 'chat:img', msg.image)
      orphan = msg.image
    elseif n < 0 then
      redis.call('HSET', 'chat:img', msg.image, -1000000000)
    end
  end
  local tomb = {room = msg.room, id = msg.id, nick = msg.nick, ts = msg.ts, text = '', deleted = true}
  redis.call('HSET', KEYS[3], id, cjson.encode(tomb))
  redis.call('XDEL', KEYS[2], id .. '-0')
  redis.call('ZADD', KEYS[6], tonumber(id), id)
  for _, s in ipairs(redis.call('SMEMBERS', cs .. id)) do redis.call('XDEL', KEYS[2], s .. '-0') end
  redis.call('DEL', cs .. id)
  redis.call('HDEL', KEYS[5], id)
  for _, rid in ipairs(redis.call('SMEMBERS', re .. id)) do
    if requote(rid, {nick = msg.nick, text = '', deleted = true}) then
      redis.call('XDEL', KEYS[2], rid .. '-0')
      redis.call('ZADD', KEYS[6], tonumber(rid), rid)
    end
  end
  redis.call('DEL', re .. id)
  if msg.reply_to then redis.call('SREM', re .. string.format('%d', msg.reply_to), id) end
  change = {type = 'deleted', room = room, id = tonumber(id), seq = seq}
end
local json = cjson.encode(change)
redis.call('XADD', KEYS[2], change.seq .. '-0', 'c', json)
if kind ~= 'delete' then redis.call('SADD', cs .. id, change.seq) end
redis.call('PUBLISH', KEYS[7], json)
return {1, json, orphan}
";

/// A change on its way to Redis: the request, and the sender `change`'s rules allowed it
/// to change the message of (after the script answered with one).
#[derive(Debug)]
pub struct PendingChange {
    pub change: ChangeRequest,
    pub allowed: Option<String>,
}

impl PendingChange {
    /// The script's call, added to `pipe`.
    pub fn call(&self, pipe: &mut redis::Pipeline, script: &redis::Script) {
        let room = self.change.room.as_str();
        let (kind, arg, on) = match &self.change.action {
            Action::Edit(text) => ("edit", text.as_str(), false),
            Action::Delete => ("delete", "", false),
            Action::React { emoji, on } => ("react", emoji.as_str(), *on),
        };
        pipe.cmd("EVALSHA")
            .arg(script.get_hash())
            .arg(7)
            .arg(super::seq_key(room))
            .arg(super::log_key(room))
            .arg(cur_key(room))
            .arg(from_key(room))
            .arg(rx_key(room))
            .arg(moved_key(room))
            .arg(super::channel(room))
            .arg(kind)
            .arg(self.change.id)
            .arg(&*self.change.actor.sender)
            .arg(self.change.actor.nick.as_str())
            .arg(self.change.ts)
            .arg(arg)
            .arg(if on { "1" } else { "0" })
            .arg(room)
            .arg("chat:")
            .arg(self.allowed.as_deref().unwrap_or(""))
            .arg(EMOJI_PER_MESSAGE)
            .arg(REACTIONS_PER_PERSON);
    }

    /// What the script's `reply` says: an outcome, nothing (no change), or the message's
    /// sender to ask `change`'s rules about (then the change is sent again).
    pub fn answer(&mut self, reply: Value) -> Result<Answer, StoreError> {
        // `{code, text}`, and a third item (the orphaned picture) when stored.
        let mut items: Vec<Value> =
            redis::from_redis_value(reply).map_err(|e| StoreError::Decode(e.to_string()))?;
        let orphan: Option<String> = match items.len() {
            3 => items.pop().and_then(|v| redis::from_redis_value(v).ok()),
            _ => None,
        };
        let text: String = items.pop().and_then(|v| redis::from_redis_value(v).ok()).unwrap_or_default();
        let code: i64 = items.pop().and_then(|v| redis::from_redis_value(v).ok()).unwrap_or_default();
        let refused = |refusal| {
            let c = &self.change;
            Answer::Done(Box::new(Outcome::Refused {
                sender: c.actor.sender.clone(),
                room: c.room.clone(),
                id: c.id,
                cid: None,
                refusal,
            }))
        };
        Ok(match code {
            1 => {
                let change: Change =
                    serde_json::from_str(&text).map_err(|e| StoreError::Decode(e.to_string()))?;
                let orphan = orphan.filter(|o| !o.is_empty());
                Answer::Done(Box::new(Outcome::Changed(Changed { change, published: true, orphan })))
            }
            0 => Answer::Nothing,
            -2 => {
                let may = match self.change.action {
                    Action::Delete => may_delete(&self.change.actor, &text),
                    _ => may_edit(&self.change.actor, &text),
                };
                // A message sent before senders were recorded has none: nobody's to change.
                if !may || text.is_empty() || self.allowed.is_some() {
                    return Ok(refused(Refusal::Forbidden));
                }
                self.allowed = Some(text);
                Answer::Again
            }
            _ => refused(match text.as_str() {
                "too_many_emoji" => Refusal::TooManyEmoji,
                "too_many_reactions" => Refusal::TooManyReactions,
                _ => Refusal::NotFound,
            }),
        })
    }
}

/// What one run of the script came to.
#[derive(Debug)]
pub enum Answer {
    /// Boxed: an outcome may hold a whole message.
    Done(Box<Outcome>),
    Nothing,
    /// Run it again: the rules allowed the sender the script named.
    Again,
}

/// Puts each message's current version (from `chat:cur`) over what its stream entry said,
/// and adds the tombstones and moved messages of `moved` (ids whose entries are gone),
/// keeping the order of ids (`desc`: newest first) and at most `take` messages.
pub fn merge(
    mut messages: Vec<ChatMessage>,
    moved: Vec<u64>,
    current: impl Fn(&[u64]) -> Result<Vec<Option<String>>, StoreError>,
    desc: bool,
    take: usize,
) -> Result<Vec<ChatMessage>, StoreError> {
    let mut ids: Vec<u64> = messages.iter().map(|m| m.id).collect();
    ids.extend(moved.iter().filter(|id| !messages.iter().any(|m| m.id == **id)));
    ids.sort_unstable();
    if desc {
        ids.reverse();
    }
    ids.truncate(take);
    let cur = current(&ids)?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, cur) in ids.iter().zip(cur) {
        match cur {
            Some(json) => {
                out.push(serde_json::from_str(&json).map_err(|e| StoreError::Decode(e.to_string()))?)
            }
            None => {
                if let Some(at) = messages.iter().position(|m| m.id == *id) {
                    out.push(messages.swap_remove(at));
                }
            }
        }
    }
    Ok(out)
}

/// The changes of `entries` (a stretch of a room's stream) that concern messages with
/// `id <= after`.
pub fn changes_of(entries: Vec<Entry>, after: u64) -> Vec<Change> {
    entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Change(c) if c.id() <= after => Some(c),
            _ => None,
        })
        .collect()
}
