//! What the `timed` and `timers` benchmarks share: an in-process core whose timers run on
//! plain threads, and the vhost, queue, exchange and message set-up they both do.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use warren_core::{Core, CoreConfig};
use warren_model::{
    Annotations, BindingSpec, ConnectionId, Destination, ExchangeName, ExchangeSpec, FieldTable,
    FieldValue, Message, Properties, QueueName, QueueSpec, RoutingKey, Scheduler, TextProperties,
    VHost, VHostName,
};

pub const OWNER: ConnectionId = ConnectionId(1);

/// One thread per wake-up: the core asks for few of them.
struct ThreadScheduler;

impl Scheduler for ThreadScheduler {
    fn schedule(&self, at: Instant, task: Box<dyn FnOnce() + Send>) {
        std::thread::spawn(move || {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            task();
        });
    }
}

/// The default vhost of a fresh core.
pub fn vhost() -> Arc<dyn VHost> {
    let core = Core::with_scheduler(CoreConfig::default(), Arc::new(ThreadScheduler));
    let name = VHostName::try_from("/").expect("name");
    core.vhost_by_name(&name).expect("vhost")
}

fn queue_spec(name: &QueueName, arguments: FieldTable) -> QueueSpec {
    QueueSpec {
        name: Some(name.clone()),
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
}

/// Declares a plain queue.
pub fn queue(v: &dyn VHost, name: &str, arguments: FieldTable) -> QueueName {
    let name = QueueName::try_from(name).expect("name");
    v.declare_queue(queue_spec(&name, arguments), false, OWNER)
        .expect("declare");
    name
}

/// A queue `name` that dead-letters into a fresh queue `dead`, for expiry benchmarks: they
/// count what reached `dead`, because asking `name` itself for its count sweeps its expired
/// messages, which would measure the asking and not the timers.
pub fn expiring_queue(v: &dyn VHost, name: &str) -> (QueueName, QueueName) {
    let dead = queue(v, "dead", FieldTable::new());
    let mut arguments = FieldTable::new();
    arguments.insert("x-dead-letter-exchange", FieldValue::string(""));
    arguments.insert("x-dead-letter-routing-key", FieldValue::string("dead"));
    (queue(v, name, arguments), dead)
}

/// Messages ready in `q`.
pub fn ready(v: &dyn VHost, q: &QueueName) -> u32 {
    v.declare_queue(queue_spec(q, FieldTable::new()), true, OWNER)
        .expect("passive")
        .message_count
}

/// An `x-delayed-message` exchange `delayed` (direct underneath) bound with `k` to `q`.
pub fn delayed_exchange(v: &dyn VHost, q: &QueueName) -> ExchangeName {
    let x = ExchangeName::try_from("delayed").expect("name");
    let mut args = FieldTable::new();
    args.insert("x-delayed-type", FieldValue::string("direct"));
    let spec = ExchangeSpec {
        name: x.clone(),
        kind: "x-delayed-message".into(),
        durable: false,
        auto_delete: false,
        internal: false,
        arguments: args,
    };
    v.declare_exchange(spec, false).expect("declare");
    let binding = BindingSpec {
        source: x.clone(),
        destination: Destination::Queue(q.clone()),
        routing_key: RoutingKey::try_from("k").expect("key"),
        arguments: FieldTable::new(),
    };
    v.bind(binding, OWNER).expect("bind");
    x
}

pub fn message(
    key: &str,
    headers: Option<FieldTable>,
    expiration: Option<String>,
    body: Bytes,
) -> Arc<Message> {
    Arc::new(Message {
        annotations: Annotations {
            exchange: ExchangeName::default_exchange(),
            routing_key: RoutingKey::try_from(key).expect("key"),
            publisher: None,
        },
        properties: Properties {
            headers,
            text: TextProperties {
                expiration,
                ..Default::default()
            }
            .into(),
            ..Properties::default()
        },
        body,
    })
}
