// A chat server on Node's `ws`, speaking the subset of protocol v1 that the benchmark
// uses: `welcome` on connect, `join` -> `joined`, `say` -> `message` to every member of
// the room (the sender included). It is the "typical Node chat" the benchmark compares
// ours with, written the way a careful Node developer would: one JSON.stringify and one
// Buffer per broadcast, no per-member encoding, no compression, a bounded history per
// room like ours. It does not guard against clients that stop reading (`ws` buffers
// without limit), because typical ws chats do not; the slow-reader scenario shows that.
//
// Usage: PORT=3001 node ws-server.js   (listens on 127.0.0.1 only)
'use strict';

const { WebSocketServer } = require('ws');

const PORT = Number(process.env.PORT || 3001);
const HISTORY = 10000; // messages kept per room, as ours keeps by default
const MAX_FRAME = 16 * 1024;

/** @type {Map<string, {members: Set<any>, seq: number, history: object[]}>} */
const rooms = new Map();
let guests = 0;

// The listen backlog: the system's maximum, as our server's default is (Node asks for 511
// otherwise, and a storm of 1,000 connects at a time would overflow it).
let BACKLOG = 511;
try {
  BACKLOG = Number(require('fs').readFileSync('/proc/sys/net/core/somaxconn', 'utf8')) || BACKLOG;
} catch {}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: PORT,
  backlog: BACKLOG,
  path: '/ws',
  maxPayload: MAX_FRAME,
  perMessageDeflate: false,
  clientTracking: false,
});

function directory() {
  const out = [{ name: 'lobby', members: rooms.get('lobby')?.members.size ?? 0 }];
  for (const [name, r] of rooms) if (name !== 'lobby') out.push({ name, members: r.members.size });
  return out;
}

function error(ws, code, message, cid) {
  ws.send(JSON.stringify({ type: 'error', code, message, cid }));
}

function valid(s, max) {
  return typeof s === 'string' && s.trim().length >= 1 && s.length <= max;
}

wss.on('connection', (ws) => {
  const me = { nick: `guest-${++guests}`, rooms: new Set() };
  ws.send(JSON.stringify({ type: 'welcome', protocol: 1, nick: me.nick, rooms: directory() }));

  ws.on('message', (data, isBinary) => {
    if (isBinary) return error(ws, 'bad_request', 'binary frames are not supported');
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return error(ws, 'bad_request', 'bad frame');
    }
    switch (msg && msg.type) {
      case 'join': {
        if (!valid(msg.room, 64)) return error(ws, 'invalid', 'bad room name');
        let room = rooms.get(msg.room);
        if (!room) rooms.set(msg.room, (room = { members: new Set(), seq: 0, history: [] }));
        room.members.add(ws);
        me.rooms.add(msg.room);
        const members = [...room.members].map((m) => m.nick);
        ws.send(JSON.stringify({ type: 'joined', room: msg.room, members, history: room.history.slice(-50), complete: true }));
        return;
      }
      case 'say': {
        const room = rooms.get(msg.room);
        if (!room || !me.rooms.has(msg.room)) return error(ws, 'not_in_room', 'join the room first', msg.cid);
        if (!valid(msg.text, 4000) || !valid(msg.cid, 64)) return error(ws, 'invalid', 'bad text or cid', msg.cid);
        const message = { type: 'message', room: msg.room, id: ++room.seq, nick: me.nick, text: msg.text, ts: Date.now(), cid: msg.cid };
        room.history.push(message);
        if (room.history.length > HISTORY * 1.1) room.history.splice(0, room.history.length - HISTORY);
        // Encode once: every member gets the same bytes.
        const frame = Buffer.from(JSON.stringify(message));
        for (const m of room.members) m.send(frame, { binary: false });
        return;
      }
      default:
        return error(ws, 'bad_request', 'unknown type');
    }
  });

  ws.on('close', () => {
    for (const name of me.rooms) {
      const room = rooms.get(name);
      if (!room) continue;
      room.members.delete(ws);
      if (room.members.size === 0) rooms.delete(name);
    }
  });
  ws.on('error', () => {});
  ws.nick = me.nick;
});

wss.on('listening', () => console.log(`ws chat listening on 127.0.0.1:${PORT}`));
process.on('SIGTERM', () => process.exit(0));
