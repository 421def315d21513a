//! Publishers and settlers on several threads: nothing lost, nothing duplicated, and each
//! consumer sees every publisher's messages in publish order.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use warren_model::Settlement;

const PUBLISHERS: usize = 4;
const EACH: usize = 500;

#[test]
fn concurrent_publish_and_settle_keep_order_and_count() {
    let v = vhost();
    declare_queue(&*v, "q");
    let sinks = [Sink::new(), Sink::new()];
    for (i, sink) in sinks.iter().enumerate() {
        v.consume(
            &q("q"),
            consume_spec(&format!("c{i}"), 10),
            sink.clone(),
            C1,
        )
        .unwrap();
    }
    let mut seen: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    std::thread::scope(|s| {
        for p in 0..PUBLISHERS {
            let v = &v;
            s.spawn(move || (0..EACH).for_each(|i| send(&**v, "q", &format!("{p}:{i}"))));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.iter().map(Vec::len).sum::<usize>() < PUBLISHERS * EACH {
            assert!(Instant::now() < deadline, "messages stalled");
            for (sink, got) in sinks.iter().zip(seen.iter_mut()) {
                for d in sink.take() {
                    got.push(body(&d));
                    d.queue.settle(&[d.seq], Settlement::Ack);
                }
            }
            std::thread::yield_now();
        }
    });
    for got in &seen {
        let mut last: HashMap<&str, usize> = HashMap::new();
        for m in got {
            let (p, i) = m.split_once(':').unwrap();
            let i: usize = i.parse().unwrap();
            if let Some(prev) = last.insert(p, i) {
                assert!(prev < i, "publisher {p}: {i} after {prev}");
            }
        }
    }
    let mut all: Vec<&String> = seen.iter().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), PUBLISHERS * EACH);
}
