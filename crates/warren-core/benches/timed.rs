//! The core's time-driven machinery at a million messages: delayed messages held and released,
//! messages expiring out of a queue. A plain harness (no extra dependencies) that prints one
//! line per case; run with `cargo bench -p warren-core --bench timed [-- COUNT]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_core::{Core, CoreConfig};
use warren_model::{
    Annotations, BindingSpec, ConnectionId, ConsumeSpec, ConsumerTag, Delivery, DeliverySink,
    Destination, ExchangeName, ExchangeSpec, FieldTable, FieldValue, Message, Properties,
    QueueName, QueueSpec, RoutingKey, Scheduler, VHost, VHostName,
};

const OWNER: ConnectionId = ConnectionId(1);

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

/// Due times are spread over this many milliseconds.
const SPREAD: u64 = 10_000;

/// Records how late each delayed message arrived, from the due time in its body.
struct LatenessSink {
    start: Instant,
    worst: std::sync::Mutex<(usize, Duration, Duration)>,
}

impl DeliverySink for LatenessSink {
    fn deliver(&self, delivery: Delivery) {
        let due_ms = std::str::from_utf8(&delivery.message.body)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let due = self.start + Duration::from_millis(due_ms);
        let late = Instant::now().saturating_duration_since(due);
        let mut w = self.worst.lock().unwrap_or_else(|e| e.into_inner());
        w.0 += 1;
        w.1 = w.1.max(late);
        w.2 += late;
    }
    fn has_room(&self) -> bool {
        true
    }
    fn cancelled(&self, _tag: &ConsumerTag) {}
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    delayed(n);
    expiring(n);
}

fn vhost() -> Arc<dyn VHost> {
    let core = Core::with_scheduler(CoreConfig::default(), Arc::new(ThreadScheduler));
    let name = VHostName::try_from("/").expect("name");
    core.vhost_by_name(&name).expect("vhost")
}

fn queue(v: &dyn VHost, name: &str, arguments: FieldTable) -> QueueName {
    let name = QueueName::try_from(name).expect("name");
    let spec = QueueSpec {
        name: Some(name.clone()),
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments,
    };
    v.declare_queue(spec, false, OWNER).expect("declare");
    name
}

fn message(
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
            expiration,
            ..Properties::default()
        },
        body,
    })
}

fn ready(v: &dyn VHost, q: &QueueName) -> u32 {
    let spec = QueueSpec {
        name: Some(q.clone()),
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    v.declare_queue(spec, true, OWNER)
        .expect("passive")
        .message_count
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(1));
    }
    Instant::now()
}

/// `n` messages with delays spread over [`SPREAD`], all due after the last is published;
/// a consumer measures how late each arrives.
fn delayed(n: usize) {
    let v = vhost();
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
    let q = queue(&*v, "jobs", FieldTable::new());
    let binding = BindingSpec {
        source: x.clone(),
        destination: Destination::Queue(q.clone()),
        routing_key: RoutingKey::try_from("k").expect("key"),
        arguments: FieldTable::new(),
    };
    v.bind(binding, OWNER).expect("bind");
    let sink = Arc::new(LatenessSink {
        start: Instant::now(),
        worst: std::sync::Mutex::default(),
    });
    let consume = ConsumeSpec {
        tag: ConsumerTag::try_from("bench").expect("tag"),
        no_ack: true,
        exclusive: false,
        prefetch: 0,
        shared_credit: None,
        arguments: FieldTable::new(),
    };
    v.consume(&q, consume, sink.clone(), OWNER)
        .expect("consume");
    let base = estimate_publish_time(n);
    let start = sink.start;
    for i in 0..n {
        let delay = base + (i as u64 * 7919) % SPREAD;
        let mut h = FieldTable::new();
        h.insert("x-delay", FieldValue::I64(delay as i64));
        let due = start.elapsed().as_millis() as u64 + delay;
        let body = Bytes::from(due.to_string());
        v.publish(&x, message("k", Some(h), None, body))
            .expect("publish");
    }
    let held = start.elapsed();
    wait_until("release", || sink.worst.lock().map_or(0, |w| w.0) == n);
    let (count, worst, total) = *sink.worst.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "delayed: held {n} in {held:.2?} ({:.0}/s); released over {SPREAD} ms, \
         lateness mean {:.1?}, max {worst:.1?}",
        n as f64 / held.as_secs_f64(),
        total / count as u32,
    );
}

/// A delay long enough that publishing `n` messages ends before the first is due.
fn estimate_publish_time(n: usize) -> u64 {
    (n as u64 / 200).max(1000)
}

/// `n` messages with per-message TTLs spread over [`SPREAD`] in one queue, out of order.
fn expiring(n: usize) {
    let v = vhost();
    let q = queue(&*v, "ttl", FieldTable::new());
    let ttl = estimate_publish_time(n) as i64;
    let start = Instant::now();
    let mut last_due = start;
    for i in 0..n {
        let ms = ttl + ((i as u64 * 7919) % SPREAD) as i64;
        last_due = last_due.max(Instant::now() + Duration::from_millis(ms as u64));
        let body = Bytes::from_static(b"0123456789abcdef");
        let m = message("ttl", None, Some(ms.to_string()), body);
        v.publish(&ExchangeName::default_exchange(), m)
            .expect("publish");
    }
    let held = start.elapsed();
    let done = wait_until("expiry", || ready(&*v, &q) == 0);
    println!(
        "expiry: enqueued {n} with TTLs in {held:.2?} ({:.0}/s); all expired {:.1?} after the last deadline",
        n as f64 / held.as_secs_f64(),
        done.saturating_duration_since(last_due)
    );
}
