//! Exchanges: routing by each type (direct, fanout, topic, headers, default), the predeclared
//! `amq.*` exchanges, exchange-to-exchange bindings, internal and auto-delete exchanges, and the
//! declare/delete errors.

use lapin::options::{
    BasicPublishOptions, ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    ExchangeUnbindOptions, QueueBindOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use warren_it::{
    assert_code, assert_usable, channel, confirm_channel, declare_durable_exchange, declare_queue,
    drain, publish, publish_with, reply_code, target, unique, DEADLINE,
};

async fn declare(ch: &Channel, name: &str, kind: ExchangeKind) {
    ch.exchange_declare(
        name.into(),
        kind,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange.declare");
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str, args: FieldTable) {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        args,
    )
    .await
    .expect("queue.bind");
}

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
async fn predeclared_amq_exchanges_exist_with_their_types() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let expected = [
        ("amq.direct", ExchangeKind::Direct),
        ("amq.fanout", ExchangeKind::Fanout),
        ("amq.topic", ExchangeKind::Topic),
        ("amq.headers", ExchangeKind::Headers),
        ("amq.match", ExchangeKind::Headers),
    ];
    for (name, kind) in expected {
        declare_durable_exchange(&ch, name, kind, FieldTable::default())
            .await
            .unwrap_or_else(|e| panic!("redeclaring {name} equivalently: {e:?}"));
        let passive = ExchangeDeclareOptions {
            passive: true,
            ..ExchangeDeclareOptions::default()
        };
        ch.exchange_declare(
            name.into(),
            ExchangeKind::Direct,
            passive,
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("passive declare of {name}: {e:?}"));
    }
    let wrong = channel(&conn).await;
    assert_code(
        declare_durable_exchange(
            &wrong,
            "amq.fanout",
            ExchangeKind::Direct,
            FieldTable::default(),
        )
        .await,
        406,
    );
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

async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = channel(conn).await;
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    match ch
        .exchange_declare(
            name.into(),
            ExchangeKind::Direct,
            passive,
            FieldTable::default(),
        )
        .await
    {
        Ok(()) => true,
        Err(e) if reply_code(&e) == Some(404) => false,
        Err(e) => panic!("passive exchange.declare: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_exchange_goes_when_its_last_binding_goes() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let x = unique("autodel");
    let opts = ExchangeDeclareOptions {
        auto_delete: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Direct,
        opts,
        FieldTable::default(),
    )
    .await
    .expect("declare auto-delete exchange");
    assert!(
        exchange_exists(&conn, &x).await,
        "never-bound auto-delete exchange stays"
    );
    let (q1, q2) = (unique("ad1"), unique("ad2"));
    declare_queue(&ch, &q1).await;
    declare_queue(&ch, &q2).await;
    bind(&ch, &q1, &x, "k", FieldTable::default()).await;
    bind(&ch, &q2, &x, "k", FieldTable::default()).await;
    ch.queue_unbind(
        q1.as_str().into(),
        x.as_str().into(),
        "k".into(),
        FieldTable::default(),
    )
    .await
    .expect("unbind first");
    assert!(exchange_exists(&conn, &x).await, "one binding is left");
    ch.queue_unbind(
        q2.as_str().into(),
        x.as_str().into(),
        "k".into(),
        FieldTable::default(),
    )
    .await
    .expect("unbind last");
    assert!(
        !exchange_exists(&conn, &x).await,
        "deleted with its last binding"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_another_type_is_precondition_failed() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let x = unique("retype");
    declare(&ch, &x, ExchangeKind::Direct).await;
    declare(&ch, &x, ExchangeKind::Direct).await;
    let res = ch
        .exchange_declare(
            x.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 406);
    let other = channel(&conn).await;
    let res = declare_durable_exchange(
        &other,
        x.as_str(),
        ExchangeKind::Direct,
        FieldTable::default(),
    )
    .await;
    assert_code(res, 406);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_missing_exchange_is_not_found() {
    let t = target();
    let conn = t.connect().await;
    assert!(!exchange_exists(&conn, &unique("missing")).await);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_an_amq_prefixed_exchange_is_access_refused() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let name = format!("amq.{}", unique("reserved"));
    let res = ch
        .exchange_declare(
            name.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 403);
    assert!(!exchange_exists(&conn, &name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_a_missing_exchange_is_not_found() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let confirm = ch
        .basic_publish(
            unique("missing").as_str().into(),
            "k".into(),
            BasicPublishOptions::default(),
            b"lost",
            BasicProperties::default(),
        )
        .await
        .expect("publish is sent");
    let err = confirm.await.expect_err("missing exchange");
    assert_eq!(reply_code(&err), Some(404), "{err:?}");
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_delete_if_unused_refuses_while_bound() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let x = unique("ifunused");
    declare(&ch, &x, ExchangeKind::Fanout).await;
    let q = unique("bound");
    declare_queue(&ch, &q).await;
    bind(&ch, &q, &x, "", FieldTable::default()).await;
    let if_unused = ExchangeDeleteOptions {
        if_unused: true,
        ..ExchangeDeleteOptions::default()
    };
    assert_code(ch.exchange_delete(x.as_str().into(), if_unused).await, 406);
    assert!(exchange_exists(&conn, &x).await);
    let ch = channel(&conn).await;
    ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .expect("unconditional delete");
    assert!(!exchange_exists(&conn, &x).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_predeclared_exchange_is_access_refused() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let res = ch
        .exchange_delete("amq.direct".into(), ExchangeDeleteOptions::default())
        .await;
    assert_code(res, 403);
    assert!(exchange_exists(&conn, "amq.direct").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_exchange_type_is_command_invalid_and_closes_the_connection() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let res = ch
        .exchange_declare(
            unique("oddtype").as_str().into(),
            ExchangeKind::Custom("x-no-such-type".into()),
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 503);
    let closed =
        warren_it::eventually_async(DEADLINE, || async { !conn.status().connected() }).await;
    assert!(closed, "503 is a connection error");
}
