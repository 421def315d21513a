//! Tickets: the caller's handle on "these records are on disk".

use std::fmt;
use std::sync::Arc;

use crate::error::StoreError;
use crate::shared::Inner;

/// Completes when the records appended with it are durable (written and fsynced), or fails
/// if the store is poisoned first. Tickets complete in append order, so waiting for a later
/// ticket covers every earlier one: a session may keep only its newest.
#[derive(Clone)]
pub struct Ticket {
    inner: Arc<Inner>,
    seq: u64,
}

impl Ticket {
    pub(crate) fn new(inner: Arc<Inner>, seq: u64) -> Self {
        Self { inner, seq }
    }

    /// The ticket's position in the log's append order.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Blocks until durable. For threads that may block; sessions use [`Ticket::on_durable`].
    pub fn wait(&self) -> Result<(), StoreError> {
        self.inner.wait_durable(self.seq)
    }

    /// True once durable (never true on a poisoned store for records not yet durable).
    pub fn is_durable(&self) -> bool {
        self.inner.lock().durable >= self.seq
    }

    /// Runs `done` once durable, with `Ok`, or with the poison error. It runs at once if the
    /// outcome is already known, else on the writer thread: it must be quick and must not
    /// block (typically: queue a confirm and wake the connection).
    pub fn on_durable(self, done: impl FnOnce(Result<(), StoreError>) + Send + 'static) {
        self.inner.on_durable(self.seq, Box::new(done));
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticket({})", self.seq)
    }
}
