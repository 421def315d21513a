//! The STOMP 1.0, 1.1 and 1.2 adapter: a sans-IO [`Session`](warren_model::Session) per
//! connection that maps STOMP onto the RabbitMQ-model core with RabbitMQ's STOMP conventions:
//! `/queue`, `/topic` (on `amq.topic`), `/exchange`, `/amq/queue`, `/temp-queue` and
//! `/reply-queue` destinations, headers as message properties, ack modes as consumer settings.
//!
//! What it is not: it owns no socket and no clock (the driver passes bytes and `Instant`s), it
//! never names the core's crate, and it keeps no message bodies of its own beyond the
//! deliveries waiting in a session's outbox and the frames of open transactions.
//!
//! Layers: [`codec`] (the frame grammar, escaping, limits; pure), [`destination`] and
//! [`convert`] (the mapping onto the model), and the session state machine (`connect`,
//! `subscribe`, `send`, `ack`, `tx`, `heartbeat`).
//!
//! Invariants: no input panics; every frame is bounded by [`codec::Limits`] before it is
//! buffered; every error reaches the wire as one ERROR frame through [`StompError`], then the
//! connection closes; output waiting for the socket is bounded by
//! [`StompConfig::max_outbox_bytes`], beyond which the session stops reading; transactions are
//! bounded in number and bytes.

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
pub mod destination;
pub mod frame;

mod ack;
mod config;
mod connect;
mod connected;
pub mod convert;
pub mod errors;
mod factory;
pub mod heartbeat;
mod live;
mod outbox;
mod receipts;
mod send;
mod session;
mod subscribe;
mod tx;

pub use config::StompConfig;
pub use errors::StompError;
pub use factory::StompSessionFactory;
pub use frame::{Command, Frame, Headers, Version};
pub use session::{State, StompSession};
