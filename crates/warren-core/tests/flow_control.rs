//! Flow control: a queue whose consumers cannot keep up pauses its publishers (the publish
//! outcome carries its closed valve): consumers that could take more, or that settle at
//! least a quarter as fast as messages arrive; a queue buffering for slow or absent consumers
//! never does. Many queues, each with a short backlog, pause their publishers too once the
//! sum of their backlogs is as large as one queue's mark, each queue over its fair share.

mod common;

use std::sync::Arc;

use common::*;
use warren_model::flow::FlowValve;
use warren_model::{Consumption, ExchangeName, Settlement, VHost};

/// More than any flow mark the core uses.
const PLENTY: usize = 300_000;
/// The backlog at which one queue pauses its publishers, and so does the broker as a whole.
const MARK: usize = 100_000;

/// Publishes to `queue` until an outcome carries a closed valve; how many it took, and the valve.
fn publish_until_flow(v: &dyn VHost, queue: &str) -> (usize, Option<Arc<FlowValve>>) {
    for n in 1..=PLENTY {
        let outcome = v
            .publish(&ExchangeName::default_exchange(), message(queue, "m"))
            .unwrap();
        assert_eq!(outcome.queues, 1);
        if outcome.flow.is_some() {
            return (n, outcome.flow);
        }
    }
    (PLENTY, None)
}

/// A no-ack consumer of `queue` that could take any number of messages, but whose sink has
/// no room: what a consumer connection that stopped reading looks like to the queue.
fn stalled_consumer(v: &dyn VHost, queue: &str) -> (Arc<Sink>, Consumption) {
    let sink = Sink::new();
    let mut spec = consume_spec("c", 0);
    spec.no_ack = true;
    let consumption = v.consume(&q(queue), spec, sink.clone(), C1).unwrap();
    sink.set_room(false);
    (sink, consumption)
}

#[test]
fn publishers_pause_while_a_consumer_cannot_take_delivery_and_go_once_it_drained() {
    let v = vhost();
    declare_queue(&*v, "q");
    let (sink, consumption) = stalled_consumer(&*v, "q");
    let (published, valve) = publish_until_flow(&*v, "q");
    let valve = valve.expect("the valve closed while the backlog grew");
    assert!(valve.is_closed());
    assert!(
        published > 10_000,
        "a short backlog does not pause publishers ({published})"
    );
    sink.set_room(true);
    consumption.queue.kick();
    assert!(
        !valve.is_closed(),
        "opened once the consumer took the backlog"
    );
    assert_eq!(sink.count(), published);
}

#[test]
fn a_queue_buffering_for_consumers_at_their_prefetch_limit_never_pauses_publishers() {
    let (v, _sink) = consumed_queue(1);
    let (_, valve) = publish_until_flow(&*v, "q");
    assert!(
        valve.is_none(),
        "the backlog waits for acks: that is buffering"
    );
}

#[test]
fn a_queue_without_consumers_never_pauses_publishers() {
    let v = vhost();
    declare_queue(&*v, "q");
    let (_, valve) = publish_until_flow(&*v, "q");
    assert!(valve.is_none());
}

#[test]
fn a_closed_valve_opens_as_soon_as_its_last_consumer_leaves() {
    let v = vhost();
    declare_queue(&*v, "q");
    let (_sink, consumption) = stalled_consumer(&*v, "q");
    let valve = publish_until_flow(&*v, "q").1.expect("closed");
    consumption.queue.cancel(consumption.id);
    assert!(
        !valve.is_closed(),
        "its publishers need not wait for an arrival they are paused from making"
    );
    send(&*v, "q", "after");
    assert!(
        !valve.is_closed(),
        "nobody can drain it now: the queue only buffers"
    );
}

/// Publishes `per_round` messages, then settles `settle` of those the consumer of `sink`
/// holds, round after round, until a publish comes back with a closed valve; the valve.
fn publish_and_settle_until_flow(
    v: &dyn VHost,
    sink: &Sink,
    per_round: usize,
    settle: usize,
) -> Option<Arc<FlowValve>> {
    for _ in 0..PLENTY / per_round {
        for _ in 0..per_round {
            let outcome = v
                .publish(&ExchangeName::default_exchange(), message("q", "m"))
                .unwrap();
            if outcome.flow.is_some() {
                return outcome.flow;
            }
        }
        let mut held = sink.take();
        let rest = held.split_off(settle.min(held.len()));
        sink.deliveries.lock().unwrap().splice(0..0, rest);
        for d in held {
            d.queue.settle(&[d.seq], Settlement::Ack);
        }
    }
    None
}

#[test]
fn consumers_at_their_prefetch_limit_that_keep_up_with_acks_pause_publishers() {
    let (v, sink) = consumed_queue(10);
    let valve = publish_and_settle_until_flow(&*v, &sink, 20, 10);
    assert!(
        valve.is_some(),
        "half the arrivals are settled: delivering falls behind, not the consumer"
    );
}

#[test]
fn consumers_at_their_prefetch_limit_that_settle_at_a_trickle_never_pause_publishers() {
    let (v, sink) = consumed_queue(10);
    let valve = publish_and_settle_until_flow(&*v, &sink, 100, 1);
    assert!(valve.is_none(), "a slow consumer: the queue buffers for it");
}

/// Publishes `n` messages to `queue`, none of which may come back with a closed valve.
fn publish_unpaused(v: &dyn VHost, queue: &str, n: usize) {
    for _ in 0..n {
        let outcome = v
            .publish(&ExchangeName::default_exchange(), message(queue, "m"))
            .unwrap();
        assert!(outcome.flow.is_none(), "{queue} paused its publisher");
    }
}

/// Declares each queue of `names` with a stalled consumer (see [`stalled_consumer`]).
fn stalled_queues(v: &dyn VHost, names: &[&str]) -> Vec<(Arc<Sink>, Consumption)> {
    names
        .iter()
        .map(|name| {
            declare_queue(v, name);
            stalled_consumer(v, name)
        })
        .collect()
}

#[test]
fn many_short_backlogs_pause_publishers_once_their_sum_passes_the_mark() {
    let v = vhost();
    let names: Vec<String> = (0..400).map(|i| format!("q{i}")).collect();
    let consumers = stalled_queues(&*v, &names.iter().map(String::as_str).collect::<Vec<_>>());
    let mut published = 0;
    let valve = 'publishing: loop {
        for name in &names {
            let outcome = v
                .publish(&ExchangeName::default_exchange(), message(name, "m"))
                .unwrap();
            published += 1;
            if let Some(valve) = outcome.flow {
                break 'publishing valve;
            }
        }
        assert!(published < PLENTY, "no valve closed");
    };
    let per_queue = published / names.len();
    assert!(
        published > MARK && per_queue < MARK / 100,
        "paused after {published} messages, {per_queue} a queue"
    );
    for (sink, consumption) in &consumers {
        sink.set_room(true);
        consumption.queue.kick();
    }
    assert!(!valve.is_closed(), "opened once the consumers drained");
}

#[test]
fn queues_swollen_by_stalled_consumers_pause_only_their_own_publishers() {
    let v = vhost();
    let _stalled = stalled_queues(&*v, &["stuck1", "stuck2", "busy"]);
    publish_unpaused(&*v, "stuck1", MARK * 9 / 10);
    publish_unpaused(&*v, "stuck2", MARK / 2);
    // 140,000 in all, past the mark; a mean near 47,000 a queue.
    publish_unpaused(&*v, "busy", 2_000);
    let outcome = v
        .publish(&ExchangeName::default_exchange(), message("stuck1", "m"))
        .unwrap();
    assert!(outcome.flow.is_some(), "stuck1 holds more than its share");
}

#[test]
fn a_deleted_queue_leaves_the_brokers_backlog() {
    let v = vhost();
    let _stalled = stalled_queues(&*v, &["a", "b", "c"]);
    publish_unpaused(&*v, "a", MARK / 2);
    publish_unpaused(&*v, "b", MARK * 3 / 10);
    // c pauses past the mean, 40,000 with a and b: below one queue's mark, and below the
    // broker's low mark once a and b are gone.
    let (published, valve) = publish_until_flow(&*v, "c");
    let valve = valve.expect("c paused once over its share");
    assert!(published < MARK / 2, "paused at {published}");
    for name in ["a", "b"] {
        v.delete_queue(&q(name), false, false, C1).unwrap();
    }
    publish_unpaused(&*v, "c", 1);
    assert!(!valve.is_closed(), "the backlog left with the queues");
}
