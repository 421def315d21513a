//! The MQTT 3.1, 3.1.1 and 5.0 adapter: a sans-IO [`Session`](warren_model::Session) per
//! connection that maps MQTT onto the RabbitMQ-model core. Publishes go to one topic exchange
//! (`amq.topic` by default) with the topic mapped to a routing key; every session owns a queue
//! bound with its converted filters; a shared subscription is a queue per group and filter.
//!
//! What it is not: it owns no socket and no clock (the driver passes bytes and `Instant`s), it
//! never names the core's crate, and it keeps no message bodies of its own beyond the retained
//! store and the deliveries waiting in a session's outbox.
//!
//! Layers: [`codec`] (framing with the size guard, version detection, the wire codec behind a
//! neutral packet type), [`topic`] (names, validation, mapping, matching), the session state
//! machine (`connect`, `publish`, `subscribe`, `deliver`, `will`), and the broker-wide state
//! the factory owns: the session registry (persistent sessions, takeover) and the retained store.
//!
//! Invariants: no input panics; a packet above [`MqttConfig::max_packet_size`] is refused from
//! its fixed header, before it is buffered; errors reach the wire through [`MqttError`], whose
//! reason code alone decides the reply; output waiting for the socket is bounded by
//! [`MqttConfig::max_outbox_bytes`], beyond which the session stops reading; outbound QoS > 0
//! messages in flight are bounded by the core's prefetch window.

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
pub mod topic;

mod alias;
mod config;
mod connect;
pub mod convert;
mod deliver;
mod durable_acks;
pub mod errors;
mod factory;
mod groups;
mod inflight;
mod live;
mod outbox;
mod persist;
mod publish;
mod registry;
mod retained;
mod session;
mod subscribe;
mod topic_cache;
mod will;

pub use config::{MqttConfig, TopicMapping};
pub use errors::MqttError;
pub use factory::MqttSessionFactory;
pub use session::MqttSession;
