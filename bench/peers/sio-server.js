// A chat server on Socket.IO v4 with rooms, the other Node peer of the benchmark:
// `join` (room name) -> `joined` ({room}) to the sender, `say` ({room, text, cid}) ->
// `message` ({room, id, nick, text, ts, cid}) to the room with `io.to(room).emit`, which
// encodes the packet once per broadcast. WebSocket transport only (no long-polling), no
// compression, a bounded history per room like ours.
//
// Usage: PORT=3002 node sio-server.js   (listens on 127.0.0.1 only)
'use strict';

const http = require('http');
const { Server } = require('socket.io');

const PORT = Number(process.env.PORT || 3002);
const HISTORY = 10000;

const httpServer = http.createServer();
const io = new Server(httpServer, {
  serveClient: false,
  transports: ['websocket'],
  perMessageDeflate: false,
  maxHttpBufferSize: 16 * 1024,
});

/** @type {Map<string, {seq: number, history: object[]}>} */
const rooms = new Map();
let guests = 0;

function valid(s, max) {
  return typeof s === 'string' && s.trim().length >= 1 && s.length <= max;
}

io.on('connection', (socket) => {
  const nick = `guest-${++guests}`;
  socket.on('join', (name) => {
    if (!valid(name, 64)) return socket.emit('error_', { code: 'invalid' });
    if (!rooms.has(name)) rooms.set(name, { seq: 0, history: [] });
    socket.join(name);
    socket.emit('joined', { room: name });
  });
  socket.on('say', (msg) => {
    const room = msg && rooms.get(msg.room);
    if (!room || !socket.rooms.has(msg.room)) return socket.emit('error_', { code: 'not_in_room', cid: msg && msg.cid });
    if (!valid(msg.text, 4000)) return socket.emit('error_', { code: 'invalid', cid: msg.cid });
    const message = { room: msg.room, id: ++room.seq, nick, text: msg.text, ts: Date.now(), cid: msg.cid };
    room.history.push(message);
    if (room.history.length > HISTORY * 1.1) room.history.splice(0, room.history.length - HISTORY);
    io.to(msg.room).emit('message', message);
  });
});

httpServer.listen(PORT, '127.0.0.1', () => console.log(`socket.io chat listening on 127.0.0.1:${PORT}`));
process.on('SIGTERM', () => process.exit(0));
