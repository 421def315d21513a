//! What a vhost writes to the store: persistent messages reaching durable queues, and the
//! definitions of durable exchanges, queues and bindings.
//!
//! As in RabbitMQ, a queue is kept across restarts when it is durable and neither exclusive
//! nor auto-delete; a binding when its source exchange is durable and its destination is kept.
//! Definitions are written before their `-ok` is returned; deletions are not waited for (a
//! deletion lost in a crash leaves a binding or queue that the client can delete again).

use std::sync::Arc;

use warren_model::{
    BindingSpec, CoreError, Destination, DurableWrite, ExchangeSpec, Message, QueueName, QueueSpec,
};
use warren_store::MessageId;

use super::VHostCore;
use crate::durable::{meta, pending, refused, QueueStore};
use crate::exchange::{Binding, Exchange};
use crate::queue::Queue;

impl VHostCore {
    /// Writes a persistent message once for every durable queue among `targets`. Returns its
    /// id (when written) and the write the publisher's confirm must wait for.
    pub(super) fn persist(
        &self,
        targets: &[Arc<Queue>],
        message: &Message,
    ) -> Option<(Option<MessageId>, Box<dyn DurableWrite>)> {
        let durable = self.durable.as_ref()?;
        if !message.is_persistent() {
            return None;
        }
        let ids: Vec<_> = targets
            .iter()
            .filter_map(|q| q.store())
            .map(|s| s.id)
            .collect();
        if ids.is_empty() {
            return None;
        }
        match durable.publish(&ids, message) {
            Ok((id, ticket)) => Some((Some(id), pending(ticket))),
            Err(err) => Some((None, refused(err))),
        }
    }

    /// The store link of a new queue declared by `spec`: a fresh id and its definition on
    /// disk, when the queue is to survive restarts.
    pub(super) fn new_queue_store(
        &self,
        name: &QueueName,
        spec: &QueueSpec,
    ) -> Result<Option<QueueStore>, CoreError> {
        let Some(durable) = &self.durable else {
            return Ok(None);
        };
        if !spec.durable || spec.exclusive || spec.auto_delete {
            return Ok(None);
        }
        let id = durable.allocate_queue()?;
        let key = meta::name_key(&self.name, name.as_str());
        durable.put(meta::QUEUES, &key, &meta::queue_value(id, &spec.arguments))?;
        Ok(Some(QueueStore {
            durable: Arc::clone(durable),
            id,
        }))
    }

    /// A kept queue was deleted: its definition and messages go.
    pub(super) fn forget_queue_store(&self, queue: &Queue) {
        let (Some(durable), Some(store)) = (&self.durable, queue.store()) else {
            return;
        };
        let name = warren_model::QueueHandle::name(queue);
        durable.delete(meta::QUEUES, &meta::name_key(&self.name, name.as_str()));
        durable.drop_queue(store.id);
    }

    /// Writes a new durable exchange's definition.
    pub(super) fn save_exchange(&self, spec: &ExchangeSpec) -> Result<(), CoreError> {
        match &self.durable {
            Some(durable) if spec.durable => {
                let key = meta::name_key(&self.name, spec.name.as_str());
                durable.put(meta::EXCHANGES, &key, &meta::exchange_value(spec))
            }
            _ => Ok(()),
        }
    }

    /// A durable exchange was deleted.
    pub(super) fn forget_exchange(&self, exchange: &Exchange) {
        if let (Some(durable), true) = (&self.durable, exchange.durable) {
            let key = meta::name_key(&self.name, exchange.name.as_str());
            durable.delete(meta::EXCHANGES, &key);
        }
    }

    /// Writes a binding between kept ends.
    pub(super) fn save_binding(
        &self,
        source: &Exchange,
        spec: &BindingSpec,
    ) -> Result<(), CoreError> {
        match &self.durable {
            Some(durable) if source.durable && self.destination_kept(&spec.destination) => {
                durable.put(meta::BINDINGS, &meta::binding_key(&self.name, spec), &[])
            }
            _ => Ok(()),
        }
    }

    /// A binding from a durable exchange went. Its destination may already be gone, so the
    /// delete is written whenever the source is durable (deleting a missing key is harmless).
    pub(super) fn forget_binding(&self, source: &Exchange, binding: &Binding) {
        let Some(durable) = self.durable.as_ref().filter(|_| source.durable) else {
            return;
        };
        let spec = BindingSpec {
            source: source.name.clone(),
            destination: binding.destination.clone(),
            routing_key: binding.key.clone(),
            arguments: binding.arguments.clone(),
        };
        durable.delete(meta::BINDINGS, &meta::binding_key(&self.name, &spec));
    }

    fn destination_kept(&self, destination: &Destination) -> bool {
        match destination {
            Destination::Queue(q) => self.queue(q).is_some_and(|q| q.store().is_some()),
            Destination::Exchange(x) => self.exchange(x).is_some_and(|x| x.durable),
        }
    }
}

/// Putting definitions back at start, without writing them again.
impl VHostCore {
    /// A durable exchange from the store; an unknown type is skipped.
    pub(crate) fn restore_exchange(&self, spec: ExchangeSpec) -> bool {
        if self.exchange(&spec.name).is_some() {
            return true;
        }
        let Ok(kind) = self.exchange_type(&spec) else {
            return false;
        };
        let exchange = Arc::new(Exchange::new(spec, kind));
        self.exchanges_mut().insert(exchange.name.clone(), exchange);
        true
    }

    /// A durable queue from the store.
    pub(crate) fn restore_queue(
        &self,
        name: QueueName,
        spec: &QueueSpec,
        store: QueueStore,
    ) -> Result<Arc<Queue>, CoreError> {
        let args = crate::queue::QueueArgs::parse(&spec.arguments, &name, &self.name)?;
        let def = super::queues::queue_def(spec, warren_model::ConnectionId(0), args);
        let (timers, backlog) = (Arc::clone(&self.timers), Arc::clone(&self.backlog));
        let queue = Queue::new(
            name.clone(),
            def,
            self.events(),
            timers,
            backlog,
            Some(store),
        );
        self.queues_mut().insert(name, Arc::clone(&queue));
        Ok(queue)
    }

    /// A binding from the store; false when an end no longer exists.
    pub(crate) fn restore_binding(&self, spec: BindingSpec) -> bool {
        let Some(source) = self.exchange(&spec.source) else {
            return false;
        };
        let exists = match &spec.destination {
            Destination::Queue(q) => self.queue(q).is_some(),
            Destination::Exchange(x) => self.exchange(x).is_some(),
        };
        if !exists {
            return false;
        }
        let binding = Binding {
            destination: spec.destination,
            key: spec.routing_key,
            arguments: spec.arguments,
        };
        let destination = binding.destination.clone();
        if source.add(binding) {
            self.topology().added(&source.name, &destination);
        }
        true
    }
}
