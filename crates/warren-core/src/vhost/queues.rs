//! Queue declare, delete (explicit, auto-delete, and with the owning connection), consume.
//! Deleting a queue removes its bindings, which may auto-delete exchanges, and cancels its
//! consumers; the cancellations are told after every lock is released.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use rand::Rng;
use warren_model::{
    ConnectionId, ConsumeSpec, ConsumerId, Consumption, CoreError, DeliverySink, Destination,
    QueueDeclareOk, QueueName, QueueSpec,
};

use super::{Topology, VHostCore};
use crate::queue::{Cancelled, Queue, QueueArgs, QueueDef, QueueEvents};
use crate::sync::read;
use crate::text;

/// The arguments a redeclare must repeat, RabbitMQ's `declare_args/0`; others may differ, as
/// there.
const COMPARED_QUEUE_ARGS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-single-active-consumer",
    "x-queue-type",
    "x-quorum-initial-group-size",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
    "x-delivery-limit",
];

/// The characters of server-generated names (URL-safe base64).
const NAME_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl VHostCore {
    pub(super) fn declare_queue_impl(
        &self,
        spec: QueueSpec,
        passive: bool,
        owner: ConnectionId,
    ) -> Result<QueueDeclareOk, CoreError> {
        let named = spec.name.clone().filter(|n| !n.as_str().is_empty());
        if passive {
            let Some(name) = named else {
                let msg = format!("no queue '' in vhost '{}'", self.name);
                return Err(CoreError::not_found(msg));
            };
            let queue = self.owned_queue(&name, owner)?;
            // A passive declare uses the queue too: RabbitMQ restarts its `x-expires` lease.
            queue.touch();
            return Ok(declare_ok(&queue));
        }
        let _topology = self.topology();
        let name = match named {
            Some(name) if name.as_str().starts_with("amq.") => {
                return Err(text::reserved("queue", &name))
            }
            Some(name) => name,
            None => self.fresh_name(),
        };
        let args = QueueArgs::parse(&spec.arguments, &name, &self.name)?;
        if let Some(existing) = self.queue(&name) {
            self.check_equivalent(&existing, &spec, owner)?;
            existing.touch();
            return Ok(declare_ok(&existing));
        }
        let store = self.new_queue_store(&name, &spec)?;
        let def = queue_def(&spec, owner, args);
        let (timers, backlog) = (Arc::clone(&self.timers), Arc::clone(&self.backlog));
        let queue = Queue::new(name.clone(), def, self.events(), timers, backlog, store);
        self.queues_mut().insert(name.clone(), queue);
        Ok(QueueDeclareOk {
            name,
            message_count: 0,
            consumer_count: 0,
        })
    }

    pub(super) fn events(&self) -> Weak<dyn QueueEvents> {
        self.me.clone()
    }

    /// 405 on an exclusivity mismatch, 406 on any other difference (RabbitMQ's order).
    fn check_equivalent(
        &self,
        queue: &Queue,
        spec: &QueueSpec,
        owner: ConnectionId,
    ) -> Result<(), CoreError> {
        let def = &queue.def;
        let name = queue_name(queue);
        if def.exclusive != spec.exclusive.then_some(owner) {
            return Err(text::locked(name, &self.name));
        }
        let differ = |arg: &str, got: bool, have: bool| {
            Err(text::inequivalent(
                arg, "queue", name, &self.name, &got, &have,
            ))
        };
        if def.durable != spec.durable {
            return differ("durable", spec.durable, def.durable);
        }
        if def.auto_delete != spec.auto_delete {
            return differ("auto_delete", spec.auto_delete, def.auto_delete);
        }
        let (got, have) = (&spec.arguments, &def.arguments);
        if let Some(key) = text::first_inequivalent(COMPARED_QUEUE_ARGS, got, have) {
            return Err(text::inequivalent_args(
                "queue", name, &self.name, key, got, have,
            ));
        }
        Ok(())
    }

    /// `amq.gen-` and 22 random characters, unused in this vhost.
    fn fresh_name(&self) -> QueueName {
        let mut rng = rand::rng();
        loop {
            let suffix: String = (0..22)
                .filter_map(|_| NAME_CHARS.get(rng.random_range(0..NAME_CHARS.len())))
                .map(|&b| char::from(b))
                .collect();
            let Ok(name) = QueueName::try_from(format!("amq.gen-{suffix}")) else {
                continue;
            };
            if !read(&self.queues).contains_key(&name) {
                return name;
            }
        }
    }

    pub(super) fn delete_queue_impl(
        &self,
        name: &QueueName,
        if_unused: bool,
        if_empty: bool,
        owner: ConnectionId,
    ) -> Result<u32, CoreError> {
        let (count, cancelled) = {
            let mut topology = self.topology();
            let Some(queue) = self.queue(name) else {
                return Ok(0);
            };
            if !queue.usable_by(owner) {
                return Err(text::locked(name, &self.name));
            }
            let deleted = queue.delete(if_unused, if_empty, &self.name)?;
            self.forget_queue(&mut topology, &queue);
            deleted
        };
        notify(cancelled);
        Ok(count)
    }

    pub(super) fn consume_impl(
        &self,
        name: &QueueName,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        owner: ConnectionId,
    ) -> Result<Consumption, CoreError> {
        let queue = self.owned_queue(name, owner)?;
        let id = ConsumerId(self.consumer_ids.fetch_add(1, Ordering::Relaxed));
        queue.add_consumer(id, spec, sink, &self.name)?;
        Ok(Consumption { id, queue })
    }

    pub(super) fn connection_closed_impl(&self, owner: ConnectionId) {
        let mut cancelled = Vec::new();
        {
            let mut topology = self.topology();
            let owned: Vec<Arc<Queue>> = read(&self.queues)
                .values()
                .filter(|q| q.def.exclusive == Some(owner))
                .cloned()
                .collect();
            for queue in owned {
                if let Ok((_, gone)) = queue.delete(false, false, &self.name) {
                    cancelled.extend(gone);
                }
                self.forget_queue(&mut topology, &queue);
            }
        }
        notify(cancelled);
    }

    /// An auto-delete queue lost its last consumer: delete it unless one came back.
    pub(super) fn auto_delete_queue(&self, queue: &Arc<Queue>) {
        let mut topology = self.topology();
        let current = self
            .queue(queue_name(queue))
            .is_some_and(|q| Arc::ptr_eq(&q, queue));
        if current && queue.delete_if_unused() {
            self.forget_queue(&mut topology, queue);
        }
    }

    /// Takes a deleted queue out of the map and out of every binding.
    fn forget_queue(&self, topology: &mut Topology, queue: &Arc<Queue>) {
        let name = queue_name(queue).clone();
        {
            let mut map = self.queues_mut();
            if map.get(&name).is_some_and(|q| Arc::ptr_eq(q, queue)) {
                map.remove(&name);
                self.forget_queue_store(queue);
            }
        }
        let mut doomed = Vec::new();
        self.unbind_destination(topology, &Destination::Queue(name), &mut doomed);
        self.remove_exchanges(topology, doomed);
    }
}

fn queue_name(queue: &Queue) -> &QueueName {
    warren_model::QueueHandle::name(queue)
}

pub(super) fn queue_def(spec: &QueueSpec, owner: ConnectionId, args: QueueArgs) -> QueueDef {
    QueueDef {
        args,
        durable: spec.durable,
        exclusive: spec.exclusive.then_some(owner),
        auto_delete: spec.auto_delete,
        arguments: spec.arguments.clone(),
    }
}

fn declare_ok(queue: &Queue) -> QueueDeclareOk {
    let (message_count, consumer_count) = queue.counts();
    QueueDeclareOk {
        name: queue_name(queue).clone(),
        message_count,
        consumer_count,
    }
}

fn notify(cancelled: Vec<Cancelled>) {
    for c in cancelled {
        c.notify();
    }
}
