//! Message TTL, queue expiry and dead-lettering: what expires when, and what the dead letter
//! says about its death.

mod common;
mod features;

use std::time::Duration;

use common::*;
use features::*;
use warren_model::{FieldValue, Settlement, VHost};

fn dead_letter_pair(v: &dyn VHost, source_args: &[(&str, FieldValue)]) {
    declare_queue(v, "dlq");
    let mut args = vec![
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s("dlq")),
    ];
    args.extend(source_args.iter().cloned());
    declare_with(v, "src", &args);
}

#[test]
fn queue_ttl_dead_letters_with_rabbitmq_headers() {
    let v = timed_vhost();
    dead_letter_pair(&*v, &[("x-message-ttl", FieldValue::I32(20))]);
    let m = message_with("src", "a", |p| {
        p.text.to_mut().expiration = Some("5000".into())
    });
    publish(&*v, "", m);
    eventually("the dead letter", || count(&*v, "dlq") == 1);
    let dead = get(&*v, "dlq").unwrap();
    let death = &deaths(&dead)[0];
    let keys: Vec<&str> = death.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "count",
            "reason",
            "queue",
            "time",
            "exchange",
            "routing-keys",
            "original-expiration"
        ]
    );
    assert_eq!(death.get("count"), Some(&FieldValue::I64(1)));
    assert_eq!(text(death, "reason"), "expired");
    assert_eq!(text(death, "queue"), "src");
    assert_eq!(text(death, "original-expiration"), "5000");
    assert_eq!(dead.properties.text.expiration, None);
    assert_eq!(dead.annotations.routing_key.as_str(), "dlq");
    let first = |k: &str| {
        header(&dead, k)
            .and_then(FieldValue::as_str)
            .map(str::to_owned)
    };
    assert_eq!(first("x-first-death-reason").as_deref(), Some("expired"));
    assert_eq!(first("x-first-death-queue").as_deref(), Some("src"));
    assert_eq!(first("x-first-death-exchange").as_deref(), Some(""));
}

#[test]
fn an_expired_message_behind_a_live_one_is_never_delivered() {
    let v = timed_vhost();
    dead_letter_pair(&*v, &[]);
    publish(
        &*v,
        "",
        message_with("src", "long", |p| {
            p.text.to_mut().expiration = Some("60000".into())
        }),
    );
    publish(
        &*v,
        "",
        message_with("src", "short", |p| {
            p.text.to_mut().expiration = Some("10".into())
        }),
    );
    eventually("the short one to die", || count(&*v, "dlq") == 1);
    assert_eq!(text_of(&get(&*v, "dlq").unwrap()), "short");
    assert_eq!(text_of(&get(&*v, "src").unwrap()), "long");
    assert!(get(&*v, "src").is_none());
}

#[test]
fn expiry_without_timers_happens_on_the_next_look() {
    let v = vhost();
    declare_with(&*v, "q", &[("x-message-ttl", FieldValue::I32(1))]);
    send(&*v, "q", "a");
    std::thread::sleep(Duration::from_millis(5));
    assert!(get(&*v, "q").is_none());
}

#[test]
fn ttl_zero_reaches_a_waiting_consumer_and_dies_otherwise() {
    let v = timed_vhost();
    dead_letter_pair(&*v, &[("x-message-ttl", FieldValue::I32(0))]);
    publish(&*v, "", message("src", "nobody"));
    assert_eq!(count(&*v, "dlq"), 1);
    let sink = Sink::new();
    v.consume(&q("src"), consume_spec("c", 0), sink.clone(), C1)
        .unwrap();
    publish(&*v, "", message("src", "taken"));
    assert_eq!(sink.bodies(), ["taken"]);
    assert_eq!(count(&*v, "dlq"), 1);
}

#[test]
fn rejected_messages_are_dead_lettered_and_requeued_ones_are_not() {
    let v = vhost();
    dead_letter_pair(&*v, &[]);
    let sink = Sink::new();
    v.consume(&q("src"), consume_spec("c", 0), sink.clone(), C1)
        .unwrap();
    send(&*v, "src", "a");
    send(&*v, "src", "b");
    let got = sink.take();
    got[0].queue.settle(&[got[0].seq], Settlement::Requeue);
    got[1].queue.settle(&[got[1].seq], Settlement::Discard);
    let dead = get(&*v, "dlq").unwrap();
    assert_eq!(text_of(&dead), "b");
    assert_eq!(text(&deaths(&dead)[0], "reason"), "rejected");
}

#[test]
fn repeated_deaths_count_up_and_move_to_the_front() {
    let v = vhost();
    declare_with(
        &*v,
        "a",
        &[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("b")),
        ],
    );
    declare_with(
        &*v,
        "b",
        &[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("a")),
        ],
    );
    send(&*v, "a", "m");
    for queue in ["a", "b", "a", "b"] {
        let name = q(queue);
        let (d, _) = v.get(&name, false, C1).unwrap().unwrap();
        d.queue.settle(&[d.seq], Settlement::Discard);
    }
    let m = get(&*v, "a").unwrap();
    let all = deaths(&m);
    assert_eq!(all.len(), 2);
    assert_eq!(text(&all[0], "queue"), "b");
    assert_eq!(all[0].get("count"), Some(&FieldValue::I64(2)));
    assert_eq!(all[1].get("count"), Some(&FieldValue::I64(2)));
    assert_eq!(
        header(&m, "x-first-death-queue").and_then(FieldValue::as_str),
        Some("a")
    );
}

#[test]
fn an_automatic_dead_letter_cycle_is_dropped() {
    let v = timed_vhost();
    declare_exchange(&*v, "fan", "fanout");
    declare_with(
        &*v,
        "loop",
        &[
            ("x-message-ttl", FieldValue::I32(5)),
            ("x-dead-letter-exchange", s("fan")),
        ],
    );
    declare_queue(&*v, "watch");
    v.bind(to_queue("fan", "loop", ""), C1).unwrap();
    v.bind(to_queue("fan", "watch", ""), C1).unwrap();
    send(&*v, "loop", "m");
    // Both copies are routed in one step, "loop" first: once "watch" has its copy, "loop"
    // has refused its own.
    eventually("the dead letter", || count(&*v, "watch") == 1);
    assert_eq!(
        count(&*v, "loop"),
        0,
        "an expiry cycle must not refill the queue"
    );
}

#[test]
fn a_rejection_in_the_loop_is_not_a_cycle() {
    let v = vhost();
    declare_with(&*v, "retry", &[("x-dead-letter-exchange", s(""))]);
    send(&*v, "retry", "m");
    let (d, _) = v.get(&q("retry"), false, C1).unwrap().unwrap();
    d.queue.settle(&[d.seq], Settlement::Discard);
    assert_eq!(
        count(&*v, "retry"),
        1,
        "a rejected message may come back to its queue"
    );
}

#[test]
fn unused_queue_expires() {
    let v = timed_vhost();
    declare_with(&*v, "tmp", &[("x-expires", FieldValue::I32(30))]);
    declare_queue(&*v, "kept");
    // Polled by name: a passive declare would use the queue and restart its lease.
    eventually("the queue to go", || !exists(&*v, "tmp"));
    assert!(exists(&*v, "kept"));
}

fn exists(v: &dyn VHost, queue: &str) -> bool {
    v.queue_names().iter().any(|name| name.as_str() == queue)
}

#[test]
fn a_passive_declare_restarts_the_lease() {
    let v = timed_vhost();
    declare_with(&*v, "renewed", &[("x-expires", FieldValue::I32(50))]);
    declare_with(&*v, "witness", &[("x-expires", FieldValue::I32(50))]);
    eventually("the witness to go", || {
        assert!(v.declare_queue(queue_spec("renewed"), true, C1).is_ok());
        !exists(&*v, "witness")
    });
    assert!(exists(&*v, "renewed"));
}

#[test]
fn a_queue_with_a_consumer_does_not_expire() {
    let v = timed_vhost();
    declare_with(&*v, "busy", &[("x-expires", FieldValue::I32(10))]);
    let sink = Sink::new();
    let c = v
        .consume(&q("busy"), consume_spec("c", 0), sink, C1)
        .unwrap();
    // Long enough for an unused queue's lease to run out four times over.
    std::thread::sleep(Duration::from_millis(40));
    assert!(exists(&*v, "busy"));
    c.queue.cancel(c.id);
    eventually("the queue to go once idle", || !exists(&*v, "busy"));
}

#[test]
fn invalid_expiration_is_refused_as_rabbitmq_words_it() {
    let v = vhost();
    declare_queue(&*v, "q");
    for (value, why) in [
        ("abc", "no_integer"),
        ("-1", "{value_negative,-1}"),
        ("1.5", "{leftover_string,\".5\"}"),
        ("-05", "{value_negative,-5}"),
        ("+", "no_integer"),
        (" 5", "no_integer"),
        (
            "99999999999999999999",
            "{value_too_large,99999999999999999999}",
        ),
    ] {
        let m = message_with("q", "x", |p| {
            p.text.to_mut().expiration = Some(value.into())
        });
        let err = v.publish(&x(""), m).unwrap_err();
        assert_eq!(err.text, format!("invalid expiration '{value}': {why}"));
    }
    // RabbitMQ reads a sign, so these are integers (5 and 0).
    for value in ["+5", "-0"] {
        let m = message_with("q", "x", |p| {
            p.text.to_mut().expiration = Some(value.into())
        });
        assert!(v.publish(&x(""), m).is_ok(), "{value}");
    }
}

#[test]
fn cc_keys_join_the_death_record_even_when_a_dead_letter_key_drops_them() {
    let v = vhost();
    declare_queue(&*v, "dlq");
    declare_with(
        &*v,
        "src",
        &[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("dlq")),
        ],
    );
    let m = message_with("src", "copied", |p| {
        let mut headers = warren_model::FieldTable::new();
        headers.insert("CC", FieldValue::Array(vec![s("cc.one"), s("cc.two")]));
        p.headers = Some(headers);
    });
    publish(&*v, "", m);
    let (d, _) = v.get(&q("src"), false, C1).unwrap().unwrap();
    d.queue.settle(&[d.seq], Settlement::Discard);
    let dead = get(&*v, "dlq").expect("the dead letter");
    let death = &deaths(&dead)[0];
    assert_eq!(
        death.get("routing-keys"),
        Some(&FieldValue::Array(vec![s("src"), s("cc.one"), s("cc.two")]))
    );
    assert_eq!(
        header(&dead, "CC"),
        None,
        "the dead-letter key replaces the CC keys"
    );
}
