//! A message arriving: its deadline and priority, the length limits, TTL 0; and the deadline
//! of a message recovered from the store, counted from its first arrival.
//!
//! RabbitMQ offers a new message to a waiting consumer before it counts against a length
//! limit or a TTL of 0, so a queue with `x-max-length` 0 or `x-message-ttl` 0 still feeds a
//! consumer that has credit. Here the message is pushed, one dispatch round runs, and only
//! then are limits enforced and a zero-TTL message still waiting expired.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use warren_model::{Delivery, FieldValue, Message, QueueHandle, QueueSeq};
use warren_store::MessageId;

use super::held;
use super::state::{Entry, QueueState, ReadyKey};
use super::{died, Enqueued, Overflow, Queue};
use crate::deadletter::{DeadLetter, DeathReason};

impl Queue {
    /// Offers a message to the queue; `stored` is its id in the store when it was written
    /// there for this queue.
    pub fn enqueue(&self, message: Arc<Message>, stored: Option<MessageId>) -> Enqueued {
        let (message, stored) = match self.may_hold(&message) {
            true => match held::hold(self, (message, stored)) {
                Ok(()) => return Enqueued::Accepted,
                Err(back) => back,
            },
            false => {
                // What waits for this queue on this thread arrived first.
                held::bring_in(self);
                (message, stored)
            }
        };
        let rank = self.rank(&message);
        let mut entry = self.new_entry(message);
        entry.stored = self.stored(stored);
        let zero_ttl = entry.zero_ttl;
        // Only a message with a deadline can move the queue's timer, and only drop-head with
        // a limit drops on arrival: any other arrival needs no look at the state after its
        // dispatch.
        let timed = entry.deadline.is_some();
        let look_after = zero_ttl || timed || self.def.args.drops_heads();
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
            self.check_flow_on_arrival(&mut state, 1);
            let start = match state.consumers.is_empty() {
                true => None,
                false => state.begin_dispatch(),
            };
            (key, start)
        };
        if let Some(candidates) = start {
            self.run_dispatch(candidates);
        }
        if look_after {
            self.settle_arrival(zero_ttl.then_some(key));
        }
        Enqueued::Accepted
    }

    /// Whether `message` may wait for the end of a publish batch: the queue takes it without
    /// a look at its state (no length limit to refuse or drop by, no deadline to arm).
    fn may_hold(&self, message: &Message) -> bool {
        let args = &self.def.args;
        args.max_length.is_none()
            && args.max_length_bytes.is_none()
            && args.message_ttl.is_none()
            && message.properties.text.expiration.is_none()
    }

    /// Messages that waited for a publish batch arrive, in order, under one lock, and one
    /// dispatch round hands them out.
    pub(super) fn arrive_all(&self, waiting: Vec<held::Waiting>) {
        if waiting.is_empty() {
            return;
        }
        let entries: Vec<(u8, Entry)> = waiting
            .into_iter()
            .map(|(message, stored)| {
                let rank = self.rank(&message);
                let mut entry = self.new_entry(message);
                entry.stored = self.stored(stored);
                (rank, entry)
            })
            .collect();
        let start = {
            let mut state = self.state();
            if state.deleted {
                return;
            }
            let n = entries.len();
            for (rank, entry) in entries {
                let key = state.next_key(rank);
                state.insert(key, entry);
            }
            self.check_flow_on_arrival(&mut state, n);
            match state.consumers.is_empty() {
                true => None,
                false => state.begin_dispatch(),
            }
        };
        if let Some(candidates) = start {
            self.run_dispatch(candidates);
        }
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
    /// own `expiration` (the clock is read only for a message that has one).
    pub(super) fn new_entry(&self, message: Arc<Message>) -> Entry {
        let ttl = self.ttl(&message);
        Entry {
            size: message.body.len() as u64,
            message: Some(message),
            deadline: ttl.map(|t| Instant::now() + t),
            zero_ttl: ttl == Some(Duration::ZERO),
            returns: 0,
            recovered_redelivered: false,
            stored: None,
        }
    }

    /// The entry for a message recovered from the store. Its TTL counts from `arrived`, when
    /// it first reached the queue (a deadline that passed while the broker was down is now,
    /// so the timer expires it at once); without that time it counts from now.
    pub(super) fn restored_entry(
        &self,
        message: Arc<Message>,
        arrived: Option<SystemTime>,
    ) -> Entry {
        let now = Instant::now();
        let ttl = self.ttl(&message);
        let mut entry = self.new_entry(message);
        if let (Some(ttl), Some(arrived)) = (ttl, arrived) {
            // A clock set back since then counts as no time passed.
            let waited = SystemTime::now()
                .duration_since(arrived)
                .unwrap_or_default();
            entry.deadline = Some(now + ttl.saturating_sub(waited));
            // Not arriving now: a TTL of 0 expires like any other instead of waiting for a
            // consumer.
            entry.zero_ttl = false;
        }
        entry
    }

    /// The sooner of the queue's TTL and the message's own `expiration`.
    fn ttl(&self, message: &Message) -> Option<Duration> {
        match (self.def.args.message_ttl, message_ttl(message)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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

/// A per-message TTL from the `expiration` property; the publish checked its form.
pub(crate) fn message_ttl(message: &Message) -> Option<Duration> {
    let text = message.properties.text.expiration.as_deref()?;
    parse_expiration(text).ok().map(Duration::from_millis)
}

/// RabbitMQ's reading of `expiration` (`string:to_integer/1`, then a sign check): an optional
/// sign, digits, nothing after them. The error is RabbitMQ's reason, e.g. `no_integer`.
pub(crate) fn parse_expiration(text: &str) -> Result<u64, String> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let (number, rest) = digits.split_at(end);
    if number.is_empty() {
        return Err("no_integer".to_owned());
    }
    if !rest.is_empty() {
        return Err(format!("{{leftover_string,\"{rest}\"}}"));
    }
    let value = number.trim_start_matches('0');
    let sign = if negative { "-" } else { "" };
    match number.parse::<u64>() {
        Ok(0) => Ok(0),
        Ok(_) if negative => Err(format!("{{value_negative,{sign}{value}}}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{{value_too_large,{sign}{value}}}")),
    }
}

fn with_delivery_count(message: &Message, count: u64) -> Arc<Message> {
    let mut copy = message.clone();
    let headers = copy.properties.headers.get_or_insert_with(Default::default);
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    headers.insert("x-delivery-count", FieldValue::I64(count));
    Arc::new(copy)
}

#[cfg(test)]
mod tests {
    use std::sync::Weak;

    use bytes::Bytes;
    use warren_model::{
        Annotations, ExchangeName, FieldTable, Properties, QueueName, RoutingKey, TextProperties,
    };

    use super::*;
    use crate::queue::{QueueArgs, QueueDef, QueueEvents};
    use crate::timer::Timers;
    use crate::vhost::VHostCore;

    const MINUTE: Duration = Duration::from_secs(60);

    fn queue(message_ttl: Option<Duration>) -> Arc<Queue> {
        let def = QueueDef {
            durable: true,
            exclusive: None,
            auto_delete: false,
            arguments: FieldTable::new(),
            args: QueueArgs {
                message_ttl,
                ..QueueArgs::default()
            },
        };
        let events: Weak<dyn QueueEvents> = Weak::<VHostCore>::new();
        let name = QueueName::try_from("q").unwrap();
        let backlog = Arc::default();
        Queue::new(name, def, events, Timers::new(None), backlog, None)
    }

    fn message(expiration: Option<&str>) -> Arc<Message> {
        Arc::new(Message {
            annotations: Annotations {
                exchange: ExchangeName::default_exchange(),
                routing_key: RoutingKey::try_from("q").unwrap(),
                publisher: None,
            },
            properties: Properties {
                text: TextProperties {
                    expiration: expiration.map(str::to_owned),
                    ..Default::default()
                }
                .into(),
                ..Properties::default()
            },
            body: Bytes::new(),
        })
    }

    /// How long from now until `entry` expires (zero when due already).
    fn left(entry: &Entry) -> Duration {
        let deadline = entry.deadline.expect("a deadline");
        deadline.saturating_duration_since(Instant::now())
    }

    fn ago(d: Duration) -> Option<SystemTime> {
        Some(SystemTime::now() - d)
    }

    #[test]
    fn a_restored_ttl_counts_from_the_first_arrival() {
        let q = queue(Some(MINUTE));
        let entry = q.restored_entry(message(None), ago(Duration::from_secs(50)));
        let remaining = left(&entry);
        let expected = Duration::from_secs(8)..=Duration::from_secs(10);
        assert!(expected.contains(&remaining), "{remaining:?}");
        let own = q.restored_entry(message(Some("55000")), ago(Duration::from_secs(50)));
        assert!(
            left(&own) <= Duration::from_secs(5),
            "the sooner TTL applies"
        );
    }

    #[test]
    fn a_deadline_passed_while_down_is_due_at_once() {
        let q = queue(None);
        let entry = q.restored_entry(message(Some("0")), ago(MINUTE));
        assert!(
            entry.expired(Instant::now()),
            "not held back as a TTL-0 arrival"
        );
        let entry = q.restored_entry(message(Some("1000")), ago(MINUTE));
        assert!(entry.expired(Instant::now()));
    }

    #[test]
    fn without_an_arrival_time_the_ttl_starts_again() {
        let q = queue(Some(MINUTE));
        let old_record = q.restored_entry(message(None), None);
        assert!(left(&old_record) > Duration::from_secs(55));
        let clock_set_back = q.restored_entry(message(None), Some(SystemTime::now() + MINUTE));
        assert!(left(&clock_set_back) > Duration::from_secs(55));
    }

    #[test]
    fn only_a_message_with_a_ttl_gets_a_deadline() {
        assert!(queue(None)
            .restored_entry(message(None), ago(MINUTE))
            .deadline
            .is_none());
    }
}
