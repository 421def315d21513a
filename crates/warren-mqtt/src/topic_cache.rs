//! The last topic a connection converted each way. A publisher usually repeats its topic and
//! a subscriber usually receives one, so remembering one pair per direction saves building
//! (and allocating) the same routing key or topic for every message. For the outbound key it
//! also remembers which of the session's subscriptions matched it (`Matched`), until the
//! subscriptions change.

use std::num::NonZeroU32;

use bytestring::ByteString;
use warren_model::{CoreError, RoutingKey};

use crate::codec::QoS;
use crate::registry::Sub;

use crate::config::TopicMapping;
use crate::topic::{key_to_mqtt, mqtt_to_key};

/// What the session's subscriptions that match a delivery ask of it, folded as they are met
/// (so no list of them is made).
#[derive(Clone, Debug, Default)]
pub struct Matched {
    /// The best QoS granted among them; `None` when none matches.
    pub best: Option<QoS>,
    /// Some of them asked for Retain As Published.
    pub retain_as_published: bool,
    /// Their Subscription Identifiers.
    pub ids: Vec<NonZeroU32>,
}

impl Matched {
    /// Counts one more matching subscription.
    pub fn add(&mut self, sub: &Sub) {
        self.best = self.best.max(Some(sub.options.qos));
        self.retain_as_published |= sub.options.retain_as_published;
        self.ids.extend(sub.id.and_then(NonZeroU32::new));
    }
}

/// The last outbound key: its topic, and what the session's own subscriptions matched for
/// it, by whether the message was the session's own (No Local).
#[derive(Debug)]
struct Outbound {
    key: RoutingKey,
    topic: ByteString,
    matched: [Option<Matched>; 2],
}

/// One remembered conversion per direction, boxed: a connection that never publishes or
/// never receives keeps a null pointer rather than room for two strings.
#[derive(Debug, Default)]
pub struct TopicCache {
    inbound: Option<Box<(String, RoutingKey)>>,
    outbound: Option<Box<Outbound>>,
}

impl TopicCache {
    /// The routing key a PUBLISH to `topic` is routed with.
    pub fn key(&mut self, topic: &str, mapping: TopicMapping) -> Result<RoutingKey, CoreError> {
        if let Some((last, key)) = self.inbound.as_deref() {
            if last == topic {
                return Ok(key.clone());
            }
        }
        let key = RoutingKey::try_from(mqtt_to_key(topic, mapping))?;
        self.inbound = Some(Box::new((topic.to_owned(), key.clone())));
        Ok(key)
    }

    /// The topic a message routed with `key` is delivered under (shared with the cache, not
    /// copied: a subscriber's every delivery asks for it).
    pub fn topic(&mut self, key: &RoutingKey, mapping: TopicMapping) -> ByteString {
        if let Some(last) = self.outbound.as_deref() {
            if &last.key == key {
                return last.topic.clone();
            }
        }
        let topic = ByteString::from(key_to_mqtt(key.as_str(), mapping));
        self.outbound = Some(Box::new(Outbound {
            key: key.clone(),
            topic: topic.clone(),
            matched: [None, None],
        }));
        topic
    }

    /// What the session's own subscriptions matched for `key` (the last key asked for by
    /// [`TopicCache::topic`]), when remembered; `mine` says whether the message was the
    /// session's own.
    pub fn matched(&self, key: &RoutingKey, mine: bool) -> Option<&Matched> {
        let last = self.outbound.as_deref().filter(|last| &last.key == key)?;
        last.matched[usize::from(mine)].as_ref()
    }

    /// Remembers what the session's own subscriptions matched for the last outbound key.
    pub fn remember_matched(&mut self, key: &RoutingKey, mine: bool, matched: &Matched) {
        if let Some(last) = self.outbound.as_deref_mut().filter(|last| &last.key == key) {
            last.matched[usize::from(mine)] = Some(matched.clone());
        }
    }

    /// The session's subscriptions changed: what they matched is forgotten.
    pub fn forget_matched(&mut self) {
        if let Some(last) = self.outbound.as_deref_mut() {
            last.matched = [None, None];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_topic_gives_the_same_key_and_a_new_one_is_converted() {
        let mut cache = TopicCache::default();
        let mapping = TopicMapping::Lossless;
        let a = cache.key("a/b.c", mapping).unwrap();
        assert_eq!(a.as_str(), "a.b/c");
        assert_eq!(cache.key("a/b.c", mapping).unwrap(), a);
        assert_eq!(cache.key("x/y", mapping).unwrap().as_str(), "x.y");
        let key = RoutingKey::try_from("s.t/u").unwrap();
        assert_eq!(cache.topic(&key, mapping), "s/t.u");
        assert_eq!(cache.topic(&key, mapping), "s/t.u");
        let other = RoutingKey::try_from("v").unwrap();
        assert_eq!(cache.topic(&other, mapping), "v");
    }
}
