//! A message arriving: its deadline and priority, the length limits, TTL 0.
//!
//! RabbitMQ offers a new message to a waiting consumer before it counts against a length
//! limit or a TTL of 0, so a queue with `x-max-length` 0 or `x-message-ttl` 0 still feeds a
//! consumer that has credit. Here the message is pushed, one dispatch round runs, and only
//! then are limits enforced and a zero-TTL message still waiting expired.

use std::sync::Arc;
use std::time::{Duration, Instant};

use warren_model::{Delivery, FieldValue, Message, QueueHandle, QueueSeq};
use warren_store::MessageId;

use super::state::{Entry, QueueState, ReadyKey};
use super::{died, Enqueued, Overflow, Queue};
use crate::deadletter::{DeadLetter, DeathReason};

impl Queue {
    /// Offers a message to the queue; `stored` is its id in the store when it was written
    /// there for this queue.
    pub fn enqueue(&self, message: Arc<Message>, stored: Option<MessageId>) -> Enqueued {
        let rank = self.rank(&message);
        let mut entry = self.new_entry(message, Instant::now());
        entry.stored = self.stored(stored);
        let zero_ttl = entry.zero_ttl;
        let (key, start) = {
            let mut state = self.state();
            if state.deleted {
                return Enqueued::Gone;
            }
            if self.refuses(&state, &entry) {
                drop(state);
                return self.refuse(entry);
            }
            let key = state.next_key(rank);
            state.insert(key, entry);
            (key, !state.consumers.is_empty() && state.begin_dispatch())
        };
        if start {
            self.run_dispatch();
        }
        self.settle_arrival(zero_ttl.then_some(key));
        Enqueued::Accepted
    }

    fn refuse(&self, entry: Entry) -> Enqueued {
        if self.def.args.overflow == Overflow::RejectPublishDlx {
            self.dead_letter(died(entry, DeathReason::MaxLen).into_iter().collect());
        }
        Enqueued::Rejected
    }

    /// After the arrival's dispatch round: expire a zero-TTL message nobody took, drop heads
    /// over the limits, arm the timer.
    fn settle_arrival(&self, zero_ttl: Option<ReadyKey>) {
        let mut dead = Vec::new();
        {
            let mut state = self.state();
            if let Some(entry) = zero_ttl.and_then(|key| state.remove(key)) {
                dead.extend(died(entry, DeathReason::Expired));
            }
            self.drop_heads(&mut state, &mut dead);
            self.arm(&mut state);
        }
        self.dead_letter(dead);
    }

    /// `reject-publish`: would one more message break a limit?
    fn refuses(&self, state: &QueueState, entry: &Entry) -> bool {
        let args = &self.def.args;
        if args.overflow == Overflow::DropHead {
            return false;
        }
        let len = state.ready_len() as u64 + 1;
        let bytes = state.ready_bytes() + entry.size;
        args.max_length.is_some_and(|max| len > max)
            || args.max_length_bytes.is_some_and(|max| bytes > max)
    }

    /// `drop-head`: the oldest (lowest priority last) messages go while over a limit.
    fn drop_heads(&self, state: &mut QueueState, dead: &mut Vec<DeadLetter>) {
        let args = &self.def.args;
        if args.overflow != Overflow::DropHead {
            return;
        }
        let over = |s: &QueueState| {
            args.max_length
                .is_some_and(|max| s.ready_len() as u64 > max)
                || args
                    .max_length_bytes
                    .is_some_and(|max| s.ready_bytes() > max)
        };
        while over(state) {
            let Some((_, entry)) = state.pop_first() else {
                break;
            };
            dead.extend(died(entry, DeathReason::MaxLen));
        }
    }

    /// The entry for a new message: its deadline is the sooner of the queue's TTL and its
    /// own `expiration`.
    pub(super) fn new_entry(&self, message: Arc<Message>, now: Instant) -> Entry {
        let own = message_ttl(&message);
        let ttl = match (self.def.args.message_ttl, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Entry {
            size: message.body.len() as u64,
            message: Some(message),
            deadline: ttl.map(|t| now + t),
            zero_ttl: ttl == Some(Duration::ZERO),
            returns: 0,
            recovered_redelivered: false,
            stored: None,
        }
    }

    /// The message's place among priorities: 0 first. Without `x-max-priority` all are equal.
    pub(super) fn rank(&self, message: &Message) -> u8 {
        let Some(max) = self.def.args.max_priority else {
            return 0;
        };
        let priority = message.properties.priority.unwrap_or(0).min(max);
        u8::MAX - priority
    }

    /// The delivery of `entry` (whose message is `message`); with a delivery limit, a
    /// redelivery carries `x-delivery-count` as a quorum queue's does.
    pub(super) fn delivery_for(
        &self,
        queue: &Arc<dyn QueueHandle>,
        seq: QueueSeq,
        entry: &Entry,
        message: Arc<Message>,
    ) -> Delivery {
        if let Some(stored) = &entry.stored {
            stored.delivered();
        }
        let message = match self.def.args.delivery_limit {
            Some(_) if entry.returns > 0 => with_delivery_count(&message, entry.returns),
            _ => message,
        };
        Delivery {
            queue: Arc::clone(queue),
            seq,
            message,
            redelivered: entry.returns > 0 || entry.recovered_redelivered,
            consumer: None,
        }
    }
}

/// A per-message TTL from the `expiration` property; the channel checked its form.
pub(crate) fn message_ttl(message: &Message) -> Option<Duration> {
    let text = message.properties.expiration.as_deref()?;
    text.parse::<u64>().ok().map(Duration::from_millis)
}

fn with_delivery_count(message: &Message, count: u64) -> Arc<Message> {
    let mut copy = message.clone();
    let headers = copy.properties.headers.get_or_insert_with(Default::default);
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    headers.insert("x-delivery-count", FieldValue::I64(count));
    Arc::new(copy)
}
