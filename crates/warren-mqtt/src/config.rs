//! Listener configuration: where MQTT traffic goes in the core, and the limits a session
//! announces and enforces.

use warren_model::{ExchangeName, VHostName};

/// How MQTT topics become AMQP routing keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum TopicMapping {
    /// `/` and `.` swapped: a bijection, so every topic survives a round trip (`a.b/c` is
    /// `a/b.c`).
    #[default]
    Lossless,
    /// RabbitMQ's plain replacement of `/` by `.` (`a.b/c` is `a.b.c`): lossy, for migrations.
    RabbitMq,
}

/// One MQTT listener's settings. Every field has a default (see [`Default`]).
#[derive(Clone, Debug)]
pub struct MqttConfig {
    /// The vhost MQTT clients use (`/`).
    pub vhost: VHostName,
    /// The topic exchange publishes go to and subscriptions bind from (`amq.topic`).
    pub exchange: ExchangeName,
    /// Topic to routing key mapping (`Lossless`).
    pub topic_mapping: TopicMapping,
    /// Largest packet accepted, fixed header included (16 MiB). Larger packets are refused
    /// from their fixed header, before they are buffered; MQTT 5 clients learn it in CONNACK.
    pub max_packet_size: u32,
    /// A CONNECT without a user name logs in as `default_user` (true).
    pub allow_anonymous: bool,
    /// The user anonymous clients log in as (`guest`, loopback-only in the core).
    pub default_user: String,
    /// Its password (`guest`).
    pub default_password: String,
    /// Cap on a session's expiry in seconds, MQTT 5 and persistent 3.x sessions alike
    /// (604800 = 7 days). MQTT 5 clients asking for more are told the cap in CONNACK.
    pub max_session_expiry_secs: u32,
    /// Inbound QoS 1 and 2 PUBLISHes an MQTT 5 client may have unacknowledged (1024): QoS 2
    /// ones until PUBREL, QoS 1 ones while their PUBACK waits for the disk; one more is
    /// DISCONNECT 0x93. A 3.x client, never told the limit, is held to it for QoS 2 only
    /// (beyond it the connection closes).
    pub receive_maximum: u16,
    /// Outbound QoS > 0 window for clients that announce none (MQTT 3.x): 100.
    pub max_inflight: u16,
    /// Bytes of pending output above which the session stops reading (4 MiB); the core holds
    /// its deliveries once 64 KiB, or this when smaller, waits in its outbox.
    pub max_outbox_bytes: usize,
    /// Inbound topic aliases accepted per connection, announced as Topic Alias Maximum (64).
    pub topic_alias_maximum: u16,
    /// Cap on the client's keep alive; 0 means none (0). MQTT 5 clients asking for more (or
    /// for no keep alive) are given this as Server Keep Alive.
    pub max_keep_alive_secs: u16,
    /// Seconds a new connection has to send CONNECT (10).
    pub connect_timeout_secs: u16,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            vhost: VHostName::try_from("/").unwrap_or_else(|_| unreachable!()),
            exchange: ExchangeName::try_from("amq.topic").unwrap_or_else(|_| unreachable!()),
            topic_mapping: TopicMapping::Lossless,
            max_packet_size: 16 * 1024 * 1024,
            allow_anonymous: true,
            default_user: "guest".into(),
            default_password: "guest".into(),
            max_session_expiry_secs: 7 * 86_400,
            receive_maximum: 1024,
            max_inflight: 100,
            max_outbox_bytes: 4 * 1024 * 1024,
            topic_alias_maximum: 64,
            max_keep_alive_secs: 0,
            connect_timeout_secs: 10,
        }
    }
}
