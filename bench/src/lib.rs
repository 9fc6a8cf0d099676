//! The benchmark harness: measures our chat server side by side with a Node `ws` chat, a
//! Socket.IO chat and the loopback floor, on the same machine in the same run, and
//! writes BENCHMARKS.md. `cargo xtask bench` builds everything and runs [`suite`].
//!
//! Module map:
//! - [`scenario`]: the scenarios, their phases, and what a phase measured.
//! - [`load`]: the load generator, one process per scenario and server, pinned to its
//!   own core: connects, runs the phases, measures every delivery at every receiver.
//! - [`sender`]: its senders' thread: the schedule, and the writes of the sending sockets.
//! - [`conn`]: one connection at the byte level: read buffer, framing, set-up per protocol.
//! - [`proto`]: the wire formats it speaks (protocol v1, Socket.IO/Engine.IO, lines).
//! - [`ws`]: the client side of WebSocket framing the generator reads and writes with.
//! - [`floor`]: the floor server, one `write()` per delivery over plain TCP.
//! - [`suite`]: runs every server and scenario in turn, rounds of them, and collects.
//! - [`report`]: renders the collected results as BENCHMARKS.md, targets included.
//! - [`web`]: the web app's first load from the real server, in bytes on the wire, and
//!   the end-to-end suite's slow-phone timing.
//! - [`stats`] and [`procfs`]: percentiles and medians; what `/proc` tells.
//! - [`archive`]: out of the suite, the cluster with its history in PostgreSQL against
//!   Redis alone (`bench archive`): Redis's memory, cross-node latency and CPU.
//!
//! Architecture invariant: the harness only talks to servers over 127.0.0.1 and only
//! reads their `/proc` files; it never links the server's code, so it measures the
//! binary users run (`archive` includes only the helper that starts a private PostgreSQL,
//! as `xtask` does). Every load is bounded in count and time.

pub mod archive;
mod conn;
pub mod floor;
pub mod load;
pub mod procfs;
pub mod proto;
pub mod report;
pub mod scenario;
mod sender;
pub mod stats;
pub mod suite;
pub mod web;
pub mod ws;
