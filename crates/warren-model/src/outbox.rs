//! A connection's outbox: where queues, on their own threads, push deliveries and cancel
//! notifications for the session to encode on its next `on_wake`. Every protocol adapter
//! uses one; each chooses its event type.
//!
//! Bounded by bytes: [`DeliverySink::has_room`] turns false once a batch's worth
//! ([`OUTPUT_BATCH`](crate::OUTPUT_BATCH), or the limit when smaller) waits, and the queues
//! then hold their messages until the session kicks them after the driver drained the socket
//! ([`Outbox::take_refused`] says whether any was held back). A session encodes a batch at a
//! time, so more waiting would gain nothing; and this way the connection that consumes moves
//! most of its messages out of the queue on its own thread, after each write, instead of the
//! publisher's thread doing it at arrival for every consumer. The lock is a short std
//! `Mutex`, never held while calling out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{ConsumerTag, Delivery, DeliverySink, Wake};

/// Bytes counted per event besides the body: the frames or headers the session adds.
pub const EVENT_OVERHEAD: usize = 256;

/// An event's weight against the outbox's byte limit.
pub trait OutboxEvent {
    /// Bytes it will take once encoded, roughly.
    fn cost(&self) -> usize;
}

struct Inner<E> {
    events: VecDeque<E>,
    bytes: usize,
}

/// The shared, bounded queue of events for one connection.
pub struct Outbox<E> {
    inner: Mutex<Inner<E>>,
    max_bytes: usize,
    waker: Arc<dyn Wake>,
    refused: AtomicBool,
}

impl<E> std::fmt::Debug for Outbox<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl<E: OutboxEvent> Outbox<E> {
    /// An empty outbox holding about `max_bytes`, waking the session through `waker`.
    pub fn new(max_bytes: usize, waker: Arc<dyn Wake>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                events: VecDeque::new(),
                bytes: 0,
            }),
            max_bytes,
            waker,
            refused: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<E>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an event and wakes the session when the outbox was empty.
    pub fn push(&self, event: E) {
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

    /// Queues events in order under one lock, and wakes the session once when the outbox was
    /// empty: the session then finds the whole run, not its first event.
    pub fn push_all(&self, events: impl IntoIterator<Item = E>) {
        let was_empty = {
            let mut inner = self.lock();
            let was_empty = inner.events.is_empty();
            for event in events {
                inner.bytes += event.cost();
                inner.events.push_back(event);
            }
            was_empty && !inner.events.is_empty()
        };
        if was_empty {
            self.waker.wake();
        }
    }

    /// Takes the oldest event.
    pub fn pop(&self) -> Option<E> {
        let mut inner = self.lock();
        let event = inner.events.pop_front()?;
        inner.bytes = inner.bytes.saturating_sub(event.cost());
        Some(event)
    }

    /// Moves the oldest events into `into` under one lock: at least one if any is queued,
    /// and more while their cost stays under `budget` (what the caller can encode now). They
    /// are counted first and moved in one run, so `into` grows once.
    pub fn take_up_to(&self, budget: usize, into: &mut VecDeque<E>) {
        let mut inner = self.lock();
        let (mut count, mut taken) = (0, 0);
        for event in &inner.events {
            if taken >= budget.max(1) {
                break;
            }
            taken += event.cost();
            count += 1;
        }
        inner.bytes = inner.bytes.saturating_sub(taken);
        into.extend(inner.events.drain(..count));
    }

    /// Puts back, in front and in order, events taken but not handled.
    pub fn put_back(&self, events: VecDeque<E>) {
        if events.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.bytes += events.iter().map(OutboxEvent::cost).sum::<usize>();
        for event in events.into_iter().rev() {
            inner.events.push_front(event);
        }
    }

    /// True while the queued events stay under the limit.
    pub fn has_room(&self) -> bool {
        self.lock().bytes < self.max_bytes
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// Wakes the session.
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// The session's waker, for work that completes elsewhere (a durable write).
    pub fn waker(&self) -> Arc<dyn Wake> {
        Arc::clone(&self.waker)
    }

    /// Whether a queue asking to deliver may: less than a batch's worth waits (see the
    /// module's notes). A "no" is remembered, so the session knows to kick its queues once
    /// the socket drained, and the first "no" wakes the session: one whose client is not
    /// keeping up may drop what it is allowed to drop (MQTT QoS 0) rather than leave it to
    /// pile up in its queues.
    pub fn room_for_queue(&self) -> bool {
        let room = self.lock().bytes < self.max_bytes.min(crate::OUTPUT_BATCH);
        if !room && !self.refused.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
        room
    }

    /// Whether a queue was told "no room" since the last call.
    pub fn take_refused(&self) -> bool {
        self.refused.swap(false, Ordering::AcqRel)
    }
}

/// Something the core pushed for a session whose consumers all share one sink (MQTT, STOMP).
#[derive(Debug)]
pub enum SessionEvent {
    /// A message for one of the session's consumers.
    Deliver(Delivery),
    /// The core cancelled a consumer (its queue was deleted).
    Cancelled(ConsumerTag),
}

impl OutboxEvent for SessionEvent {
    fn cost(&self) -> usize {
        match self {
            Self::Deliver(d) => d.message.body.len() + EVENT_OVERHEAD,
            Self::Cancelled(_) => EVENT_OVERHEAD,
        }
    }
}

/// The sink every consumer of one session delivers to.
#[derive(Debug)]
pub struct SessionSink(pub Arc<Outbox<SessionEvent>>);

impl DeliverySink for SessionSink {
    fn deliver(&self, delivery: Delivery) {
        self.0.push(SessionEvent::Deliver(delivery));
    }

    fn deliver_all(&self, deliveries: Vec<Delivery>) {
        self.0
            .push_all(deliveries.into_iter().map(SessionEvent::Deliver));
    }

    fn has_room(&self) -> bool {
        self.0.room_for_queue()
    }

    fn cancelled(&self, tag: &ConsumerTag) {
        self.0.push(SessionEvent::Cancelled(tag.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wake::CountingWake;

    struct Event(usize);

    impl OutboxEvent for Event {
        fn cost(&self) -> usize {
            self.0
        }
    }

    fn outbox(limit: usize) -> Outbox<Event> {
        Outbox::new(limit, Arc::new(CountingWake::default()))
    }

    #[test]
    fn take_up_to_takes_by_cost_and_always_one() {
        let out = outbox(1000);
        for cost in [10, 20, 30, 500] {
            out.push(Event(cost));
        }
        let mut taken = VecDeque::new();
        out.take_up_to(25, &mut taken);
        let costs: Vec<usize> = taken.iter().map(|e| e.0).collect();
        assert_eq!(costs, [10, 20], "stops once the budget is reached");
        taken.clear();
        out.take_up_to(0, &mut taken);
        assert_eq!(taken.len(), 1, "a zero budget still takes one");
        out.take_up_to(1, &mut taken);
        assert_eq!(taken.iter().map(|e| e.0).collect::<Vec<_>>(), [30, 500]);
        assert!(out.is_empty());
        assert!(out.has_room());
    }

    #[test]
    fn push_all_queues_in_order_and_wakes_once_when_empty() {
        let wakes = Arc::new(CountingWake::default());
        let out: Outbox<Event> = Outbox::new(1000, wakes.clone());
        out.push_all([Event(1), Event(2), Event(3)]);
        out.push_all([Event(4)]);
        out.push_all(std::iter::empty());
        assert_eq!(wakes.count(), 1, "only the first found it empty");
        let order: Vec<usize> = std::iter::from_fn(|| out.pop()).map(|e| e.0).collect();
        assert_eq!(order, [1, 2, 3, 4]);
        out.push_all(std::iter::empty());
        assert_eq!(wakes.count(), 1, "nothing pushed, nobody woken");
    }

    #[test]
    fn queues_are_refused_once_a_batch_waits_and_the_refusal_is_remembered() {
        let out = outbox(4 * crate::OUTPUT_BATCH);
        out.push(Event(crate::OUTPUT_BATCH - 1));
        assert!(out.room_for_queue());
        assert!(!out.take_refused());
        out.push(Event(1));
        assert!(!out.room_for_queue(), "a batch waits");
        assert!(out.has_room(), "the outbox itself is far from its limit");
        assert!(out.take_refused());
        assert!(!out.take_refused(), "told once");
        let small = outbox(100);
        small.push(Event(100));
        assert!(!small.room_for_queue(), "a limit below a batch bounds it");
    }

    #[test]
    fn the_first_refusal_wakes_the_session() {
        let wakes = Arc::new(CountingWake::default());
        let out: Outbox<Event> = Outbox::new(crate::OUTPUT_BATCH, wakes.clone());
        out.push(Event(crate::OUTPUT_BATCH));
        assert_eq!(wakes.count(), 1, "the push into an empty outbox");
        assert!(!out.room_for_queue());
        assert!(!out.room_for_queue());
        assert_eq!(
            wakes.count(),
            2,
            "once for the refusals, until they are taken"
        );
        assert!(out.take_refused());
        assert!(!out.room_for_queue());
        assert_eq!(wakes.count(), 3);
    }

    #[test]
    fn put_back_restores_order_and_room() {
        let out = outbox(100);
        for cost in [40, 40, 40] {
            out.push(Event(cost));
        }
        assert!(!out.has_room());
        let mut taken = VecDeque::new();
        out.take_up_to(100, &mut taken);
        assert_eq!(taken.len(), 3);
        assert!(out.has_room());
        taken.pop_front();
        out.push(Event(7));
        out.put_back(taken);
        let order: Vec<usize> = std::iter::from_fn(|| out.pop()).map(|e| e.0).collect();
        assert_eq!(order, [40, 40, 7]);
        assert!(out.has_room());
    }
}
