//! The connection's outbox: where queues, on their own threads, push deliveries and cancel
//! notifications for the session to encode on its next `on_wake`.
//!
//! Bounded by bytes: [`DeliverySink::has_room`] turns false once the queued bodies exceed the
//! limit, and the queues then hold their messages until the session kicks them after the
//! driver drained the socket. The lock is a short std `Mutex`, never held while calling out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use warren_model::{ConsumerTag, Delivery, DeliverySink, Wake};

/// Bytes counted per event besides the body: method and header frames.
const EVENT_OVERHEAD: usize = 256;

/// Something the core pushed for one channel.
#[derive(Debug)]
pub enum OutEvent {
    /// A message for a consumer.
    Deliver {
        /// The consumer's channel.
        channel: u16,
        /// The delivery.
        delivery: Delivery,
    },
    /// The core cancelled a consumer (its queue went away).
    Cancelled {
        /// The consumer's channel.
        channel: u16,
        /// Its tag.
        tag: ConsumerTag,
    },
}

impl OutEvent {
    fn cost(&self) -> usize {
        match self {
            Self::Deliver { delivery, .. } => delivery.message.body.len() + EVENT_OVERHEAD,
            Self::Cancelled { .. } => EVENT_OVERHEAD,
        }
    }
}

#[derive(Default)]
struct Inner {
    events: VecDeque<OutEvent>,
    bytes: usize,
}

/// The shared, bounded queue of events for one connection.
pub struct Outbox {
    inner: Mutex<Inner>,
    max_bytes: usize,
    waker: Arc<dyn Wake>,
    refused: AtomicBool,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An empty outbox holding about `max_bytes`, waking the session through `waker`.
    pub fn new(max_bytes: usize, waker: Arc<dyn Wake>) -> Self {
        Self {
            inner: Mutex::default(),
            max_bytes,
            waker,
            refused: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an event and wakes the session when the outbox was empty.
    pub fn push(&self, event: OutEvent) {
        let was_empty = {
            let mut inner = self.lock();
            inner.bytes += event.cost();
            inner.events.push_back(event);
            inner.events.len() == 1
        };
        if was_empty {
            self.waker.wake();
        }
    }

    /// Takes the oldest event.
    pub fn pop(&self) -> Option<OutEvent> {
        let mut inner = self.lock();
        let event = inner.events.pop_front()?;
        inner.bytes = inner.bytes.saturating_sub(event.cost());
        Some(event)
    }

    /// True while the queued events stay under the limit.
    pub fn has_room(&self) -> bool {
        self.lock().bytes < self.max_bytes
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// Wakes the session (after a drain, when events remain).
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// The session's waker, for work that completes elsewhere (a durable write).
    pub fn waker(&self) -> Arc<dyn Wake> {
        Arc::clone(&self.waker)
    }

    /// Whether a queue was told "no room" since the last call.
    pub fn take_refused(&self) -> bool {
        self.refused.swap(false, Ordering::AcqRel)
    }

    fn note_refused(&self) {
        self.refused.store(true, Ordering::Release);
    }
}

/// The sink one consumer's queue delivers to.
#[derive(Debug)]
pub struct ConsumerSink {
    channel: u16,
    outbox: Arc<Outbox>,
}

impl ConsumerSink {
    /// A sink for a consumer on `channel`.
    pub fn new(channel: u16, outbox: Arc<Outbox>) -> Self {
        Self { channel, outbox }
    }
}

impl DeliverySink for ConsumerSink {
    fn deliver(&self, delivery: Delivery) {
        self.outbox.push(OutEvent::Deliver {
            channel: self.channel,
            delivery,
        });
    }

    fn has_room(&self) -> bool {
        let room = self.outbox.has_room();
        if !room {
            self.outbox.note_refused();
        }
        room
    }

    fn cancelled(&self, tag: &ConsumerTag) {
        self.outbox.push(OutEvent::Cancelled {
            channel: self.channel,
            tag: tag.clone(),
        });
    }
}
