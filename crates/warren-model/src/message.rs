//! The message as the core sees it: properties, body and the broker's annotations.

use bytes::Bytes;

use crate::field::FieldTable;
use crate::names::{ConnectionId, ExchangeName, RoutingKey};

/// AMQP delivery mode: 1 transient, 2 persistent.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum DeliveryMode {
    /// Lost on restart.
    #[default]
    Transient,
    /// Kept on disk in a durable queue.
    Persistent,
}

/// The AMQP basic-properties superset every protocol maps to and from.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Properties {
    /// MIME type.
    pub content_type: Option<String>,
    /// MIME encoding.
    pub content_encoding: Option<String>,
    /// Application headers.
    pub headers: Option<FieldTable>,
    /// Transient or persistent.
    pub delivery_mode: Option<DeliveryMode>,
    /// 0-9.
    pub priority: Option<u8>,
    /// Correlates a reply with its request.
    pub correlation_id: Option<String>,
    /// Where replies go.
    pub reply_to: Option<String>,
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's form).
    pub expiration: Option<String>,
    /// Application message id.
    pub message_id: Option<String>,
    /// Seconds since the epoch.
    pub timestamp: Option<u64>,
    /// Application message type.
    pub kind: Option<String>,
    /// Publishing user; the broker checks it against the authenticated user.
    pub user_id: Option<String>,
    /// Publishing application.
    pub app_id: Option<String>,
    /// Deprecated AMQP `cluster-id`, carried through untouched.
    pub cluster_id: Option<String>,
}

/// Facts the broker adds: where the message was published. They sit beside the client's
/// properties, never among them.
#[derive(Clone, PartialEq, Debug)]
pub struct Annotations {
    /// The exchange it was published to.
    pub exchange: ExchangeName,
    /// The routing key it was published with.
    pub routing_key: RoutingKey,
    /// The connection that published it, when it came from a client (MQTT 5 no-local
    /// filters on it).
    pub publisher: Option<ConnectionId>,
}

/// A published message, immutable and shared as `Arc<Message>`.
#[derive(Clone, PartialEq, Debug)]
pub struct Message {
    /// Broker annotations.
    pub annotations: Annotations,
    /// Client properties.
    pub properties: Properties,
    /// The body, shared without copying.
    pub body: Bytes,
}

impl Message {
    /// True when the publisher asked for persistence.
    pub fn is_persistent(&self) -> bool {
        self.properties.delivery_mode == Some(DeliveryMode::Persistent)
    }
}
