//! Criterion benchmarks of the core's time-driven machinery at a million messages: holding
//! delayed messages in the delay structure, releasing them when due, and expiring per-message
//! TTLs out of a queue. `cargo bench -p warren-core --bench timers`. The `timed` harness next
//! to this one measures how late releases are; this one measures what the machinery costs.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use support::{delayed_exchange, expiring_queue, queue, ready, vhost};
use warren_model::{ExchangeName, FieldTable, FieldValue, Message, QueueName, VHost};

const N: usize = 1_000_000;

fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::yield_now();
    }
}

fn message(key: &str, headers: Option<FieldTable>, expiration: Option<String>) -> Arc<Message> {
    let body = Bytes::from_static(b"0123456789abcdef");
    support::message(key, headers, expiration, body)
}

/// A vhost with an `x-delayed-message` exchange bound to queue `jobs`.
fn delayed_setup() -> (Arc<dyn VHost>, ExchangeName, QueueName) {
    let v = vhost();
    let q = queue(&*v, "jobs", FieldTable::new());
    let x = delayed_exchange(&*v, &q);
    (v, x, q)
}

fn publish_delayed(v: &dyn VHost, x: &ExchangeName, delay_ms: impl Fn(usize) -> i64) {
    for i in 0..N {
        let mut h = FieldTable::new();
        h.insert("x-delay", FieldValue::I64(delay_ms(i)));
        v.publish(x, message("k", Some(h), None)).expect("publish");
    }
}

fn delayed(c: &mut Criterion) {
    let mut group = c.benchmark_group("delayed");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(N as u64));
    // Insertion: a million messages due in an hour or more, in scattered order.
    group.bench_function("hold_1m", |b| {
        b.iter_batched(
            delayed_setup,
            |(v, x, _q)| {
                publish_delayed(&*v, &x, |i| 3_600_000 + (i as i64 * 7919) % 600_000);
                v
            },
            BatchSize::PerIteration,
        );
    });
    // Insertion and release: a million messages due within 50 ms, until all are routed.
    group.bench_function("hold_and_release_1m", |b| {
        b.iter_batched(
            delayed_setup,
            |(v, x, q)| {
                publish_delayed(&*v, &x, |i| 1 + (i as i64 * 7919) % 50);
                wait_until(|| ready(&*v, &q) as usize == N);
                v
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn expiry(c: &mut Criterion) {
    let mut group = c.benchmark_group("expiry");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(N as u64));
    // A million per-message TTLs of 1-50 ms, out of order, until the timers have
    // dead-lettered every one.
    group.bench_function("expire_1m", |b| {
        b.iter_batched(
            || {
                let v = vhost();
                let (_, dead) = expiring_queue(&*v, "ttl");
                (v, dead)
            },
            |(v, dead)| {
                let default = ExchangeName::default_exchange();
                for i in 0..N {
                    let ttl = 1 + (i * 7919) % 50;
                    v.publish(&default, message("ttl", None, Some(ttl.to_string())))
                        .expect("publish");
                }
                wait_until(|| ready(&*v, &dead) as usize == N);
                v
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, delayed, expiry);
criterion_main!(benches);
