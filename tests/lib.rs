//! Support for Warren's AMQP integration suites: the broker under test, lapin helpers, and a
//! small raw AMQP 0-9-1 client for what no well-behaved client library will send.
//!
//! Every suite runs against the broker named by `WARREN_IT_AMQP_URL` when it is set (so the
//! suites can be checked against real RabbitMQ), and otherwise against an in-process Warren on
//! loopback port 0. Tests use names from [`unique`] so they can share one external broker.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ErrorKind, ExchangeKind,
};
use warren_testkit::TestBroker;

#[path = "support/raw.rs"]
pub mod raw;

pub use warren_testkit::{eventually, eventually_async};

/// How long a test waits for something the broker should do promptly.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The broker a test talks to; an in-process broker lives as long as this value.
pub enum Target {
    /// A broker started elsewhere, e.g. RabbitMQ.
    External(String),
    /// Warren, in this process.
    Local(TestBroker),
}

/// The broker under test: `WARREN_IT_AMQP_URL` if set, else a fresh in-process Warren.
pub fn target() -> Target {
    match std::env::var("WARREN_IT_AMQP_URL") {
        Ok(url) if !url.is_empty() => Target::External(url),
        _ => Target::Local(TestBroker::start()),
    }
}

impl Target {
    /// True for the in-process Warren: tests pin Warren's exact answer where RabbitMQ's may
    /// differ.
    pub fn is_warren(&self) -> bool {
        matches!(self, Target::Local(_))
    }

    /// An AMQP URL for guest on vhost `/`.
    pub fn url(&self) -> String {
        match self {
            Target::External(url) => url.clone(),
            Target::Local(broker) => broker.amqp_url(),
        }
    }

    /// The broker's AMQP socket address, for raw clients.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::External(url) => {
                let uri: lapin::uri::AMQPUri = url.parse().expect("WARREN_IT_AMQP_URL parses");
                (uri.authority.host.as_str(), uri.authority.port)
                    .to_socket_addrs()
                    .expect("broker address resolves")
                    .next()
                    .expect("broker address resolves to something")
            }
            Target::Local(broker) => broker.amqp_addr(),
        }
    }

    /// An AMQP URL with other credentials and an already percent-encoded vhost.
    pub fn url_for(&self, user: &str, password: &str, vhost: &str) -> String {
        format!("amqp://{user}:{password}@{}/{vhost}", self.addr())
    }

    /// Opens a lapin connection as guest on `/`.
    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.url(), ConnectionProperties::default())
            .await
            .expect("connect to the broker under test")
    }
}

/// A name no other test (in this run or a concurrent one) uses.
pub fn unique(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("it.{what}.{}.{nanos}.{n}", std::process::id())
}

/// The AMQP reply code a lapin error carries, if it is a protocol error.
pub fn reply_code(error: &lapin::Error) -> Option<u16> {
    match error.kind() {
        ErrorKind::ProtocolError(e) => Some(e.get_id()),
        _ => None,
    }
}

/// Asserts `result` failed with AMQP reply `code`.
pub fn assert_code<T: std::fmt::Debug>(result: lapin::Result<T>, code: u16) {
    match result {
        Ok(v) => panic!("expected AMQP error {code}, got success: {v:?}"),
        Err(e) => assert_eq!(reply_code(&e), Some(code), "unexpected error: {e:?}"),
    }
}

/// Opens a channel.
pub async fn channel(conn: &Connection) -> Channel {
    conn.create_channel().await.expect("open channel")
}

/// Opens a channel in confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = channel(conn).await;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    ch
}

/// Declares a plain (non-durable, non-exclusive, not auto-delete) queue.
pub async fn declare_queue(ch: &Channel, name: &str) -> lapin::Queue {
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue.declare")
}

/// Publishes and, on a confirm channel, waits until the broker confirms it.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    publish_with(ch, exchange, key, body, BasicProperties::default()).await;
}

/// Publishes with properties and, on a confirm channel, waits for the confirm.
pub async fn publish_with(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    let confirmation = send(ch, exchange, key, body, props)
        .await
        .await
        .expect("publisher confirm");
    assert!(!confirmation.is_nack(), "broker nacked a publish");
}

/// Publishes on a confirm channel and requires the broker's ack within [`DEADLINE`].
pub async fn publish_acked(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    let confirm = send(ch, exchange, key, body, props).await;
    let confirmation = tokio::time::timeout(DEADLINE, confirm)
        .await
        .expect("confirm within deadline")
        .expect("confirm");
    assert!(confirmation.is_ack(), "{confirmation:?}");
}

/// `basic.publish`, without waiting for its confirm.
async fn send(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) -> lapin::PublisherConfirm {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await
    .expect("basic.publish")
}

/// Declares exchange `name` of `kind`, durable, with `arguments`.
pub async fn declare_durable_exchange(
    ch: &Channel,
    name: &str,
    kind: ExchangeKind,
    arguments: FieldTable,
) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(name.into(), kind, durable, arguments)
        .await
}

/// An exclusive, server-named queue.
pub async fn exclusive_queue(ch: &Channel) -> lapin::Queue {
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare("".into(), exclusive, FieldTable::default())
        .await
        .expect("queue.declare")
}

pub async fn connect_to(broker: &TestBroker) -> Connection {
    Connection::connect(&broker.amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect")
}

/// Fetches one message without acking it later (no-ack mode).
pub async fn get(ch: &Channel, queue: &str) -> Option<BasicGetMessage> {
    ch.basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
}

/// Fetches every ready message (no-ack) and returns their bodies as strings.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    while let Some(m) = get(ch, queue).await {
        bodies.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
    }
    bodies
}

/// The queue's ready-message count, via a passive declare on a fresh channel; `None` if the
/// queue does not exist.
pub async fn message_count(conn: &Connection, queue: &str) -> Option<u32> {
    passive_declare(conn, queue)
        .await
        .map(|q| q.message_count())
}

/// A passive declare on a fresh channel; `None` if the queue does not exist (404).
pub async fn passive_declare(conn: &Connection, queue: &str) -> Option<lapin::Queue> {
    let ch = channel(conn).await;
    let opts = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    match ch
        .queue_declare(queue.into(), opts, FieldTable::default())
        .await
    {
        Ok(q) => {
            let _ = ch.close(200, "done".into()).await;
            Some(q)
        }
        Err(e) if reply_code(&e) == Some(404) => None,
        Err(e) => panic!("passive queue.declare failed unexpectedly: {e:?}"),
    }
}

/// The next delivery, failing the test if none arrives before [`DEADLINE`].
pub async fn next_delivery(consumer: &mut Consumer) -> Delivery {
    match tokio::time::timeout(DEADLINE, consumer.next()).await {
        Ok(Some(Ok(d))) => d,
        Ok(Some(Err(e))) => panic!("consumer failed: {e:?}"),
        Ok(None) => panic!("consumer ended"),
        Err(_) => panic!("no delivery within {DEADLINE:?}"),
    }
}

/// The body of a delivery as a string.
pub fn body(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.data).into_owned()
}

/// Asserts the connection still works: a new channel can declare, publish and get.
pub async fn assert_usable(conn: &Connection) {
    let ch = confirm_channel(conn).await;
    let queue = unique("usable");
    let opts = QueueDeclareOptions {
        exclusive: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.as_str().into(), opts, FieldTable::default())
        .await
        .expect("declare on a connection that should be usable");
    publish(&ch, "", &queue, b"ping").await;
    let got = get(&ch, &queue).await.expect("message just published");
    assert_eq!(got.delivery.data, b"ping");
    ch.close(200, "done".into()).await.expect("channel.close");
}

/// Asserts the broker serves a brand-new client.
pub async fn assert_broker_serves(target: &Target) {
    let conn = tokio::time::timeout(DEADLINE, target.connect())
        .await
        .expect("a new client connects within the deadline");
    assert_usable(&conn).await;
    let _ = conn.close(200, "done".into()).await;
}
