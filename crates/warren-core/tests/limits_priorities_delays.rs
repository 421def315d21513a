//! Length limits, priorities, consumer priorities, single active consumer, alternate
//! exchanges, delivery limits and delayed messages.

mod common;
mod features;

use std::time::{Duration, Instant};

use common::*;
use features::*;
use warren_model::{FieldValue, Settlement};

#[test]
fn drop_head_dead_letters_the_oldest() {
    let v = vhost();
    declare_queue(&*v, "dlq");
    declare_with(
        &*v,
        "q",
        &[
            ("x-max-length", FieldValue::I32(2)),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("dlq")),
        ],
    );
    for b in ["1", "2", "3"] {
        send(&*v, "q", b);
    }
    let dead = get(&*v, "dlq").unwrap();
    assert_eq!(text_of(&dead), "1");
    assert_eq!(text(&deaths(&dead)[0], "reason"), "maxlen");
    assert_eq!(count(&*v, "q"), 2);
}

#[test]
fn max_length_bytes_counts_bodies() {
    let v = vhost();
    declare_with(&*v, "q", &[("x-max-length-bytes", FieldValue::I32(5))]);
    send(&*v, "q", "abc");
    send(&*v, "q", "de");
    send(&*v, "q", "f");
    assert_eq!(text_of(&get(&*v, "q").unwrap()), "de");
}

#[test]
fn reject_publish_refuses_and_reject_publish_dlx_dead_letters() {
    let v = vhost();
    declare_queue(&*v, "dlq");
    declare_with(
        &*v,
        "plain",
        &[
            ("x-max-length", FieldValue::I32(1)),
            ("x-overflow", s("reject-publish")),
        ],
    );
    declare_with(
        &*v,
        "dlx",
        &[
            ("x-max-length", FieldValue::I32(1)),
            ("x-overflow", s("reject-publish-dlx")),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("dlq")),
        ],
    );
    for queue in ["plain", "dlx"] {
        assert_eq!(publish(&*v, "", message(queue, "1")).queues, 1);
        let refused = publish(&*v, "", message(queue, "2"));
        assert_eq!((refused.queues, refused.rejected), (0, 1));
        assert!(refused.routed(), "a refused message is not unroutable");
        assert_eq!(text_of(&get(&*v, queue).unwrap()), "1");
    }
    assert_eq!(text_of(&get(&*v, "dlq").unwrap()), "2");
    assert!(
        get(&*v, "dlq").is_none(),
        "plain reject-publish does not dead-letter"
    );
}

#[test]
fn higher_priorities_first_and_fifo_within_one() {
    let v = vhost();
    declare_with(&*v, "q", &[("x-max-priority", FieldValue::U8(10))]);
    for (b, p) in [
        ("low", 1),
        ("mid1", 5),
        ("top", 200),
        ("mid2", 5),
        ("none", 0),
    ] {
        publish(&*v, "", message_with("q", b, |m| m.priority = Some(p)));
    }
    let order: Vec<String> = std::iter::from_fn(|| get(&*v, "q"))
        .map(|m| text_of(&m))
        .collect();
    assert_eq!(order, ["top", "mid1", "mid2", "low", "none"]);
}

#[test]
fn a_requeued_message_keeps_its_priority_place() {
    let v = vhost();
    declare_with(&*v, "q", &[("x-max-priority", FieldValue::U8(5))]);
    publish(&*v, "", message_with("q", "hi", |m| m.priority = Some(5)));
    publish(&*v, "", message_with("q", "lo", |m| m.priority = Some(1)));
    let (d, _) = v.get(&q("q"), false, C1).unwrap().unwrap();
    d.queue.settle(&[d.seq], Settlement::Requeue);
    assert_eq!(text_of(&get(&*v, "q").unwrap()), "hi");
}

#[test]
fn consumer_priority_wins_while_it_has_credit() {
    let v = vhost();
    declare_queue(&*v, "q");
    let (hi, lo) = (Sink::new(), Sink::new());
    let mut spec = consume_spec("hi", 2);
    spec.arguments = table(&[("x-priority", FieldValue::I32(10))]);
    v.consume(&q("q"), consume_spec("lo", 0), lo.clone(), C1)
        .unwrap();
    v.consume(&q("q"), spec, hi.clone(), C1).unwrap();
    for i in 0..5 {
        send(&*v, "q", &i.to_string());
    }
    assert_eq!(hi.bodies(), ["0", "1"]);
    assert_eq!(lo.bodies(), ["2", "3", "4"]);
}

#[test]
fn bad_consumer_priority_is_refused() {
    let v = vhost();
    declare_queue(&*v, "q");
    let mut spec = consume_spec("c", 0);
    spec.arguments = table(&[("x-priority", s("hi"))]);
    let Err(err) = v.consume(&q("q"), spec, Sink::new(), C1) else {
        panic!("a string x-priority must be refused");
    };
    assert_eq!(
        err.text,
        "invalid arg 'x-priority' for queue 'q' in vhost '/': \"expected integer, got longstr\""
    );
}

#[test]
fn single_active_consumer_fails_over_in_order() {
    let v = vhost();
    declare_with(
        &*v,
        "q",
        &[("x-single-active-consumer", FieldValue::Bool(true))],
    );
    let (a, b, c) = (Sink::new(), Sink::new(), Sink::new());
    let first = v
        .consume(&q("q"), consume_spec("a", 0), a.clone(), C1)
        .unwrap();
    v.consume(&q("q"), consume_spec("b", 0), b.clone(), C1)
        .unwrap();
    v.consume(&q("q"), consume_spec("c", 0), c.clone(), C1)
        .unwrap();
    send(&*v, "q", "1");
    send(&*v, "q", "2");
    let held = a.take();
    assert_eq!(held.len(), 2);
    assert_eq!((b.count(), c.count()), (0, 0));
    first.queue.cancel(first.id);
    held[0]
        .queue
        .settle(&[held[0].seq, held[1].seq], Settlement::Requeue);
    send(&*v, "q", "3");
    assert_eq!(b.bodies(), ["1", "2", "3"]);
    assert_eq!(c.count(), 0);
}

#[test]
fn unroutable_messages_go_to_the_alternate_exchange() {
    let v = vhost();
    let mut spec = exchange_spec("main", "direct");
    spec.arguments = table(&[("alternate-exchange", s("ae"))]);
    v.declare_exchange(spec, false).unwrap();
    declare_exchange(&*v, "ae", "fanout");
    declare_queue(&*v, "routed");
    declare_queue(&*v, "unrouted");
    v.bind(to_queue("main", "routed", "k"), C1).unwrap();
    v.bind(to_queue("ae", "unrouted", ""), C1).unwrap();
    assert_eq!(publish(&*v, "main", message("k", "a")).queues, 1);
    assert_eq!(publish(&*v, "main", message("other", "b")).queues, 1);
    assert_eq!(text_of(&get(&*v, "routed").unwrap()), "a");
    assert_eq!(text_of(&get(&*v, "unrouted").unwrap()), "b");
    v.unbind(to_queue("ae", "unrouted", ""), C1).unwrap();
    assert!(!publish(&*v, "main", message("other", "c")).routed());
}

#[test]
fn delivery_limit_dead_letters_a_poison_message() {
    let v = vhost();
    declare_queue(&*v, "dlq");
    declare_with(
        &*v,
        "q",
        &[
            ("x-delivery-limit", FieldValue::I32(1)),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("dlq")),
        ],
    );
    send(&*v, "q", "poison");
    let mut counts = Vec::new();
    while let Some((d, _)) = v.get(&q("q"), false, C1).unwrap() {
        counts.push(header(&d.message, "x-delivery-count").and_then(FieldValue::as_i64));
        d.queue.settle(&[d.seq], Settlement::Requeue);
    }
    assert_eq!(counts, [None, Some(1)]);
    let dead = get(&*v, "dlq").unwrap();
    assert_eq!(text(&deaths(&dead)[0], "reason"), "delivery_limit");
}

fn delayed_exchange(v: &dyn warren_model::VHost) {
    let mut spec = exchange_spec("delay", "x-delayed-message");
    spec.arguments = table(&[("x-delayed-type", s("direct"))]);
    v.declare_exchange(spec, false).unwrap();
    declare_queue(v, "jobs");
    v.bind(to_queue("delay", "jobs", "k"), C1).unwrap();
}

fn delayed(body: &str, ms: i64) -> std::sync::Arc<warren_model::Message> {
    message_with("k", body, |p| {
        p.headers = Some(table(&[("x-delay", FieldValue::I64(ms))]))
    })
}

#[test]
fn delayed_messages_arrive_after_their_delay_in_due_order() {
    let v = timed_vhost();
    delayed_exchange(&*v);
    let start = Instant::now();
    assert!(publish(&*v, "delay", delayed("late", 80)).delayed);
    publish(&*v, "delay", delayed("early", 40));
    assert_eq!(publish(&*v, "delay", delayed("now", 0)).queues, 1);
    assert_eq!(text_of(&get(&*v, "jobs").unwrap()), "now");
    eventually("both delayed messages", || count(&*v, "jobs") == 2);
    assert!(start.elapsed() >= Duration::from_millis(80));
    let first = get(&*v, "jobs").unwrap();
    assert_eq!(text_of(&first), "early");
    assert_eq!(header(&first, "x-delay"), Some(&FieldValue::I64(-40)));
    assert_eq!(text_of(&get(&*v, "jobs").unwrap()), "late");
}

#[test]
fn delayed_exchange_needs_a_delayed_type() {
    let v = vhost();
    let err = v
        .declare_exchange(exchange_spec("d", "x-delayed-message"), false)
        .unwrap_err();
    assert_eq!(
        err.text,
        "Invalid argument, 'x-delayed-type' must be an existing exchange type"
    );
    let mut spec = exchange_spec("d", "x-delayed-message");
    spec.arguments = table(&[("x-delayed-type", s("nope"))]);
    let err = v.declare_exchange(spec, false).unwrap_err();
    assert_eq!(err.text, "unknown exchange type 'nope'");
}

#[test]
fn many_delayed_messages_are_released_in_order() {
    let v = timed_vhost();
    delayed_exchange(&*v);
    for i in 0..2000 {
        publish(&*v, "delay", delayed(&i.to_string(), 20 + (i % 7)));
    }
    eventually("every delayed message", || count(&*v, "jobs") == 2000);
}
