//! The chat server: one port serves the built web app and the WebSocket at `/ws`.
//!
//! Module map, outside in:
//! - [`admission`]: who may open a WebSocket (origin, connections per address, the
//!   client's address behind a trusted proxy) and the open-files limit.
//! - [`config`]: the typed [`Config`], parsed from flags and `CHAT_*` variables.
//! - [`server`]: binds the router (`/ws`, `/api/info`, static files) and runs it until
//!   shutdown; [`server::run`] is what the binary and the tests call.
//! - `conn`: one client's connection: its handler (one task per WebSocket: decodes
//!   frames, applies the rate limit, hands requests to the hub and flushes what they
//!   queued, pings, writes out a backed-up socket, says goodbye), its link (the bounded
//!   queue every sender shares) and its transport (how the queue reaches the client).
//! - `hub`: the shared state (connections, nicks, rooms) and every protocol rule;
//!   it never waits on a socket: it queues frames on bounded per-connection links.
//! - `ws`: the WebSocket protocol itself: handshake key, frames out, the client's frames in.
//! - `store`: message history behind two enums of backends (memory, SQLite, Redis).
//! - `cluster`: a `--redis` node's connection to the shared Redis and the fan-out that
//!   delivers every room's messages, in id order and without gaps, to this node's members.
//! - `presence`: a `--redis` node's part of the cluster's shared state in Redis (nicks,
//!   members, rooms, node liveness and the reaper of dead nodes), changed by scripts.
//! - `encode`: every frame the server sends, encoded once (JSON in a WebSocket frame).
//! - `error`: the request errors and their one mapping to the protocol's error codes.
//! - `net`: the URLs a phone on the LAN can open.
//! - [`redis_server`]: a private `redis-server` for the tests (not used by the server).
//! - `media`: uploaded images: `POST /api/media` (checked by their bytes, metadata
//!   stripped, stored once by SHA-256) and `GET /media/<name>`.
//! - `web`: the built web app as static files: compressed copies, caching by content
//!   hash, and the security headers (CSP).

pub mod admission;
mod cluster;
pub mod config;
mod conn;
mod encode;
mod error;
mod hub;
mod media;
pub mod net;
mod presence;
#[doc(hidden)]
pub mod redis_server;
pub mod server;
mod store;
mod web;
mod ws;

pub use config::Config;
