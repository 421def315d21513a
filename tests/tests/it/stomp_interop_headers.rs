//! STOMP headers and AMQP properties on one core: AMQP publishes reach STOMP subscribers with
//! their properties as headers; STOMP headers reach AMQP consumers as properties; the lossy
//! rows of the mapping (AMQP tables, arrays and non-UTF-8 headers dropped, AMQP headers named
//! like frame headers hidden, `persistent:false` absent on MESSAGE).
//!
//! Against an external broker the tests need `WARREN_IT_AMQP_URL` naming the same broker as
//! `WARREN_IT_STOMP_ADDR`, else they skip.

use crate::stomp;
use crate::stomp_interop_support::*;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection};
use stomp::{target, unique, warren_only, Frame, StompTarget};

fn header_text(d: &lapin::message::Delivery, name: &str) -> Option<String> {
    let headers = d.properties.headers().as_ref()?;
    match headers.inner().get(&ShortString::from(name))? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        other => Some(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_publish_reaches_stomp_with_properties_as_headers() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let key = word("a2s");
    let mut s = t.client().await;
    s.subscribe("s", &format!("/topic/{key}")).await;
    let mut headers = FieldTable::default();
    headers.insert("app-header".into(), AMQPValue::LongString("hv".into()));
    headers.insert("count".into(), AMQPValue::LongInt(42));
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_correlation_id("corr-9".into())
        .with_delivery_mode(2)
        .with_priority(5)
        .with_headers(headers);
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_publish(
        "amq.topic".into(),
        key.as_str().into(),
        BasicPublishOptions::default(),
        b"{\"a\":1}",
        props,
    )
    .await
    .expect("publish");
    let m = s.message().await;
    assert_eq!(m.text(), "{\"a\":1}");
    assert_eq!(
        m.header("destination"),
        Some(format!("/topic/{key}").as_str())
    );
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert_eq!(m.header("correlation-id"), Some("corr-9"));
    assert_eq!(m.header("persistent"), Some("true"));
    assert_eq!(m.header("priority"), Some("5"));
    assert_eq!(m.header("app-header"), Some("hv"));
    assert_eq!(m.header("count"), Some("42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_headers_reach_amqp_as_properties() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("s2a");
    let mut s = t.client().await;
    let headers = [
        ("content-type", "text/plain"),
        ("content-encoding", "gzip"),
        ("persistent", "true"),
        ("priority", "7"),
        ("correlation-id", "c-7"),
        ("reply-to", "/queue/back"),
        ("expiration", "60000"),
        ("timestamp", "1700000000"),
        ("type", "t"),
        ("user-id", "guest"),
        ("app-id", "a"),
        ("custom", "cv"),
        ("x-custom", "xv"),
        ("x-max-length", "10"),
    ];
    s.send_sync(&format!("/queue/{name}"), &headers, "props")
        .await;
    let ch = conn.create_channel().await.expect("channel");
    let mut c = consume(&ch, &name).await;
    let d = next(&mut c).await;
    let p = &d.properties;
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("text/plain")
    );
    assert_eq!(
        p.content_encoding().as_ref().map(|s| s.as_str()),
        Some("gzip")
    );
    assert_eq!(*p.timestamp(), Some(1_700_000_000));
    assert_eq!(p.user_id().as_ref().map(|s| s.as_str()), Some("guest"));
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(*p.priority(), Some(7));
    assert_eq!(p.correlation_id().as_ref().map(|s| s.as_str()), Some("c-7"));
    assert_eq!(
        p.reply_to().as_ref().map(|s| s.as_str()),
        Some("/queue/back")
    );
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
    assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some("t"));
    assert_eq!(p.app_id().as_ref().map(|s| s.as_str()), Some("a"));
    assert_eq!(header_text(&d, "custom").as_deref(), Some("cv"));
    // An `x-*` header not in the list of queue arguments is a header like any other; a listed
    // one shapes the queue and Warren does not keep it on the message (RabbitMQ does).
    assert_eq!(header_text(&d, "x-custom").as_deref(), Some("xv"));
    if matches!(t, StompTarget::Local(_)) {
        assert_eq!(header_text(&d, "x-max-length"), None);
    }
    // Properties are not repeated as headers.
    for name in ["content-encoding", "timestamp", "user-id", "persistent"] {
        assert_eq!(header_text(&d, name), None, "{name}");
    }
    assert_eq!(d.exchange.as_str(), "");
    assert_eq!(d.routing_key.as_str(), name);
}

async fn publish_to_queue(conn: &Connection, queue: &str, props: BasicProperties) {
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        b"body",
        props,
    )
    .await
    .expect("publish");
}

/// What a STOMP subscriber of a new queue receives when AMQP publishes to it with `headers`
/// and a header `kept: yes`: the MESSAGE, checked for its body and the kept header.
async fn message_with_amqp_headers(
    t: &StompTarget,
    conn: &Connection,
    what: &str,
    mut headers: FieldTable,
) -> Frame {
    let name = unique(what);
    let mut s = t.client().await;
    s.subscribe("s", &format!("/queue/{name}")).await;
    headers.insert("kept".into(), AMQPValue::LongString("yes".into()));
    publish_to_queue(
        conn,
        &name,
        BasicProperties::default().with_headers(headers),
    )
    .await;
    let m = s.message().await;
    assert_eq!(m.text(), "body");
    assert_eq!(m.header("kept"), Some("yes"));
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_table_and_array_headers_are_dropped_on_message() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let mut inner = FieldTable::default();
    inner.insert("k".into(), AMQPValue::LongString("v".into()));
    let mut headers = FieldTable::default();
    headers.insert("nested".into(), AMQPValue::FieldTable(inner));
    headers.insert(
        "list".into(),
        AMQPValue::FieldArray(vec![AMQPValue::LongInt(1)].into()),
    );
    headers.insert("flag".into(), AMQPValue::Boolean(true));
    let m = message_with_amqp_headers(&t, &conn, "a2s-lossy", headers).await;
    if matches!(t, StompTarget::Local(_)) {
        // RabbitMQ drops a boolean too; Warren shows it as text.
        assert_eq!(m.header("flag"), Some("true"), "shown as text");
    }
    for name in ["nested", "list"] {
        assert_eq!(m.header(name), None, "{name} in {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_headers_that_are_not_utf8_are_dropped_on_message() {
    // RabbitMQ sends the bytes as they are, which no STOMP frame may hold.
    let Some(t) = warren_only() else { return };
    let Some(conn) = amqp(&t).await else { return };
    let mut headers = FieldTable::default();
    headers.insert(
        "bytes".into(),
        AMQPValue::LongString(vec![0xff, 0xfe, b'x'].into()),
    );
    let m = message_with_amqp_headers(&t, &conn, "a2s-bytes", headers).await;
    assert_eq!(m.header("bytes"), None, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_headers_named_like_frame_headers_are_hidden() {
    // RabbitMQ shows them after its own headers (a reader taking the first value sees the right
    // one, but the frame carries two `destination` headers, two `content-length` ...).
    let Some(t) = warren_only() else { return };
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("a2s-hidden");
    let dest = format!("/queue/{name}");
    let mut s = t.client().await;
    s.subscribe_with("s", &dest, &[("ack", "client-individual")])
        .await;
    let mut headers = FieldTable::default();
    for (n, v) in [
        ("destination", "/queue/elsewhere"),
        ("message-id", "fake-id"),
        ("subscription", "fake-sub"),
        ("redelivered", "fake"),
        ("ack", "fake-ack"),
        ("content-length", "999"),
        ("receipt", "fake-receipt"),
        ("content-type", "fake/type"),
        ("persistent", "true"),
        ("priority", "9"),
    ] {
        headers.insert(n.into(), AMQPValue::LongString(v.into()));
    }
    let props = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_delivery_mode(1)
        .with_headers(headers);
    publish_to_queue(&conn, &name, props).await;
    let m = s.message().await;
    assert_eq!(m.text(), "body");
    let all = |n: &str| -> Vec<&str> {
        m.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(all("destination"), [dest.as_str()], "{m:?}");
    assert_eq!(all("subscription"), ["s"], "{m:?}");
    assert_eq!(all("content-type"), ["text/plain"], "{m:?}");
    assert_eq!(all("content-length"), ["4"], "{m:?}");
    let id = all("message-id");
    assert_eq!(id.len(), 1, "{m:?}");
    assert_ne!(id[0], "fake-id");
    assert_eq!(all("ack"), id, "{m:?}");
    assert_eq!(all("redelivered").len(), 1, "{m:?}");
    assert_ne!(all("redelivered"), ["fake"], "{m:?}");
    for absent in ["receipt", "persistent", "priority"] {
        assert!(all(absent).is_empty(), "{absent} in {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_false_comes_back_absent_and_reaches_amqp_as_transient() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let key = word("not-persistent");
    let mut s = t.client().await;
    s.subscribe("s", &format!("/topic/{key}")).await;
    let ch = conn.create_channel().await.expect("channel");
    let mut amqp_consumer = bound_queue(&ch, "amq.topic", &key).await;
    s.send_sync(
        &format!("/topic/{key}"),
        &[("persistent", "false")],
        "transient",
    )
    .await;
    let m = s.message().await;
    assert_eq!(m.text(), "transient");
    assert_eq!(m.header("persistent"), None, "{m:?}");
    let d = next(&mut amqp_consumer).await;
    assert_ne!(*d.properties.delivery_mode(), Some(2));
    if matches!(t, StompTarget::Local(_)) {
        // RabbitMQ leaves the delivery mode unset.
        assert_eq!(*d.properties.delivery_mode(), Some(1));
    }
    assert_eq!(header_text(&d, "persistent"), None);
}
