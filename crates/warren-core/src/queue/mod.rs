//! Queues: ready messages by priority then seq, unacked messages by seq, consumers served by
//! priority and round-robin within their credit; message TTL, queue expiry, length limits,
//! delivery limits and dead-lettering.
//!
//! Invariants: the state mutex is held only for bookkeeping, never while a sink is called or
//! a dead letter is routed (dead letters are collected under the lock and handed to the vhost
//! after it is released); a deleted queue accepts nothing and hands nothing out, but still
//! takes settlements so shared credit flows back to its pools.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use std::time::{Instant, SystemTime};
use warren_model::flow::FlowValve;

use warren_model::{
    ConnectionId, ConsumeSpec, ConsumerId, CoreError, Delivery, DeliverySink, FieldTable, Message,
    QueueHandle, QueueName, VHostName,
};
use warren_store::MessageId;

mod args;
mod arrival;
pub(crate) mod backlog;
mod cold;
mod dispatch;
mod flow;
pub(crate) mod held;
mod ready;
mod settle;
mod state;
mod timed;

pub(crate) use args::{integer, type_name, DeadLetterTarget, Overflow, QueueArgs};
pub(crate) use arrival::parse_expiration;
use state::{Consumer, QueueState, Unacked};

use crate::deadletter::{DeadLetter, DeathReason};
use crate::durable::{QueueStore, Stored};
use crate::sync::{count, lock};
use crate::text;
use crate::timer::Timers;
use backlog::{Backlog, BacklogShare};

/// A queue's declared properties.
#[derive(Clone, Debug)]
pub(crate) struct QueueDef {
    pub durable: bool,
    /// The owning connection of an exclusive queue.
    pub exclusive: Option<ConnectionId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    /// The arguments the core acts on, parsed from `arguments`.
    pub args: QueueArgs,
}

/// What a queue tells its vhost.
pub(crate) trait QueueEvents: Send + Sync {
    /// An auto-delete queue lost its last consumer.
    fn unused(&self, queue: &Arc<Queue>);
    /// A queue with `x-expires` went unused for that long.
    fn expired(&self, queue: &Arc<Queue>);
    /// Messages died in `from` and go to `target`.
    fn dead_letter(&self, from: &QueueName, target: &DeadLetterTarget, dead: Vec<DeadLetter>);
}

/// What became of a message offered to a queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Enqueued {
    /// Taken (it may still expire or be dropped later).
    Accepted,
    /// Refused by a length limit (`reject-publish`, `reject-publish-dlx`).
    Rejected,
    /// The queue was deleted meanwhile.
    Gone,
}

/// A consumer the core cancelled, to be told once no lock is held.
pub(crate) struct Cancelled {
    sink: Arc<dyn DeliverySink>,
    tag: warren_model::ConsumerTag,
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
    timers: Arc<Timers>,
    /// Set for a durable queue when the broker has a store.
    store: Option<QueueStore>,
    /// Closed while publishers outrun the consumers (see `flow.rs`).
    valve: Arc<FlowValve>,
}

impl Queue {
    pub fn new(
        name: QueueName,
        def: QueueDef,
        events: Weak<dyn QueueEvents>,
        timers: Arc<Timers>,
        backlog: Arc<Backlog>,
        store: Option<QueueStore>,
    ) -> Arc<Self> {
        let backlog = BacklogShare::new(backlog);
        let mut state = QueueState::new(def.args.single_active_consumer, backlog);
        if let Some(store) = &store {
            state.memory_budget = store.durable.queue_memory_bytes();
            let needs_entries =
                def.args.max_priority.is_some() || def.args.max_length_bytes.is_some();
            state.cold_store = (!needs_entries).then(|| store.clone());
        }
        let queue = Arc::new_cyclic(|me| Self {
            name,
            def,
            state: Mutex::new(state),
            me: me.clone(),
            events,
            timers,
            store,
            valve: Arc::default(),
        });
        queue.arm(&mut queue.state());
        queue
    }

    /// Its link to the store, when it is durable there.
    pub fn store(&self) -> Option<&QueueStore> {
        self.store.as_ref()
    }

    /// This queue's claim on stored message `id`.
    fn stored(&self, id: Option<MessageId>) -> Option<Stored> {
        let store = self.store.as_ref()?;
        Some(Stored::new(Arc::clone(&store.durable), store.id, id?))
    }

    /// Puts back a message recovered from the store, after any already there; `arrived` is
    /// when it first reached the queue, if the store recorded it.
    pub fn restore(
        &self,
        message: Arc<Message>,
        id: MessageId,
        redelivered: bool,
        arrived: Option<SystemTime>,
    ) {
        let rank = self.rank(&message);
        let mut entry = self.restored_entry(message, arrived);
        entry.stored = self.stored(Some(id));
        entry.recovered_redelivered = redelivered;
        let mut state = self.state();
        let key = state.next_key(rank);
        state.insert(key, entry);
        self.arm(&mut state);
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

    /// Registers a consumer, refusing exclusive clashes (403, as RabbitMQ).
    pub fn add_consumer(
        &self,
        id: ConsumerId,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        vhost: &VHostName,
    ) -> Result<(), CoreError> {
        let priority = self.consumer_priority(&spec.arguments, vhost)?;
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
            state.consumers.push(consumer(id, spec, priority, sink));
            state.last_used = Instant::now();
        }
        self.dispatch();
        Ok(())
    }

    /// `x-priority` on consume: an integer, 0 when absent.
    fn consumer_priority(&self, args: &FieldTable, vhost: &VHostName) -> Result<i64, CoreError> {
        let Some(value) = args.get("x-priority") else {
            return Ok(0);
        };
        args::integer(value).map_err(|why| {
            let name = &self.name;
            CoreError::precondition(format!(
                "invalid arg 'x-priority' for queue '{name}' in vhost '{vhost}': {why}"
            ))
        })
    }

    /// basic.get: the first unexpired ready message, and how many remain.
    pub fn get(&self, no_ack: bool) -> Option<(Delivery, u32)> {
        let queue = self.handle()?;
        let now = Instant::now();
        let mut dead = Vec::new();
        let got = {
            let mut state = self.state();
            state.last_used = now;
            let got = self.take_live(&mut state, now, &mut dead);
            got.map(|(key, entry, message)| {
                let delivery = self.delivery_for(&queue, key.seq, &entry, message);
                if !no_ack {
                    let unacked = Unacked {
                        key,
                        entry,
                        consumer: None,
                        pool: None,
                    };
                    state.unacked.insert(key.seq, unacked);
                }
                (delivery, count(state.ready_len()))
            })
        };
        self.dead_letter(dead);
        got
    }

    /// The first ready message that has not expired; expired ones met on the way die.
    fn take_live(
        &self,
        state: &mut QueueState,
        now: Instant,
        dead: &mut Vec<DeadLetter>,
    ) -> Option<(state::ReadyKey, state::Entry, Arc<Message>)> {
        if state.deleted {
            return None;
        }
        while let Some((key, entry)) = state.pop_first() {
            if entry.expired(now) {
                dead.extend(died(entry, DeathReason::Expired));
            } else if let Some(message) = entry.loaded() {
                return Some((key, entry, message));
            }
        }
        None
    }

    /// Drops the ready messages, returning how many.
    pub fn purge(&self) -> u32 {
        let purged = {
            let mut state = self.state();
            let purged = count(state.clear(true));
            flow::recount_backlog(&mut state);
            purged
        };
        self.open_valve();
        purged
    }

    /// Ready messages and consumers; expired messages are gone first.
    pub fn counts(&self) -> (u32, u32) {
        self.expire_now();
        let state = self.state();
        (count(state.ready_len()), count(state.consumers.len()))
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
        if if_empty && state.has_ready() {
            let msg = format!("queue '{name}' in vhost '{vhost}' is not empty");
            return Err(CoreError::precondition(msg));
        }
        let deleted = mark_deleted(&mut state);
        drop(state);
        self.open_valve();
        Ok(deleted)
    }

    /// The auto-delete and expiry path: deletes only if still without consumers.
    pub fn delete_if_unused(&self) -> bool {
        let mut state = self.state();
        if state.deleted || !state.consumers.is_empty() {
            return false;
        }
        mark_deleted(&mut state);
        drop(state);
        self.open_valve();
        true
    }

    /// Hands dead letters to the vhost, or drops them without a dead-letter exchange.
    fn dead_letter(&self, dead: Vec<DeadLetter>) {
        if dead.is_empty() {
            return;
        }
        if let (Some(target), Some(events)) = (&self.def.args.dead_letter, self.events.upgrade()) {
            events.dead_letter(&self.name, target, dead);
        }
    }
}

/// The dead letter of `entry`; `None` when it was paged out and cannot be read back.
fn died(entry: state::Entry, reason: DeathReason) -> Option<DeadLetter> {
    Some(DeadLetter {
        message: entry.loaded()?,
        reason,
    })
}

fn consumer(
    id: ConsumerId,
    spec: ConsumeSpec,
    priority: i64,
    sink: Arc<dyn DeliverySink>,
) -> Consumer {
    Consumer {
        id,
        tag: spec.tag,
        no_ack: spec.no_ack,
        exclusive: spec.exclusive,
        prefetch: spec.prefetch,
        in_flight: 0,
        priority,
        pool: spec.shared_credit,
        sink,
    }
}

/// Unacked messages stay: their settlement still has credit to give back.
fn mark_deleted(state: &mut QueueState) -> (u32, Vec<Cancelled>) {
    state.deleted = true;
    // The vhost drops a deleted queue's messages from the store in one record.
    let n = count(state.clear(false));
    flow::recount_backlog(state);
    let cancelled = state.consumers.drain(..).map(|c| Cancelled {
        sink: c.sink,
        tag: c.tag,
    });
    (n, cancelled.collect())
}
