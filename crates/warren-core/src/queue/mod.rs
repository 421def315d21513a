//! Queues: ready messages in seq order, unacked messages by seq, consumers served
//! round-robin within their credit.
//!
//! Invariants: the state mutex is held only for bookkeeping, never while a sink is called
//! or another lock is taken; a deleted queue accepts nothing and hands nothing out, but
//! still takes settlements so shared credit flows back to its pools.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use warren_model::{
    ConnectionId, ConsumeSpec, ConsumerId, ConsumerTag, CoreError, Delivery, DeliverySink,
    FieldTable, Message, QueueHandle, QueueName, QueueSeq, Settlement, VHostName,
};

mod dispatch;
mod state;

use state::{Consumer, QueueState, Unacked};

use crate::sync::{count, lock};
use crate::text;

/// A queue's declared properties.
#[derive(Clone, Debug)]
pub(crate) struct QueueDef {
    pub durable: bool,
    /// The owning connection of an exclusive queue.
    pub exclusive: Option<ConnectionId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

/// What a queue tells its vhost.
pub(crate) trait QueueEvents: Send + Sync {
    /// An auto-delete queue lost its last consumer.
    fn unused(&self, queue: &Arc<Queue>);
}

/// A consumer the core cancelled, to be told once no lock is held.
pub(crate) struct Cancelled {
    sink: Arc<dyn DeliverySink>,
    tag: ConsumerTag,
}

impl Cancelled {
    pub fn notify(self) {
        self.sink.cancelled(&self.tag);
    }
}

/// One queue.
pub(crate) struct Queue {
    name: QueueName,
    pub def: QueueDef,
    state: Mutex<QueueState>,
    me: Weak<Queue>,
    events: Weak<dyn QueueEvents>,
}

impl Queue {
    pub fn new(name: QueueName, def: QueueDef, events: Weak<dyn QueueEvents>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            name,
            def,
            state: Mutex::default(),
            me: me.clone(),
            events,
        })
    }

    fn state(&self) -> MutexGuard<'_, QueueState> {
        lock(&self.state)
    }

    fn handle(&self) -> Option<Arc<dyn QueueHandle>> {
        let me: Arc<dyn QueueHandle> = self.me.upgrade()?;
        Some(me)
    }

    /// True when `conn` may use it: it is not exclusive, or exclusive to `conn`.
    pub fn usable_by(&self, conn: ConnectionId) -> bool {
        self.def.exclusive.is_none_or(|owner| owner == conn)
    }

    /// Adds a message; false when the queue was deleted meanwhile.
    pub fn enqueue(&self, message: Arc<Message>) -> bool {
        let start = {
            let mut state = self.state();
            if state.deleted {
                return false;
            }
            state.push(message);
            // Without consumers there is nobody to dispatch to; `consume` dispatches.
            !state.consumers.is_empty() && state.begin_dispatch()
        };
        if start {
            self.run_dispatch();
        }
        true
    }

    /// Registers a consumer, refusing exclusive clashes (403, as RabbitMQ).
    pub fn add_consumer(
        &self,
        id: ConsumerId,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        vhost: &VHostName,
    ) -> Result<(), CoreError> {
        {
            let mut state = self.state();
            if state.deleted {
                return Err(text::no_queue(&self.name, vhost));
            }
            if state.has_exclusive_consumer() || (spec.exclusive && !state.consumers.is_empty()) {
                let name = &self.name;
                let msg = format!("queue '{name}' in vhost '{vhost}' in exclusive use");
                return Err(CoreError::access_refused(msg));
            }
            state.consumers.push(consumer(id, spec, sink));
        }
        self.dispatch();
        Ok(())
    }

    /// basic.get: the first ready message, and how many remain.
    pub fn get(&self, no_ack: bool) -> Option<(Delivery, u32)> {
        let queue = self.handle()?;
        let mut state = self.state();
        if state.deleted {
            return None;
        }
        let (seq, ready) = state.ready.pop_first()?;
        if !no_ack {
            let message = Arc::clone(&ready.message);
            state.unacked.insert(
                seq,
                Unacked {
                    message,
                    consumer: None,
                    pool: None,
                },
            );
        }
        let left = count(state.ready.len());
        let (message, redelivered) = (ready.message, ready.redelivered);
        Some((
            Delivery {
                queue,
                seq,
                message,
                redelivered,
                consumer: None,
            },
            left,
        ))
    }

    /// Drops the ready messages, returning how many.
    pub fn purge(&self) -> u32 {
        let mut state = self.state();
        let n = count(state.ready.len());
        state.ready.clear();
        n
    }

    /// Ready messages and consumers.
    pub fn counts(&self) -> (u32, u32) {
        let state = self.state();
        (count(state.ready.len()), count(state.consumers.len()))
    }

    /// Marks the queue deleted, returning its ready count and the consumers to notify.
    pub fn delete(
        &self,
        if_unused: bool,
        if_empty: bool,
        vhost: &VHostName,
    ) -> Result<(u32, Vec<Cancelled>), CoreError> {
        let mut state = self.state();
        let name = &self.name;
        if if_unused && !state.consumers.is_empty() {
            return Err(CoreError::precondition(format!(
                "queue '{name}' in vhost '{vhost}' in use"
            )));
        }
        if if_empty && !state.ready.is_empty() {
            let msg = format!("queue '{name}' in vhost '{vhost}' is not empty");
            return Err(CoreError::precondition(msg));
        }
        Ok(mark_deleted(&mut state))
    }

    /// The auto-delete path: deletes only if still without consumers.
    pub fn delete_if_unused(&self) -> bool {
        let mut state = self.state();
        if state.deleted || !state.consumers.is_empty() {
            return false;
        }
        mark_deleted(&mut state);
        true
    }
}

fn consumer(id: ConsumerId, spec: ConsumeSpec, sink: Arc<dyn DeliverySink>) -> Consumer {
    Consumer {
        id,
        tag: spec.tag,
        no_ack: spec.no_ack,
        exclusive: spec.exclusive,
        prefetch: spec.prefetch,
        in_flight: 0,
        pool: spec.shared_credit,
        sink,
    }
}

/// Unacked messages stay: their settlement still has credit to give back.
fn mark_deleted(state: &mut QueueState) -> (u32, Vec<Cancelled>) {
    state.deleted = true;
    let n = count(state.ready.len());
    state.ready.clear();
    let cancelled = state.consumers.drain(..).map(|c| Cancelled {
        sink: c.sink,
        tag: c.tag,
    });
    (n, cancelled.collect())
}

/// Where rejected messages go. Dead-lettering plugs in here; until then they are dropped.
fn discard(messages: Vec<Arc<Message>>) {
    drop(messages);
}

impl QueueHandle for Queue {
    fn name(&self) -> &QueueName {
        &self.name
    }

    fn settle(&self, seqs: &[QueueSeq], how: Settlement) {
        let mut discarded = Vec::new();
        {
            let mut state = self.state();
            for &seq in seqs {
                let Some(unacked) = state.take_unacked(seq) else {
                    continue;
                };
                match how {
                    Settlement::Ack => {}
                    Settlement::Requeue if !state.deleted => state.requeue(seq, unacked.message),
                    Settlement::Requeue => {}
                    Settlement::Discard => discarded.push(unacked.message),
                }
            }
        }
        discard(discarded);
        self.dispatch();
    }

    fn cancel(&self, consumer: ConsumerId) {
        let unused = {
            let mut state = self.state();
            if state.remove_consumer(consumer).is_none() {
                return;
            }
            self.def.auto_delete && state.consumers.is_empty() && !state.deleted
        };
        if unused {
            if let (Some(events), Some(me)) = (self.events.upgrade(), self.me.upgrade()) {
                events.unused(&me);
            }
        }
    }

    fn kick(&self) {
        self.dispatch();
    }

    fn message_count(&self) -> u32 {
        self.counts().0
    }
}
