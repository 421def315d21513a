//! Declarations and the errors RabbitMQ gives for them, and logging in.

mod common;

use common::*;
use warren_core::{Core, CoreConfig};
use warren_model::{Broker, ErrorKind, ExchangeName, FieldTable, FieldValue, VHostName};

fn kind<T>(r: Result<T, warren_model::CoreError>) -> ErrorKind {
    err(r).kind
}

fn err<T>(r: Result<T, warren_model::CoreError>) -> warren_model::CoreError {
    match r {
        Ok(_) => panic!("should fail"),
        Err(e) => e,
    }
}

#[test]
fn login_rules() {
    let core = Core::new(CoreConfig::default());
    assert_eq!(
        core.authenticate("guest", "guest", true).unwrap().as_str(),
        "guest"
    );
    assert_eq!(
        kind(core.authenticate("guest", "nope", true)),
        ErrorKind::AccessRefused
    );
    assert_eq!(
        kind(core.authenticate("nobody", "guest", true)),
        ErrorKind::AccessRefused
    );
    let remote = core.authenticate("guest", "guest", false).unwrap_err();
    assert_eq!(remote.kind, ErrorKind::AccessRefused);
    assert!(remote
        .text
        .contains("user 'guest' can only connect via localhost"));
    let user = core.authenticate("guest", "guest", true).unwrap();
    let missing = err(core.vhost(&user, &VHostName::try_from("x").unwrap()));
    assert_eq!(
        (missing.kind, missing.text.as_str()),
        (ErrorKind::NotAllowed, "vhost x not found")
    );
    assert!(core
        .vhost(&user, &VHostName::try_from("/").unwrap())
        .is_ok());
    assert_ne!(core.next_connection_id(), core.next_connection_id());
}

#[test]
fn default_exchange_is_untouchable() {
    let v = vhost();
    let default = ExchangeName::default_exchange();
    assert_eq!(
        kind(v.declare_exchange(exchange_spec("", "direct"), false)),
        ErrorKind::AccessRefused
    );
    assert_eq!(
        kind(v.declare_exchange(exchange_spec("", "direct"), true)),
        ErrorKind::AccessRefused
    );
    assert_eq!(
        kind(v.delete_exchange(&default, false)),
        ErrorKind::AccessRefused
    );
    declare_queue(&*v, "q");
    assert_eq!(
        kind(v.bind(to_queue("", "q", "q"), C1)),
        ErrorKind::AccessRefused
    );
}

#[test]
fn amq_names_are_reserved() {
    let v = vhost();
    let e = v
        .declare_exchange(exchange_spec("amq.mine", "direct"), false)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessRefused);
    assert!(e.text.contains("'amq.mine'"), "{}", e.text);
    assert_eq!(
        kind(v.declare_queue(queue_spec("amq.q"), false, C1)),
        ErrorKind::AccessRefused
    );
    assert_eq!(
        kind(v.delete_exchange(&x("amq.direct"), false)),
        ErrorKind::AccessRefused
    );
    let mut same = exchange_spec("amq.topic", "topic");
    same.durable = true;
    v.declare_exchange(same, false).unwrap();
    for name in [
        "amq.direct",
        "amq.fanout",
        "amq.topic",
        "amq.headers",
        "amq.match",
    ] {
        v.declare_exchange(exchange_spec(name, "ignored"), true)
            .unwrap();
    }
}

#[test]
fn exchange_redeclare_must_match() {
    let v = vhost();
    declare_exchange(&*v, "e", "direct");
    declare_exchange(&*v, "e", "direct");
    let e = v
        .declare_exchange(exchange_spec("e", "fanout"), false)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PreconditionFailed);
    assert_eq!(
        e.text,
        "inequivalent arg 'type' for exchange 'e' in vhost '/': received 'fanout' but current is 'direct'"
    );
    let mut durable = exchange_spec("e", "direct");
    durable.durable = true;
    assert_eq!(
        kind(v.declare_exchange(durable, false)),
        ErrorKind::PreconditionFailed
    );
    let mut args = exchange_spec("e", "direct");
    args.arguments
        .insert("alternate-exchange", FieldValue::string("ae"));
    assert_eq!(
        kind(v.declare_exchange(args, false)),
        ErrorKind::PreconditionFailed
    );
}

#[test]
fn exchange_lookup_errors() {
    let v = vhost();
    let e = v
        .declare_exchange(exchange_spec("nope", "direct"), true)
        .unwrap_err();
    assert_eq!(
        (e.kind, e.text.as_str()),
        (ErrorKind::NotFound, "no exchange 'nope' in vhost '/'")
    );
    assert_eq!(
        kind(v.publish(&x("nope"), message("k", "m"))),
        ErrorKind::NotFound
    );
    v.delete_exchange(&x("nope"), false).unwrap();
    let unknown = v
        .declare_exchange(exchange_spec("e", "x-custom"), false)
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::CommandInvalid);
    assert!(unknown.text.contains("unknown exchange type 'x-custom'"));
    declare_queue(&*v, "q");
    assert_eq!(
        kind(v.bind(to_queue("nope", "q", ""), C1)),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(v.bind(to_queue("amq.direct", "none", ""), C1)),
        ErrorKind::NotFound
    );
    v.unbind(to_queue("amq.direct", "q", "never-bound"), C1)
        .unwrap();
}

#[test]
fn internal_exchange_refuses_publish_but_routes_from_others() {
    let v = vhost();
    let mut spec = exchange_spec("inner", "fanout");
    spec.internal = true;
    v.declare_exchange(spec, false).unwrap();
    declare_queue(&*v, "q");
    v.bind(to_queue("inner", "q", ""), C1).unwrap();
    let e = v.publish(&x("inner"), message("k", "m")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessRefused);
    assert_eq!(
        e.text,
        "cannot publish to internal exchange 'inner' in vhost '/'"
    );
    v.bind(to_exchange("amq.fanout", "inner", ""), C1).unwrap();
    assert_eq!(
        v.publish(&x("amq.fanout"), message("k", "m"))
            .unwrap()
            .queues,
        1
    );
}

#[test]
fn delete_exchange_if_unused() {
    let v = vhost();
    declare_exchange(&*v, "e", "direct");
    declare_queue(&*v, "q");
    v.bind(to_queue("e", "q", "k"), C1).unwrap();
    assert_eq!(
        kind(v.delete_exchange(&x("e"), true)),
        ErrorKind::PreconditionFailed
    );
    v.delete_exchange(&x("e"), false).unwrap();
    assert_eq!(
        kind(v.declare_exchange(exchange_spec("e", "direct"), true)),
        ErrorKind::NotFound
    );
    declare_exchange(&*v, "e", "direct");
    assert_eq!(
        v.publish(&x("e"), message("k", "m")).unwrap().queues,
        0,
        "bindings went with it"
    );
}

#[test]
fn invalid_headers_binding_is_refused() {
    let v = vhost();
    declare_queue(&*v, "q");
    let mut b = to_queue("amq.headers", "q", "");
    b.arguments.insert("x-match", FieldValue::string("some"));
    assert_eq!(kind(v.bind(b, C1)), ErrorKind::PreconditionFailed);
}

#[test]
fn server_named_queues() {
    let v = vhost();
    let mut spec = queue_spec("x");
    spec.name = None;
    let a = v.declare_queue(spec.clone(), false, C1).unwrap().name;
    let b = v.declare_queue(spec, false, C1).unwrap().name;
    assert_ne!(a, b);
    let suffix = a.as_str().strip_prefix("amq.gen-").expect("prefix");
    assert_eq!(suffix.len(), 22);
    assert!(suffix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert_eq!(
        v.declare_queue(queue_spec(a.as_str()), true, C1)
            .unwrap()
            .name,
        a
    );
}

#[test]
fn queue_redeclare_and_passive() {
    let v = vhost();
    let e = v.declare_queue(queue_spec("q"), true, C1).unwrap_err();
    assert_eq!(
        (e.kind, e.text.as_str()),
        (ErrorKind::NotFound, "no queue 'q' in vhost '/'")
    );
    declare_queue(&*v, "q");
    send(&*v, "q", "m");
    let ok = v.declare_queue(queue_spec("q"), false, C1).unwrap();
    assert_eq!((ok.message_count, ok.consumer_count), (1, 0));
    let mut durable = queue_spec("q");
    durable.durable = true;
    let e = v.declare_queue(durable, false, C1).unwrap_err();
    assert_eq!(e.kind, ErrorKind::PreconditionFailed);
    assert!(e
        .text
        .starts_with("inequivalent arg 'durable' for queue 'q' in vhost '/'"));
    let mut args = queue_spec("q");
    args.arguments.insert("x-max-length", FieldValue::I32(10));
    assert_eq!(
        kind(v.declare_queue(args.clone(), false, C1)),
        ErrorKind::PreconditionFailed
    );
    let mut passive = args;
    passive.durable = true;
    assert_eq!(
        v.declare_queue(passive, true, C1).unwrap().message_count,
        1,
        "passive ignores properties"
    );
}

#[test]
fn queue_arguments_compare_without_order() {
    let v = vhost();
    let table = |pairs: &[(&str, i32)]| -> FieldTable {
        pairs
            .iter()
            .map(|(k, n)| (k.to_string(), FieldValue::I32(*n)))
            .collect()
    };
    let mut spec = queue_spec("q");
    spec.arguments = table(&[("x-a", 1), ("x-b", 2)]);
    v.declare_queue(spec.clone(), false, C1).unwrap();
    spec.arguments = table(&[("x-b", 2), ("x-a", 1)]);
    v.declare_queue(spec, false, C1).unwrap();
}

#[test]
fn exclusive_queue_is_locked_to_its_connection() {
    let v = vhost();
    let mut spec = queue_spec("mine");
    spec.exclusive = true;
    v.declare_queue(spec.clone(), false, C1).unwrap();
    v.declare_queue(spec.clone(), false, C1).unwrap();
    let locked = ErrorKind::ResourceLocked;
    let e = v.declare_queue(spec.clone(), false, C2).unwrap_err();
    assert_eq!(e.kind, locked);
    assert!(e
        .text
        .starts_with("cannot obtain exclusive access to locked queue 'mine' in vhost '/'"));
    assert_eq!(kind(v.declare_queue(spec, true, C2)), locked);
    assert_eq!(
        kind(v.declare_queue(queue_spec("mine"), false, C1)),
        locked,
        "exclusive must match"
    );
    assert_eq!(
        kind(v.bind(to_queue("amq.direct", "mine", "k"), C2)),
        locked
    );
    assert_eq!(
        kind(v.consume(&q("mine"), consume_spec("t", 0), Sink::new(), C2)),
        locked
    );
    assert_eq!(kind(v.get(&q("mine"), true, C2)), locked);
    assert_eq!(kind(v.purge_queue(&q("mine"), C2)), locked);
    assert_eq!(kind(v.delete_queue(&q("mine"), false, false, C2)), locked);
    send(&*v, "mine", "anyone may publish");
    v.connection_closed(C2);
    assert_eq!(
        v.declare_queue(queue_spec("mine"), true, C1)
            .unwrap()
            .message_count,
        1
    );
    v.connection_closed(C1);
    assert_eq!(
        kind(v.declare_queue(queue_spec("mine"), true, C1)),
        ErrorKind::NotFound
    );
}

#[test]
fn exclusive_consumers() {
    let v = vhost();
    declare_queue(&*v, "q");
    let mut exclusive = consume_spec("x", 0);
    exclusive.exclusive = true;
    let c = v
        .consume(&q("q"), exclusive.clone(), Sink::new(), C1)
        .unwrap();
    let e = err(v.consume(&q("q"), consume_spec("y", 0), Sink::new(), C2));
    assert_eq!(
        (e.kind, e.text.as_str()),
        (
            ErrorKind::AccessRefused,
            "queue 'q' in vhost '/' in exclusive use"
        )
    );
    c.queue.cancel(c.id);
    v.consume(&q("q"), consume_spec("y", 0), Sink::new(), C2)
        .unwrap();
    assert_eq!(
        kind(v.consume(&q("q"), exclusive, Sink::new(), C1)),
        ErrorKind::AccessRefused
    );
}

#[test]
fn queue_arguments_compare_as_rabbitmq_compares_them() {
    let v = vhost();
    let declared = [
        ("x-max-length", FieldValue::I64(10)),
        ("x-custom", FieldValue::I32(1)),
    ];
    v.declare_queue(queue_with("q", &declared), false, C1)
        .unwrap();
    // Any integer width of the same value, and any value of an argument RabbitMQ does not
    // compare, is the same queue.
    let narrower = [
        ("x-max-length", FieldValue::I16(10)),
        ("x-custom", FieldValue::I32(2)),
    ];
    v.declare_queue(queue_with("q", &narrower), false, C1)
        .unwrap();
    let other = err(v.declare_queue(
        queue_with("q", &[("x-max-length", FieldValue::I32(2000))]),
        false,
        C1,
    ));
    assert_eq!(
        other.text,
        "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '2000' but \
         current is '10'"
    );
    v.declare_queue(
        queue_with("t", &[("x-message-ttl", FieldValue::I32(10))]),
        false,
        C1,
    )
    .unwrap();
    let missing = err(v.declare_queue(queue_spec("t"), false, C1));
    assert_eq!(
        missing.text,
        "inequivalent arg 'x-message-ttl' for queue 't' in vhost '/': received none but \
         current is the value '10' of type 'signedint'"
    );
}
