//! Retained messages: one store per broker, keyed by vhost and topic.
//!
//! Invariants: at most one message per topic (a new retained PUBLISH replaces it, an empty
//! payload clears it, MQTT-3.3.1-6, MQTT-3.3.1-7); messages are stored as published, so the
//! expiry deadline in their headers still applies when they are replayed. Held in memory
//! (durability is a later layer); each entry is bounded by the maximum packet size.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use warren_model::{Message, VHostName};

use crate::config::TopicMapping;
use crate::convert::remaining_expiry;
use crate::topic::{matches_mapped, TopicFilter, TopicName};

/// The retained messages of every vhost.
#[derive(Default)]
pub struct RetainedStore {
    inner: Mutex<HashMap<VHostName, BTreeMap<String, Arc<Message>>>>,
}

impl RetainedStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<VHostName, BTreeMap<String, Arc<Message>>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Retains `message` on `topic`, or clears the topic when its body is empty.
    pub fn set(&self, vhost: &VHostName, topic: &TopicName, message: Arc<Message>) {
        let mut inner = self.lock();
        let topics = inner.entry(vhost.clone()).or_default();
        if message.body.is_empty() {
            topics.remove(topic.as_str());
        } else {
            topics.insert(topic.as_str().to_owned(), message);
        }
    }

    /// Retained messages matching `filter` (as `mapping` routes) that have not expired, with
    /// their topics.
    pub fn matching(
        &self,
        vhost: &VHostName,
        filter: &TopicFilter,
        mapping: TopicMapping,
        now_ms: u64,
    ) -> Vec<(String, Arc<Message>)> {
        let mut inner = self.lock();
        let Some(topics) = inner.get_mut(vhost) else {
            return Vec::new();
        };
        topics.retain(|_, m| remaining_expiry(m, || now_ms) != Some(0));
        topics
            .iter()
            .filter(|(topic, _)| matches_mapped(filter, topic, mapping))
            .map(|(t, m)| (t.clone(), Arc::clone(m)))
            .collect()
    }
}
