//! The protocol-neutral broker core: users, vhosts, exchanges, binding tables, queues,
//! consumers and prefetch credit, reached only through `warren-model`'s traits.
//!
//! What it is not: it names no protocol, does no I/O and has no `.await`. Time-driven work
//! (message and queue expiry, delayed messages) runs from one timer service that asks the
//! model's `Scheduler` for a wake-up at its earliest deadline; without a scheduler it happens
//! lazily. Durability is a later layer; the delayed-message store's seam is [`DelayedLog`].
//!
//! Invariants:
//! - Routing runs in the publisher's thread over per-exchange binding tables behind their own
//!   `RwLock`; no broker-wide lock is taken on the publish path.
//! - Each queue's state sits behind one short `std::sync::Mutex`, never held while a
//!   [`warren_model::DeliverySink`] is called: deliveries are collected under the lock and
//!   handed over after it is released, by at most one dispatcher at a time per queue, so a
//!   consumer sees a queue's messages in order.
//! - Topology changes (declare, delete, bind, unbind) are serialized per vhost; they never
//!   call a sink while holding that lock either.
//! - A message is shared as `Arc<Message>`: fan-out clones the pointer, never the body.

mod broker;
mod config;
mod deadletter;
mod durable;
pub mod exchange;
mod int_hash;
mod queue;
mod sync;
mod text;
mod timer;
mod vhost;

pub use broker::Core;
pub use config::{CoreConfig, UserConfig};
pub use durable::Durable;
pub use exchange::{Binding, BindingTable, ExchangeRegistry, ExchangeType};
pub use vhost::{DelayId, DelayedLog, VHostCore};
pub use warren_store::{StoreConfig, StoreError};
