//! Outbound topic aliases (MQTT 5 section 3.3.2.3.4): with the client's permission (its Topic
//! Alias Maximum in CONNECT), a topic sent before is sent again as an alias and an empty topic
//! name, saving its bytes on every repeat.
//!
//! Aliases are handed out first come, first served until the client's maximum; after that,
//! new topics go out in full. That keeps the table bounded by the client's own limit and never
//! rebinds an alias, so a client cannot see one alias mean two topics.

use bytestring::ByteString;
use std::collections::BTreeMap;

/// A connection's topic aliases both ways, made at the first one (most clients use none).
#[derive(Debug, Default)]
pub struct Aliases {
    /// The client's: alias to topic.
    pub inbound: BTreeMap<u16, ByteString>,
    /// Ours, within the client's Topic Alias Maximum.
    pub outbound: OutboundAliases,
}

/// One connection's outbound alias table.
#[derive(Debug, Default)]
pub struct OutboundAliases {
    max: u16,
    /// A B-tree: empty, it is smaller than a hash map, and every connection holds one.
    by_topic: BTreeMap<String, u16>,
}

/// How a PUBLISH should name its topic.
#[derive(Debug, PartialEq, Eq)]
pub enum TopicForm {
    /// The topic in full, no alias.
    Full,
    /// The topic in full plus a new alias for it.
    Define(u16),
    /// An empty topic and the alias defined earlier.
    Reuse(u16),
}

impl OutboundAliases {
    /// A table for a client that accepts up to `max` aliases (0: none).
    pub fn new(max: u16) -> Self {
        Self {
            max,
            by_topic: BTreeMap::new(),
        }
    }

    /// How to send `topic`, recording a new alias when one is defined.
    pub fn form(&mut self, topic: &str) -> TopicForm {
        if let Some(&alias) = self.by_topic.get(topic) {
            return TopicForm::Reuse(alias);
        }
        let next = self.by_topic.len() + 1;
        match u16::try_from(next) {
            Ok(alias) if alias <= self.max => {
                self.by_topic.insert(topic.to_owned(), alias);
                TopicForm::Define(alias)
            }
            _ => TopicForm::Full,
        }
    }

    /// Forgets the alias just defined for `topic` (its PUBLISH was never sent). Only the
    /// newest alias is ever forgotten, so the numbering stays dense.
    pub fn forget(&mut self, topic: &str) {
        if self.by_topic.get(topic) == Some(&self.newest()) {
            self.by_topic.remove(topic);
        }
    }

    fn newest(&self) -> u16 {
        u16::try_from(self.by_topic.len()).unwrap_or(u16::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_aliases_without_permission() {
        let mut table = OutboundAliases::new(0);
        assert_eq!(table.form("a"), TopicForm::Full);
        assert_eq!(table.form("a"), TopicForm::Full);
    }

    #[test]
    fn first_use_defines_then_repeats_reuse() {
        let mut table = OutboundAliases::new(2);
        assert_eq!(table.form("a"), TopicForm::Define(1));
        assert_eq!(table.form("b"), TopicForm::Define(2));
        assert_eq!(table.form("a"), TopicForm::Reuse(1));
        assert_eq!(table.form("c"), TopicForm::Full);
        assert_eq!(table.form("c"), TopicForm::Full);
        assert_eq!(table.form("b"), TopicForm::Reuse(2));
    }

    #[test]
    fn a_forgotten_alias_is_defined_again() {
        let mut table = OutboundAliases::new(4);
        assert_eq!(table.form("a"), TopicForm::Define(1));
        assert_eq!(table.form("b"), TopicForm::Define(2));
        table.forget("a");
        assert_eq!(table.form("a"), TopicForm::Reuse(1));
        table.forget("b");
        assert_eq!(table.form("c"), TopicForm::Define(2));
        assert_eq!(table.form("b"), TopicForm::Define(3));
    }
}
