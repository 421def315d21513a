//! The journal of what adapters asked of the fake core, and its topic matching.

use std::sync::{Arc, Mutex, MutexGuard};

use warren_model::{ConnectionId, ConsumerId, Message, QueueSeq, Settlement};

/// One call an adapter made, in the order it was made.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `declare_exchange`.
    DeclareExchange {
        name: String,
        kind: String,
        passive: bool,
    },
    /// `delete_exchange`.
    DeleteExchange { name: String },
    /// `declare_queue` (the name is the one asked for; empty for a server-named queue).
    DeclareQueue {
        name: String,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        passive: bool,
        owner: ConnectionId,
    },
    /// `delete_queue`.
    DeleteQueue { name: String, owner: ConnectionId },
    /// `purge_queue`.
    PurgeQueue { name: String },
    /// `bind` of a queue (exchange-to-exchange bindings are refused).
    Bind {
        source: String,
        queue: String,
        key: String,
    },
    /// `unbind` of a queue.
    Unbind {
        source: String,
        queue: String,
        key: String,
    },
    /// `publish`, with the message and how many queues took it.
    Publish {
        exchange: String,
        key: String,
        message: Arc<Message>,
        queues: usize,
    },
    /// `consume`.
    Consume {
        queue: String,
        tag: String,
        no_ack: bool,
        prefetch: u32,
    },
    /// `get`.
    Get { queue: String, no_ack: bool },
    /// `QueueHandle::settle`, one entry per position, known or not.
    Settle {
        queue: String,
        seq: QueueSeq,
        how: Settlement,
    },
    /// `QueueHandle::cancel`.
    Cancel { queue: String, consumer: ConsumerId },
    /// `connection_closed`.
    ConnectionClosed(ConnectionId),
}

/// Shared by the vhost and its queues.
#[derive(Clone, Default)]
pub(crate) struct Journal(Arc<Mutex<Vec<Call>>>);

impl Journal {
    pub(crate) fn record(&self, call: Call) {
        self.lock().push(call);
    }

    pub(crate) fn snapshot(&self) -> Vec<Call> {
        self.lock().clone()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Call>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// AMQP topic matching: words split on `.`, `*` matches one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = key.split('.').collect();
    matches_words(&pattern, &key)
}

fn matches_words(pattern: &[&str], key: &[&str]) -> bool {
    match (pattern.split_first(), key.split_first()) {
        (None, None) => true,
        (Some((&"#", rest)), _) => {
            matches_words(rest, key) || (!key.is_empty() && matches_words(pattern, &key[1..]))
        }
        (Some((&p, prest)), Some((&k, krest))) => {
            (p == "*" || p == k) && matches_words(prest, krest)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn star_is_one_word_and_hash_zero_or_more() {
        assert!(topic_matches("a.b", "a.b"));
        assert!(!topic_matches("a.b", "a.c"));
        assert!(topic_matches("a.*", "a.b"));
        assert!(!topic_matches("a.*", "a"));
        assert!(!topic_matches("a.*", "a.b.c"));
        assert!(topic_matches("a.#", "a"));
        assert!(topic_matches("a.#", "a.b.c"));
        assert!(topic_matches("#", "x.y"));
        assert!(topic_matches("#.c", "a.b.c"));
        assert!(!topic_matches("#.c", "a.b"));
        assert!(topic_matches("*.b.#", "a.b"));
    }
}
