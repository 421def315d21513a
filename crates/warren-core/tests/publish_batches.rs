//! A publish batch (`VHost::batch_publishes`): queues hold back handing out what the batch
//! published until it ends, then hand out all of it, in order; arrivals that need a look
//! after their dispatch round are not held.

mod common;

use std::sync::Arc;

use common::*;
use warren_model::{FieldTable, FieldValue, Settlement};

#[test]
fn a_batch_hands_out_its_messages_when_it_ends_in_order() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    let batch = v.batch_publishes();
    for i in 0..5 {
        send(&*v, "q", &i.to_string());
    }
    assert_eq!(a.count(), 0, "held while the batch is open");
    drop(batch);
    assert_eq!(a.bodies(), ["0", "1", "2", "3", "4"]);
    send(&*v, "q", "after");
    assert_eq!(a.bodies(), ["after"], "no batch: handed out at once");
}

#[test]
fn a_batch_inside_a_batch_holds_nothing_of_its_own() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    let outer = v.batch_publishes();
    drop(v.batch_publishes());
    send(&*v, "q", "x");
    assert_eq!(a.count(), 0, "the outer batch still holds");
    drop(outer);
    assert_eq!(a.bodies(), ["x"]);
}

#[test]
fn a_consumer_settling_meanwhile_takes_what_the_batch_held() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 1), a.clone(), C1)
        .unwrap();
    send(&*v, "q", "first");
    let first = a.take();
    let batch = v.batch_publishes();
    send(&*v, "q", "second");
    assert_eq!(a.count(), 0);
    first[0].queue.settle(&[first[0].seq], Settlement::Ack);
    assert_eq!(a.bodies(), ["second"], "the settle's dispatch ran");
    send(&*v, "q", "third");
    drop(batch);
    let held = a.take();
    assert!(held.is_empty(), "prefetch 1 is still in use");
    assert_eq!(
        v.declare_queue(queue_spec("q"), true, C1)
            .unwrap()
            .message_count,
        1
    );
}

#[test]
fn batches_on_other_threads_do_not_hold_this_one() {
    let v = vhost();
    declare_queue(&*v, "q");
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    let other = Arc::clone(&v);
    std::thread::spawn(move || {
        let _batch = other.batch_publishes();
        send(&*other, "q", "theirs");
    })
    .join()
    .unwrap();
    assert_eq!(
        a.bodies(),
        ["theirs"],
        "their batch ended with their thread's work"
    );
    let _batch = v.batch_publishes();
    send(&*v, "q", "mine");
    assert_eq!(a.count(), 0);
}

#[test]
fn a_zero_ttl_message_is_offered_at_once_even_in_a_batch() {
    let v = vhost();
    let mut spec = queue_spec("q");
    let mut args = FieldTable::new();
    args.insert("x-message-ttl", FieldValue::I64(0));
    spec.arguments = args;
    v.declare_queue(spec, false, C1).unwrap();
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    let _batch = v.batch_publishes();
    send(&*v, "q", "now or never");
    assert_eq!(a.bodies(), ["now or never"]);
}
