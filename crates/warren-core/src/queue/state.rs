//! A queue's mutable state, only ever touched under the queue's mutex.
//!
//! Invariants: a message is in at most one of `ready` and `unacked`, under the key it was
//! enqueued with; `ready` iterates by priority (highest first) then seq, so a requeued message
//! returns to its original place; `expiry` indexes exactly the ready messages with a deadline,
//! and `ready_bytes` sums their bodies; every unacked message sent to a consumer holds one unit
//! of that consumer's credit and, if it had one, one of its shared pool's, both returned on
//! settlement; the cold tail holds stored messages beyond the memory budget as runs of ids
//! (see `cold`), and no ready message younger than its first is handed out before it is paged
//! back in.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use warren_model::{ConsumerId, ConsumerTag, CreditPool, DeliverySink, Message, QueueSeq};
use warren_store::ReadCache;

use super::backlog::BacklogShare;
use super::cold::ColdTail;
use super::flow::FlowWindow;
use super::ready::ReadySet;
use crate::durable::{QueueStore, Stored};
use crate::int_hash::IntMap;

/// Bytes counted per message kept in memory besides its body (the `Message` with its
/// properties, the `Arc`, the entry).
const RESIDENT_OVERHEAD: u64 = 512;

/// Most cold messages paged back in at once; each is one positional read under the lock.
const PAGE_IN_BATCH: usize = 256;

/// A ready message's place: priority rank first (0 is the highest priority), then seq.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct ReadyKey {
    pub rank: u8,
    pub seq: QueueSeq,
}

/// A message in the queue, ready or handed out.
pub(crate) struct Entry {
    /// The message, or `None` when it was paged out to the store (only a stored message is).
    pub message: Option<Arc<Message>>,
    /// Its body's size, kept while paged out.
    pub size: u64,
    /// When it expires, if it does.
    pub deadline: Option<Instant>,
    /// Enqueued with a TTL of 0: deliverable only at once, on arrival.
    pub zero_ttl: bool,
    /// Times it was handed out and came back.
    pub returns: u64,
    /// Recovered from disk as possibly delivered before the restart.
    pub recovered_redelivered: bool,
    /// This queue's claim on the message in the store (a persistent message in a durable
    /// queue); dropping the entry acknowledges it there.
    pub stored: Option<Stored>,
}

impl Entry {
    /// Expired by `now`. A zero-TTL message may still go to a consumer on arrival: only the
    /// arrival sweep and the timer expire it.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now) && !(self.zero_ttl && self.returns == 0)
    }

    fn size(&self) -> u64 {
        self.size
    }

    /// What keeping the message in memory costs: its body and about what its properties and
    /// annotations take, so a budget also bounds a backlog of tiny messages.
    fn resident_cost(&self) -> u64 {
        self.size + RESIDENT_OVERHEAD
    }

    /// The message, read back from the store when it was paged out; `None` if that fails.
    pub fn loaded(&self) -> Option<Arc<Message>> {
        if let Some(message) = &self.message {
            return Some(Arc::clone(message));
        }
        let loaded = self.stored.as_ref()?.load();
        if loaded.is_none() {
            tracing::error!("a paged-out message could not be read back; dropped");
        }
        loaded
    }
}

/// A message handed out and not yet settled.
pub(crate) struct Unacked {
    pub key: ReadyKey,
    pub entry: Entry,
    pub consumer: Option<ConsumerId>,
    /// Kept here, not looked up, so credit returns even after the consumer is cancelled.
    pub pool: Option<Arc<CreditPool>>,
}

/// A registered consumer.
pub(crate) struct Consumer {
    pub id: ConsumerId,
    pub tag: ConsumerTag,
    pub no_ack: bool,
    pub exclusive: bool,
    pub prefetch: u32,
    pub in_flight: u32,
    /// `x-priority`: higher goes first while it has credit.
    pub priority: i64,
    pub pool: Option<Arc<CreditPool>>,
    pub sink: Arc<dyn DeliverySink>,
}

impl Consumer {
    /// Takes one delivery's credit from the consumer and its pool, or none at all.
    fn try_credit(&mut self) -> bool {
        if self.no_ack {
            return true;
        }
        if self.prefetch != 0 && self.in_flight >= self.prefetch {
            return false;
        }
        if !self.pool.as_ref().is_none_or(|p| p.try_take()) {
            return false;
        }
        self.in_flight += 1;
        true
    }

    /// Could take a delivery as far as its own prefetch goes; the shared pool is left to
    /// `try_credit`, since peeking at it would race anyway.
    pub fn may_take(&self) -> bool {
        self.no_ack || self.prefetch == 0 || self.in_flight < self.prefetch
    }
}

/// Everything a queue holds.
pub(crate) struct QueueState {
    ready: ReadySet,
    /// Ready messages with a deadline, earliest first.
    expiry: BTreeSet<(Instant, ReadyKey)>,
    ready_bytes: u64,
    /// Bytes of ready bodies held in memory, and the most kept before new stored messages
    /// are paged out (lazy mode beyond the budget).
    resident_bytes: u64,
    pub memory_budget: u64,
    /// Stored messages beyond the budget, as runs of ids.
    cold: ColdTail,
    /// The store link that lets messages go cold: set for a durable queue whose messages
    /// need no entry (no priorities, no byte limit).
    pub cold_store: Option<QueueStore>,
    pub unacked: IntMap<QueueSeq, Unacked>,
    pub consumers: Vec<Consumer>,
    /// Only the first consumer gets messages (`x-single-active-consumer`).
    pub single_active: bool,
    /// Where the round-robin resumes.
    cursor: usize,
    next_seq: u64,
    pub deleted: bool,
    /// A dispatcher is running; others leave it their work (see `dispatch`).
    pub dispatching: bool,
    /// Work arrived while a dispatcher ran: it must go round again.
    pub redo: bool,
    /// Whether the consumers keep up with arrivals (see `flow`).
    pub flow: FlowWindow,
    /// Its part in the broker's backlog (see `backlog`).
    pub backlog: BacklogShare,
    /// Last consume, get or declare, for `x-expires`.
    pub last_used: Instant,
    /// The deadline registered with the timer service, if any.
    pub armed: Option<Instant>,
}

impl QueueState {
    pub fn new(single_active: bool, backlog: BacklogShare) -> Self {
        Self {
            ready: ReadySet::default(),
            expiry: BTreeSet::new(),
            ready_bytes: 0,
            resident_bytes: 0,
            memory_budget: u64::MAX,
            cold: ColdTail::default(),
            cold_store: None,
            unacked: IntMap::default(),
            consumers: Vec::new(),
            single_active,
            cursor: 0,
            next_seq: 0,
            deleted: false,
            dispatching: false,
            redo: false,
            flow: FlowWindow::default(),
            backlog,
            last_used: Instant::now(),
            armed: None,
        }
    }

    /// The key a new message of priority `rank` gets.
    pub fn next_key(&mut self, rank: u8) -> ReadyKey {
        let seq = QueueSeq(self.next_seq);
        self.next_seq += 1;
        ReadyKey { rank, seq }
    }

    /// Puts a message into the ready set (new or requeued); beyond the memory budget a stored
    /// message goes cold if it can, else keeps its entry without its body.
    pub fn insert(&mut self, key: ReadyKey, mut entry: Entry) {
        if entry.message.is_some()
            && entry.stored.is_some()
            && self.resident_bytes + entry.resident_cost() > self.memory_budget
        {
            match self.go_cold(key, entry) {
                Ok(()) => return,
                Err(back) => entry = back,
            }
        }
        self.insert_entry(key, entry);
    }

    fn insert_entry(&mut self, key: ReadyKey, mut entry: Entry) {
        if let Some(deadline) = entry.deadline {
            self.expiry.insert((deadline, key));
        }
        self.ready_bytes += entry.size();
        if entry.message.is_some() {
            let cost = entry.resident_cost();
            if entry.stored.is_some() && self.resident_bytes + cost > self.memory_budget {
                entry.message = None;
            } else {
                self.resident_bytes += cost;
            }
        }
        self.ready.insert(key, entry);
    }

    /// Moves a new stored message to the cold tail, or gives it back when it needs an entry:
    /// a deadline, a past delivery, or a place before the tail's end.
    fn go_cold(&mut self, key: ReadyKey, entry: Entry) -> Result<(), Entry> {
        let eligible = self.cold_store.is_some()
            && entry.deadline.is_none()
            && !entry.zero_ttl
            && entry.returns == 0
            && self.cold.accepts(key.seq);
        if !eligible {
            return Err(entry);
        }
        let Entry {
            stored,
            size,
            recovered_redelivered,
            ..
        } = entry;
        if let Some(stored) = stored {
            self.cold
                .push(key.seq, stored.release(), size, recovered_redelivered);
        }
        Ok(())
    }

    /// Pages cold messages in when the tail's first is older than the first ready one.
    fn page_in_due(&mut self) {
        let Some(head) = self.cold.first_seq() else {
            return;
        };
        if self.ready.first_key().is_some_and(|k| k.seq < head) {
            return;
        }
        let Some(store) = self.cold_store.clone() else {
            return;
        };
        // One chunk read serves a batch (the tail is in log order); it is let go with the
        // batch, so a queue keeps no read buffer between page-ins.
        let mut reads = ReadCache::default();
        let mut loaded = 0;
        while loaded == 0 || (loaded < PAGE_IN_BATCH && self.resident_bytes < self.memory_budget) {
            let Some(cold) = self.cold.pop() else {
                break;
            };
            let stored = store.claim(cold.id);
            let Some(message) = stored.load_cached(&mut reads) else {
                tracing::error!("a cold message could not be read back; dropped");
                continue;
            };
            loaded += 1;
            let entry = Entry {
                size: message.body.len() as u64,
                message: Some(message),
                deadline: None,
                zero_ttl: false,
                returns: 0,
                recovered_redelivered: cold.redelivered,
                stored: Some(stored),
            };
            let key = ReadyKey {
                rank: 0,
                seq: cold.seq,
            };
            self.insert_entry(key, entry);
        }
    }

    /// Takes a ready message out.
    pub fn remove(&mut self, key: ReadyKey) -> Option<Entry> {
        let entry = self.ready.remove(key)?;
        self.forget(key, &entry);
        Some(entry)
    }

    /// Takes the first ready message out.
    pub fn pop_first(&mut self) -> Option<(ReadyKey, Entry)> {
        self.page_in_due();
        let (key, entry) = self.ready.pop_first()?;
        self.forget(key, &entry);
        Some((key, entry))
    }

    fn forget(&mut self, key: ReadyKey, entry: &Entry) {
        if let Some(deadline) = entry.deadline {
            self.expiry.remove(&(deadline, key));
        }
        self.ready_bytes -= entry.size();
        if entry.message.is_some() {
            self.resident_bytes -= entry.resident_cost();
        }
    }

    /// Takes out every ready message whose deadline is at or before `now`.
    pub fn take_expired(&mut self, now: Instant) -> Vec<Entry> {
        let mut out = Vec::new();
        while let Some(&(deadline, key)) = self.expiry.first() {
            if deadline > now {
                break;
            }
            out.extend(self.remove(key));
        }
        out
    }

    /// The earliest message deadline.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|(d, _)| *d)
    }

    /// Drops every ready message, returning how many. Cold ones are acknowledged in the
    /// store one by one only with `ack_cold`: a deleted queue's messages leave the store in
    /// one record instead.
    pub fn clear(&mut self, ack_cold: bool) -> usize {
        let n = self.ready_len();
        match &self.cold_store {
            Some(store) if ack_cold => self.cold.drain().for_each(|id| store.forget(id)),
            _ => self.cold = ColdTail::default(),
        }
        self.ready.clear();
        self.expiry.clear();
        self.ready_bytes = 0;
        self.resident_bytes = 0;
        n
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len() + usize::try_from(self.cold.len()).unwrap_or(usize::MAX)
    }

    pub fn ready_bytes(&self) -> u64 {
        self.ready_bytes + self.cold.bytes()
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty() || !self.cold.is_empty()
    }

    /// Takes an unacked message out, returning its credit.
    pub fn take_unacked(&mut self, seq: QueueSeq) -> Option<Unacked> {
        let unacked = self.unacked.remove(&seq)?;
        if let Some(pool) = &unacked.pool {
            pool.give_back();
        }
        let owner = unacked.consumer;
        if let Some(c) = self.consumers.iter_mut().find(|c| Some(c.id) == owner) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
        Some(unacked)
    }

    /// The next consumer allowed (by `allowed`, sorted) and with credit: the highest
    /// priority first, round-robin among equals; its credit is taken. With a single active
    /// consumer, only the first registered one qualifies.
    pub fn next_consumer(&mut self, allowed: &[ConsumerId]) -> Option<usize> {
        let n = if self.single_active {
            self.consumers.len().min(1)
        } else {
            self.consumers.len()
        };
        let mut skip = Vec::new();
        loop {
            let at = self.best_candidate(n, allowed, &skip)?;
            let c = self.consumers.get_mut(at)?;
            if c.try_credit() {
                self.cursor = (at + 1) % n;
                return Some(at);
            }
            skip.push(at);
        }
    }

    /// The first candidate of the highest priority in round-robin order from the cursor.
    fn best_candidate(&self, n: usize, allowed: &[ConsumerId], skip: &[usize]) -> Option<usize> {
        let mut best: Option<(usize, i64)> = None;
        for step in 0..n {
            let at = (self.cursor + step) % n;
            let Some(c) = self.consumers.get(at) else {
                continue;
            };
            let eligible =
                !skip.contains(&at) && c.may_take() && allowed.binary_search(&c.id).is_ok();
            if eligible && best.is_none_or(|(_, p)| c.priority > p) {
                best = Some((at, c.priority));
            }
        }
        best.map(|(at, _)| at)
    }

    /// Gives back the credit `next_consumer` took for consumer `at` (nothing was sent).
    pub fn return_credit(&mut self, at: usize) {
        if let Some(c) = self.consumers.get_mut(at) {
            if !c.no_ack {
                c.in_flight = c.in_flight.saturating_sub(1);
                if let Some(pool) = &c.pool {
                    pool.give_back();
                }
            }
        }
    }

    pub fn remove_consumer(&mut self, id: ConsumerId) -> Option<Consumer> {
        let at = self.consumers.iter().position(|c| c.id == id)?;
        if at < self.cursor {
            self.cursor -= 1;
        }
        let consumer = self.consumers.remove(at);
        if self.cursor >= self.consumers.len() {
            self.cursor = 0;
        }
        Some(consumer)
    }

    pub fn has_exclusive_consumer(&self) -> bool {
        self.consumers.iter().any(|c| c.exclusive)
    }
}

/// A delivery ready to hand to its sink once the lock is released.
pub(crate) type Outgoing = (Arc<dyn DeliverySink>, warren_model::Delivery);

impl QueueState {
    /// Gives `entry` to consumer `at` (whose credit is already taken) as `delivery`,
    /// tracking it as unacked unless the consumer acks on send.
    pub fn hand_out(
        &mut self,
        at: usize,
        key: ReadyKey,
        entry: Entry,
        mut delivery: warren_model::Delivery,
    ) -> Option<Outgoing> {
        let c = self.consumers.get(at)?;
        let (sink, id, no_ack, pool) = (c.sink.clone(), c.id, c.no_ack, c.pool.clone());
        delivery.consumer = Some(c.tag.clone());
        if !no_ack {
            let unacked = Unacked {
                key,
                entry,
                consumer: Some(id),
                pool,
            };
            self.unacked.insert(key.seq, unacked);
        }
        Some((sink, delivery))
    }
}
