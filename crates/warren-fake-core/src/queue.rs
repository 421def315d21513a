//! A fake queue: ready messages in order, unacknowledged ones by position, consumers served
//! round robin.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use warren_model::{
    ConnectionId, ConsumerId, ConsumerTag, Delivery, DeliverySink, Message, QueueHandle, QueueName,
    QueueSeq, Settlement,
};

use crate::calls::{Call, Journal};

/// A message waiting in a queue.
#[derive(Clone, Debug)]
pub struct Queued {
    /// Its position.
    pub seq: QueueSeq,
    /// The message.
    pub message: Arc<Message>,
    /// Delivered before and requeued.
    pub redelivered: bool,
}

pub(crate) struct FakeConsumer {
    pub(crate) id: ConsumerId,
    pub(crate) tag: ConsumerTag,
    pub(crate) sink: Arc<dyn DeliverySink>,
    pub(crate) no_ack: bool,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) ready: VecDeque<Queued>,
    pub(crate) unacked: BTreeMap<QueueSeq, Queued>,
    pub(crate) consumers: Vec<FakeConsumer>,
    next_seq: u64,
    cursor: usize,
    acked: u64,
}

/// One queue of the fake core.
pub struct FakeQueue {
    name: QueueName,
    durable: bool,
    exclusive_owner: Option<ConnectionId>,
    me: Weak<FakeQueue>,
    journal: Journal,
    pub(crate) inner: Mutex<Inner>,
}

impl FakeQueue {
    pub(crate) fn new(
        name: QueueName,
        durable: bool,
        exclusive_owner: Option<ConnectionId>,
        journal: Journal,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            name,
            durable,
            exclusive_owner,
            me: me.clone(),
            journal,
            inner: Mutex::default(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Declared durable.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// The connection owning it when it is exclusive.
    pub fn exclusive_owner(&self) -> Option<ConnectionId> {
        self.exclusive_owner
    }

    /// Ready messages, in delivery order.
    pub fn ready(&self) -> Vec<Queued> {
        self.lock().ready.iter().cloned().collect()
    }

    /// Messages delivered and not settled yet.
    pub fn unacked(&self) -> Vec<Queued> {
        self.lock().unacked.values().cloned().collect()
    }

    /// How many delivered messages were settled with `Ack`.
    pub fn acked(&self) -> u64 {
        self.lock().acked
    }

    /// Active consumers.
    pub fn consumer_count(&self) -> usize {
        self.lock().consumers.len()
    }

    pub(crate) fn push(&self, message: Arc<Message>) {
        {
            let mut inner = self.lock();
            inner.next_seq += 1;
            let seq = QueueSeq(inner.next_seq);
            inner.ready.push_back(Queued {
                seq,
                message,
                redelivered: false,
            });
        }
        self.dispatch();
    }

    /// Takes the next ready message, as delivered when `ack` (it then awaits settlement).
    pub(crate) fn take(&self, ack: bool) -> Option<(Queued, u32)> {
        let mut inner = self.lock();
        let next = inner.ready.pop_front()?;
        if ack {
            inner.unacked.insert(next.seq, next.clone());
        }
        Some((next, inner.ready.len() as u32))
    }

    pub(crate) fn handle(&self) -> Arc<dyn QueueHandle> {
        self.me.upgrade().expect("a queue in use is alive")
    }

    pub(crate) fn dispatch(&self) {
        while let Some((sink, delivery)) = self.next_delivery() {
            sink.deliver(delivery);
        }
    }

    fn next_delivery(&self) -> Option<(Arc<dyn DeliverySink>, Delivery)> {
        let mut inner = self.lock();
        let n = inner.consumers.len();
        if n == 0 || inner.ready.is_empty() {
            return None;
        }
        inner.cursor = (inner.cursor + 1) % n;
        let c = &inner.consumers[inner.cursor];
        if !c.sink.has_room() {
            return None;
        }
        let (sink, tag, no_ack) = (c.sink.clone(), c.tag.clone(), c.no_ack);
        let next = inner.ready.pop_front()?;
        if !no_ack {
            inner.unacked.insert(next.seq, next.clone());
        }
        drop(inner);
        let delivery = Delivery {
            queue: self.handle(),
            seq: next.seq,
            message: next.message,
            redelivered: next.redelivered,
            consumer: Some(tag),
        };
        Some((sink, delivery))
    }
}

impl QueueHandle for FakeQueue {
    fn name(&self) -> &QueueName {
        &self.name
    }

    fn settle(&self, seqs: &[QueueSeq], how: Settlement) {
        {
            let mut inner = self.lock();
            let mut back = Vec::new();
            for seq in seqs {
                self.journal.record(Call::Settle {
                    queue: self.name.to_string(),
                    seq: *seq,
                    how,
                });
                if let Some(mut m) = inner.unacked.remove(seq) {
                    match how {
                        Settlement::Ack => inner.acked += 1,
                        Settlement::Requeue => {
                            m.redelivered = true;
                            back.push(m);
                        }
                        Settlement::Discard => {}
                    }
                }
            }
            // Back at their original positions, as the real core and RabbitMQ do.
            for m in back {
                let at = inner.ready.partition_point(|r| r.seq < m.seq);
                inner.ready.insert(at, m);
            }
        }
        self.dispatch();
    }

    fn cancel(&self, consumer: ConsumerId) {
        self.journal.record(Call::Cancel {
            queue: self.name.to_string(),
            consumer,
        });
        let mut inner = self.lock();
        inner.consumers.retain(|c| c.id != consumer);
        inner.cursor = 0;
    }

    fn kick(&self) {
        self.dispatch();
    }

    fn message_count(&self) -> u32 {
        self.lock().ready.len() as u32
    }
}
