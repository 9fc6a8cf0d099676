//! One client's connection, from its first frame to its close.
//!
//! - `handler`: the connection's task: reads and decodes the client's frames, applies
//!   its rate limit (`bucket`), hands requests to the hub and flushes what they queued,
//!   pings, writes out a backed-up socket, and says goodbye.
//! - `link`: the outgoing side every sender shares: the bounded queue of frames (in
//!   frames and in bytes), the close request, and the [`link::Deliveries`] a hub
//!   operation returns for its caller to flush.
//! - `transport`: how a queue reaches its client: one variant per transport (the
//!   WebSocket's socket, and an HTTP stream's answer).

mod bucket;
pub mod handler;
pub mod link;
pub mod transport;
