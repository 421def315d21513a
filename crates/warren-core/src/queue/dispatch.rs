//! Moving ready messages to consumers.
//!
//! Sinks are called with no lock held, yet a consumer must see a queue's messages in order.
//! So at most one thread dispatches a queue at a time: a thread that finds a dispatcher
//! running sets `redo` and returns, and the running one goes round again before it stops.
//! No thread ever waits for another, so a sink that blocks or calls back into the core
//! cannot deadlock a queue. Each round hands out at most `BATCH` messages, checking
//! `has_room` between rounds (never under the lock).

use warren_model::{ConsumerId, DeliverySink, QueueHandle};

use std::sync::Arc;
use std::time::Instant;

use super::state::{Outgoing, QueueState};
use super::{died, Queue};
use crate::deadletter::DeathReason;

/// The consumers a dispatch round may give messages to, and their sinks.
pub(crate) type Candidates = Vec<(ConsumerId, Arc<dyn DeliverySink>)>;

impl QueueState {
    /// Claims the dispatcher role, or leaves the running dispatcher a note to go round again.
    /// The winner gets the first round's candidates from the same lock.
    pub fn begin_dispatch(&mut self) -> Option<Candidates> {
        if self.dispatching {
            self.redo = true;
            return None;
        }
        self.dispatching = true;
        Some(self.candidates())
    }

    /// After a round: the next round's candidates, or `None` when the dispatcher stops (the
    /// round was not full and no work arrived meanwhile).
    pub fn next_round(&mut self, full: bool) -> Option<Candidates> {
        if !full && !self.redo {
            self.dispatching = false;
            return None;
        }
        Some(self.candidates())
    }

    /// The consumers that could take a message, with their sinks (asked for room once the
    /// lock is released); none when nothing is ready.
    fn candidates(&mut self) -> Candidates {
        self.redo = false;
        if !self.has_ready() {
            return Vec::new();
        }
        let open = self.consumers.iter().filter(|c| c.may_take());
        open.map(|c| (c.id, Arc::clone(&c.sink))).collect()
    }
}

/// Clears `dispatching` if a sink panics mid-round, so the queue is not left stalled.
struct ResetOnPanic<'a>(&'a Queue);

impl Drop for ResetOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.state().dispatching = false;
        }
    }
}

/// Deliveries per round, between two looks at the sinks' room.
const BATCH: usize = 64;

/// Sorted ids of the candidates whose sinks have room (asked with no lock held).
fn with_room(candidates: Candidates) -> Vec<ConsumerId> {
    let mut allowed: Vec<ConsumerId> = candidates
        .into_iter()
        .filter(|(_, sink)| sink.has_room())
        .map(|(id, _)| id)
        .collect();
    allowed.sort_unstable();
    allowed
}

/// Gives each sink its deliveries of the round, a run of one sink at a time (in order, so
/// each consumer still sees the queue's order). Each run's list is sized before it is filled.
fn hand_over(batch: Vec<Outgoing>) {
    let mut batch = batch.into_iter();
    while let Some((sink, first)) = batch.next() {
        let same_sink = |(next, _): &&Outgoing| Arc::ptr_eq(next, &sink);
        let more = batch.as_slice().iter().take_while(same_sink).count();
        let mut run = Vec::with_capacity(1 + more);
        run.push(first);
        run.extend(batch.by_ref().take(more).map(|(_, delivery)| delivery));
        sink.deliver_all(run);
    }
}

impl Queue {
    /// Hands out what can be handed out now.
    pub(crate) fn dispatch(&self) {
        let first = self.state().begin_dispatch();
        if let Some(candidates) = first {
            self.run_dispatch(candidates);
        }
    }

    /// The dispatch loop, entered by the thread that won `begin_dispatch` with the first
    /// round's candidates. One lock per round besides the batch's own: the end of a round
    /// and the start of the next are one look at the state.
    pub(super) fn run_dispatch(&self, first: Candidates) {
        let _reset = ResetOnPanic(self);
        let handle = self.handle();
        let mut candidates = first;
        loop {
            let allowed = with_room(candidates);
            let batch = match &handle {
                Some(h) if !allowed.is_empty() => self.take_batch(&allowed, h),
                _ => Vec::new(),
            };
            let full = batch.len() >= BATCH;
            hand_over(batch);
            let (next, open) = {
                let mut state = self.state();
                match state.next_round(full) {
                    Some(next) => (Some(next), false),
                    None => (None, self.may_open_after_dispatch(&mut state)),
                }
            };
            match next {
                Some(next) => candidates = next,
                None => {
                    if open {
                        self.open_valve();
                    }
                    return;
                }
            }
        }
    }

    /// Up to `BATCH` deliveries; expired messages met on the way are dead-lettered once the
    /// lock is released.
    fn take_batch(&self, allowed: &[ConsumerId], handle: &Arc<dyn QueueHandle>) -> Vec<Outgoing> {
        // Read once, and only when a message has a deadline.
        let mut now = None;
        let mut dead = Vec::new();
        let mut out = Vec::new();
        {
            let mut state = self.state();
            // Sized at once: grown one delivery at a time, a full round was copied five times.
            out.reserve(state.ready_len().min(BATCH));
            while out.len() < BATCH {
                let Some((key, entry)) = state.pop_first() else {
                    break;
                };
                if entry.deadline.is_some() && entry.expired(*now.get_or_insert_with(Instant::now))
                {
                    dead.extend(died(entry, DeathReason::Expired));
                    continue;
                }
                let Some(at) = state.next_consumer(allowed) else {
                    state.insert(key, entry);
                    break;
                };
                // A paged-out message is read back here, under the lock: one positional read.
                let Some(message) = entry.loaded() else {
                    state.return_credit(at);
                    continue;
                };
                let delivery = self.delivery_for(handle, key.seq, &entry, message);
                out.extend(state.hand_out(at, key, entry, delivery));
            }
        }
        self.dead_letter(dead);
        out
    }
}
