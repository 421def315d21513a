//! The session's outbox: the model's shared [`Outbox`](warren_model::outbox::Outbox) of
//! [`SessionEvent`](warren_model::outbox::SessionEvent)s, one sink for all of the session's
//! consumers.

use std::sync::{Arc, OnceLock};

use warren_model::Wake;

use crate::factory::Shared;

pub use warren_model::outbox::{SessionEvent as OutEvent, SessionSink};

/// The session's outbox.
pub type Outbox = warren_model::outbox::Outbox<OutEvent>;

/// Where the session's outbox is, once made: at its first consumer. A connection that only
/// publishes, or is idle, keeps none, and idle connections are the many.
pub type OutboxSlot = OnceLock<Arc<Outbox>>;

/// What makes the session's outbox when a consumer starts.
pub struct OutboxSource<'a> {
    /// The session's slot.
    pub slot: &'a OutboxSlot,
    /// The outbox's limit in bytes.
    pub max_bytes: usize,
    /// Woken when the outbox gets an event.
    pub waker: &'a Arc<dyn Wake>,
}

impl<'a> OutboxSource<'a> {
    /// The source for a session's `slot`, with the limit from its configuration.
    pub fn new(slot: &'a OutboxSlot, shared: &Shared, waker: &'a Arc<dyn Wake>) -> Self {
        Self {
            slot,
            max_bytes: shared.config.max_outbox_bytes,
            waker,
        }
    }

    /// The outbox, made now if it was not yet.
    pub fn outbox(&self) -> &'a Arc<Outbox> {
        self.slot
            .get_or_init(|| Arc::new(Outbox::new(self.max_bytes, Arc::clone(self.waker))))
    }
}
