//! The core's time-driven machinery at a million messages: delayed messages held and released,
//! messages expiring out of a queue. A plain harness (no extra dependencies) that prints one
//! line per case; run with `cargo bench -p warren-core --bench timed [-- COUNT]`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::{delayed_exchange, expiring_queue, message, queue, ready, vhost, OWNER};
use warren_model::{
    ConsumeSpec, ConsumerTag, Delivery, DeliverySink, ExchangeName, FieldTable, FieldValue,
};

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
    let q = queue(&*v, "jobs", FieldTable::new());
    let x = delayed_exchange(&*v, &q);
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
    let (_, dead) = expiring_queue(&*v, "ttl");
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
    let done = wait_until("expiry", || ready(&*v, &dead) as usize == n);
    println!(
        "expiry: enqueued {n} with TTLs in {held:.2?} ({:.0}/s); all expired {:.1?} after the last deadline",
        n as f64 / held.as_secs_f64(),
        done.saturating_duration_since(last_due)
    );
}
