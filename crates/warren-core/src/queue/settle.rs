//! Settlement and the rest of [`QueueHandle`]: ack, requeue (counted against
//! `x-delivery-limit`), reject (dead-lettered), cancel.

use std::time::Instant;

use warren_model::{ConsumerId, QueueHandle, QueueName, QueueSeq, Settlement};

use super::state::{QueueState, Unacked};
use super::{died, Queue};
use crate::deadletter::{DeadLetter, DeathReason};

impl Queue {
    /// Puts a returned message back, or lets it die when it came back too often.
    fn requeue(&self, state: &mut QueueState, unacked: Unacked, dead: &mut Vec<DeadLetter>) {
        let Unacked { key, mut entry, .. } = unacked;
        entry.returns += 1;
        if self
            .def
            .args
            .delivery_limit
            .is_some_and(|limit| entry.returns > limit)
        {
            dead.extend(died(entry, DeathReason::DeliveryLimit));
            return;
        }
        state.insert(key, entry);
    }
}

impl QueueHandle for Queue {
    fn name(&self) -> &QueueName {
        &self.name
    }

    fn settle(&self, seqs: &[QueueSeq], how: Settlement) {
        let mut dead = Vec::new();
        // Acked messages are freed after the lock is released: the last reference to a
        // message is usually this one, and freeing it is not bookkeeping. Sized at once: a
        // batch of acks grown one push at a time was copied over and over.
        let mut done = match how {
            Settlement::Ack => Vec::with_capacity(seqs.len()),
            _ => Vec::new(),
        };
        // The dispatch the settlement allows is claimed under the same lock.
        let start = {
            let mut state = self.state();
            // A requeue gives the message back: it does not drain the queue.
            if how != Settlement::Requeue {
                state.flow.settled(seqs.len());
            }
            for &seq in seqs {
                let Some(unacked) = state.take_unacked(seq) else {
                    continue;
                };
                match how {
                    Settlement::Ack => done.push(unacked),
                    Settlement::Requeue if !state.deleted => {
                        self.requeue(&mut state, unacked, &mut dead);
                    }
                    Settlement::Requeue => {}
                    Settlement::Discard => dead.extend(died(unacked.entry, DeathReason::Rejected)),
                }
            }
            self.arm(&mut state);
            state.begin_dispatch()
        };
        drop(done);
        self.dead_letter(dead);
        if let Some(candidates) = start {
            self.run_dispatch(candidates);
        }
    }

    fn cancel(&self, consumer: ConsumerId) {
        let (unused, draining) = {
            let mut state = self.state();
            if state.remove_consumer(consumer).is_none() {
                return;
            }
            let draining = super::flow::recount_backlog(&mut state);
            if state.consumers.is_empty() {
                state.last_used = Instant::now();
                self.arm(&mut state);
            }
            let unused = self.def.auto_delete && state.consumers.is_empty() && !state.deleted;
            (unused, draining)
        };
        // Nobody drains it now, so it only buffers: its publishers go at once, not at their
        // pause's cap.
        if !draining {
            self.open_valve();
        }
        if unused {
            if let (Some(events), Some(me)) = (self.events.upgrade(), self.me.upgrade()) {
                events.unused(&me);
            }
        } else {
            // A single active consumer's successor may now take messages.
            self.dispatch();
        }
    }

    fn kick(&self) {
        self.dispatch();
    }

    fn message_count(&self) -> u32 {
        self.counts().0
    }
}
