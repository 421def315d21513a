//! Start-up: durable definitions back into their vhosts, then each durable queue's messages
//! back into the queue in their order, flagged redelivered when they may have been delivered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use warren_model::persist::decode_arrived_message;
use warren_model::{FieldTable, QueueSpec, VHostName};
use warren_store::{Keyspace, QueueId, ReadCache, Recovered};

use super::{meta, Durable, QueueStore, BLOBS, COUNTERS, NEXT_QUEUE};
use crate::queue::Queue;
use crate::vhost::VHostCore;

/// The first queue id never used: above the stored counter and every stored queue.
pub(crate) fn next_queue_id(recovered: &Recovered) -> u64 {
    let counter = recovered
        .metadata
        .get(&(COUNTERS, NEXT_QUEUE.to_vec()))
        .and_then(|v| v.get(..8))
        .and_then(|b| b.try_into().ok())
        .map_or(1, u64::from_le_bytes);
    let highest = entries(recovered, meta::QUEUES)
        .filter_map(|(k, v)| meta::decode_queue(k, v))
        .map(|q| q.id.0 + 1)
        .max()
        .unwrap_or(1);
    counter.max(highest)
}

/// The adapters' blobs, by space and key.
pub(crate) fn blobs(recovered: &Recovered) -> std::collections::BTreeMap<(String, Vec<u8>), Bytes> {
    entries(recovered, BLOBS)
        .filter_map(|(key, value)| {
            let mut r = warren_model::persist::Reader::new(key);
            let space = r.str()?.to_owned();
            let rest = key.get(4 + space.len()..)?.to_vec();
            Some(((space, rest), value.clone()))
        })
        .collect()
}

fn entries(recovered: &Recovered, space: Keyspace) -> impl Iterator<Item = (&[u8], &Bytes)> {
    recovered
        .metadata
        .range((space, Vec::new())..)
        .take_while(move |((s, _), _)| *s == space)
        .map(|((_, k), v)| (k.as_slice(), v))
}

/// Rebuilds the definitions and backlogs into `vhosts`.
pub(crate) fn restore(
    durable: &Arc<Durable>,
    recovered: &Recovered,
    vhosts: &HashMap<VHostName, Arc<VHostCore>>,
) {
    let started = Instant::now();
    let vhost = |name: &VHostName| vhosts.get(name);
    for (key, value) in entries(recovered, meta::EXCHANGES) {
        let Some((v, spec)) = meta::decode_exchange(key, value) else {
            continue;
        };
        if !vhost(&v).is_some_and(|vh| vh.restore_exchange(spec.clone())) {
            tracing::warn!(exchange = %spec.name, vhost = %v, "durable exchange not restored");
        }
    }
    let queues = restore_queues(durable, recovered, vhosts);
    for (key, _) in entries(recovered, meta::BINDINGS) {
        if let Some((v, spec)) = meta::decode_binding(key) {
            if !vhost(&v).is_some_and(|vh| vh.restore_binding(spec)) {
                durable.delete(meta::BINDINGS, key);
            }
        }
    }
    let messages = restore_messages(durable, recovered, &queues);
    tracing::info!(
        queues = queues.len(),
        messages,
        elapsed_ms = started.elapsed().as_millis() as u64,
        store_ms = recovered.report.elapsed.as_millis() as u64,
        "recovered durable queues and messages"
    );
}

fn restore_queues(
    durable: &Arc<Durable>,
    recovered: &Recovered,
    vhosts: &HashMap<VHostName, Arc<VHostCore>>,
) -> HashMap<QueueId, Arc<Queue>> {
    let mut queues = HashMap::new();
    for (key, value) in entries(recovered, meta::QUEUES) {
        let Some(record) = meta::decode_queue(key, value) else {
            continue;
        };
        let Some(vhost) = vhosts.get(&record.vhost) else {
            continue;
        };
        let store = QueueStore {
            durable: Arc::clone(durable),
            id: record.id,
        };
        match vhost.restore_queue(record.name.clone(), &spec(record.arguments), store) {
            Ok(queue) => {
                queues.insert(record.id, queue);
            }
            Err(err) => tracing::warn!(queue = %record.name, %err, "durable queue not restored"),
        }
    }
    queues
}

fn spec(arguments: FieldTable) -> QueueSpec {
    QueueSpec {
        name: None,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
}

/// Reads each backlog message back and enqueues it; returns how many.
fn restore_messages(
    durable: &Arc<Durable>,
    recovered: &Recovered,
    queues: &HashMap<QueueId, Arc<Queue>>,
) -> u64 {
    let mut count = 0;
    for (id, backlog) in &recovered.queues {
        let Some(queue) = queues.get(id) else {
            // Messages of a queue whose definition is gone (deleted before the crash).
            durable.drop_queue(*id);
            continue;
        };
        // The backlog is in log order, so one chunk read serves thousands of messages.
        let mut cache = ReadCache::with_chunk_size(1 << 20);
        for entry in backlog {
            let message = durable
                .read_cached(entry.id, &mut cache)
                .ok()
                .and_then(|m| decode_arrived_message(&m.properties, m.body));
            match message {
                Some((message, arrived)) => {
                    let arrived = arrived.and_then(from_millis);
                    queue.restore(Arc::new(message), entry.id, entry.redelivered, arrived);
                    count += 1;
                }
                None => tracing::warn!(message = entry.id.0, "stored message unreadable"),
            }
        }
    }
    count
}

/// The wall-clock time `ms` after the Unix epoch, if the clock can represent it.
fn from_millis(ms: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}
