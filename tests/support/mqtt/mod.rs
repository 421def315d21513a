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

mod packets;
mod raw;
pub mod v4;
pub mod v5;

pub use packets::*;
pub use raw::*;

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
