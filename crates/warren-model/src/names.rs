//! Newtypes for the names and ids that cross layers. Each validates in `TryFrom` and shows
//! itself with `Display`.

use std::fmt;
use std::sync::Arc;

use crate::error::CoreError;

/// AMQP short strings are at most 255 bytes; every name Warren stores fits in one.
pub const MAX_NAME_LEN: usize = 255;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = CoreError;
            fn try_from(value: &str) -> Result<Self, CoreError> {
                if value.len() > MAX_NAME_LEN {
                    return Err(CoreError::precondition(format!(
                        "{} name longer than {} bytes",
                        $what, MAX_NAME_LEN
                    )));
                }
                Ok(Self(Arc::from(value)))
            }
        }

        /// Maps keyed by the name can be searched with a `&str` (no name built for a lookup);
        /// the derived `Hash` and `Eq` are those of the string, as `Borrow` requires.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = CoreError;
            fn try_from(value: String) -> Result<Self, CoreError> {
                Self::try_from(value.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

name_type!(
    /// A virtual host, e.g. `/`.
    VHostName,
    "vhost"
);
name_type!(
    /// An exchange name; the empty name is the default exchange.
    ExchangeName,
    "exchange"
);
name_type!(
    /// A queue name.
    QueueName,
    "queue"
);
name_type!(
    /// A routing key or binding key.
    RoutingKey,
    "routing key"
);
name_type!(
    /// A consumer tag, unique per channel (AMQP) or subscription (other protocols).
    ConsumerTag,
    "consumer tag"
);
name_type!(
    /// A user name.
    UserName,
    "user"
);

impl ExchangeName {
    /// The nameless default exchange.
    pub fn default_exchange() -> Self {
        Self(Arc::from(""))
    }

    /// True for the nameless default exchange.
    pub fn is_default(&self) -> bool {
        self.0.is_empty()
    }
}

impl RoutingKey {
    /// The empty routing key.
    pub fn empty() -> Self {
        Self(Arc::from(""))
    }
}

/// Identifies one client connection; owns exclusive queues.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// A message's position in its queue. Requeued messages keep theirs, so requeue restores
/// the original order as RabbitMQ does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct QueueSeq(pub u64);

/// Identifies one consumer within the core, unique per broker.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ConsumerId(pub u64);
