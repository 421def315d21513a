//! Newtypes for the names and ids that cross layers. Each validates in `TryFrom` and shows
//! itself with `Display`.

use std::fmt;

use smol_str::SmolStr;

use crate::error::CoreError;

/// AMQP short strings are at most 255 bytes; every name Warren stores fits in one.
pub const MAX_NAME_LEN: usize = 255;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Up to 23 bytes, the name is held inline: making one allocates nothing, a clone
        /// copies it rather than counting a shared reference up (on a cache line other
        /// threads write too), and a message's routing key is read with the message.
        /// Longer names share one counted string.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name(SmolStr);

        /// The string's hash, as `Borrow<str>` requires.
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

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
                Ok(Self(SmolStr::new(value)))
            }
        }

        /// Maps keyed by the name can be searched with a `&str` (no name built for a lookup);
        /// `Hash` and `Eq` are those of the string, as `Borrow` requires.
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
        Self(SmolStr::default())
    }

    /// True for the nameless default exchange.
    pub fn is_default(&self) -> bool {
        self.0.is_empty()
    }
}

impl RoutingKey {
    /// The empty routing key.
    pub fn empty() -> Self {
        Self(SmolStr::default())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn names_are_equal_by_content_whether_or_not_they_share_a_string() {
        let key = RoutingKey::try_from("sensors.a").unwrap();
        assert_eq!(key, key.clone());
        assert_eq!(key, RoutingKey::try_from("sensors.a").unwrap());
        assert_ne!(key, RoutingKey::try_from("sensors.b").unwrap());
    }

    #[test]
    fn short_and_long_names_behave_alike() {
        // 23 bytes are held inline, 24 and more in a shared string.
        for len in [0, 1, 23, 24, MAX_NAME_LEN] {
            let text = "k".repeat(len);
            let key = RoutingKey::try_from(text.as_str()).unwrap();
            assert_eq!(key.as_str(), text);
            assert_eq!(key.clone(), key);
            let mut map = HashMap::new();
            map.insert(key, len);
            assert_eq!(map.get(text.as_str()), Some(&len), "length {len}");
        }
        assert!(RoutingKey::try_from("k".repeat(MAX_NAME_LEN + 1).as_str()).is_err());
        let (short, long) = ("a".repeat(23), "a".repeat(24));
        assert!(
            QueueName::try_from(short.as_str()).unwrap()
                < QueueName::try_from(long.as_str()).unwrap()
        );
    }

    #[test]
    fn a_map_keyed_by_names_is_searched_with_a_str() {
        let mut queues = HashMap::new();
        queues.insert(QueueName::try_from("jobs").unwrap(), 1);
        assert_eq!(queues.get("jobs"), Some(&1));
        assert_eq!(queues.get(&QueueName::try_from("jobs").unwrap()), Some(&1));
        assert_eq!(queues.get("other"), None);
    }
}
