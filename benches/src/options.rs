//! The command line: what to run against which broker.

use clap::{Parser, ValueEnum};
use serde::Serialize;

/// A protocol the load generator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// AMQP 0-9-1.
    Amqp,
    /// MQTT 3.1.1 or 5 (see `--mqtt-version`).
    Mqtt,
    /// STOMP 1.2.
    Stomp,
}

impl Protocol {
    /// The port a broker of this protocol listens on by default.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Amqp => 5672,
            Self::Mqtt => 1883,
            Self::Stomp => 61613,
        }
    }
}

/// How consumers settle deliveries (AMQP, STOMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    /// The broker considers a message settled once sent (AMQP no-ack, STOMP `ack:auto`).
    Auto,
    /// The consumer acknowledges, cumulatively, once per read (AMQP `multiple`, STOMP
    /// `ack:client`).
    Manual,
}

/// Drive a broker: N publishers and M consumers, each on its own connection.
#[derive(Clone, Debug, Parser, Serialize)]
#[command(name = "warren-bench", version)]
pub struct Options {
    /// A name for this run, copied into the report.
    #[arg(long, default_value = "")]
    pub label: String,
    /// The publishers' protocol.
    #[arg(long, value_enum, default_value = "amqp")]
    pub protocol: Protocol,
    /// The consumers' protocol (default: the publishers'). A different one makes the run
    /// cross-protocol: messages then go through the topic exchange (`amq.topic`).
    #[arg(long, value_enum)]
    pub consume_protocol: Option<Protocol>,
    /// Broker host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The publishers' port (default: the protocol's standard port).
    #[arg(long)]
    pub port: Option<u16>,
    /// The consumers' port (default: the publishers' port when the protocols match, else the
    /// consumers' protocol's standard port).
    #[arg(long)]
    pub consume_port: Option<u16>,
    /// User name.
    #[arg(long, default_value = "guest")]
    pub user: String,
    /// Password.
    #[arg(long, default_value = "guest")]
    pub password: String,
    /// Virtual host (AMQP, STOMP `host` header).
    #[arg(long, default_value = "/")]
    pub vhost: String,
    /// Publishing connections.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Consuming connections.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    /// Destinations (queues or topics): publisher i and consumer j use destination i % D and
    /// j % D.
    #[arg(long, default_value_t = 1)]
    pub destinations: usize,
    /// Slow clients beside the measured consumers: each subscribes to the first destination
    /// like a consumer, then reads its socket at `--slow-read` bytes a second and throws the
    /// bytes away (no acknowledgements: meant for MQTT QoS 0, `--ack none`). Not counted as
    /// consumers; the report gives the bytes they read.
    #[arg(long, default_value_t = 0)]
    pub slow_consumers: usize,
    /// Bytes a second each slow consumer reads.
    #[arg(long, default_value_t = 100_000)]
    pub slow_read: u64,
    /// Fan-out: every consumer gets its own copy of each message of its destination
    /// (a queue per consumer bound to one topic) instead of competing for one queue.
    #[arg(long)]
    pub fanout: bool,
    /// Payload size in bytes (at least 8 carry the send time for latency).
    #[arg(long, default_value_t = 16)]
    pub size: usize,
    /// Total publish rate in messages per second, shared by the publishers; 0 is flat out.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Measurement window in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to wait after the window for consumers to catch up before counting losses.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// The drain ends early once consumers received nothing new for this many seconds.
    #[arg(long, default_value_t = 2.0)]
    pub stall: f64,
    /// MQTT QoS for publishes and subscriptions (0, 1 or 2).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// MQTT protocol level: 4 (3.1.1) or 5.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(4..=5))]
    pub mqtt_version: u8,
    /// Consumer acknowledgements (AMQP, STOMP).
    #[arg(long, value_enum, default_value = "auto")]
    pub ack: AckMode,
    /// Consumer prefetch with manual acks (AMQP `basic.qos`, STOMP `prefetch-count`); 0 is
    /// unlimited.
    #[arg(long, default_value_t = 100)]
    pub prefetch: u16,
    /// Publisher confirms (AMQP `confirm.select`, STOMP a `receipt` per SEND); MQTT QoS 1
    /// and 2 are always confirmed.
    #[arg(long)]
    pub confirms: bool,
    /// Unconfirmed messages a publisher may have outstanding (confirms, MQTT QoS > 0).
    #[arg(long, default_value_t = 1000)]
    pub inflight: u32,
    /// Persistent messages (and durable queues).
    #[arg(long)]
    pub persistent: bool,
    /// Idle connections of the publishers' protocol, opened before the run and held through
    /// it (MQTT keep alive 60 s, AMQP with one open channel).
    #[arg(long, default_value_t = 0)]
    pub idle: usize,
    /// A broker process to sample (RSS, CPU) from /proc during the run.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Runtime worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Options {
    /// The consumers' protocol.
    pub fn consumer_protocol(&self) -> Protocol {
        self.consume_protocol.unwrap_or(self.protocol)
    }

    /// The publishers' port.
    pub fn publish_port(&self) -> u16 {
        self.port.unwrap_or(self.protocol.default_port())
    }

    /// The consumers' port.
    pub fn consumer_port(&self) -> u16 {
        let protocol = self.consumer_protocol();
        match self.consume_port {
            Some(port) => port,
            None if protocol == self.protocol => self.publish_port(),
            None => protocol.default_port(),
        }
    }

    /// The options for a given command line (for tests and scripts).
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(
            std::iter::once("warren-bench".into()).chain(args.into_iter().map(Into::into)),
        )
    }
}
