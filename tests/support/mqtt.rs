//! Support for Warren's MQTT suites: the broker under test, event-driven wrappers around
//! rumqttc's 3.1.1 and 5.0 clients, and a raw MQTT client (hand-built packets) for what no
//! well-behaved client library sends.
//!
//! The broker is the one at `WARREN_IT_MQTT_ADDR` (host:port, e.g. Mosquitto) when set, else an
//! in-process Warren. Cross-protocol tests also need `WARREN_IT_AMQP_URL` naming the same broker
//! (e.g. RabbitMQ's AMQP and MQTT listeners); with only one of the two set they are skipped.
//! Names come from [`name`] so tests can share one external broker.

#![allow(dead_code, unused_imports)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use warren_testkit::TestBroker;

pub use warren_it::DEADLINE;

/// How long a test listens to show that something does not arrive.
pub const QUIET: Duration = Duration::from_millis(300);

/// The broker a test talks to; an in-process broker lives as long as this value.
pub enum MqttTarget {
    /// A broker started elsewhere (Mosquitto, RabbitMQ), maybe with an AMQP URL for it.
    External {
        mqtt: SocketAddr,
        amqp: Option<String>,
    },
    /// Warren, in this process.
    Local(TestBroker),
}

/// The broker under test: `WARREN_IT_MQTT_ADDR` if set, else a fresh in-process Warren.
/// Always `Some`; the `Option` lets suites share one shape with [`interop_target`] and
/// [`warren_only`], which may skip.
pub fn target() -> Option<MqttTarget> {
    Some(any_target())
}

fn any_target() -> MqttTarget {
    match std::env::var("WARREN_IT_MQTT_ADDR") {
        Ok(addr) if !addr.is_empty() => MqttTarget::External {
            mqtt: addr
                .to_socket_addrs()
                .expect("WARREN_IT_MQTT_ADDR resolves")
                .next()
                .expect("WARREN_IT_MQTT_ADDR resolves to something"),
            amqp: std::env::var("WARREN_IT_AMQP_URL")
                .ok()
                .filter(|u| !u.is_empty()),
        },
        _ => MqttTarget::Local(TestBroker::start()),
    }
}

/// A broker speaking both MQTT and AMQP, or `None` (the test is skipped) when the environment
/// names only one of the two.
pub fn interop_target() -> Option<MqttTarget> {
    let amqp_set = std::env::var("WARREN_IT_AMQP_URL").is_ok_and(|u| !u.is_empty());
    let t = target()?;
    let ok = match &t {
        MqttTarget::External { amqp, .. } => amqp.is_some(),
        MqttTarget::Local(_) => !amqp_set,
    };
    if !ok {
        eprintln!("skipped: needs WARREN_IT_MQTT_ADDR and WARREN_IT_AMQP_URL for one broker");
    }
    ok.then_some(t)
}

/// In-process Warren, or `None` (the test is skipped) when the environment names another broker:
/// for behaviour that Warren improves on (lossless topic mapping, wildcard retained delivery
/// on RabbitMQ's side) or that only Warren configures (credentials).
pub fn warren_only() -> Option<MqttTarget> {
    let t = target()?;
    if t.is_warren() {
        Some(t)
    } else {
        eprintln!("skipped: pins a Warren-only behaviour");
        None
    }
}

/// An in-process Warren started with `config` (listeners moved to port 0), or `None` (the
/// test is skipped) when the environment names another broker: for settings only Warren has.
pub fn warren_with(config: warren_testkit::Config) -> Option<MqttTarget> {
    if external_broker() {
        eprintln!("skipped: pins a Warren-only setting");
        return None;
    }
    Some(MqttTarget::Local(TestBroker::start_with(config)))
}

/// True when the environment names a broker other than an in-process Warren.
pub fn external_broker() -> bool {
    std::env::var("WARREN_IT_MQTT_ADDR").is_ok_and(|a| !a.is_empty())
}

impl MqttTarget {
    pub fn mqtt_addr(&self) -> SocketAddr {
        match self {
            MqttTarget::External { mqtt, .. } => *mqtt,
            MqttTarget::Local(broker) => broker.mqtt_addr(),
        }
    }

    pub fn is_warren(&self) -> bool {
        matches!(self, MqttTarget::Local(_))
    }

    /// Whether the broker checks credentials: Warren does; an external broker only when
    /// `WARREN_IT_MQTT_AUTH=1` says so (Mosquitto as started by the peers script lets anyone in).
    pub fn checks_credentials(&self) -> bool {
        self.is_warren() || std::env::var("WARREN_IT_MQTT_AUTH").is_ok_and(|v| v == "1")
    }

    /// The AMQP URL of the same broker.
    pub fn amqp_url(&self) -> String {
        match self {
            MqttTarget::External { amqp, .. } => amqp
                .clone()
                .expect("cross-protocol test needs WARREN_IT_AMQP_URL"),
            MqttTarget::Local(broker) => broker.amqp_url(),
        }
    }

    /// Opens a lapin connection to the same broker.
    pub async fn amqp(&self) -> lapin::Connection {
        lapin::Connection::connect(&self.amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("AMQP connect to the broker under test")
    }

    /// 3.1.1 options for `client_id` with guest credentials and a short keepalive.
    pub fn v4(&self, client_id: &str) -> rumqttc::MqttOptions {
        let a = self.mqtt_addr();
        let mut o = rumqttc::MqttOptions::new(client_id, a.ip().to_string(), a.port());
        o.set_credentials("guest", "guest")
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(1 << 20, 1 << 20);
        o
    }

    /// 5.0 options for `client_id` with guest credentials.
    pub fn v5(&self, client_id: &str) -> rumqttc::v5::MqttOptions {
        let a = self.mqtt_addr();
        let mut o = rumqttc::v5::MqttOptions::new(client_id, a.ip().to_string(), a.port());
        o.set_credentials("guest", "guest")
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(Some(1 << 20));
        o
    }

    /// A raw TCP connection to the MQTT listener.
    pub async fn raw(&self) -> Raw {
        Raw::connect(self.mqtt_addr()).await
    }
}

/// A client id or topic segment no other test uses (MQTT client ids of 3.1 are at most 23
/// characters, so these stay short).
pub fn name(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let short: String = what.chars().take(6).collect();
    format!("{short}{:x}{nanos:x}{n:x}", std::process::id() & 0xfff)
}

/// A topic root no other test uses; tests publish below it.
pub fn topic(what: &str) -> String {
    format!("it/{}", name(what))
}

// ---------------------------------------------------------------------------------------------
// rumqttc wrappers: the event loop runs on its own task and forwards every event, so a test
// waits on events with a deadline. Dropping or killing the wrapper drops the socket without a
// DISCONNECT, as a crashed client would.

/// Events of one rumqttc connection.
pub struct Events<E, R> {
    rx: mpsc::UnboundedReceiver<Result<E, R>>,
    task: JoinHandle<()>,
    /// Events passed over by an earlier wait, in arrival order.
    skipped: std::collections::VecDeque<E>,
}

impl<E: std::fmt::Debug, R: std::fmt::Debug> Events<E, R> {
    /// Waits until `pick` accepts an event; panics on a connection error or at the deadline.
    pub async fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&E) -> Option<T>) -> T {
        match self.try_wait_for(DEADLINE, &mut pick).await {
            Some(Ok(t)) => t,
            Some(Err(e)) => panic!("connection failed while waiting for {what}: {e:?}"),
            None => panic!("no {what} within {DEADLINE:?}"),
        }
    }

    /// Waits up to `within` for an event `pick` accepts; `None` if none came, `Err` if the
    /// connection failed first.
    pub async fn try_wait_for<T>(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(&E) -> Option<T>,
    ) -> Option<Result<T, R>> {
        if let Some(i) = self.skipped.iter().position(|e| pick(e).is_some()) {
            let ev = self.skipped.remove(i).expect("index in range");
            return pick(&ev).map(Ok);
        }
        let until = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(until, self.rx.recv()).await {
                Err(_) | Ok(None) => return None,
                Ok(Some(Err(e))) => return Some(Err(e)),
                Ok(Some(Ok(ev))) => match pick(&ev) {
                    Some(t) => return Some(Ok(t)),
                    None => self.skipped.push_back(ev),
                },
            }
        }
    }

    /// Waits for the connection to end with an error (e.g. the server closed it).
    pub async fn closed(&mut self, within: Duration) -> Option<R> {
        let until = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(until, self.rx.recv()).await {
                Err(_) | Ok(None) => return None,
                Ok(Some(Err(e))) => return Some(e),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Drops the socket without a DISCONNECT.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl<E, R> Drop for Events<E, R> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub mod v4 {
    //! rumqttc's MQTT 3.1.1 client.
    use super::*;
    pub use rumqttc::{
        AsyncClient, ConnAck, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions,
        Outgoing, Packet, Publish, QoS, SubscribeReasonCode,
    };

    pub struct Client {
        pub client: AsyncClient,
        pub events: Events<Event, ConnectionError>,
    }

    /// Starts the event loop; the first event is the CONNACK or the refusal.
    pub fn start(opts: MqttOptions) -> Client {
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = eventloop.poll().await;
                let stop = ev.is_err();
                if tx.send(ev).is_err() || stop {
                    // Keep the socket (and the state) until the wrapper is dropped.
                    std::future::pending::<()>().await;
                }
            }
        });
        Client {
            client,
            events: Events {
                rx,
                task,
                skipped: Default::default(),
            },
        }
    }

    /// Connects and returns the CONNACK; panics if refused.
    pub async fn connect(opts: MqttOptions) -> (Client, ConnAck) {
        let mut c = start(opts);
        let ack = c.connack().await.expect("connection accepted");
        (c, ack)
    }

    impl Client {
        /// The CONNACK, or the refusal.
        pub async fn connack(&mut self) -> Result<ConnAck, ConnectionError> {
            match self
                .events
                .try_wait_for(DEADLINE, |e| match e {
                    Event::Incoming(Packet::ConnAck(a)) => Some(a.clone()),
                    _ => None,
                })
                .await
            {
                Some(r) => r,
                None => panic!("no CONNACK within {DEADLINE:?}"),
            }
        }

        pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubscribeReasonCode {
            self.client.subscribe(filter, qos).await.expect("subscribe");
            self.events
                .wait_for("SUBACK", |e| match e {
                    Event::Incoming(Packet::SubAck(a)) => Some(a.return_codes[0]),
                    _ => None,
                })
                .await
        }

        pub async fn unsubscribe(&mut self, filter: &str) {
            self.client.unsubscribe(filter).await.expect("unsubscribe");
            self.events
                .wait_for("UNSUBACK", |e| {
                    matches!(e, Event::Incoming(Packet::UnsubAck(_))).then_some(())
                })
                .await;
        }

        /// Publishes and waits for the flow to complete (PUBACK / PUBCOMP; QoS 0: sent).
        pub async fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &[u8]) {
            self.client
                .publish(topic, qos, retain, payload.to_vec())
                .await
                .expect("publish");
            let pkid = self
                .events
                .wait_for("outgoing PUBLISH", |e| match e {
                    Event::Outgoing(Outgoing::Publish(p)) => Some(*p),
                    _ => None,
                })
                .await;
            if qos == QoS::AtMostOnce {
                return;
            }
            self.events
                .wait_for("publish acknowledgement", |e| match (qos, e) {
                    (QoS::AtLeastOnce, Event::Incoming(Packet::PubAck(a))) if a.pkid == pkid => {
                        Some(())
                    }
                    (QoS::ExactlyOnce, Event::Incoming(Packet::PubComp(a))) if a.pkid == pkid => {
                        Some(())
                    }
                    _ => None,
                })
                .await;
        }

        /// The next PUBLISH from the server.
        pub async fn next_publish(&mut self) -> Publish {
            self.events
                .wait_for("PUBLISH", |e| match e {
                    Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
                    _ => None,
                })
                .await
        }

        /// The next PUBLISH if one arrives within `within` (and the connection holds).
        pub async fn try_next_publish(&mut self, within: Duration) -> Option<Publish> {
            let got = self
                .events
                .try_wait_for(within, |e| match e {
                    Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
                    _ => None,
                })
                .await;
            got.and_then(Result::ok)
        }

        /// Asserts no PUBLISH arrives within `within`.
        pub async fn assert_no_publish(&mut self, within: Duration) {
            let got = self.try_next_publish(within).await;
            assert!(got.is_none(), "unexpected PUBLISH: {got:?}");
        }

        /// A clean DISCONNECT, waiting until it is on the wire.
        pub async fn disconnect(mut self) {
            self.client.disconnect().await.expect("disconnect");
            self.events
                .wait_for("outgoing DISCONNECT", |e| {
                    matches!(e, Event::Outgoing(Outgoing::Disconnect)).then_some(())
                })
                .await;
        }
    }

    /// Publish payload as a string.
    pub fn text(p: &Publish) -> String {
        String::from_utf8_lossy(&p.payload).into_owned()
    }
}

pub mod v5 {
    //! rumqttc's MQTT 5 client.
    use super::*;
    pub use rumqttc::v5::mqttbytes::v5::{
        ConnAck, ConnAckProperties, ConnectProperties, ConnectReturnCode, Disconnect,
        DisconnectReasonCode, Filter, LastWill, LastWillProperties, Packet, PubAckReason, Publish,
        PublishProperties, RetainForwardRule, SubscribeProperties, SubscribeReasonCode,
    };
    pub use rumqttc::v5::mqttbytes::QoS;
    pub use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
    pub use rumqttc::Outgoing;

    pub struct Client {
        pub client: AsyncClient,
        pub events: Events<Event, ConnectionError>,
    }

    pub fn start(opts: MqttOptions) -> Client {
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = eventloop.poll().await;
                let stop = ev.is_err();
                if tx.send(ev).is_err() || stop {
                    std::future::pending::<()>().await;
                }
            }
        });
        Client {
            client,
            events: Events {
                rx,
                task,
                skipped: Default::default(),
            },
        }
    }

    pub async fn connect(opts: MqttOptions) -> (Client, ConnAck) {
        let mut c = start(opts);
        let ack = c.connack().await.expect("connection accepted");
        (c, ack)
    }

    impl Client {
        pub async fn connack(&mut self) -> Result<ConnAck, ConnectionError> {
            match self
                .events
                .try_wait_for(DEADLINE, |e| match e {
                    Event::Incoming(Packet::ConnAck(a)) => Some(a.clone()),
                    _ => None,
                })
                .await
            {
                Some(r) => r,
                None => panic!("no CONNACK within {DEADLINE:?}"),
            }
        }

        pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubscribeReasonCode {
            self.subscribe_filter(Filter::new(filter, qos), None).await
        }

        pub async fn subscribe_filter(
            &mut self,
            filter: Filter,
            props: Option<SubscribeProperties>,
        ) -> SubscribeReasonCode {
            match props {
                Some(p) => self
                    .client
                    .subscribe_many_with_properties([filter], p)
                    .await
                    .expect("subscribe"),
                None => self
                    .client
                    .subscribe_many([filter])
                    .await
                    .expect("subscribe"),
            }
            self.events
                .wait_for("SUBACK", |e| match e {
                    Event::Incoming(Packet::SubAck(a)) => Some(a.return_codes[0]),
                    _ => None,
                })
                .await
        }

        pub async fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &[u8]) {
            self.publish_with(topic, qos, retain, payload, PublishProperties::default())
                .await;
        }

        /// Publishes with properties and waits for the flow to complete.
        pub async fn publish_with(
            &mut self,
            topic: &str,
            qos: QoS,
            retain: bool,
            payload: &[u8],
            props: PublishProperties,
        ) {
            self.client
                .publish_with_properties(topic, qos, retain, payload.to_vec(), props)
                .await
                .expect("publish");
            let pkid = self
                .events
                .wait_for("outgoing PUBLISH", |e| match e {
                    Event::Outgoing(Outgoing::Publish(p)) => Some(*p),
                    _ => None,
                })
                .await;
            if qos == QoS::AtMostOnce {
                return;
            }
            self.events
                .wait_for("publish acknowledgement", |e| match (qos, e) {
                    (QoS::AtLeastOnce, Event::Incoming(Packet::PubAck(a))) if a.pkid == pkid => {
                        Some(())
                    }
                    (QoS::ExactlyOnce, Event::Incoming(Packet::PubComp(a))) if a.pkid == pkid => {
                        Some(())
                    }
                    _ => None,
                })
                .await;
        }

        pub async fn next_publish(&mut self) -> Publish {
            self.events
                .wait_for("PUBLISH", |e| match e {
                    Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
                    _ => None,
                })
                .await
        }

        /// The next PUBLISH if one arrives within `within` (and the connection holds).
        pub async fn try_next_publish(&mut self, within: Duration) -> Option<Publish> {
            let got = self
                .events
                .try_wait_for(within, |e| match e {
                    Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
                    _ => None,
                })
                .await;
            got.and_then(Result::ok)
        }

        pub async fn assert_no_publish(&mut self, within: Duration) {
            let got = self.try_next_publish(within).await;
            assert!(got.is_none(), "unexpected PUBLISH: {got:?}");
        }

        pub async fn disconnect(mut self) {
            self.client.disconnect().await.expect("disconnect");
            self.events
                .wait_for("outgoing DISCONNECT", |e| {
                    matches!(e, Event::Outgoing(Outgoing::Disconnect)).then_some(())
                })
                .await;
        }
    }

    pub fn text(p: &Publish) -> String {
        String::from_utf8_lossy(&p.payload).into_owned()
    }

    pub fn topic_of(p: &Publish) -> String {
        String::from_utf8_lossy(&p.topic).into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Raw MQTT: packets built by hand, read back with a deadline.

/// Packet types (MQTT 5 section 2.1.2).
pub mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
    pub const AUTH: u8 = 15;
}

/// Protocol levels.
pub const V31: u8 = 3;
pub const V311: u8 = 4;
pub const V5: u8 = 5;

/// A variable byte integer (MQTT 5 section 1.5.5).
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A length-prefixed string or binary.
pub fn lp(b: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(b.len())
        .expect("short enough")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(b);
    out
}

/// A packet: first byte, remaining length, body.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// MQTT 5 properties, encoded in order.
#[derive(Default, Clone)]
pub struct Props(Vec<u8>);

impl Props {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn byte(mut self, id: u8, v: u8) -> Self {
        self.0.extend([id, v]);
        self
    }
    pub fn u16(mut self, id: u8, v: u16) -> Self {
        self.0.push(id);
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn u32(mut self, id: u8, v: u32) -> Self {
        self.0.push(id);
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn varint(mut self, id: u8, v: usize) -> Self {
        self.0.push(id);
        self.0.extend(varint(v));
        self
    }
    pub fn str(mut self, id: u8, v: &str) -> Self {
        self.0.push(id);
        self.0.extend(lp(v.as_bytes()));
        self
    }
    pub fn bin(mut self, id: u8, v: &[u8]) -> Self {
        self.0.push(id);
        self.0.extend(lp(v));
        self
    }
    pub fn pair(mut self, k: &str, v: &str) -> Self {
        self.0.push(0x26);
        self.0.extend(lp(k.as_bytes()));
        self.0.extend(lp(v.as_bytes()));
        self
    }
    /// The property block with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = varint(self.0.len());
        out.extend_from_slice(&self.0);
        out
    }
}

/// Property identifiers used by the suites.
pub mod prop {
    pub const PAYLOAD_FORMAT: u8 = 0x01;
    pub const MESSAGE_EXPIRY: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_ID: u8 = 0x0B;
    pub const SESSION_EXPIRY: u8 = 0x11;
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTH_METHOD: u8 = 0x15;
    pub const AUTH_DATA: u8 = 0x16;
    pub const WILL_DELAY: u8 = 0x18;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
}

/// A will for [`Connect`].
#[derive(Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 only.
    pub props: Props,
}

/// A CONNECT packet under construction.
#[derive(Clone)]
pub struct Connect {
    pub level: u8,
    pub client_id: String,
    pub clean: bool,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: Option<Will>,
    /// MQTT 5 only.
    pub props: Props,
    /// Overrides the reserved flag bit (for malformed-CONNECT tests).
    pub reserved_flag: bool,
}

impl Connect {
    pub fn new(level: u8, client_id: &str) -> Self {
        Self {
            level,
            client_id: client_id.to_owned(),
            clean: true,
            keep_alive: 30,
            username: Some("guest".into()),
            password: Some(b"guest".to_vec()),
            will: None,
            props: Props::new(),
            reserved_flag: false,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = if self.level == V31 {
            lp(b"MQIsdp")
        } else {
            lp(b"MQTT")
        };
        body.push(self.level);
        let mut flags = u8::from(self.reserved_flag);
        flags |= u8::from(self.clean) << 1;
        if let Some(w) = &self.will {
            flags |= 0x04 | (w.qos << 3) | (u8::from(w.retain) << 5);
        }
        flags |= u8::from(self.password.is_some()) << 6;
        flags |= u8::from(self.username.is_some()) << 7;
        body.push(flags);
        body.extend(self.keep_alive.to_be_bytes());
        if self.level == V5 {
            body.extend(self.props.encode());
        }
        body.extend(lp(self.client_id.as_bytes()));
        if let Some(w) = &self.will {
            if self.level == V5 {
                body.extend(w.props.encode());
            }
            body.extend(lp(w.topic.as_bytes()));
            body.extend(lp(&w.payload));
        }
        if let Some(u) = &self.username {
            body.extend(lp(u.as_bytes()));
        }
        if let Some(p) = &self.password {
            body.extend(lp(p));
        }
        packet(kind::CONNECT << 4, &body)
    }
}

/// A PUBLISH; `props` is `Some` for MQTT 5.
pub fn publish(
    topic: &str,
    qos: u8,
    retain: bool,
    dup: bool,
    pkid: u16,
    payload: &[u8],
    props: Option<&Props>,
) -> Vec<u8> {
    publish_bytes(topic.as_bytes(), qos, retain, dup, pkid, payload, props)
}

/// A PUBLISH with arbitrary topic bytes.
pub fn publish_bytes(
    topic: &[u8],
    qos: u8,
    retain: bool,
    dup: bool,
    pkid: u16,
    payload: &[u8],
    props: Option<&Props>,
) -> Vec<u8> {
    let first = (kind::PUBLISH << 4) | (u8::from(dup) << 3) | (qos << 1) | u8::from(retain);
    let mut body = lp(topic);
    if qos > 0 {
        body.extend(pkid.to_be_bytes());
    }
    if let Some(p) = props {
        body.extend(p.encode());
    }
    body.extend_from_slice(payload);
    packet(first, &body)
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP in the short form (success).
pub fn ack(kind: u8, pkid: u16) -> Vec<u8> {
    let first = (kind << 4) | if kind == kind::PUBREL { 0x02 } else { 0 };
    packet(first, &pkid.to_be_bytes())
}

/// A SUBSCRIBE of `(filter, options)`; `props` is `Some` for MQTT 5.
pub fn subscribe(pkid: u16, filters: &[(&str, u8)], props: Option<&Props>) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    if let Some(p) = props {
        body.extend(p.encode());
    }
    for (f, o) in filters {
        body.extend(lp(f.as_bytes()));
        body.push(*o);
    }
    packet((kind::SUBSCRIBE << 4) | 0x02, &body)
}

/// A SUBSCRIBE of one filter given as raw bytes.
pub fn subscribe_bytes(pkid: u16, filter: &[u8], options: u8, v5: bool) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    if v5 {
        body.push(0);
    }
    body.extend(lp(filter));
    body.push(options);
    packet((kind::SUBSCRIBE << 4) | 0x02, &body)
}

pub fn pingreq() -> Vec<u8> {
    vec![kind::PINGREQ << 4, 0]
}

/// A DISCONNECT; MQTT 5 with a reason code and properties when `v5` is `Some`.
pub fn disconnect(v5: Option<(u8, &Props)>) -> Vec<u8> {
    match v5 {
        None => vec![kind::DISCONNECT << 4, 0],
        Some((reason, props)) => {
            let mut body = vec![reason];
            body.extend(props.encode());
            packet(kind::DISCONNECT << 4, &body)
        }
    }
}

/// An MQTT 5 AUTH packet.
pub fn auth(reason: u8, props: &Props) -> Vec<u8> {
    let mut body = vec![reason];
    body.extend(props.encode());
    packet(kind::AUTH << 4, &body)
}

/// One packet as read from the wire.
#[derive(Debug, Clone)]
pub struct RawPacket {
    pub first: u8,
    pub body: Vec<u8>,
}

/// A PUBLISH as read from the wire.
#[derive(Debug, Clone)]
pub struct RawPublish {
    pub topic: String,
    pub qos: u8,
    pub dup: bool,
    pub retain: bool,
    pub pkid: u16,
    /// MQTT 5: the properties, parsed.
    pub props: Vec<(u8, PropValue)>,
    pub payload: Vec<u8>,
}

/// A parsed MQTT 5 property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    Int(u64),
    Bytes(Vec<u8>),
    Pair(String, String),
}

impl RawPacket {
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    /// CONNACK: (session present, return / reason code).
    pub fn connack(&self) -> (bool, u8) {
        assert_eq!(self.kind(), kind::CONNACK, "expected CONNACK: {self:?}");
        (self.body[0] & 1 == 1, self.body[1])
    }

    /// MQTT 5 CONNACK properties.
    pub fn connack_props(&self) -> Vec<(u8, PropValue)> {
        assert_eq!(self.kind(), kind::CONNACK, "expected CONNACK: {self:?}");
        parse_props(&self.body[2..]).0
    }

    /// The packet identifier of an ack, SUBACK or UNSUBACK.
    pub fn pkid(&self) -> u16 {
        u16::from_be_bytes([self.body[0], self.body[1]])
    }

    /// The reason code of a v5 ack (success when omitted), DISCONNECT or AUTH.
    pub fn reason(&self) -> u8 {
        match self.kind() {
            kind::DISCONNECT | kind::AUTH => self.body.first().copied().unwrap_or(0),
            _ => self.body.get(2).copied().unwrap_or(0),
        }
    }

    /// SUBACK return / reason codes.
    pub fn suback_codes(&self, v5: bool) -> Vec<u8> {
        assert_eq!(self.kind(), kind::SUBACK, "expected SUBACK: {self:?}");
        if v5 {
            let (_, used) = parse_props(&self.body[2..]);
            self.body[2 + used..].to_vec()
        } else {
            self.body[2..].to_vec()
        }
    }

    pub fn publish(&self, v5: bool) -> RawPublish {
        assert_eq!(self.kind(), kind::PUBLISH, "expected PUBLISH: {self:?}");
        let qos = (self.first >> 1) & 3;
        let tlen = usize::from(u16::from_be_bytes([self.body[0], self.body[1]]));
        let topic = String::from_utf8_lossy(&self.body[2..2 + tlen]).into_owned();
        let mut at = 2 + tlen;
        let mut pkid = 0;
        if qos > 0 {
            pkid = u16::from_be_bytes([self.body[at], self.body[at + 1]]);
            at += 2;
        }
        let mut props = Vec::new();
        if v5 {
            let (p, used) = parse_props(&self.body[at..]);
            props = p;
            at += used;
        }
        RawPublish {
            topic,
            qos,
            dup: self.first & 0x08 != 0,
            retain: self.first & 1 == 1,
            pkid,
            props,
            payload: self.body[at..].to_vec(),
        }
    }

    /// MQTT 5 properties after the reason code of a DISCONNECT or AUTH.
    pub fn reason_props(&self) -> Vec<(u8, PropValue)> {
        if self.body.len() < 2 {
            return Vec::new();
        }
        parse_props(&self.body[1..]).0
    }
}

impl RawPublish {
    pub fn prop(&self, id: u8) -> Option<&PropValue> {
        self.props.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }
}

/// The first value of property `id`.
pub fn find_prop(props: &[(u8, PropValue)], id: u8) -> Option<&PropValue> {
    props.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
}

fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    let mut mult = 1usize;
    for (i, byte) in b.iter().enumerate() {
        n += usize::from(byte & 0x7f) * mult;
        if byte & 0x80 == 0 {
            return (n, i + 1);
        }
        mult *= 128;
    }
    panic!("truncated variable byte integer");
}

/// Parses a length-prefixed property block; returns the properties and the bytes used.
pub fn parse_props(b: &[u8]) -> (Vec<(u8, PropValue)>, usize) {
    let (len, used) = read_varint(b);
    let mut at = used;
    let end = used + len;
    let mut out = Vec::new();
    let u16_at = |i: usize| usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
    while at < end {
        let id = b[at];
        at += 1;
        let v = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                at += 1;
                PropValue::Int(u64::from(b[at - 1]))
            }
            0x13 | 0x21 | 0x22 | 0x23 => {
                at += 2;
                PropValue::Int(u16_at(at - 2) as u64)
            }
            0x02 | 0x11 | 0x18 | 0x27 => {
                at += 4;
                PropValue::Int(u64::from(u32::from_be_bytes([
                    b[at - 4],
                    b[at - 3],
                    b[at - 2],
                    b[at - 1],
                ])))
            }
            0x0B => {
                let (n, u) = read_varint(&b[at..]);
                at += u;
                PropValue::Int(n as u64)
            }
            0x26 => {
                let kl = u16_at(at);
                let k = String::from_utf8_lossy(&b[at + 2..at + 2 + kl]).into_owned();
                at += 2 + kl;
                let vl = u16_at(at);
                let v = String::from_utf8_lossy(&b[at + 2..at + 2 + vl]).into_owned();
                at += 2 + vl;
                PropValue::Pair(k, v)
            }
            _ => {
                let l = u16_at(at);
                at += 2 + l;
                PropValue::Bytes(b[at - l..at].to_vec())
            }
        };
        out.push((id, v));
    }
    (out, end)
}

/// A raw MQTT connection.
pub struct Raw {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

/// Why a raw read ended without a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum RawEnd {
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived in time.
    Timeout,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(DEADLINE, tokio::net::TcpStream::connect(addr))
            .await
            .expect("TCP connect within the deadline")
            .expect("TCP connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects and sends `connect`, returning the CONNACK.
    pub async fn open(addr: SocketAddr, connect: &Connect) -> (Self, RawPacket) {
        let mut raw = Self::connect(addr).await;
        raw.send(&connect.encode()).await;
        let ack = raw.recv().await;
        assert_eq!(ack.kind(), kind::CONNACK, "expected CONNACK, got {ack:?}");
        (raw, ack)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.expect("raw write");
    }

    /// Writes, ignoring failure (the server may already have closed).
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next packet; panics at the deadline or on close.
    pub async fn recv(&mut self) -> RawPacket {
        match self.recv_within(DEADLINE).await {
            Ok(p) => p,
            Err(e) => panic!("expected a packet, got {e:?}"),
        }
    }

    /// The next packet of `kind`, skipping others (e.g. PINGRESP).
    pub async fn recv_kind(&mut self, k: u8) -> RawPacket {
        loop {
            let p = self.recv().await;
            if p.kind() == k {
                return p;
            }
        }
    }

    /// The next packet within `within`.
    pub async fn recv_within(&mut self, within: Duration) -> Result<RawPacket, RawEnd> {
        use tokio::io::AsyncReadExt;
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(p) = self.take_packet() {
                return Ok(p);
            }
            let mut chunk = [0u8; 65536];
            match tokio::time::timeout_at(until, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(RawEnd::Timeout),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(RawEnd::Closed),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads until the server closes the connection, returning the packets it sent first;
    /// panics if it is still open after `within`.
    pub async fn expect_close(&mut self, within: Duration) -> Vec<RawPacket> {
        let mut got = Vec::new();
        loop {
            match self.recv_within(within).await {
                Ok(p) => got.push(p),
                Err(RawEnd::Closed) => return got,
                Err(RawEnd::Timeout) => {
                    panic!("connection still open after {within:?}; received {got:?}")
                }
            }
        }
    }

    fn take_packet(&mut self) -> Option<RawPacket> {
        if self.buf.len() < 2 {
            return None;
        }
        let mut len = 0usize;
        let mut mult = 1usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len += usize::from(b & 0x7f) * mult;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            mult *= 128;
        }
        if self.buf.len() < i + len {
            return None;
        }
        let first = self.buf[0];
        let body = self.buf[i..i + len].to_vec();
        self.buf.drain(..i + len);
        Some(RawPacket { first, body })
    }
}

/// Subscribes a raw client to one filter and returns the SUBACK codes.
pub async fn raw_subscribe(raw: &mut Raw, pkid: u16, filter: &str, options: u8, v5: bool) -> u8 {
    let props = Props::new();
    raw.send(&subscribe(pkid, &[(filter, options)], v5.then_some(&props)))
        .await;
    let ack = raw.recv_kind(kind::SUBACK).await;
    assert_eq!(ack.pkid(), pkid);
    ack.suback_codes(v5)[0]
}
