//! The network layer: listeners, transports (TCP, TLS, WebSocket) and the per-connection
//! driver that runs a protocol [`Session`](warren_model::Session) over a byte stream.
//!
//! What it is not: it parses nothing and knows no protocol. Sessions see bytes and time; this
//! crate owns sockets, TLS, WebSocket upgrades, timers and wake-ups. The server names the
//! protocols (a WebSocket route is a path, subprotocols and a session factory).
//!
//! Invariants: one task per connection; the driver reads only while the session wants input
//! (so a client that does not read its deliveries stops being read, instead of growing
//! memory), and writes are batched: everything a session produced is written before the next
//! read. Handshakes (first bytes, TLS, WebSocket upgrade) are bounded in time.

mod driver;
mod handoff;
mod identity;
mod listener;
mod scheduler;
mod serve;
mod shutdown;
mod sniff;
mod tls;
mod ws;
mod ws_stream;

pub use driver::drive_connection;
pub use identity::{login_name, CertLogin, SanType};
pub use listener::{bind_tcp, spawn_listener, spawn_tcp_listener, ListenerError, ListenerSpec};
pub use scheduler::TokioScheduler;
pub use serve::Service;
pub use shutdown::{Shutdown, ShutdownSignal};
pub use tls::{ClientVerify, TlsContext, TlsError, TlsSettings, TlsVersion};
pub use ws::{OutFrames, WsRoute, WsService};
