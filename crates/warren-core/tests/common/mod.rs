//! Helpers shared by the core's tests: a recording sink, names, specs and messages.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use warren_core::{Core, CoreConfig};
use warren_model::{
    Annotations, BindingSpec, ConnectionId, ConsumeSpec, ConsumerTag, CreditPool, Delivery,
    DeliverySink, Destination, ExchangeName, ExchangeSpec, FieldTable, FieldValue, Message,
    Properties, QueueName, QueueSpec, RoutingKey, VHost, VHostName,
};

pub const C1: ConnectionId = ConnectionId(1);
pub const C2: ConnectionId = ConnectionId(2);

/// A sink that records what it is given; `room` can be closed to hold deliveries.
#[derive(Default)]
pub struct Sink {
    pub deliveries: Mutex<Vec<Delivery>>,
    pub cancelled: Mutex<Vec<ConsumerTag>>,
    full: AtomicBool,
}

impl Sink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn set_room(&self, room: bool) {
        self.full.store(!room, Ordering::SeqCst);
    }
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.deliveries.lock().unwrap())
    }
    pub fn count(&self) -> usize {
        self.deliveries.lock().unwrap().len()
    }
    /// Bodies of the recorded deliveries, taken.
    pub fn bodies(&self) -> Vec<String> {
        self.take().iter().map(body).collect()
    }
    pub fn cancelled(&self) -> Vec<String> {
        self.cancelled
            .lock()
            .unwrap()
            .iter()
            .map(|t| t.to_string())
            .collect()
    }
}

impl DeliverySink for Sink {
    fn deliver(&self, delivery: Delivery) {
        self.deliveries.lock().unwrap().push(delivery);
    }
    fn has_room(&self) -> bool {
        !self.full.load(Ordering::SeqCst)
    }
    fn cancelled(&self, tag: &ConsumerTag) {
        self.cancelled.lock().unwrap().push(tag.clone());
    }
}

pub fn body(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.message.body).into_owned()
}

pub fn vhost() -> Arc<dyn VHost> {
    let core = Core::new(CoreConfig::default());
    core.vhost_by_name(&VHostName::try_from("/").unwrap())
        .unwrap()
}

pub fn q(name: &str) -> QueueName {
    QueueName::try_from(name).unwrap()
}

pub fn x(name: &str) -> ExchangeName {
    ExchangeName::try_from(name).unwrap()
}

pub fn queue_spec(name: &str) -> QueueSpec {
    QueueSpec {
        name: Some(q(name)),
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    }
}

pub fn declare_queue(v: &dyn VHost, name: &str) {
    v.declare_queue(queue_spec(name), false, C1).unwrap();
}

pub fn exchange_spec(name: &str, kind: &str) -> ExchangeSpec {
    ExchangeSpec {
        name: x(name),
        kind: kind.into(),
        durable: false,
        auto_delete: false,
        internal: false,
        arguments: FieldTable::new(),
    }
}

pub fn declare_exchange(v: &dyn VHost, name: &str, kind: &str) {
    v.declare_exchange(exchange_spec(name, kind), false)
        .unwrap();
}

pub fn to_queue(source: &str, queue: &str, key: &str) -> BindingSpec {
    BindingSpec {
        source: x(source),
        destination: Destination::Queue(q(queue)),
        routing_key: RoutingKey::try_from(key).unwrap(),
        arguments: FieldTable::new(),
    }
}

pub fn to_exchange(source: &str, dest: &str, key: &str) -> BindingSpec {
    BindingSpec {
        destination: Destination::Exchange(x(dest)),
        ..to_queue(source, "unused", key)
    }
}

pub fn message(key: &str, body: &str) -> Arc<Message> {
    Arc::new(Message {
        annotations: Annotations {
            exchange: ExchangeName::default_exchange(),
            routing_key: RoutingKey::try_from(key).unwrap(),
            publisher: None,
        },
        properties: Properties::default(),
        body: Bytes::from(body.to_owned()),
    })
}

/// Publishes `body` to queue `queue` through the default exchange.
pub fn send(v: &dyn VHost, queue: &str, body: &str) {
    let outcome = v
        .publish(&ExchangeName::default_exchange(), message(queue, body))
        .unwrap();
    assert_eq!(outcome.queues, 1, "{queue} should exist");
}

pub fn consume_spec(tag: &str, prefetch: u32) -> ConsumeSpec {
    ConsumeSpec {
        tag: ConsumerTag::try_from(tag).unwrap(),
        no_ack: false,
        exclusive: false,
        prefetch,
        shared_credit: None::<Arc<CreditPool>>,
        arguments: FieldTable::new(),
    }
}

/// A vhost with the queue `q` and one consumer of it (tag `c`) with `prefetch`, and that
/// consumer's sink.
pub fn consumed_queue(prefetch: u32) -> (Arc<dyn VHost>, Arc<Sink>) {
    let v = vhost();
    declare_queue(&*v, "q");
    let sink = Sink::new();
    v.consume(&q("q"), consume_spec("c", prefetch), sink.clone(), C1)
        .unwrap();
    (v, sink)
}

/// The spec of queue `name` with the arguments `args`.
pub fn queue_with(name: &str, args: &[(&str, FieldValue)]) -> QueueSpec {
    let mut spec = queue_spec(name);
    for (key, value) in args {
        spec.arguments.insert(*key, value.clone());
    }
    spec
}
