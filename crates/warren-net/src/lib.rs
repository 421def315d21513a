//! The network layer: listeners and the per-connection driver that runs a protocol
//! [`Session`](warren_model::Session) over a socket.
//!
//! What it is not: it parses nothing and knows no protocol. Sessions see bytes and time; this
//! crate owns sockets, timers and wake-ups.
//!
//! Invariants: one task per connection; the driver reads only while the session wants input
//! (so a client that does not read its deliveries stops being read, instead of growing
//! memory), and writes are batched: everything a session produced is written before the next
//! read.

mod driver;
mod listener;
mod scheduler;
mod shutdown;

pub use driver::drive_connection;
pub use listener::{bind_tcp, spawn_tcp_listener, ListenerError};
pub use scheduler::TokioScheduler;
pub use shutdown::{Shutdown, ShutdownSignal};
