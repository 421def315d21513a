//! The fake vhost: exchanges by kind, queues, bindings, routing, and the journal.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use warren_model::{
    BindingSpec, ConnectionId, ConsumeSpec, ConsumerId, Consumption, CoreError, Delivery,
    DeliverySink, Destination, ExchangeName, ExchangeSpec, Message, PublishOutcome, QueueDeclareOk,
    QueueHandle, QueueName, QueueSpec, VHost, VHostName,
};

use crate::calls::{topic_matches, Call, Journal};
use crate::queue::{FakeConsumer, FakeQueue};

/// A queue binding: (exchange, queue, key).
type Binding = (String, String, String);

/// The vhost `/` of the fake core.
pub struct FakeVHost {
    name: VHostName,
    exchanges: Mutex<HashMap<String, String>>,
    queues: Mutex<HashMap<String, Arc<FakeQueue>>>,
    bindings: Mutex<Vec<Binding>>,
    next_id: AtomicU64,
    journal: Journal,
    /// Connections reported closed, in order.
    pub closed: Mutex<Vec<ConnectionId>>,
}

impl Default for FakeVHost {
    fn default() -> Self {
        let exchanges = [
            ("", "direct"),
            ("amq.direct", "direct"),
            ("amq.fanout", "fanout"),
            ("amq.topic", "topic"),
        ];
        Self {
            name: VHostName::try_from("/").expect("a valid vhost name"),
            exchanges: Mutex::new(
                exchanges
                    .into_iter()
                    .map(|(n, k)| (n.to_owned(), k.to_owned()))
                    .collect(),
            ),
            queues: Mutex::default(),
            bindings: Mutex::default(),
            next_id: AtomicU64::new(1),
            journal: Journal::default(),
            closed: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn no_queue(name: &str) -> CoreError {
    CoreError::not_found(format!("no queue '{name}' in vhost '/'"))
}

fn no_exchange(name: &str) -> CoreError {
    CoreError::not_found(format!("no exchange '{name}' in vhost '/'"))
}

impl FakeVHost {
    /// The queue named `name`, if it exists.
    pub fn queue(&self, name: &str) -> Option<Arc<FakeQueue>> {
        lock(&self.queues).get(name).cloned()
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.journal.snapshot()
    }

    /// Forgets the calls made so far (to assert on what follows).
    pub fn clear_calls(&self) {
        self.journal.clear();
    }

    /// The publishes made so far: (exchange, routing key, message).
    pub fn publishes(&self) -> Vec<(String, String, Arc<Message>)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Publish {
                    exchange,
                    key,
                    message,
                    ..
                } => Some((exchange, key, message)),
                _ => None,
            })
            .collect()
    }

    /// The bindings now: (exchange, queue, key), in the order they were made.
    pub fn bindings(&self) -> Vec<(String, String, String)> {
        lock(&self.bindings).clone()
    }

    fn route(&self, exchange: &str, kind: &str, key: &str) -> Vec<Arc<FakeQueue>> {
        if exchange.is_empty() {
            return self.queue(key).into_iter().collect();
        }
        let names: BTreeSet<String> = lock(&self.bindings)
            .iter()
            .filter(|(e, _, k)| {
                e == exchange
                    && match kind {
                        "topic" => topic_matches(k, key),
                        "fanout" => true,
                        _ => k == key,
                    }
            })
            .map(|(_, q, _)| q.clone())
            .collect();
        names.iter().filter_map(|q| self.queue(q)).collect()
    }

    fn remove_queue(&self, name: &str) -> Option<Arc<FakeQueue>> {
        let q = lock(&self.queues).remove(name)?;
        lock(&self.bindings).retain(|(_, queue, _)| queue != name);
        let consumers: Vec<_> = q.lock().consumers.drain(..).collect();
        for c in consumers {
            c.sink.cancelled(&c.tag);
        }
        Some(q)
    }

    fn queue_binding(b: &BindingSpec) -> Option<Binding> {
        match &b.destination {
            Destination::Queue(q) => Some((
                b.source.to_string(),
                q.to_string(),
                b.routing_key.to_string(),
            )),
            Destination::Exchange(_) => None,
        }
    }
}

impl VHost for FakeVHost {
    fn name(&self) -> &VHostName {
        &self.name
    }

    fn declare_exchange(&self, spec: ExchangeSpec, passive: bool) -> Result<(), CoreError> {
        let name = spec.name.as_str().to_owned();
        self.journal.record(Call::DeclareExchange {
            name: name.clone(),
            kind: spec.kind.clone(),
            passive,
        });
        let mut ex = lock(&self.exchanges);
        if passive && !ex.contains_key(&name) {
            return Err(no_exchange(&name));
        }
        ex.entry(name).or_insert(spec.kind);
        Ok(())
    }

    fn delete_exchange(&self, name: &ExchangeName, _if_unused: bool) -> Result<(), CoreError> {
        self.journal.record(Call::DeleteExchange {
            name: name.to_string(),
        });
        lock(&self.exchanges).remove(name.as_str());
        lock(&self.bindings).retain(|(e, _, _)| e != name.as_str());
        Ok(())
    }

    fn declare_queue(
        &self,
        spec: QueueSpec,
        passive: bool,
        owner: ConnectionId,
    ) -> Result<QueueDeclareOk, CoreError> {
        let asked = spec.name.as_ref().map_or("", |n| n.as_str()).to_owned();
        self.journal.record(Call::DeclareQueue {
            name: asked.clone(),
            durable: spec.durable,
            exclusive: spec.exclusive,
            auto_delete: spec.auto_delete,
            passive,
            owner,
        });
        let name = match spec.name {
            Some(n) => n,
            None => {
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                QueueName::try_from(format!("amq.gen-{n}"))?
            }
        };
        let mut queues = lock(&self.queues);
        if passive && !queues.contains_key(name.as_str()) {
            return Err(no_queue(name.as_str()));
        }
        let q = queues
            .entry(name.to_string())
            .or_insert_with(|| {
                let owner = spec.exclusive.then_some(owner);
                FakeQueue::new(name.clone(), spec.durable, owner, self.journal.clone())
            })
            .clone();
        drop(queues);
        Ok(QueueDeclareOk {
            name,
            message_count: q.message_count(),
            consumer_count: q.consumer_count() as u32,
        })
    }

    fn delete_queue(
        &self,
        name: &QueueName,
        _if_unused: bool,
        _if_empty: bool,
        owner: ConnectionId,
    ) -> Result<u32, CoreError> {
        self.journal.record(Call::DeleteQueue {
            name: name.to_string(),
            owner,
        });
        let q = self
            .remove_queue(name.as_str())
            .ok_or_else(|| no_queue(name.as_str()))?;
        Ok(q.message_count())
    }

    fn purge_queue(&self, name: &QueueName, _owner: ConnectionId) -> Result<u32, CoreError> {
        self.journal.record(Call::PurgeQueue {
            name: name.to_string(),
        });
        let q = self
            .queue(name.as_str())
            .ok_or_else(|| no_queue(name.as_str()))?;
        let mut inner = q.lock();
        let n = inner.ready.len() as u32;
        inner.ready.clear();
        Ok(n)
    }

    fn bind(&self, b: BindingSpec, _owner: ConnectionId) -> Result<(), CoreError> {
        let Some(binding) = Self::queue_binding(&b) else {
            return Err(CoreError::not_implemented(
                "exchange-to-exchange bindings in the fake core",
            ));
        };
        self.journal.record(Call::Bind {
            source: binding.0.clone(),
            queue: binding.1.clone(),
            key: binding.2.clone(),
        });
        self.queue(&binding.1).ok_or_else(|| no_queue(&binding.1))?;
        let mut bindings = lock(&self.bindings);
        if !bindings.contains(&binding) {
            bindings.push(binding);
        }
        Ok(())
    }

    fn unbind(&self, b: BindingSpec, _owner: ConnectionId) -> Result<(), CoreError> {
        let Some(binding) = Self::queue_binding(&b) else {
            return Ok(());
        };
        self.journal.record(Call::Unbind {
            source: binding.0.clone(),
            queue: binding.1.clone(),
            key: binding.2.clone(),
        });
        lock(&self.bindings).retain(|x| *x != binding);
        Ok(())
    }

    fn publish(
        &self,
        exchange: &ExchangeName,
        message: Arc<Message>,
    ) -> Result<PublishOutcome, CoreError> {
        let key = message.annotations.routing_key.to_string();
        let kind = lock(&self.exchanges).get(exchange.as_str()).cloned();
        let targets = match &kind {
            Some(kind) => self.route(exchange.as_str(), kind, &key),
            None => Vec::new(),
        };
        self.journal.record(Call::Publish {
            exchange: exchange.to_string(),
            key,
            message: message.clone(),
            queues: targets.len(),
        });
        if kind.is_none() {
            return Err(no_exchange(exchange.as_str()));
        }
        for q in &targets {
            q.push(message.clone());
        }
        Ok(PublishOutcome {
            queues: targets.len(),
            ..Default::default()
        })
    }

    fn consume(
        &self,
        queue: &QueueName,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        _owner: ConnectionId,
    ) -> Result<Consumption, CoreError> {
        self.journal.record(Call::Consume {
            queue: queue.to_string(),
            tag: spec.tag.to_string(),
            no_ack: spec.no_ack,
            prefetch: spec.prefetch,
        });
        let q = self
            .queue(queue.as_str())
            .ok_or_else(|| no_queue(queue.as_str()))?;
        let id = ConsumerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        q.lock().consumers.push(FakeConsumer {
            id,
            tag: spec.tag,
            sink,
            no_ack: spec.no_ack,
        });
        q.dispatch();
        Ok(Consumption {
            id,
            queue: q.handle(),
        })
    }

    fn get(
        &self,
        queue: &QueueName,
        no_ack: bool,
        _owner: ConnectionId,
    ) -> Result<Option<(Delivery, u32)>, CoreError> {
        self.journal.record(Call::Get {
            queue: queue.to_string(),
            no_ack,
        });
        let q = self
            .queue(queue.as_str())
            .ok_or_else(|| no_queue(queue.as_str()))?;
        let Some((next, left)) = q.take(!no_ack) else {
            return Ok(None);
        };
        let handle: Arc<dyn QueueHandle> = q.handle();
        let delivery = Delivery {
            queue: handle,
            seq: next.seq,
            message: next.message,
            redelivered: next.redelivered,
            consumer: None,
        };
        Ok(Some((delivery, left)))
    }

    fn connection_closed(&self, owner: ConnectionId) {
        self.journal.record(Call::ConnectionClosed(owner));
        lock(&self.closed).push(owner);
        let exclusive: Vec<String> = lock(&self.queues)
            .iter()
            .filter(|(_, q)| q.exclusive_owner() == Some(owner))
            .map(|(n, _)| n.clone())
            .collect();
        for name in exclusive {
            self.remove_queue(&name);
        }
    }

    fn queue_names(&self) -> Vec<QueueName> {
        lock(&self.queues)
            .values()
            .map(|q| q.name().clone())
            .collect()
    }
}
