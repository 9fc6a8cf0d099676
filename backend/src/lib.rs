//! The chat server: one port serves the built web app and the WebSocket at `/ws`.
//!
//! Module map, outside in:
//! - `admin`: the operator's API (`/api/admin/*`, with `--admin-token`): its credential
//!   compared in constant time, wrong guesses slowed down, the overview, kicks and bans.
//! - `metrics`: the node's figures for Prometheus at `/metrics` (loopback or the admin
//!   token), counted with cached handles, once per operation.
//! - [`admission`]: who may connect (the open-files budget, connections per address that
//!   are not a WebSocket yet) and who may open a WebSocket (origin, WebSockets per
//!   address, the client's address behind a trusted proxy); the open-files limit.
//! - `hosts`: the `Host` names the server answers for (DNS rebinding), a layer on the
//!   whole router.
//! - `health`: `/healthz` (the process answers) and `/readyz` (the node can take users:
//!   not shutting down, its store answers), for load balancers and orchestrators.
//! - [`config`]: the typed [`Config`], parsed from flags and `CHAT_*` variables.
//! - [`server`]: binds the router (`/ws`, `/api/info`, static files) and runs it until
//!   shutdown; [`server::run`] is what the binary and the tests call.
//! - `conn`: one client's connection: its handler (one task per WebSocket: decodes
//!   frames, applies the rate limit, hands requests to the hub and flushes what they
//!   queued, pings, writes out a backed-up socket, says goodbye), its link (the bounded
//!   queue every sender shares) and its transport (how the queue reaches the client: a
//!   WebSocket, or an HTTP stream of events).
//! - `stream`: the chat over plain HTTP for networks that refuse WebSockets: `GET
//!   /http/stream` (the server's frames as events) and `POST /http/send` (the client's).
//! - `hub`: the shared state (connections, nicks, rooms) and every protocol rule;
//!   it never waits on a socket: it queues frames on bounded per-connection links.
//! - `ws`: the WebSocket protocol itself: handshake key, frames out, the client's frames in.
//! - `change`: the rules of changing a message after it was said (who may edit or
//!   delete, reactions' bounds, one emoji), shared by the hub and the stores.
//! - `store`: message history behind two enums of backends (memory, SQLite, Redis).
//! - `cluster`: a `--redis` node, all of it: its connections to the shared Redis, the
//!   fan-out that delivers every room's messages in id order and without gaps, the
//!   cluster's shared state in Redis (nicks, members, rooms, node liveness, the reaper of
//!   dead nodes, changed by scripts), and typing across the nodes. The hub knows only its
//!   `events`: what a node applies from the others and what it queues for Redis.
//! - `names`: nicks and room names people can trust: normalised (NFC), invisible and
//!   direction-changing characters refused, nicks unique by their look-alike key.
//! - `encode`: every frame the server sends, encoded once (JSON in a WebSocket frame).
//! - `error`: the request errors and their one mapping to the protocol's error codes.
//! - `net`: the URLs a phone on the LAN can open.
//! - [`redis_server`]: a private `redis-server` for the tests (not used by the server).
//! - [`postgres_server`]: a private PostgreSQL for the tests and `cargo xtask cluster`.
//! - [`balancer`]: a private nginx in front of a cluster's nodes, for the tests, with the
//!   configuration `cargo xtask cluster` runs (not used by the server).
//! - `media`: uploaded images: `POST /api/media` (checked by their bytes, metadata
//!   stripped, stored once by SHA-256) and `GET /media/<name>`.
//! - `web`: the built web app as static files: compressed copies, caching by content
//!   hash, and the security headers (CSP).

mod admin;
pub mod admission;
#[doc(hidden)]
pub mod balancer;
mod banned;
mod change;
mod cluster;
pub mod config;
mod conn;
mod encode;
mod error;
mod health;
mod hosts;
mod hub;
mod media;
mod metrics;
mod names;
pub mod net;
#[doc(hidden)]
pub mod postgres_server;
pub mod redis_server;
pub mod server;
mod socket;
mod store;
mod stream;
mod web;
mod ws;

pub use config::Config;
