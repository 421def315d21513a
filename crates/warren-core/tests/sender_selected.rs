//! Sender-selected distribution: `CC` and `BCC` header keys route like the routing key, on
//! the default exchange and through exchanges; `BCC` never reaches a receiver.

mod common;
mod features;

use std::sync::Arc;

use common::*;
use features::get;
use warren_model::{FieldTable, FieldValue, Message};

fn with_copies(key: &str, cc: &[&str], bcc: &[&str]) -> Arc<Message> {
    let mut m = Message::clone(&message(key, "copied"));
    let keys = |ks: &[&str]| FieldValue::Array(ks.iter().map(|k| FieldValue::string(*k)).collect());
    let mut headers = FieldTable::new();
    headers.insert("CC", keys(cc));
    headers.insert("BCC", keys(bcc));
    m.properties.headers = Some(headers);
    Arc::new(m)
}

#[test]
fn cc_and_bcc_keys_route_through_an_exchange() {
    let v = vhost();
    for (queue, key) in [
        ("to", "k.to"),
        ("cc", "k.cc"),
        ("bcc", "k.bcc"),
        ("none", "k.x"),
    ] {
        declare_queue(&*v, queue);
        v.bind(to_queue("amq.direct", queue, key), C1).unwrap();
    }
    let outcome = v
        .publish(&x("amq.direct"), with_copies("k.to", &["k.cc"], &["k.bcc"]))
        .unwrap();
    assert_eq!(outcome.queues, 3);
    for queue in ["to", "cc", "bcc"] {
        let got = get(&*v, queue).unwrap_or_else(|| panic!("{queue} got a copy"));
        let headers = got.properties.headers.as_ref().expect("headers");
        assert!(headers.get("BCC").is_none(), "{queue} must not see BCC");
        assert!(headers.get("CC").is_some(), "{queue} sees CC");
    }
    assert!(get(&*v, "none").is_none());
}

#[test]
fn cc_keys_name_queues_on_the_default_exchange_once_each() {
    let v = vhost();
    declare_queue(&*v, "a");
    declare_queue(&*v, "b");
    let outcome = v
        .publish(&x(""), with_copies("a", &["b", "a", "missing"], &[]))
        .unwrap();
    assert_eq!(outcome.queues, 2, "a is reached once");
    assert!(get(&*v, "a").is_some() && get(&*v, "b").is_some());
    assert!(get(&*v, "a").is_none(), "one copy in a");
}
