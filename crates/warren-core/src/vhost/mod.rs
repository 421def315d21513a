//! A virtual host: its exchanges, queues and bindings, and the [`VHost`] operations on them.
//!
//! Locks, always taken in this order and never the other way: the topology mutex (held by
//! declare, delete, bind and unbind so checks and changes are atomic), the exchange and queue
//! maps (`RwLock`s, held for a lookup or one insert), an exchange's binding table, a queue's
//! state. Publishing never takes the topology mutex. No lock is held while a sink is called.

// Keys come from clients, so the hash is seeded; foldhash is that and cheaper than SipHash
// on the per-message path.
use foldhash::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use warren_model::{
    BindingSpec, ConnectionId, ConsumeSpec, Consumption, CoreError, Delivery, DeliverySink,
    ExchangeName, ExchangeSpec, FieldTable, Message, PublishOutcome, QueueDeclareOk, QueueName,
    QueueSpec, VHost, VHostName,
};

use crate::deadletter::DeadLetter;
use crate::durable::Durable;
use crate::exchange::{Exchange, ExchangeRegistry};
use crate::queue::backlog::Backlog;
use crate::queue::{held, DeadLetterTarget, Queue, QueueEvents};
use crate::sync::{lock, read};
use crate::text;
use crate::timer::Timers;

mod deadletters;
mod delayed;
mod durability;
mod exchanges;
mod publish;
mod queues;
mod route_memo;
mod sender_selected;
mod topology;

pub(crate) use delayed::DelayedStore;
pub use delayed::{DelayId, DelayedLog};
use route_memo::Changing;
use topology::Topology;

/// Exchanges every vhost starts with: name and type.
const PREDECLARED: &[(&str, &str)] = &[
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.topic", "topic"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
];

/// One vhost.
pub struct VHostCore {
    name: VHostName,
    registry: Arc<ExchangeRegistry>,
    consumer_ids: Arc<AtomicU64>,
    exchanges: RwLock<HashMap<ExchangeName, Arc<Exchange>>>,
    queues: RwLock<HashMap<QueueName, Arc<Queue>>>,
    /// Counts changes of the two maps above (see `route_memo`).
    maps_version: AtomicU64,
    /// This vhost among all of the process's (see `route_memo`).
    id: u64,
    topology: Mutex<Topology>,
    timers: Arc<Timers>,
    /// The broker's backlog, shared by all its queues (see `queue::backlog`).
    backlog: Arc<Backlog>,
    delayed: Arc<DelayedStore>,
    /// The store, when the broker keeps durable state.
    durable: Option<Arc<Durable>>,
    me: Weak<VHostCore>,
}

impl VHostCore {
    /// A vhost with the predeclared `amq.*` exchanges whose types `registry` knows.
    pub(crate) fn new(
        name: VHostName,
        registry: Arc<ExchangeRegistry>,
        consumer_ids: Arc<AtomicU64>,
        timers: Arc<Timers>,
        backlog: Arc<Backlog>,
        durable: Option<Arc<Durable>>,
    ) -> Arc<Self> {
        let exchanges = predeclared(&registry);
        Arc::new_cyclic(|me| Self {
            name,
            registry,
            consumer_ids,
            exchanges: RwLock::new(exchanges),
            queues: RwLock::default(),
            maps_version: AtomicU64::new(0),
            id: route_memo::unique_id(),
            topology: Mutex::default(),
            delayed: DelayedStore::new(Arc::clone(&timers), me.clone()),
            timers,
            backlog,
            durable,
            me: me.clone(),
        })
    }

    fn topology(&self) -> MutexGuard<'_, Topology> {
        lock(&self.topology)
    }

    fn exchange(&self, name: &ExchangeName) -> Option<Arc<Exchange>> {
        read(&self.exchanges).get(name).cloned()
    }

    /// The exchange map, to change: the change is counted (see `route_memo`).
    fn exchanges_mut(&self) -> Changing<'_, HashMap<ExchangeName, Arc<Exchange>>> {
        Changing::new(crate::sync::write(&self.exchanges), &self.maps_version)
    }

    /// The queue map, to change: the change is counted (see `route_memo`).
    fn queues_mut(&self) -> Changing<'_, HashMap<QueueName, Arc<Queue>>> {
        Changing::new(crate::sync::write(&self.queues), &self.maps_version)
    }

    fn queue(&self, name: &QueueName) -> Option<Arc<Queue>> {
        read(&self.queues).get(name).cloned()
    }

    /// The queue `name`, if `conn` may use it (404 when missing, 405 when locked).
    /// Messages waiting in this vhost's delayed-message exchanges.
    pub fn delayed_count(&self) -> usize {
        self.delayed.len()
    }

    /// Keeps persistent delayed messages in `log` from now on (the storage layer's seam).
    pub fn attach_delayed_log(&self, log: Arc<dyn DelayedLog>) {
        self.delayed.attach(log);
    }

    /// Puts back a delayed message `log` kept, at start.
    pub fn restore_delayed(
        &self,
        due: std::time::SystemTime,
        exchange: ExchangeName,
        message: Arc<Message>,
    ) {
        self.delayed.restore(due, exchange, message);
    }

    fn owned_queue(&self, name: &QueueName, conn: ConnectionId) -> Result<Arc<Queue>, CoreError> {
        let queue = self
            .queue(name)
            .ok_or_else(|| text::no_queue(name, &self.name))?;
        if !queue.usable_by(conn) {
            return Err(text::locked(name, &self.name));
        }
        Ok(queue)
    }
}

fn predeclared(registry: &ExchangeRegistry) -> HashMap<ExchangeName, Arc<Exchange>> {
    let mut map = HashMap::default();
    for (name, kind_name) in PREDECLARED {
        let (Ok(name), Some(kind)) = (ExchangeName::try_from(*name), registry.get(kind_name))
        else {
            continue;
        };
        let spec = ExchangeSpec {
            name: name.clone(),
            kind: (*kind_name).to_owned(),
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
        };
        map.insert(name, Arc::new(Exchange::new(spec, kind)));
    }
    map
}

impl QueueEvents for VHostCore {
    fn unused(&self, queue: &Arc<Queue>) {
        self.auto_delete_queue(queue);
    }

    fn expired(&self, queue: &Arc<Queue>) {
        self.auto_delete_queue(queue);
    }

    fn dead_letter(&self, from: &QueueName, target: &DeadLetterTarget, dead: Vec<DeadLetter>) {
        self.dead_letter_impl(from, target, dead);
    }
}

/// Every operation but a publish first brings in what this thread's publish batch holds (see
/// `queue::held`), so it sees the messages published before it.
impl VHost for VHostCore {
    fn name(&self) -> &VHostName {
        &self.name
    }

    fn declare_exchange(&self, spec: ExchangeSpec, passive: bool) -> Result<(), CoreError> {
        held::bring_in_all();
        self.declare_exchange_impl(spec, passive)
    }

    fn delete_exchange(&self, name: &ExchangeName, if_unused: bool) -> Result<(), CoreError> {
        held::bring_in_all();
        self.delete_exchange_impl(name, if_unused)
    }

    fn declare_queue(
        &self,
        spec: QueueSpec,
        passive: bool,
        owner: ConnectionId,
    ) -> Result<QueueDeclareOk, CoreError> {
        held::bring_in_all();
        self.declare_queue_impl(spec, passive, owner)
    }

    fn delete_queue(
        &self,
        name: &QueueName,
        if_unused: bool,
        if_empty: bool,
        owner: ConnectionId,
    ) -> Result<u32, CoreError> {
        held::bring_in_all();
        self.delete_queue_impl(name, if_unused, if_empty, owner)
    }

    fn purge_queue(&self, name: &QueueName, owner: ConnectionId) -> Result<u32, CoreError> {
        held::bring_in_all();
        Ok(self.owned_queue(name, owner)?.purge())
    }

    fn bind(&self, binding: BindingSpec, owner: ConnectionId) -> Result<(), CoreError> {
        held::bring_in_all();
        self.bind_impl(binding, owner)
    }

    fn unbind(&self, binding: BindingSpec, owner: ConnectionId) -> Result<(), CoreError> {
        held::bring_in_all();
        self.unbind_impl(binding, owner)
    }

    fn publish(
        &self,
        exchange: &ExchangeName,
        message: Arc<Message>,
    ) -> Result<PublishOutcome, CoreError> {
        self.publish_impl(exchange, message)
    }

    fn batch_publishes(&self) -> warren_model::PublishBatch {
        held::begin()
    }

    fn consume(
        &self,
        queue: &QueueName,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        owner: ConnectionId,
    ) -> Result<Consumption, CoreError> {
        held::bring_in_all();
        self.consume_impl(queue, spec, sink, owner)
    }

    fn get(
        &self,
        queue: &QueueName,
        no_ack: bool,
        owner: ConnectionId,
    ) -> Result<Option<(Delivery, u32)>, CoreError> {
        held::bring_in_all();
        Ok(self.owned_queue(queue, owner)?.get(no_ack))
    }

    fn connection_closed(&self, owner: ConnectionId) {
        held::bring_in_all();
        self.connection_closed_impl(owner);
    }

    fn queue_names(&self) -> Vec<QueueName> {
        read(&self.queues).keys().cloned().collect()
    }
}
