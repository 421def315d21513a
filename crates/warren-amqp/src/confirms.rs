//! Publisher confirms that wait for the disk: a persistent message routed to a durable queue
//! is acked only once the core's write completes, and every later publish waits behind it, so
//! a coalesced `basic.ack multiple` never covers a message that is not yet durable.
//!
//! The write completes on the store's thread; it only records how far writes are done (they
//! complete in order) and wakes the connection, whose next `on_wake` sends the acks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use warren_model::{DurableWrite, Wake};

/// How far this channel's durable writes are done; shared with the write callbacks.
#[derive(Default, Debug)]
pub struct DurableMark {
    done: AtomicU64,
    failed: AtomicBool,
}

/// What a publish waits for before its confirm.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wait {
    /// Nothing of its own: an ack once everything before it is acked.
    Ack,
    /// Refused by a queue: a nack, in its turn.
    Nack,
    /// Its write to disk.
    Durable,
}

/// Publishes whose confirms wait, in sequence order.
#[derive(Default, Debug)]
pub struct Waiting {
    queue: VecDeque<(u64, Wait)>,
    mark: Arc<DurableMark>,
}

/// The next confirm a flush may send.
pub enum Ready {
    /// Everything up to this seq may be acked.
    Ack(u64),
    /// This seq is nacked (after acking what comes before it).
    Nack(u64),
}

impl Waiting {
    /// Nothing waits: a confirm may go out at once.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `seq` behind the ones already waiting.
    pub fn push(&mut self, seq: u64, wait: Wait) {
        self.queue.push_back((seq, wait));
    }

    /// Queues `seq` until `write` completes; `waker` wakes the connection then.
    pub fn push_durable(&mut self, seq: u64, write: Box<dyn DurableWrite>, waker: Arc<dyn Wake>) {
        self.queue.push_back((seq, Wait::Durable));
        let mark = Arc::clone(&self.mark);
        write.on_durable(Box::new(move |result| {
            match result {
                Ok(()) => {
                    mark.done.fetch_max(seq, Ordering::AcqRel);
                }
                Err(err) => {
                    tracing::error!(%err, "persistent publish not stored; nacking");
                    mark.failed.store(true, Ordering::Release);
                }
            }
            waker.wake();
        }));
    }

    /// Takes the next confirm that is ready, if any.
    pub fn next_ready(&mut self) -> Option<Ready> {
        let done = self.mark.done.load(Ordering::Acquire);
        let &(seq, wait) = self.queue.front()?;
        let ready = match wait {
            Wait::Ack => Ready::Ack(seq),
            Wait::Durable if seq <= done => Ready::Ack(seq),
            // A failed store never completes a later write either.
            Wait::Durable if self.mark.failed.load(Ordering::Acquire) => Ready::Nack(seq),
            Wait::Durable => return None,
            Wait::Nack => Ready::Nack(seq),
        };
        self.queue.pop_front();
        Some(ready)
    }
}
