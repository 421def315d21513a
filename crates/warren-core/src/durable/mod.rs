//! The core's use of the store: persistent messages in durable queues, durable definitions,
//! and the blobs adapters keep (sessions, retained messages).
//!
//! A message is written once per publish, with every durable queue it reached, and each of
//! those queues holds a [`Stored`] for it. Dropping a `Stored` acknowledges the message for its
//! queue in the store, so every way a message leaves a queue (ack, reject, expiry, overflow,
//! dead-lettering, purge) is recorded without each path having to remember it.
//!
//! Invariants: a queue id is allocated from a counter kept in the metadata and never reused;
//! after [`Durable::close`] nothing is written, so the drops of a shutting-down broker cannot
//! acknowledge what it still holds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use warren_model::persist::Writer;
use warren_model::{Blobs, CoreError, DurableWrite, ErrorKind, Message};
use warren_store::{
    Keyspace, MessageId, QueueId, ReadCache, Recovered, Store, StoreError, StoredMessage, Ticket,
};

pub(crate) mod delayed;
pub(crate) mod meta;
pub(crate) mod recover;

/// Where the counter of queue ids lives.
const COUNTERS: Keyspace = Keyspace(4);
/// Adapters' blobs: key = space (`str`) followed by the adapter's key.
const BLOBS: Keyspace = Keyspace(5);
const NEXT_QUEUE: &[u8] = b"next-queue";

/// The store as the core uses it.
pub struct Durable {
    store: Store,
    next_queue: AtomicU64,
    closed: AtomicBool,
    /// Bytes of ready message bodies a durable queue keeps in memory; beyond them persistent
    /// messages stay on disk only and are read back when delivered.
    queue_memory_bytes: u64,
    /// Adapters' blobs as recovered, until each adapter takes its space.
    recovered_blobs: Mutex<BTreeMap<(String, Vec<u8>), Bytes>>,
}

impl Durable {
    pub(crate) fn new(store: Store, recovered: &Recovered, queue_memory_bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            store,
            queue_memory_bytes,
            next_queue: AtomicU64::new(recover::next_queue_id(recovered)),
            closed: AtomicBool::new(false),
            recovered_blobs: Mutex::new(recover::blobs(recovered)),
        })
    }

    /// The memory budget of each durable queue's ready bodies.
    pub(crate) fn queue_memory_bytes(&self) -> u64 {
        self.queue_memory_bytes
    }

    /// A fresh queue id; the counter is durable before the id is used.
    pub(crate) fn allocate_queue(&self) -> Result<QueueId, CoreError> {
        let id = self.next_queue.fetch_add(1, Ordering::Relaxed);
        self.put(COUNTERS, NEXT_QUEUE, &(id + 1).to_le_bytes())?;
        Ok(QueueId(id))
    }

    /// Stores a message held by `queues`, with the wall-clock time it reaches them, so that
    /// its TTL keeps counting from then after a restart.
    pub(crate) fn publish(
        &self,
        queues: &[QueueId],
        message: &Message,
    ) -> Result<(MessageId, Ticket), CoreError> {
        let properties = warren_model::persist::encode_arrived_message(message, now_millis());
        self.store
            .publish(queues, &properties, &message.body)
            .map_err(store_error)
    }

    /// Reads a message back (recovery, lazy bodies).
    pub(crate) fn read(&self, id: MessageId) -> Result<StoredMessage, StoreError> {
        self.store.read(id)
    }

    /// Reads message `id` through `cache`, for reads in log order.
    pub(crate) fn read_cached(
        &self,
        id: MessageId,
        cache: &mut ReadCache,
    ) -> Result<StoredMessage, StoreError> {
        self.store.read_cached(id, cache)
    }

    pub(crate) fn mark_delivered(&self, queue: QueueId, id: MessageId) {
        if !self.closed.load(Ordering::Relaxed) {
            let _ = self.store.mark_delivered(queue, id);
        }
    }

    fn ack(&self, queue: QueueId, id: MessageId) {
        // Acks are not waited for: one lost in a crash means a redelivery, never a loss.
        if !self.closed.load(Ordering::Relaxed) {
            let _ = self.store.ack(queue, id);
        }
    }

    /// Forgets every message of a deleted queue.
    pub(crate) fn drop_queue(&self, queue: QueueId) {
        if !self.closed.load(Ordering::Relaxed) {
            let _ = self.store.drop_queue(queue);
        }
    }

    /// Sets a metadata value and waits until it is on disk (declarations are rare; their
    /// `-ok` must not come before the definition is durable).
    pub(crate) fn put(&self, space: Keyspace, key: &[u8], value: &[u8]) -> Result<(), CoreError> {
        let ticket = self
            .store
            .put_meta(space, key, value)
            .map_err(store_error)?;
        ticket.wait().map_err(store_error)
    }

    /// Sets a metadata value; the ticket completes once it is on disk.
    pub(crate) fn put_pending(
        &self,
        space: Keyspace,
        key: &[u8],
        value: &[u8],
    ) -> Result<Ticket, StoreError> {
        self.store.put_meta(space, key, value)
    }

    /// Deletes a metadata value with the next batch, without waiting: a deletion lost in a
    /// crash brings back an object the client may delete again, which loses nothing.
    pub(crate) fn delete(&self, space: Keyspace, key: &[u8]) {
        if !self.closed.load(Ordering::Relaxed) {
            let _ = self.store.delete_meta(space, key);
        }
    }

    /// Writes the clean-shutdown marker; nothing is written afterwards.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(err) = self.store.close() {
            tracing::error!(%err, "closing the store failed");
        }
    }

    /// The store's size and health.
    pub fn stats(&self) -> warren_store::StoreStats {
        self.store.stats()
    }
}

/// The core's claim on one queue's copy of a stored message. Dropping it acknowledges the
/// message for that queue in the store.
pub(crate) struct Stored {
    durable: Arc<Durable>,
    queue: QueueId,
    id: MessageId,
    /// Cleared by `release`: the claim then outlives this value (a queue's cold tail keeps
    /// only the id).
    armed: bool,
}

impl Stored {
    pub fn new(durable: Arc<Durable>, queue: QueueId, id: MessageId) -> Self {
        Self {
            durable,
            queue,
            id,
            armed: true,
        }
    }

    /// Gives up this value without acknowledging: the queue keeps the claim as the bare id
    /// and makes a new `Stored` when it needs the message again.
    pub fn release(mut self) -> MessageId {
        self.armed = false;
        self.id
    }

    /// Reads the message back from the store (a queue paged it out).
    pub fn load(&self) -> Option<Arc<Message>> {
        decoded(self.durable.read(self.id).ok()?)
    }

    /// Like `load`, through `cache` (a queue paging in its cold tail reads in log order).
    pub fn load_cached(&self, cache: &mut ReadCache) -> Option<Arc<Message>> {
        decoded(self.durable.read_cached(self.id, cache).ok()?)
    }

    /// Records that the message was handed to a consumer.
    pub fn delivered(&self) {
        self.durable.mark_delivered(self.queue, self.id);
    }
}

fn decoded(stored: StoredMessage) -> Option<Arc<Message>> {
    let message = warren_model::persist::decode_message(&stored.properties, stored.body)?;
    Some(Arc::new(message))
}

impl Drop for Stored {
    fn drop(&mut self) {
        if self.armed {
            self.durable.ack(self.queue, self.id);
        }
    }
}

/// A durable queue's link to the store.
#[derive(Clone)]
pub(crate) struct QueueStore {
    pub durable: Arc<Durable>,
    pub id: QueueId,
}

impl QueueStore {
    /// The queue's claim on stored message `id`, made again for a message kept as a bare id.
    pub fn claim(&self, id: MessageId) -> Stored {
        Stored::new(Arc::clone(&self.durable), self.id, id)
    }

    /// Acknowledges stored message `id`, which the queue kept as a bare id.
    pub fn forget(&self, id: MessageId) {
        self.durable.ack(self.id, id);
    }
}

/// The model's view of a pending write.
struct PendingTicket(Ticket);

impl DurableWrite for PendingTicket {
    fn on_durable(self: Box<Self>, done: Box<dyn FnOnce(Result<(), CoreError>) + Send>) {
        self.0
            .on_durable(move |result| done(result.map_err(store_error)));
    }
}

/// Wraps a store ticket for an adapter.
pub(crate) fn pending(ticket: Ticket) -> Box<dyn DurableWrite> {
    Box::new(PendingTicket(ticket))
}

/// Wall-clock milliseconds since the Unix epoch (0 for a clock set before it).
fn now_millis() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn store_error(err: StoreError) -> CoreError {
    CoreError::new(ErrorKind::Internal, format!("message store failed: {err}"))
}

/// A write that failed before it started (the store refused it): never confirmed.
struct Refused(CoreError);

impl DurableWrite for Refused {
    fn on_durable(self: Box<Self>, done: Box<dyn FnOnce(Result<(), CoreError>) + Send>) {
        done(Err(self.0));
    }
}

/// A pending write that will never complete successfully.
pub(crate) fn refused(err: CoreError) -> Box<dyn DurableWrite> {
    Box::new(Refused(err))
}

fn blob_key(space: &str, key: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(space);
    w.out.extend_from_slice(key);
    w.out
}

impl Blobs for Durable {
    fn put(&self, space: &str, key: &[u8], value: &[u8]) {
        if !self.closed.load(Ordering::Relaxed) {
            let _ = self.store.put_meta(BLOBS, &blob_key(space, key), value);
        }
    }

    fn delete(&self, space: &str, key: &[u8]) {
        if !self.closed.load(Ordering::Relaxed) {
            let _ = self.store.delete_meta(BLOBS, &blob_key(space, key));
        }
    }

    fn take_recovered(&self, space: &str) -> Vec<(Vec<u8>, Bytes)> {
        let mut all = self
            .recovered_blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let keys: Vec<_> = all
            .range((space.to_owned(), Vec::new())..)
            .take_while(|((s, _), _)| s == space)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| all.remove(&k).map(|v| (k.1, v)))
            .collect()
    }
}
