//! A publish batch (`VHost::batch_publishes`): what the batch published after its first
//! message reaches its queues when it ends and is handed out then, in order; the first
//! message, and an arrival that needs a look at its queue (a length limit, a deadline), are
//! not held, and any other operation brings in what was held.

mod common;

use std::sync::Arc;

use common::*;
use warren_model::{ExchangeName, FieldValue, Settlement};

#[test]
fn a_batch_hands_out_its_messages_when_it_ends_in_order() {
    let (v, a) = consumed_queue(0);
    let batch = v.batch_publishes();
    for i in 0..5 {
        send(&*v, "q", &i.to_string());
    }
    assert_eq!(a.bodies(), ["0"], "the first at once, the rest held");
    drop(batch);
    assert_eq!(a.bodies(), ["1", "2", "3", "4"]);
    send(&*v, "q", "after");
    assert_eq!(a.bodies(), ["after"], "no batch: handed out at once");
}

#[test]
fn a_batch_inside_a_batch_holds_nothing_of_its_own() {
    let (v, a) = consumed_queue(0);
    let outer = v.batch_publishes();
    drop(v.batch_publishes());
    send(&*v, "q", "first");
    send(&*v, "q", "x");
    assert_eq!(a.bodies(), ["first"], "the outer batch still holds");
    drop(outer);
    assert_eq!(a.bodies(), ["x"]);
}

#[test]
fn a_consumer_settling_meanwhile_gets_the_held_messages_when_the_batch_ends() {
    let (v, a) = consumed_queue(1);
    send(&*v, "q", "before");
    let before = a.take();
    let batch = v.batch_publishes();
    send(&*v, "q", "first");
    send(&*v, "q", "held");
    before[0].queue.settle(&[before[0].seq], Settlement::Ack);
    let first = a.take();
    assert_eq!(first.iter().map(body).collect::<Vec<_>>(), ["first"]);
    first[0].queue.settle(&[first[0].seq], Settlement::Ack);
    assert_eq!(a.count(), 0, "the held one has not reached the queue yet");
    drop(batch);
    assert_eq!(a.bodies(), ["held"]);
}

#[test]
fn a_get_or_a_purge_in_the_batch_sees_what_was_published_before_it() {
    let v = vhost();
    declare_queue(&*v, "q");
    let _batch = v.batch_publishes();
    send(&*v, "q", "one");
    send(&*v, "q", "two");
    let (got, left) = v.get(&q("q"), true, C1).unwrap().expect("a message");
    assert_eq!((body(&got), left), ("one".to_owned(), 1));
    send(&*v, "q", "three");
    assert_eq!(v.purge_queue(&q("q"), C1).unwrap(), 2);
    send(&*v, "q", "four");
    assert_eq!(v.delete_queue(&q("q"), false, false, C1).unwrap(), 1);
}

#[test]
fn a_message_that_cannot_wait_keeps_its_place_behind_those_waiting() {
    let (v, a) = consumed_queue(0);
    let batch = v.batch_publishes();
    send(&*v, "q", "first");
    send(&*v, "q", "waits");
    let mut timed = (*message("q", "has a deadline")).clone();
    timed.properties.text.to_mut().expiration = Some("60000".into());
    v.publish(&ExchangeName::default_exchange(), Arc::new(timed))
        .unwrap();
    send(&*v, "q", "waits too");
    drop(batch);
    assert_eq!(
        a.bodies(),
        ["first", "waits", "has a deadline", "waits too"]
    );
}

#[test]
fn a_queue_with_a_length_limit_refuses_inside_a_batch_as_outside() {
    let v = vhost();
    let limited = queue_with(
        "q",
        &[
            ("x-max-length", FieldValue::I64(1)),
            ("x-overflow", FieldValue::string("reject-publish")),
        ],
    );
    v.declare_queue(limited, false, C1).unwrap();
    let _batch = v.batch_publishes();
    let exchange = ExchangeName::default_exchange();
    let first = v.publish(&exchange, message("q", "fits")).unwrap();
    let second = v.publish(&exchange, message("q", "over")).unwrap();
    assert_eq!((first.queues, first.rejected), (1, 0));
    assert_eq!((second.queues, second.rejected), (0, 1));
}

#[test]
fn batches_on_other_threads_do_not_hold_this_one() {
    let (v, a) = consumed_queue(0);
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
    send(&*v, "q", "mine too");
    assert_eq!(a.bodies(), ["mine"], "the second is held");
}

#[test]
fn a_zero_ttl_message_is_offered_at_once_even_in_a_batch() {
    let v = vhost();
    let zero_ttl = queue_with("q", &[("x-message-ttl", FieldValue::I64(0))]);
    v.declare_queue(zero_ttl, false, C1).unwrap();
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    let _batch = v.batch_publishes();
    send(&*v, "q", "now or never");
    assert_eq!(a.bodies(), ["now or never"]);
}
