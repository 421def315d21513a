//! Store benchmarks: append throughput with group commit, and recovery time.
//!
//! `cargo bench -p warren-store --bench store -- [recovery messages]` (default 10,000,000).
//! Prints one line per case; the figures go in docs/benchmarks.md.

use std::sync::Arc;
use std::time::Instant;

use warren_store::{QueueId, Store, StoreConfig, Ticket};

fn main() {
    let messages: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    append_waiting_each(16, 2_000);
    for publishers in [1, 4, 16] {
        append_pipelined(publishers, 1024, 200_000);
    }
    append_pipelined(4, 16, 1_000_000);
    recovery(messages);
}

fn open(dir: &std::path::Path) -> Store {
    let config = StoreConfig {
        background_compaction: false,
        ..StoreConfig::default()
    };
    Store::open(dir, config).expect("open").0
}

/// One publisher that waits for every message to be durable: one fsync per message.
fn append_waiting_each(size: usize, count: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let body = vec![7u8; size];
    let started = Instant::now();
    for _ in 0..count {
        store
            .publish(&[QueueId(1)], b"", &body)
            .expect("publish")
            .1
            .wait()
            .expect("durable");
    }
    report(
        &format!("append {size} B, 1 publisher waiting for each fsync"),
        count,
        size,
        started,
    );
    store.close().expect("close");
}

/// Publishers that keep up to 1,000 messages in flight each, like confirm-mode publishers:
/// group commit lets them share fsyncs.
fn append_pipelined(publishers: u64, size: usize, count: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(tmp.path()));
    let per = count / publishers;
    let started = Instant::now();
    let threads: Vec<_> = (0..publishers)
        .map(|p| {
            let store = store.clone();
            std::thread::spawn(move || {
                let body = vec![p as u8; size];
                let mut window: Vec<Ticket> = Vec::new();
                for i in 0..per {
                    window.push(store.publish(&[QueueId(p)], b"", &body).expect("publish").1);
                    if i % 1000 == 999 {
                        if let Some(t) = window.drain(..).next_back() {
                            t.wait().expect("durable");
                        }
                    }
                }
                if let Some(t) = window.pop() {
                    t.wait().expect("durable");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("publisher");
    }
    report(
        &format!("append {size} B, {publishers} publishers, 1000 in flight each"),
        per * publishers,
        size,
        started,
    );
}

fn report(case: &str, count: u64, size: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let rate = count as f64 / secs;
    println!(
        "{case}: {count} msgs in {secs:.2} s = {rate:.0} msg/s, {:.1} MiB/s",
        rate * size as f64 / (1 << 20) as f64
    );
}

/// Writes `count` 16-byte messages to one queue, stops without a clean close, and times the
/// recovery.
fn recovery(count: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let body = [9u8; 16];
    let started = Instant::now();
    let mut last = None;
    for _ in 0..count {
        last = Some(store.publish(&[QueueId(1)], b"", &body).expect("publish").1);
    }
    if let Some(t) = last {
        t.wait().expect("durable");
    }
    let stats = store.stats();
    println!(
        "recovery setup: wrote {count} msgs ({} MiB, {} segments) in {:.1} s",
        stats.disk_bytes >> 20,
        stats.segments,
        started.elapsed().as_secs_f64()
    );
    drop(store);
    let started = Instant::now();
    let (store, recovered) = Store::open(tmp.path(), StoreConfig::default()).expect("recover");
    let wall = started.elapsed().as_secs_f64();
    let r = &recovered.report;
    println!(
        "recovery of {} msgs ({} records, {} MiB, {} segments): {:.2} s scan+rebuild, {wall:.2} s open",
        r.messages, r.records, r.bytes >> 20, r.segments, r.elapsed.as_secs_f64()
    );
    assert_eq!(r.messages, count);
    drop(recovered);
    drop(store);
}
