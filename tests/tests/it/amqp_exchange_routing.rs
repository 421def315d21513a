//! Exchange routing: by each type (direct, fanout, topic, headers with every `x-match`, the
//! default exchange), through the predeclared `amq.topic`, exchange-to-exchange bindings, and
//! internal exchanges reached only through other exchanges.

use crate::amqp_exchange_support::{bind, declare};

use lapin::options::{
    BasicPublishOptions, ExchangeBindOptions, ExchangeDeclareOptions, ExchangeUnbindOptions,
    QueueBindOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use warren_it::{
    assert_code, assert_usable, confirm_channel, declare_queue, drain, publish, publish_with,
    reply_code, target, unique,
};

/// Declares one queue per binding key list and binds it with each key.
async fn queues_bound(ch: &Channel, exchange: &str, keys: &[&[&str]]) -> Vec<String> {
    let mut names = Vec::new();
    for keys in keys {
        let q = unique("q");
        declare_queue(ch, &q).await;
        for key in *keys {
            bind(ch, &q, exchange, key, FieldTable::default()).await;
        }
        names.push(q);
    }
    names
}

/// Publishes each key as its own body, then drains every queue.
async fn route(ch: &Channel, exchange: &str, keys: &[&str], queues: &[String]) -> Vec<Vec<String>> {
    for key in keys {
        publish(ch, exchange, key, key.as_bytes()).await;
    }
    let mut got = Vec::new();
    for q in queues {
        got.push(drain(ch, q).await);
    }
    got
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_exchange_routes_on_exact_key() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = unique("direct");
    declare(&ch, &x, ExchangeKind::Direct).await;
    let qs = queues_bound(&ch, &x, &[&["a"], &["b"], &["a", "b"]]).await;
    let got = route(&ch, &x, &["a", "b", "c", "A", "a.b"], &qs).await;
    assert_eq!(got[0], strings(&["a"]));
    assert_eq!(got[1], strings(&["b"]));
    assert_eq!(got[2], strings(&["a", "b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_exchange_ignores_the_key() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = unique("fanout");
    declare(&ch, &x, ExchangeKind::Fanout).await;
    let qs = queues_bound(&ch, &x, &[&["a"], &[""]]).await;
    let got = route(&ch, &x, &["a", "zzz", ""], &qs).await;
    assert_eq!(got[0], strings(&["a", "zzz", ""]));
    assert_eq!(got[1], strings(&["a", "zzz", ""]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_exchange_matches_star_and_hash() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = unique("topic");
    declare(&ch, &x, ExchangeKind::Topic).await;
    let patterns: &[&[&str]] = &[
        &["*.orange.*"],
        &["*.*.rabbit", "lazy.#"],
        &["#"],
        &["a.*"],
        &["#.end"],
        &["a.#.z"],
        &["exact.key"],
    ];
    let qs = queues_bound(&ch, &x, patterns).await;
    let keys = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy",
        "quick.orange.male.rabbit",
        "a.b",
        "a",
        "a.b.c",
        "x.y.end",
        "end",
        "a.z",
        "a.q.r.z",
        "exact.key",
        "",
    ];
    let got = route(&ch, &x, &keys, &qs).await;
    assert_eq!(
        got[0],
        strings(&[
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "quick.orange.fox"
        ])
    );
    assert_eq!(
        got[1],
        strings(&[
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "lazy.brown.fox",
            "lazy"
        ])
    );
    assert_eq!(got[2], strings(&keys));
    assert_eq!(got[3], strings(&["a.b", "a.z"]));
    assert_eq!(got[4], strings(&["x.y.end", "end"]));
    assert_eq!(got[5], strings(&["a.z", "a.q.r.z"]));
    assert_eq!(got[6], strings(&["exact.key"]));
}

fn table(pairs: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), AMQPValue::LongString((*v).into()));
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_exchange_matches_all_any_and_the_with_x_variants() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = unique("headers");
    declare(&ch, &x, ExchangeKind::Headers).await;
    let bindings = [
        table(&[("x-match", "all"), ("a", "1"), ("b", "2")]),
        table(&[("x-match", "any"), ("a", "1"), ("b", "2")]),
        table(&[("x-match", "all-with-x"), ("x-foo", "bar"), ("a", "1")]),
        table(&[("x-match", "any-with-x"), ("x-foo", "bar")]),
        table(&[("x-match", "all"), ("x-foo", "bar")]),
        table(&[("a", "1")]),
    ];
    let mut qs = Vec::new();
    for args in bindings {
        let q = unique("hq");
        declare_queue(&ch, &q).await;
        bind(&ch, &q, &x, "ignored", args).await;
        qs.push(q);
    }
    let messages: [(&str, &[(&str, &str)]); 6] = [
        ("m1", &[("a", "1"), ("b", "2")]),
        ("m2", &[("a", "1")]),
        ("m3", &[("a", "1"), ("b", "3"), ("c", "9")]),
        ("m4", &[("x-foo", "bar"), ("a", "1")]),
        ("m5", &[("x-foo", "bar")]),
        ("m6", &[]),
    ];
    for (body, headers) in messages {
        let props = BasicProperties::default().with_headers(table(headers));
        publish_with(&ch, &x, "other-key", body.as_bytes(), props).await;
    }
    let mut got = Vec::new();
    for q in &qs {
        got.push(drain(&ch, q).await);
    }
    assert_eq!(got[0], strings(&["m1"]), "all");
    assert_eq!(got[1], strings(&["m1", "m2", "m3", "m4"]), "any");
    assert_eq!(got[2], strings(&["m4"]), "all-with-x");
    assert_eq!(got[3], strings(&["m4", "m5"]), "any-with-x");
    assert_eq!(
        got[4],
        strings(&["m1", "m2", "m3", "m4", "m5", "m6"]),
        "all ignores x- binding arguments"
    );
    assert_eq!(
        got[5],
        strings(&["m1", "m2", "m3", "m4"]),
        "x-match defaults to all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_exchange_routes_by_queue_name_and_refuses_bindings() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("dflt");
    declare_queue(&ch, &q).await;
    publish(&ch, "", &q, b"direct to queue").await;
    publish(&ch, "", &unique("nowhere"), b"dropped").await;
    assert_eq!(drain(&ch, &q).await, strings(&["direct to queue"]));

    let res = ch
        .queue_bind(
            q.as_str().into(),
            "".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 403);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predeclared_amq_topic_routes() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("amqtopic");
    declare_queue(&ch, &q).await;
    let key = format!("{q}.*");
    bind(&ch, &q, "amq.topic", &key, FieldTable::default()).await;
    publish(&ch, "amq.topic", &format!("{q}.x"), b"hit").await;
    publish(&ch, "amq.topic", &format!("{q}.x.y"), b"miss").await;
    assert_eq!(drain(&ch, &q).await, strings(&["hit"]));
}

async fn e2e_bind(ch: &Channel, dest: &str, src: &str, key: &str) {
    ch.exchange_bind(
        dest.into(),
        src.into(),
        key.into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange.bind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_to_exchange_bindings_route_and_unbind() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (src, mid, dst) = (unique("src"), unique("mid"), unique("dst"));
    declare(&ch, &src, ExchangeKind::Direct).await;
    declare(&ch, &mid, ExchangeKind::Topic).await;
    declare(&ch, &dst, ExchangeKind::Fanout).await;
    e2e_bind(&ch, &mid, &src, "k.1").await;
    e2e_bind(&ch, &dst, &mid, "k.*").await;
    let q = unique("e2e");
    declare_queue(&ch, &q).await;
    bind(&ch, &q, &dst, "", FieldTable::default()).await;
    // Also bound directly: a message reaching the queue twice is still delivered once.
    bind(&ch, &q, &src, "k.1", FieldTable::default()).await;

    let got = route(&ch, &src, &["k.1", "k.2"], std::slice::from_ref(&q)).await;
    assert_eq!(got[0], strings(&["k.1"]));

    ch.exchange_unbind(
        mid.as_str().into(),
        src.as_str().into(),
        "k.1".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange.unbind");
    publish(&ch, &mid, "k.3", b"via mid").await;
    publish(&ch, &src, "k.1", b"direct only").await;
    assert_eq!(drain(&ch, &q).await, strings(&["via mid", "direct only"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_exchange_refuses_publishes_but_routes_from_other_exchanges() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (public, internal) = (unique("public"), unique("internal"));
    declare(&ch, &public, ExchangeKind::Fanout).await;
    let opts = ExchangeDeclareOptions {
        internal: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(
        internal.as_str().into(),
        ExchangeKind::Fanout,
        opts,
        FieldTable::default(),
    )
    .await
    .expect("declare internal");
    e2e_bind(&ch, &internal, &public, "").await;
    let q = unique("behind-internal");
    declare_queue(&ch, &q).await;
    bind(&ch, &q, &internal, "", FieldTable::default()).await;
    publish(&ch, &public, "", b"through").await;
    assert_eq!(drain(&ch, &q).await, strings(&["through"]));

    let direct = confirm_channel(&conn).await;
    let confirm = direct
        .basic_publish(
            internal.as_str().into(),
            "".into(),
            BasicPublishOptions::default(),
            b"refused",
            BasicProperties::default(),
        )
        .await
        .expect("publish is sent");
    let err = confirm
        .await
        .expect_err("publishing to an internal exchange fails");
    assert_eq!(reply_code(&err), Some(403), "{err:?}");
    assert_usable(&conn).await;
}
