//! Topic matching and routing in the core: a topic table with many bindings, and whole
//! publishes through a vhost into queues (consumed by a sink that settles at once).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use warren_core::exchange::Topic;
use warren_core::{Binding, Core, CoreConfig, ExchangeType};
use warren_model::{
    Annotations, BindingSpec, ConnectionId, ConsumeSpec, ConsumerTag, Delivery, DeliverySink,
    Destination, ExchangeName, FieldTable, Message, Properties, QueueName, QueueSpec, RoutingKey,
    Settlement, VHost, VHostName,
};

const OWNER: ConnectionId = ConnectionId(1);

fn key(s: &str) -> RoutingKey {
    RoutingKey::try_from(s).expect("valid key")
}

fn queue(s: &str) -> QueueName {
    QueueName::try_from(s).expect("valid queue name")
}

/// A topic table of `n` sensors (`sensors.<i>.temp`) plus a few wildcard bindings.
fn topic_table(n: usize) -> Box<dyn warren_core::BindingTable> {
    let mut table = Topic.new_table();
    let bind = |table: &mut Box<dyn warren_core::BindingTable>, q: String, k: &str| {
        table.add(Binding {
            destination: Destination::Queue(queue(&q)),
            key: key(k),
            arguments: FieldTable::new(),
        });
    };
    for i in 0..n {
        bind(&mut table, format!("q{i}"), &format!("sensors.{i}.temp"));
    }
    bind(&mut table, "all".into(), "sensors.#");
    bind(&mut table, "temps".into(), "sensors.*.temp");
    bind(&mut table, "other".into(), "alerts.#");
    table
}

fn topic_matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_match");
    group.throughput(Throughput::Elements(1));
    for n in [10, 10_000] {
        let table = topic_table(n);
        let hit = key(&format!("sensors.{}.temp", n / 2));
        let miss = key("logs.app.error");
        let mut out = Vec::with_capacity(8);
        group.bench_function(format!("{n}_bindings_hit"), |b| {
            b.iter(|| {
                out.clear();
                table.route(&hit, None, &mut out);
                out.len()
            });
        });
        group.bench_function(format!("{n}_bindings_miss"), |b| {
            b.iter(|| {
                out.clear();
                table.route(&miss, None, &mut out);
                out.len()
            });
        });
    }
    group.finish();
}

/// Settles every delivery at once, as a no-ack consumer would.
struct Settler;

impl DeliverySink for Settler {
    fn deliver(&self, delivery: Delivery) {
        delivery.queue.settle(&[delivery.seq], Settlement::Ack);
    }
    fn has_room(&self) -> bool {
        true
    }
    fn cancelled(&self, _: &ConsumerTag) {}
}

fn vhost_with_queues(queues: usize, bind_topic: bool) -> Arc<dyn VHost> {
    let core = Core::new(CoreConfig::default());
    let vhost = core
        .vhost_by_name(&VHostName::try_from("/").expect("vhost"))
        .expect("default vhost");
    for i in 0..queues {
        let name = queue(&format!("q{i}"));
        let spec = QueueSpec {
            name: Some(name.clone()),
            durable: false,
            exclusive: false,
            auto_delete: false,
            arguments: FieldTable::new(),
        };
        vhost.declare_queue(spec, false, OWNER).expect("declare");
        if bind_topic {
            let binding = BindingSpec {
                source: ExchangeName::try_from("amq.topic").expect("amq.topic"),
                destination: Destination::Queue(name.clone()),
                routing_key: key("bench.t"),
                arguments: FieldTable::new(),
            };
            vhost.bind(binding, OWNER).expect("bind");
        }
        let consume = ConsumeSpec {
            tag: ConsumerTag::try_from(format!("c{i}").as_str()).expect("tag"),
            no_ack: false,
            exclusive: false,
            prefetch: 0,
            shared_credit: None,
            arguments: FieldTable::new(),
        };
        vhost
            .consume(&name, consume, Arc::new(Settler), OWNER)
            .expect("consume");
    }
    vhost
}

fn message(exchange: &str, routing_key: &str) -> Arc<Message> {
    Arc::new(Message {
        annotations: Annotations {
            exchange: ExchangeName::try_from(exchange).expect("exchange"),
            routing_key: key(routing_key),
            publisher: None,
        },
        properties: Properties::default(),
        body: Bytes::from_static(&[7u8; 16]),
    })
}

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish");
    group.throughput(Throughput::Elements(1));
    let direct = vhost_with_queues(1, false);
    let default_exchange = ExchangeName::default_exchange();
    group.bench_function("default_exchange_to_consumer", |b| {
        b.iter_batched(
            || message("", "q0"),
            |m| direct.publish(&default_exchange, m).expect("routed"),
            BatchSize::SmallInput,
        );
    });
    let fanout = vhost_with_queues(10, true);
    let topic = ExchangeName::try_from("amq.topic").expect("amq.topic");
    group.bench_function("topic_fanout_to_10_consumers", |b| {
        b.iter_batched(
            || message("amq.topic", "bench.t"),
            |m| fanout.publish(&topic, m).expect("routed"),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, topic_matching, publish);
criterion_main!(benches);
