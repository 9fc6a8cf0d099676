//! The chat server: one port serves the built web app and the WebSocket at `/ws`.
//!
//! Module map, outside in:
//! - [`config`]: the typed [`Config`], parsed from flags and `CHAT_*` variables.
//! - [`server`]: binds the router (`/ws`, `/api/info`, static files) and runs it until
//!   shutdown; [`server::run`] is what the binary and the tests call.
//! - `session`: one task per WebSocket: decodes frames, applies the rate limit, hands
//!   requests to the hub, and owns the socket's write half.
//! - `hub`: the shared state (connections, nicks, rooms) and every protocol rule;
//!   it never touches a socket, only bounded per-connection outboxes.
//! - `outbox`: the bounded queue of encoded frames to one connection, and its close signal.
//! - `store`: message history behind an enum of backends (in-memory for now).
//! - `error`: the request errors and their one mapping to protocol `error` frames.
//! - `net`: the URLs a phone on the LAN can open.

pub mod config;
mod error;
mod hub;
pub mod net;
mod outbox;
pub mod server;
mod session;
mod store;

pub use config::Config;
