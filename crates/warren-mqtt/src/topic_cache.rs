//! The last topic a connection converted each way. A publisher usually repeats its topic and
//! a subscriber usually receives one, so remembering one pair per direction saves building
//! (and allocating) the same routing key or topic for every message.

use warren_model::{CoreError, RoutingKey};

use crate::config::TopicMapping;
use crate::topic::{key_to_mqtt, mqtt_to_key};

/// One remembered conversion per direction, boxed: a connection that never publishes or
/// never receives keeps a null pointer rather than room for two strings.
#[derive(Debug, Default)]
pub struct TopicCache {
    inbound: Option<Box<(String, RoutingKey)>>,
    outbound: Option<Box<(RoutingKey, String)>>,
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

    /// The topic a message routed with `key` is delivered under.
    pub fn topic(&mut self, key: &RoutingKey, mapping: TopicMapping) -> String {
        if let Some((last, topic)) = self.outbound.as_deref() {
            if last == key {
                return topic.clone();
            }
        }
        let topic = key_to_mqtt(key.as_str(), mapping);
        self.outbound = Some(Box::new((key.clone(), topic.clone())));
        topic
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
