//! The AMQP 0-9-1 adapter: a sans-IO [`Session`](warren_model::Session) per connection that
//! turns frames into calls on the core's [`VHost`](warren_model::VHost) and the core's
//! deliveries back into frames.
//!
//! What it is not: it owns no socket and no clock (the network driver passes bytes and
//! `Instant`s), and it holds no broker state beyond one connection's channels, consumers,
//! unacknowledged deliveries and pending confirms.
//!
//! Layers: [`codec`] (frames, with the `frame_max` and table-depth guards amq-protocol lacks),
//! the connection and channel state machines, and conversions to the neutral model.
//!
//! Invariants: no input panics; every declared length is checked before it is buffered;
//! errors reach the wire through [`AmqpError`], whose code alone decides between
//! `channel.close` and `connection.close`; output waiting for the socket is bounded by
//! [`AmqpConfig::max_outbox_bytes`], beyond which the session stops reading.

#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod codec;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod content;
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub mod guard;

mod blocked;
mod channel;
mod channel_ack;
mod channel_consume;
mod channel_declare;
mod channel_publish;
mod channel_tx;
mod confirms;
mod connection;
pub mod convert;
mod env;
pub mod errors;
mod factory;
mod handshake;
mod heartbeat;
mod outbox;
mod session;

pub use connection::AmqpSession;
pub use errors::AmqpError;
pub use factory::{AmqpConfig, AmqpSessionFactory};
