//! Deletion and its consequences, auto-delete, and routing through exchange graphs.

mod common;

use common::*;
use warren_model::{ErrorKind, FieldTable, FieldValue, Settlement};

#[test]
fn delete_queue_cancels_consumers_and_unbinds() {
    let v = vhost();
    declare_queue(&*v, "q");
    v.bind(to_queue("amq.direct", "q", "k"), C1).unwrap();
    let a = Sink::new();
    v.consume(&q("q"), consume_spec("tag-a", 1), a.clone(), C1)
        .unwrap();
    send(&*v, "q", "0");
    send(&*v, "q", "1");
    assert_eq!(v.delete_queue(&q("q"), false, false, C1).unwrap(), 1);
    assert_eq!(a.cancelled(), ["tag-a"]);
    declare_queue(&*v, "q");
    assert_eq!(
        v.publish(&x("amq.direct"), message("k", "m"))
            .unwrap()
            .queues,
        0
    );
    let held = a.take().remove(0);
    held.queue.settle(&[held.seq], Settlement::Requeue);
    assert_eq!(
        v.declare_queue(queue_spec("q"), true, C1)
            .unwrap()
            .message_count,
        0,
        "the new queue is another"
    );
    assert_eq!(v.delete_queue(&q("missing"), true, true, C1).unwrap(), 0);
}

#[test]
fn delete_queue_if_unused_and_if_empty() {
    let v = vhost();
    declare_queue(&*v, "q");
    let c = v
        .consume(&q("q"), consume_spec("t", 0), Sink::new(), C1)
        .unwrap();
    let e = v.delete_queue(&q("q"), true, false, C1).unwrap_err();
    assert_eq!(
        (e.kind, e.text.as_str()),
        (
            ErrorKind::PreconditionFailed,
            "queue 'q' in vhost '/' in use"
        )
    );
    c.queue.cancel(c.id);
    send(&*v, "q", "m");
    let e = v.delete_queue(&q("q"), false, true, C1).unwrap_err();
    assert_eq!(e.kind, ErrorKind::PreconditionFailed);
    assert_eq!(v.delete_queue(&q("q"), true, false, C1).unwrap(), 1);
}

#[test]
fn auto_delete_queue_goes_with_its_last_consumer() {
    let v = vhost();
    let mut spec = queue_spec("q");
    spec.auto_delete = true;
    v.declare_queue(spec, false, C1).unwrap();
    v.bind(to_queue("amq.fanout", "q", ""), C1).unwrap();
    let a = v
        .consume(&q("q"), consume_spec("a", 0), Sink::new(), C1)
        .unwrap();
    let b = v
        .consume(&q("q"), consume_spec("b", 0), Sink::new(), C1)
        .unwrap();
    a.queue.cancel(a.id);
    assert!(v.declare_queue(queue_spec("q"), true, C1).is_ok());
    b.queue.cancel(b.id);
    assert_eq!(
        v.declare_queue(queue_spec("q"), true, C1).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        v.publish(&x("amq.fanout"), message("", "m"))
            .unwrap()
            .queues,
        0
    );
}

#[test]
fn auto_delete_queue_without_consumers_stays() {
    let v = vhost();
    let mut spec = queue_spec("q");
    spec.auto_delete = true;
    v.declare_queue(spec, false, C1).unwrap();
    send(&*v, "q", "m");
    assert!(v.get(&q("q"), true, C1).unwrap().is_some());
    assert!(v.declare_queue(queue_spec("q"), true, C1).is_ok());
}

#[test]
fn auto_delete_exchange_goes_with_its_last_binding() {
    let v = vhost();
    let mut spec = exchange_spec("ad", "direct");
    spec.auto_delete = true;
    v.declare_exchange(spec, false).unwrap();
    declare_queue(&*v, "q1");
    declare_queue(&*v, "q2");
    v.bind(to_queue("ad", "q1", "k"), C1).unwrap();
    v.bind(to_queue("ad", "q2", "k"), C1).unwrap();
    v.unbind(to_queue("ad", "q1", "k"), C1).unwrap();
    v.declare_exchange(exchange_spec("ad", "ignored"), true)
        .unwrap();
    v.delete_queue(&q("q2"), false, false, C1).unwrap();
    let gone = v
        .declare_exchange(exchange_spec("ad", "ignored"), true)
        .unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound);
}

#[test]
fn auto_delete_cascades_through_exchange_bindings() {
    let v = vhost();
    for name in ["a", "b"] {
        let mut spec = exchange_spec(name, "fanout");
        spec.auto_delete = true;
        v.declare_exchange(spec, false).unwrap();
    }
    declare_queue(&*v, "q");
    v.bind(to_exchange("a", "b", ""), C1).unwrap();
    v.bind(to_queue("b", "q", ""), C1).unwrap();
    v.delete_queue(&q("q"), false, false, C1).unwrap();
    for name in ["a", "b"] {
        let e = v
            .declare_exchange(exchange_spec(name, "fanout"), true)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound, "{name}");
    }
}

#[test]
fn exchange_cycles_deliver_once_per_queue() {
    let v = vhost();
    for name in ["a", "b", "c"] {
        declare_exchange(&*v, name, "fanout");
    }
    declare_queue(&*v, "q");
    v.bind(to_exchange("a", "b", ""), C1).unwrap();
    v.bind(to_exchange("b", "c", ""), C1).unwrap();
    v.bind(to_exchange("c", "a", ""), C1).unwrap();
    v.bind(to_exchange("a", "a", ""), C1).unwrap();
    v.bind(to_queue("a", "q", ""), C1).unwrap();
    v.bind(to_queue("b", "q", ""), C1).unwrap();
    v.bind(to_queue("c", "q", ""), C1).unwrap();
    for start in ["a", "b", "c"] {
        assert_eq!(v.publish(&x(start), message("k", start)).unwrap().queues, 1);
    }
    assert_eq!(
        v.declare_queue(queue_spec("q"), true, C1)
            .unwrap()
            .message_count,
        3
    );
}

#[test]
fn exchange_bindings_keep_the_routing_key() {
    let v = vhost();
    declare_exchange(&*v, "t", "topic");
    declare_queue(&*v, "orange");
    declare_queue(&*v, "lazy");
    v.bind(to_exchange("amq.direct", "t", "quick.orange.rabbit"), C1)
        .unwrap();
    v.bind(to_queue("t", "orange", "*.orange.*"), C1).unwrap();
    v.bind(to_queue("t", "lazy", "lazy.#"), C1).unwrap();
    let routed = |key: &str| {
        v.publish(&x("amq.direct"), message(key, "m"))
            .unwrap()
            .queues
    };
    assert_eq!(routed("quick.orange.rabbit"), 1);
    assert_eq!(routed("lazy.orange.rabbit"), 0);
    v.unbind(to_exchange("amq.direct", "t", "quick.orange.rabbit"), C1)
        .unwrap();
    assert_eq!(routed("quick.orange.rabbit"), 0);
}

#[test]
fn headers_exchange_routes_on_message_headers() {
    let v = vhost();
    declare_queue(&*v, "q");
    let mut b = to_queue("amq.match", "q", "");
    b.arguments.insert("x-match", FieldValue::string("any"));
    b.arguments.insert("format", FieldValue::string("pdf"));
    b.arguments.insert("type", FieldValue::string("report"));
    v.bind(b, C1).unwrap();
    let with_headers = |pairs: &[(&str, &str)]| {
        let mut m = (*message("", "m")).clone();
        let table: FieldTable = pairs
            .iter()
            .map(|(k, s)| (k.to_string(), FieldValue::string(*s)))
            .collect();
        m.properties.headers = Some(table);
        v.publish(&x("amq.match"), std::sync::Arc::new(m))
            .unwrap()
            .queues
    };
    assert_eq!(with_headers(&[("format", "pdf")]), 1);
    assert_eq!(with_headers(&[("format", "zip"), ("type", "log")]), 0);
    assert_eq!(
        v.publish(&x("amq.match"), message("", "m")).unwrap().queues,
        0
    );
}

#[test]
fn bind_is_idempotent_and_args_distinguish_bindings() {
    let v = vhost();
    declare_queue(&*v, "q");
    v.bind(to_queue("amq.direct", "q", "k"), C1).unwrap();
    v.bind(to_queue("amq.direct", "q", "k"), C1).unwrap();
    let mut with_args = to_queue("amq.direct", "q", "k");
    with_args.arguments.insert("a", FieldValue::I32(1));
    v.bind(with_args.clone(), C1).unwrap();
    assert_eq!(
        v.publish(&x("amq.direct"), message("k", "m"))
            .unwrap()
            .queues,
        1
    );
    v.unbind(to_queue("amq.direct", "q", "k"), C1).unwrap();
    assert_eq!(
        v.publish(&x("amq.direct"), message("k", "m"))
            .unwrap()
            .queues,
        1
    );
    v.unbind(with_args, C1).unwrap();
    assert_eq!(
        v.publish(&x("amq.direct"), message("k", "m"))
            .unwrap()
            .queues,
        0
    );
}

#[test]
fn deleting_an_exchange_removes_bindings_to_it() {
    let v = vhost();
    declare_exchange(&*v, "mid", "fanout");
    declare_queue(&*v, "q");
    v.bind(to_exchange("amq.fanout", "mid", ""), C1).unwrap();
    v.bind(to_queue("mid", "q", ""), C1).unwrap();
    assert_eq!(
        v.publish(&x("amq.fanout"), message("", "m"))
            .unwrap()
            .queues,
        1
    );
    v.delete_exchange(&x("mid"), false).unwrap();
    declare_exchange(&*v, "mid", "fanout");
    v.bind(to_queue("mid", "q", ""), C1).unwrap();
    assert_eq!(
        v.publish(&x("amq.fanout"), message("", "m"))
            .unwrap()
            .queues,
        0
    );
}
