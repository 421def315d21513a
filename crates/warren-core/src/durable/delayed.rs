//! Persistent delayed messages on the store: each one a metadata entry, written when a
//! delayed-message exchange takes it and deleted when it is routed.
//!
//! Key: the vhost, the epoch of the broker run that stored it (wall-clock nanoseconds at start)
//! and its `DelayId` in that run; ids restart at every run, the epoch keeps keys of different
//! runs apart. Value: the due time (ms since the Unix epoch), the exchange, the whole message.
//! At start every entry is put back into its vhost under a key of the new run, then the old
//! key is deleted, so a crash during recovery at worst keeps a message twice on disk, never
//! loses it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use warren_model::persist::{decode_whole_message, encode_whole_message, Reader, Writer};
use warren_model::{DurableWrite, ExchangeName, Message, VHostName};
use warren_store::{Keyspace, Recovered};

use super::{pending, refused, store_error, Durable};
use crate::vhost::{DelayId, DelayedLog, VHostCore};

/// Delayed messages.
pub(crate) const DELAYED: Keyspace = Keyspace(6);

/// One vhost's delayed messages in the store.
pub(crate) struct StoredDelays {
    durable: Arc<Durable>,
    vhost: VHostName,
    epoch: u64,
}

impl StoredDelays {
    pub fn new(durable: Arc<Durable>, vhost: VHostName, epoch: u64) -> Self {
        Self {
            durable,
            vhost,
            epoch,
        }
    }

    fn key(&self, id: DelayId) -> Vec<u8> {
        let mut w = Writer::default();
        w.str(self.vhost.as_str());
        w.u64(self.epoch);
        w.u64(id.0);
        w.out
    }
}

impl DelayedLog for StoredDelays {
    fn stored(
        &self,
        id: DelayId,
        due: SystemTime,
        exchange: &ExchangeName,
        message: &Message,
    ) -> Option<Box<dyn DurableWrite>> {
        let mut w = Writer::default();
        w.u64(millis_since_epoch(due));
        w.str(exchange.as_str());
        w.bytes(&encode_whole_message(message));
        Some(
            match self.durable.put_pending(DELAYED, &self.key(id), &w.out) {
                Ok(ticket) => pending(ticket),
                Err(err) => refused(store_error(err)),
            },
        )
    }

    fn released(&self, id: DelayId) {
        self.durable.delete(DELAYED, &self.key(id));
    }
}

/// This run's epoch: keys it writes never equal a key an earlier run wrote.
pub(crate) fn epoch() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

fn millis_since_epoch(at: SystemTime) -> u64 {
    let ms = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// A stored delayed message.
struct Entry {
    vhost: VHostName,
    due: SystemTime,
    exchange: ExchangeName,
    message: Message,
}

fn decode(key: &[u8], value: &Bytes) -> Option<Entry> {
    let vhost = VHostName::try_from(Reader::new(key).str()?).ok()?;
    let mut r = Reader::new(value);
    let due = UNIX_EPOCH + Duration::from_millis(r.u64()?);
    let exchange = ExchangeName::try_from(r.str()?).ok()?;
    let message = decode_whole_message(r.bytes()?)?;
    Some(Entry {
        vhost,
        due,
        exchange,
        message,
    })
}

/// Puts every stored delayed message back into its vhost (whose log is attached already, so
/// it is stored again under this run's key) and deletes its old entry. Returns how many.
pub(crate) fn restore(
    durable: &Durable,
    recovered: &Recovered,
    vhost: impl Fn(&VHostName) -> Option<Arc<VHostCore>>,
) -> usize {
    let mut restored = 0;
    let entries = recovered
        .metadata
        .range((DELAYED, Vec::new())..)
        .take_while(|((space, _), _)| *space == DELAYED);
    for ((_, key), value) in entries {
        match decode(key, value) {
            Some(entry) => {
                if let Some(v) = vhost(&entry.vhost) {
                    v.restore_delayed(entry.due, entry.exchange, Arc::new(entry.message));
                    restored += 1;
                }
            }
            None => tracing::warn!("a stored delayed message does not decode; dropped"),
        }
        durable.delete(DELAYED, key);
    }
    restored
}
