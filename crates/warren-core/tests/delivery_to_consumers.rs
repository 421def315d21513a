//! How a queue hands messages to consumers: order, round-robin, credit, room, requeue.

mod common;

use std::sync::Arc;

use common::*;
use warren_model::{CreditPool, Settlement};

#[test]
fn consumers_take_turns() {
    let v = vhost();
    declare_queue(&*v, "q");
    let (a, b) = (Sink::new(), Sink::new());
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    v.consume(&q("q"), consume_spec("b", 0), b.clone(), C1)
        .unwrap();
    for i in 0..6 {
        send(&*v, "q", &i.to_string());
    }
    assert_eq!(a.bodies(), ["0", "2", "4"]);
    assert_eq!(b.bodies(), ["1", "3", "5"]);
}

#[test]
fn messages_published_before_consume_arrive_in_order() {
    let v = vhost();
    declare_queue(&*v, "q");
    for i in 0..100 {
        send(&*v, "q", &i.to_string());
    }
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(a.bodies(), expected);
}

#[test]
fn prefetch_limits_each_consumer_and_ack_frees_credit() {
    let v = vhost();
    declare_queue(&*v, "q");
    let (a, b) = (Sink::new(), Sink::new());
    v.consume(&q("q"), consume_spec("a", 1), a.clone(), C1)
        .unwrap();
    v.consume(&q("q"), consume_spec("b", 2), b.clone(), C1)
        .unwrap();
    for i in 0..5 {
        send(&*v, "q", &i.to_string());
    }
    let first = a.take();
    assert_eq!(first.len(), 1);
    assert_eq!(b.count(), 2);
    assert_eq!(
        v.declare_queue(queue_spec("q"), true, C1)
            .unwrap()
            .message_count,
        2
    );
    first[0].queue.settle(&[first[0].seq], Settlement::Ack);
    assert_eq!(a.count(), 1, "the ack gave one credit back");
    assert_eq!(first[0].queue.message_count(), 1);
}

#[test]
fn shared_pool_limits_consumers_together() {
    let v = vhost();
    declare_queue(&*v, "q1");
    declare_queue(&*v, "q2");
    let pool = Arc::new(CreditPool::new(3));
    let (a, b) = (Sink::new(), Sink::new());
    let mut spec = consume_spec("a", 0);
    spec.shared_credit = Some(pool.clone());
    v.consume(&q("q1"), spec.clone(), a.clone(), C1).unwrap();
    spec.tag = "b".try_into().unwrap();
    spec.prefetch = 1;
    v.consume(&q("q2"), spec, b.clone(), C1).unwrap();
    for i in 0..2 {
        send(&*v, "q2", &i.to_string());
    }
    for i in 0..5 {
        send(&*v, "q1", &i.to_string());
    }
    assert_eq!(b.count(), 1, "per-consumer prefetch still applies");
    assert_eq!(a.count(), 2, "the pool of 3 is shared");
    assert_eq!(pool.in_flight(), 3);
    let got = b.take();
    got[0].queue.settle(&[got[0].seq], Settlement::Discard);
    assert_eq!(
        pool.in_flight(),
        3,
        "the freed credit went straight to the next message"
    );
    assert_eq!(b.count(), 1);
}

#[test]
fn requeue_restores_original_order_marked_redelivered() {
    let v = vhost();
    declare_queue(&*v, "q");
    for i in 0..4 {
        send(&*v, "q", &i.to_string());
    }
    let gets: Vec<_> = (0..3)
        .map(|_| v.get(&q("q"), false, C1).unwrap().unwrap().0)
        .collect();
    let handle = gets[0].queue.clone();
    handle.settle(&[gets[2].seq, gets[0].seq], Settlement::Requeue);
    let order: Vec<(String, bool)> = std::iter::from_fn(|| v.get(&q("q"), true, C1).unwrap())
        .map(|(d, _)| (body(&d), d.redelivered))
        .collect();
    let expected = [("0", true), ("2", true), ("3", false)];
    let expected: Vec<(String, bool)> = expected.iter().map(|(b, r)| (b.to_string(), *r)).collect();
    assert_eq!(order, expected);
    handle.settle(&[gets[1].seq], Settlement::Ack);
    handle.settle(&[gets[1].seq], Settlement::Ack);
}

#[test]
fn requeue_redelivers_to_a_consumer() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 1), a.clone(), C1)
        .unwrap();
    send(&*v, "q", "m");
    let first = a.take().remove(0);
    assert!(!first.redelivered);
    first.queue.settle(&[first.seq], Settlement::Requeue);
    let again = a.take().remove(0);
    assert!(again.redelivered);
    assert_eq!(again.seq, first.seq);
}

#[test]
fn no_ack_consumers_take_no_credit() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    let mut spec = consume_spec("a", 1);
    spec.no_ack = true;
    v.consume(&q("q"), spec, a.clone(), C1).unwrap();
    for i in 0..3 {
        send(&*v, "q", &i.to_string());
    }
    let got = a.take();
    assert_eq!(got.len(), 3);
    got[0].queue.settle(&[got[0].seq], Settlement::Requeue);
    assert_eq!(
        got[0].queue.message_count(),
        0,
        "no-ack deliveries are already settled"
    );
}

#[test]
fn full_sink_holds_deliveries_until_kicked() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    a.set_room(false);
    let c = v
        .consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    send(&*v, "q", "0");
    send(&*v, "q", "1");
    assert_eq!(a.count(), 0);
    a.set_room(true);
    c.queue.kick();
    assert_eq!(a.bodies(), ["0", "1"]);
}

#[test]
fn full_sink_lets_other_consumers_proceed() {
    let v = vhost();
    declare_queue(&*v, "q");
    let (a, b) = (Sink::new(), Sink::new());
    a.set_room(false);
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    v.consume(&q("q"), consume_spec("b", 0), b.clone(), C1)
        .unwrap();
    send(&*v, "q", "0");
    send(&*v, "q", "1");
    assert_eq!(a.count(), 0);
    assert_eq!(b.bodies(), ["0", "1"]);
}

#[test]
fn get_counts_remaining_and_tracks_unacked() {
    let v = vhost();
    declare_queue(&*v, "q");
    assert!(v.get(&q("q"), false, C1).unwrap().is_none());
    send(&*v, "q", "a");
    send(&*v, "q", "b");
    let (d, left) = v.get(&q("q"), false, C1).unwrap().unwrap();
    assert_eq!((body(&d), left, d.consumer.clone()), ("a".into(), 1, None));
    d.queue.settle(&[d.seq], Settlement::Requeue);
    assert_eq!(d.queue.message_count(), 2);
    let (d, left) = v.get(&q("q"), true, C1).unwrap().unwrap();
    assert_eq!((body(&d), left, d.redelivered), ("a".into(), 1, true));
}

#[test]
fn cancel_keeps_unacked_messages_settleable() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    let c = v
        .consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    send(&*v, "q", "m");
    c.queue.cancel(c.id);
    send(&*v, "q", "later");
    let got = a.take();
    assert_eq!(got.len(), 1, "a cancelled consumer gets nothing new");
    assert_eq!(c.queue.message_count(), 1);
    got[0].queue.settle(&[got[0].seq], Settlement::Requeue);
    assert_eq!(c.queue.message_count(), 2);
    assert!(v.get(&q("q"), true, C1).unwrap().unwrap().0.redelivered);
}

#[test]
fn purge_drops_ready_but_not_unacked() {
    let v = vhost();
    declare_queue(&*v, "q");
    for i in 0..3 {
        send(&*v, "q", &i.to_string());
    }
    let (held, _) = v.get(&q("q"), false, C1).unwrap().unwrap();
    assert_eq!(v.purge_queue(&q("q"), C1).unwrap(), 2);
    assert_eq!(held.queue.message_count(), 0);
    held.queue.settle(&[held.seq], Settlement::Requeue);
    assert_eq!(held.queue.message_count(), 1);
}

#[test]
fn fan_out_shares_one_body() {
    let v = vhost();
    declare_queue(&*v, "q1");
    declare_queue(&*v, "q2");
    v.bind(to_queue("amq.fanout", "q1", ""), C1).unwrap();
    v.bind(to_queue("amq.fanout", "q2", ""), C1).unwrap();
    let out = v.publish(&x("amq.fanout"), message("k", "body")).unwrap();
    assert_eq!(out.queues, 2);
    let (a, _) = v.get(&q("q1"), true, C1).unwrap().unwrap();
    let (b, _) = v.get(&q("q2"), true, C1).unwrap().unwrap();
    assert!(Arc::ptr_eq(&a.message, &b.message));
}
