//! The reverse binding index: for each destination, which exchanges bind to it and how many
//! times. Deleting a queue or exchange visits only its sources instead of every table.
//!
//! Invariant: kept under the vhost's topology lock, in step with the tables: an entry counts
//! exactly the bindings its source's table holds for that destination.

use std::collections::HashMap;

use warren_model::{Destination, ExchangeName, QueueName};

#[derive(Clone, PartialEq, Eq, Hash)]
enum DestKey {
    Queue(QueueName),
    Exchange(ExchangeName),
}

impl From<&Destination> for DestKey {
    fn from(d: &Destination) -> Self {
        match d {
            Destination::Queue(q) => Self::Queue(q.clone()),
            Destination::Exchange(x) => Self::Exchange(x.clone()),
        }
    }
}

/// Sources by destination.
#[derive(Default)]
pub(crate) struct Topology {
    sources: HashMap<DestKey, HashMap<ExchangeName, usize>>,
}

impl Topology {
    /// A binding from `source` to `dest` was added.
    pub fn added(&mut self, source: &ExchangeName, dest: &Destination) {
        let per_source = self.sources.entry(dest.into()).or_default();
        *per_source.entry(source.clone()).or_default() += 1;
    }

    /// A binding from `source` to `dest` was removed.
    pub fn removed(&mut self, source: &ExchangeName, dest: &Destination) {
        let key = DestKey::from(dest);
        let Some(per_source) = self.sources.get_mut(&key) else {
            return;
        };
        if let Some(n) = per_source.get_mut(source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_source.remove(source);
            }
        }
        if per_source.is_empty() {
            self.sources.remove(&key);
        }
    }

    /// Forgets every binding to `dest`, returning the exchanges that had some.
    pub fn take_sources(&mut self, dest: &Destination) -> Vec<ExchangeName> {
        let sources = self
            .sources
            .remove(&DestKey::from(dest))
            .unwrap_or_default();
        sources.into_keys().collect()
    }
}
