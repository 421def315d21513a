//! The neutral vocabulary of Warren: messages, properties, field tables, names and ids, and the
//! traits at the boundary between protocol adapters and the broker core.
//!
//! What it is not: it holds no broker logic, does no I/O and knows no protocol. Protocol-only
//! facts ride in reserved `x-mqtt-*` / `x-stomp-*` headers, never in a field of [`Message`].
//!
//! Invariants: names are validated when built (`TryFrom`), so holding a [`QueueName`] means
//! holding a name the core accepts; a [`Message`] is immutable once published and shared as
//! `Arc<Message>`, so fan-out copies a pointer, never a body.

mod batch;
mod core_api;
mod error;
mod field;
pub mod flow;
mod gate;
mod message;
mod names;
pub mod outbox;
pub mod persist;
#[cfg(test)]
mod test_wake;

pub use batch::PublishBatch;
pub use core_api::*;
pub use error::{CoreError, ErrorKind};
pub use field::{FieldTable, FieldValue, MAX_TABLE_DEPTH};
pub use gate::{earliest, Alarm, GateWatch, PublishGate, GATE_POLL};
pub use message::{Annotations, DeliveryMode, Message, Properties, Text, TextProperties};
pub use names::*;
