//! The MQTT factory over the fake core of `warren-fake-core`, and helpers to drive that core
//! and read its journal.

use std::sync::Arc;

use bytes::Bytes;
use warren_fake_core::{Call, FakeBroker, FakeQueue, FakeVHost};
use warren_model::{
    Annotations, BindingSpec, Broker, ConnectionId, DeliveryMode, Destination, ExchangeName,
    FieldTable, FieldValue, Message, Properties, QueueName, QueueSeq, QueueSpec, RoutingKey,
    Settlement, VHost,
};
use warren_mqtt::convert::H_QOS;
use warren_mqtt::{MqttConfig, MqttSessionFactory};

use super::{Client, ManualScheduler};

/// The real MQTT factory (session registry, retained store) over the fake core of
/// `warren-fake-core`, which journals what the sessions ask of it.
pub struct FakeCoreBroker {
    pub fake: Arc<FakeBroker>,
    pub factory: MqttSessionFactory,
    pub scheduler: Arc<ManualScheduler>,
}

impl FakeCoreBroker {
    pub fn new() -> Self {
        let fake = FakeBroker::new();
        let scheduler = Arc::new(ManualScheduler::default());
        let broker: Arc<dyn Broker> = fake.clone();
        let factory = MqttSessionFactory::new(broker, MqttConfig::default(), scheduler.clone());
        Self {
            fake,
            factory,
            scheduler,
        }
    }

    pub fn vhost(&self) -> &FakeVHost {
        &self.fake.vhost
    }

    pub fn client(&self) -> Client {
        Client::of(&self.factory)
    }
}

pub const EXCHANGE: &str = "amq.topic";

pub fn session_queue(client_id: &str) -> String {
    format!("mqtt-subscription-{client_id}")
}

/// A queue of the test's own, bound to `amq.topic` with `key`: what the core routed there.
pub fn watch(vhost: &FakeVHost, name: &str, key: &str) -> Arc<FakeQueue> {
    let outsider = ConnectionId(u64::MAX);
    let spec = QueueSpec {
        name: Some(QueueName::try_from(name).unwrap()),
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    vhost.declare_queue(spec, false, outsider).unwrap();
    let binding = BindingSpec {
        source: ExchangeName::try_from(EXCHANGE).unwrap(),
        destination: Destination::Queue(QueueName::try_from(name).unwrap()),
        routing_key: RoutingKey::try_from(key).unwrap(),
        arguments: FieldTable::new(),
    };
    vhost.bind(binding, outsider).unwrap();
    vhost.queue(name).unwrap()
}

/// Publishes into the core as another MQTT client would have (the publisher's QoS in its
/// header), without a session: the core then delivers to the sessions' queues. Returns how
/// many queues took it.
pub fn core_publish(vhost: &FakeVHost, key: &str, qos: u8, body: &'static [u8]) -> usize {
    let mut headers = FieldTable::new();
    headers.insert(H_QOS, FieldValue::U8(qos));
    let message = Message {
        annotations: Annotations {
            exchange: ExchangeName::try_from(EXCHANGE).unwrap(),
            routing_key: RoutingKey::try_from(key).unwrap(),
            publisher: None,
        },
        properties: Properties {
            delivery_mode: Some(if qos == 0 {
                DeliveryMode::Transient
            } else {
                DeliveryMode::Persistent
            }),
            headers: Some(headers),
            ..Properties::default()
        },
        body: Bytes::from_static(body),
    };
    let exchange = ExchangeName::try_from(EXCHANGE).unwrap();
    vhost.publish(&exchange, Arc::new(message)).unwrap().queues
}

/// Every settlement the session made, in order.
pub fn settles(vhost: &FakeVHost) -> Vec<(String, QueueSeq, Settlement)> {
    vhost
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Settle { queue, seq, how } => Some((queue, seq, how)),
            _ => None,
        })
        .collect()
}

/// The publishes that reached the core, as (exchange, key, body).
pub fn routed(vhost: &FakeVHost) -> Vec<(String, String, Bytes)> {
    vhost
        .publishes()
        .into_iter()
        .map(|(e, k, m)| (e, k, m.body.clone()))
        .collect()
}

pub fn routed_one(exchange: &str, key: &str, body: &'static [u8]) -> (String, String, Bytes) {
    (exchange.into(), key.into(), Bytes::from_static(body))
}

/// The connection that declared `queue` (the session's connection id in the core).
pub fn declared_by(vhost: &FakeVHost, queue: &str) -> ConnectionId {
    vhost
        .calls()
        .into_iter()
        .find_map(|c| match c {
            Call::DeclareQueue { name, owner, .. } if name == queue => Some(owner),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{queue} was never declared"))
}
