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
///
/// The fields every message may use are inline; the nine strings, which most messages do
/// without, sit behind one box in [`Text`]. That keeps the properties at a sixth of their
/// size: they are moved several times between a publish's decoding and its `Arc`, and every
/// queued message holds them.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Properties {
    /// Application headers.
    pub headers: Option<FieldTable>,
    /// Transient or persistent.
    pub delivery_mode: Option<DeliveryMode>,
    /// 0-9.
    pub priority: Option<u8>,
    /// Seconds since the epoch.
    pub timestamp: Option<u64>,
    /// The string properties.
    pub text: Text,
}

/// The string properties of a message.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TextProperties {
    /// MIME type.
    pub content_type: Option<String>,
    /// MIME encoding.
    pub content_encoding: Option<String>,
    /// Correlates a reply with its request.
    pub correlation_id: Option<String>,
    /// Where replies go.
    pub reply_to: Option<String>,
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's form).
    pub expiration: Option<String>,
    /// Application message id.
    pub message_id: Option<String>,
    /// Application message type.
    pub kind: Option<String>,
    /// Publishing user; the broker checks it against the authenticated user.
    pub user_id: Option<String>,
    /// Publishing application.
    pub app_id: Option<String>,
    /// Deprecated AMQP `cluster-id`, carried through untouched.
    pub cluster_id: Option<String>,
}

/// No string properties.
static NO_TEXT: TextProperties = TextProperties {
    content_type: None,
    content_encoding: None,
    correlation_id: None,
    reply_to: None,
    expiration: None,
    message_id: None,
    kind: None,
    user_id: None,
    app_id: None,
    cluster_id: None,
};

/// [`TextProperties`] behind a box that exists only once one of them is set. It reads as the
/// properties themselves (`p.text.reply_to`), all absent while there is no box. Writing is
/// explicit, since it makes the box: [`Text::to_mut`] for one property, or a whole
/// [`TextProperties`] converted with `into()`, which makes no box for none. Two values are
/// equal when their properties are, box or not.
#[derive(Clone, Default)]
pub struct Text(Option<Box<TextProperties>>);

impl From<TextProperties> for Text {
    fn from(text: TextProperties) -> Self {
        Self((text != NO_TEXT).then(|| Box::new(text)))
    }
}

impl std::ops::Deref for Text {
    type Target = TextProperties;

    fn deref(&self) -> &TextProperties {
        self.0.as_deref().unwrap_or(&NO_TEXT)
    }
}

impl Text {
    /// The properties to change, boxed first if there were none.
    pub fn to_mut(&mut self) -> &mut TextProperties {
        self.0.get_or_insert_with(Box::default)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to(text: &str) -> TextProperties {
        TextProperties {
            reply_to: Some(text.to_owned()),
            ..TextProperties::default()
        }
    }

    #[test]
    fn no_string_properties_make_no_box() {
        let none: Text = TextProperties::default().into();
        assert!(none.0.is_none());
        assert!(Text::default().0.is_none());
        assert_eq!(none.reply_to, None);
        let some: Text = reply_to("r").into();
        assert!(some.0.is_some());
        assert_eq!(some.reply_to.as_deref(), Some("r"));
    }

    #[test]
    fn texts_are_equal_by_their_properties_box_or_not() {
        let mut emptied: Text = reply_to("r").into();
        emptied.to_mut().reply_to = None;
        assert!(emptied.0.is_some(), "still boxed");
        assert_eq!(emptied, Text::default());
        let mut set = Text::default();
        set.to_mut().reply_to = Some("r".into());
        assert_eq!(set, reply_to("r").into());
        assert_ne!(set, Text::default());
    }

    #[test]
    fn properties_stay_small() {
        // Every publish moves them several times and every queued message holds them; the
        // strings behind one box keep them within a cache line.
        assert!(std::mem::size_of::<Properties>() <= 64);
    }
}
