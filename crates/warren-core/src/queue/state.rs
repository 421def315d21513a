//! A queue's mutable state, only ever touched under the queue's mutex.
//!
//! Invariants: a message is in at most one of `ready` and `unacked`, under the seq it was
//! enqueued with; `ready` iterates in seq order, so a requeued message returns to its
//! original place; every unacked message sent to a consumer holds one unit of that
//! consumer's credit and, if it had one, one of its shared pool's, both returned on
//! settlement.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use warren_model::{ConsumerId, ConsumerTag, CreditPool, DeliverySink, Message, QueueSeq};

/// A message waiting for a consumer.
pub(crate) struct Ready {
    pub message: Arc<Message>,
    pub redelivered: bool,
}

/// A message handed out and not yet settled.
pub(crate) struct Unacked {
    pub message: Arc<Message>,
    pub consumer: Option<ConsumerId>,
    /// Kept here, not looked up, so credit returns even after the consumer is cancelled.
    pub pool: Option<Arc<CreditPool>>,
}

/// A registered consumer.
pub(crate) struct Consumer {
    pub id: ConsumerId,
    pub tag: ConsumerTag,
    pub no_ack: bool,
    pub exclusive: bool,
    pub prefetch: u32,
    pub in_flight: u32,
    pub pool: Option<Arc<CreditPool>>,
    pub sink: Arc<dyn DeliverySink>,
}

impl Consumer {
    /// Takes one delivery's credit from the consumer and its pool, or none at all.
    fn try_credit(&mut self) -> bool {
        if self.no_ack {
            return true;
        }
        if self.prefetch != 0 && self.in_flight >= self.prefetch {
            return false;
        }
        if !self.pool.as_ref().is_none_or(|p| p.try_take()) {
            return false;
        }
        self.in_flight += 1;
        true
    }

    /// Could take a delivery as far as its own prefetch goes; the shared pool is left to
    /// `try_credit`, since peeking at it would race anyway.
    pub fn may_take(&self) -> bool {
        self.no_ack || self.prefetch == 0 || self.in_flight < self.prefetch
    }
}

/// Everything a queue holds.
#[derive(Default)]
pub(crate) struct QueueState {
    pub ready: BTreeMap<QueueSeq, Ready>,
    pub unacked: HashMap<QueueSeq, Unacked>,
    pub consumers: Vec<Consumer>,
    /// Where the round-robin resumes.
    cursor: usize,
    next_seq: u64,
    pub deleted: bool,
    /// A dispatcher is running; others leave it their work (see `dispatch`).
    pub dispatching: bool,
    /// Work arrived while a dispatcher ran: it must go round again.
    pub redo: bool,
}

impl QueueState {
    /// Claims the dispatcher role, or leaves the running dispatcher a note to go round again.
    pub fn begin_dispatch(&mut self) -> bool {
        if self.dispatching {
            self.redo = true;
            return false;
        }
        self.dispatching = true;
        true
    }

    pub fn push(&mut self, message: Arc<Message>) {
        let seq = QueueSeq(self.next_seq);
        self.next_seq += 1;
        let ready = Ready {
            message,
            redelivered: false,
        };
        self.ready.insert(seq, ready);
    }

    /// Takes an unacked message out, returning its credit.
    pub fn take_unacked(&mut self, seq: QueueSeq) -> Option<Unacked> {
        let unacked = self.unacked.remove(&seq)?;
        if let Some(pool) = &unacked.pool {
            pool.give_back();
        }
        let owner = unacked.consumer;
        if let Some(c) = self.consumers.iter_mut().find(|c| Some(c.id) == owner) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
        Some(unacked)
    }

    pub fn requeue(&mut self, seq: QueueSeq, message: Arc<Message>) {
        self.ready.insert(
            seq,
            Ready {
                message,
                redelivered: true,
            },
        );
    }

    /// The next consumer allowed (by `allowed`, sorted) and with credit, in round-robin
    /// order; its credit is taken.
    pub fn next_consumer(&mut self, allowed: &[ConsumerId]) -> Option<usize> {
        let n = self.consumers.len();
        for step in 0..n {
            let at = (self.cursor + step) % n;
            let c = self.consumers.get_mut(at)?;
            if allowed.binary_search(&c.id).is_ok() && c.try_credit() {
                self.cursor = (at + 1) % n;
                return Some(at);
            }
        }
        None
    }

    pub fn remove_consumer(&mut self, id: ConsumerId) -> Option<Consumer> {
        let at = self.consumers.iter().position(|c| c.id == id)?;
        if at < self.cursor {
            self.cursor -= 1;
        }
        let consumer = self.consumers.remove(at);
        if self.cursor >= self.consumers.len() {
            self.cursor = 0;
        }
        Some(consumer)
    }

    pub fn has_exclusive_consumer(&self) -> bool {
        self.consumers.iter().any(|c| c.exclusive)
    }
}

/// A delivery ready to hand to its sink once the lock is released.
pub(crate) type Outgoing = (Arc<dyn DeliverySink>, warren_model::Delivery);

impl QueueState {
    /// Gives `ready` to consumer `at` (whose credit is already taken), tracking it as
    /// unacked unless the consumer acks on send.
    pub fn hand_out(
        &mut self,
        at: usize,
        seq: QueueSeq,
        ready: Ready,
        queue: &Arc<dyn warren_model::QueueHandle>,
    ) -> Option<Outgoing> {
        let c = self.consumers.get(at)?;
        let (sink, tag, id, no_ack, pool) = (
            c.sink.clone(),
            c.tag.clone(),
            c.id,
            c.no_ack,
            c.pool.clone(),
        );
        let delivery = warren_model::Delivery {
            queue: Arc::clone(queue),
            seq,
            message: Arc::clone(&ready.message),
            redelivered: ready.redelivered,
            consumer: Some(tag),
        };
        if !no_ack {
            let unacked = Unacked {
                message: ready.message,
                consumer: Some(id),
                pool,
            };
            self.unacked.insert(seq, unacked);
        }
        Some((sink, delivery))
    }
}
