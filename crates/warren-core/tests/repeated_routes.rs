//! A publisher sending one exchange and key over and over gets its route from a memo (see
//! the core's `vhost::route_memo`). Every change that alters the route must show at the very
//! next publish: each test publishes the same key before and after one change, on one thread.

mod common;
mod features;

use std::sync::Arc;

use common::*;
use features::count;
use warren_model::{FieldTable, FieldValue, Message, VHost};

/// Publishes the message with `key` to `exchange`: how many queues took it.
fn publish(v: &dyn VHost, exchange: &str, key: &str) -> usize {
    v.publish(&x(exchange), message(key, "m")).unwrap().queues
}

#[test]
fn a_new_binding_and_an_unbinding_show_at_the_next_publish() {
    let v = vhost();
    declare_queue(&*v, "a");
    declare_queue(&*v, "b");
    v.bind(to_queue("amq.topic", "a", "k.*"), C1).unwrap();
    assert_eq!(publish(&*v, "amq.topic", "k.x"), 1);
    assert_eq!(publish(&*v, "amq.topic", "k.x"), 1);
    v.bind(to_queue("amq.topic", "b", "#"), C1).unwrap();
    assert_eq!(publish(&*v, "amq.topic", "k.x"), 2);
    v.unbind(to_queue("amq.topic", "a", "k.*"), C1).unwrap();
    assert_eq!(publish(&*v, "amq.topic", "k.x"), 1);
    assert_eq!((count(&*v, "a"), count(&*v, "b")), (3, 2));
}

#[test]
fn a_queue_deleted_and_declared_again_gets_the_next_publish() {
    let v = vhost();
    declare_queue(&*v, "q");
    v.bind(to_queue("amq.direct", "q", "k"), C1).unwrap();
    assert_eq!(publish(&*v, "amq.direct", "k"), 1);
    v.delete_queue(&q("q"), false, false, C1).unwrap();
    assert_eq!(publish(&*v, "amq.direct", "k"), 0, "gone with its binding");
    declare_queue(&*v, "q");
    assert_eq!(publish(&*v, "amq.direct", "k"), 0, "not bound again yet");
    v.bind(to_queue("amq.direct", "q", "k"), C1).unwrap();
    assert_eq!(publish(&*v, "amq.direct", "k"), 1);
    assert_eq!(count(&*v, "q"), 1, "the new queue, not the deleted one");
}

#[test]
fn an_exchange_deleted_and_declared_again_routes_by_its_new_bindings() {
    let v = vhost();
    declare_exchange(&*v, "e", "fanout");
    declare_queue(&*v, "old");
    declare_queue(&*v, "new");
    v.bind(to_queue("e", "old", ""), C1).unwrap();
    assert_eq!(publish(&*v, "e", "k"), 1);
    v.delete_exchange(&x("e"), false).unwrap();
    assert!(
        v.publish(&x("e"), message("k", "m")).is_err(),
        "no exchange"
    );
    declare_exchange(&*v, "e", "direct");
    v.bind(to_queue("e", "new", "k"), C1).unwrap();
    assert_eq!(publish(&*v, "e", "k"), 1);
    assert_eq!((count(&*v, "old"), count(&*v, "new")), (1, 1));
}

#[test]
fn routes_through_other_exchanges_follow_their_bindings() {
    let v = vhost();
    declare_exchange(&*v, "front", "direct");
    declare_exchange(&*v, "back", "fanout");
    declare_exchange(&*v, "spare", "fanout");
    declare_queue(&*v, "a");
    declare_queue(&*v, "b");
    v.bind(to_exchange("front", "back", "k"), C1).unwrap();
    v.bind(to_queue("back", "a", ""), C1).unwrap();
    assert_eq!(publish(&*v, "front", "k"), 1);
    v.bind(to_queue("back", "b", ""), C1).unwrap();
    assert_eq!(
        publish(&*v, "front", "k"),
        2,
        "a binding of the exchange behind"
    );

    let mut spec = exchange_spec("alt", "direct");
    spec.arguments
        .insert("alternate-exchange", FieldValue::string("spare"));
    v.declare_exchange(spec, false).unwrap();
    v.bind(to_queue("spare", "a", ""), C1).unwrap();
    assert_eq!(publish(&*v, "alt", "k"), 1);
    v.bind(to_queue("spare", "b", ""), C1).unwrap();
    assert_eq!(
        publish(&*v, "alt", "k"),
        2,
        "a binding of the alternate exchange"
    );
}

fn with_header(key: &str, value: &str) -> Arc<Message> {
    let mut m = Message::clone(&message(key, "m"));
    let mut headers = FieldTable::new();
    headers.insert("h", FieldValue::string(value));
    m.properties.headers = Some(headers);
    Arc::new(m)
}

#[test]
fn a_headers_exchange_routes_each_message_by_its_own_headers() {
    let v = vhost();
    declare_queue(&*v, "one");
    let mut binding = to_queue("amq.headers", "one", "");
    binding.arguments.insert("h", FieldValue::string("1"));
    v.bind(binding, C1).unwrap();
    let taken = |value| {
        v.publish(&x("amq.headers"), with_header("k", value))
            .unwrap()
            .queues
    };
    assert_eq!((taken("1"), taken("2"), taken("1")), (1, 0, 1));
}

#[test]
fn the_same_names_in_two_vhosts_are_two_routes() {
    let name = |n: &str| warren_model::VHostName::try_from(n).unwrap();
    let mut config = warren_core::CoreConfig::default();
    config.vhosts.push(name("other"));
    let core = warren_core::Core::new(config);
    let first = core.vhost_by_name(&name("/")).unwrap();
    let second = core.vhost_by_name(&name("other")).unwrap();
    // The same declarations in both, so the two vhosts' maps have the same version too.
    declare_queue(&*first, "q");
    declare_queue(&*second, "q");
    first.bind(to_queue("amq.direct", "q", "k"), C1).unwrap();
    assert_eq!(publish(&*first, "amq.direct", "k"), 1);
    assert_eq!(publish(&*second, "amq.direct", "k"), 0);
    assert_eq!(publish(&*first, "amq.direct", "k"), 1);
}

/// A consumer that publishes every other delivery on (the first, the third...), with `key`
/// to `amq.direct`, from within the delivery: from the third on, a publish made while the
/// outer publish is delivering along its kept route.
struct Forwarder {
    vhost: std::sync::Weak<dyn VHost>,
    key: &'static str,
    seen: std::sync::atomic::AtomicUsize,
    taken: std::sync::Mutex<Vec<usize>>,
}

impl warren_model::DeliverySink for Forwarder {
    fn deliver(&self, _: warren_model::Delivery) {
        let seen = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if seen % 2 == 1 {
            return;
        }
        let v = self.vhost.upgrade().unwrap();
        let n = publish(&*v, "amq.direct", self.key);
        self.taken.lock().unwrap().push(n);
    }
    fn has_room(&self) -> bool {
        true
    }
    fn cancelled(&self, _: &warren_model::ConsumerTag) {}
}

#[test]
fn a_publish_from_within_a_delivery_routes_and_later_changes_still_show() {
    let v = vhost();
    for name in ["in", "out"] {
        declare_queue(&*v, name);
        v.bind(to_queue("amq.direct", name, name), C1).unwrap();
    }
    let forwarder = Arc::new(Forwarder {
        vhost: Arc::downgrade(&v),
        key: "out",
        seen: Default::default(),
        taken: Default::default(),
    });
    let mut spec = consume_spec("f", 0);
    spec.no_ack = true;
    v.consume(&q("in"), spec, forwarder.clone(), C1).unwrap();
    for _ in 0..6 {
        assert_eq!(publish(&*v, "amq.direct", "in"), 1);
    }
    assert_eq!(*forwarder.taken.lock().unwrap(), [1, 1, 1]);
    assert_eq!(count(&*v, "out"), 3);
    v.unbind(to_queue("amq.direct", "in", "in"), C1).unwrap();
    assert_eq!(
        publish(&*v, "amq.direct", "in"),
        0,
        "the kept route saw the unbinding"
    );
    assert_eq!(publish(&*v, "amq.direct", "out"), 1);
    assert_eq!(count(&*v, "out"), 4);
}
