//! The `x-delayed-message` exchange type's waiting room, one per vhost.
//!
//! As the community plugin defines it: a message published to such an exchange with an
//! integer `x-delay` header (ms; a numeric string is accepted as the plugin does) above 0
//! waits here, then is routed by the exchange's `x-delayed-type` table as if published at that
//! moment, with `x-delay` negated so consumers can tell it was delayed. Without the header, or
//! with 0 or less, it is routed at once.
//!
//! One `BTreeMap` ordered by (due time, arrival number) holds every pending message: insertion
//! and release are O(log n), equal due times leave in arrival order, and only the earliest due
//! time is registered with the broker's timer service. A million pending messages are a
//! million map entries, not a million timers.
//!
//! Durability is a seam: [`DelayedLog`] is told of each persistent message stored and
//! released, with a wall-clock due time, and a vhost refills the map from it at start
//! (`restore`). The durable layer implements it (`crate::durable::delayed`); a vhost without
//! durability keeps its delayed messages in memory only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use warren_model::{DurableWrite, ExchangeName, FieldValue, Message};

use super::VHostCore;
use crate::sync::lock;
use crate::timer::{Timed, Timers, GRAIN};

/// Identifies one delayed message in its vhost.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct DelayId(pub u64);

/// Keeps persistent delayed messages across restarts. Implemented by the storage layer.
pub trait DelayedLog: Send + Sync {
    /// `message` waits until `due` to be routed from `exchange`; the write its publisher's
    /// confirmation must wait for, if any.
    fn stored(
        &self,
        id: DelayId,
        due: SystemTime,
        exchange: &ExchangeName,
        message: &Message,
    ) -> Option<Box<dyn DurableWrite>>;
    /// It was routed (or its exchange is gone): forget it.
    fn released(&self, id: DelayId);
}

struct Pending {
    exchange: ExchangeName,
    message: Arc<Message>,
    logged: bool,
}

#[derive(Default)]
struct DelayedState {
    pending: BTreeMap<(Instant, DelayId), Pending>,
    next_id: u64,
    armed: Option<Instant>,
}

/// A vhost's delayed messages.
pub(crate) struct DelayedStore {
    state: Mutex<DelayedState>,
    timers: Arc<Timers>,
    log: OnceLock<Arc<dyn DelayedLog>>,
    vhost: Weak<VHostCore>,
    me: Weak<DelayedStore>,
}

impl DelayedStore {
    pub fn new(timers: Arc<Timers>, vhost: Weak<VHostCore>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            state: Mutex::default(),
            timers,
            log: OnceLock::new(),
            vhost,
            me: me.clone(),
        })
    }

    /// Holds `message` for `delay`, to be routed from `exchange` then; returns the write to
    /// disk of a persistent one, which its publisher's confirmation waits for.
    pub fn hold(
        &self,
        exchange: ExchangeName,
        message: Arc<Message>,
        delay: Duration,
    ) -> Option<Box<dyn DurableWrite>> {
        let due = Instant::now() + delay;
        let mut state = lock(&self.state);
        let id = DelayId(state.next_id);
        state.next_id += 1;
        let logged = self.log.get().is_some() && message.is_persistent();
        let mut write = None;
        if let (Some(log), true) = (self.log.get(), logged) {
            write = log.stored(id, SystemTime::now() + delay, &exchange, &message);
        }
        let pending = Pending {
            exchange,
            message,
            logged,
        };
        state.pending.insert((due, id), pending);
        self.arm(&mut state);
        write
    }

    /// Persistent delayed messages are told to `log` from now on (set once).
    pub fn attach(&self, log: Arc<dyn DelayedLog>) {
        let _ = self.log.set(log);
    }

    /// Refills a logged message at start, logging it again under this run's id; one already
    /// due is routed on the next firing.
    pub fn restore(&self, due: SystemTime, exchange: ExchangeName, message: Arc<Message>) {
        let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
        let mut state = lock(&self.state);
        let id = DelayId(state.next_id);
        state.next_id += 1;
        let logged = match self.log.get() {
            Some(log) => {
                // Recovery does not wait for this write: the old entry is deleted after it,
                // in the same ordered log, so one of the two is always on disk.
                let _ = log.stored(id, due, &exchange, &message);
                true
            }
            None => false,
        };
        let pending = Pending {
            exchange,
            message,
            logged,
        };
        state.pending.insert((Instant::now() + wait, id), pending);
        self.arm(&mut state);
    }

    /// How many messages wait.
    pub fn len(&self) -> usize {
        lock(&self.state).pending.len()
    }

    fn arm(&self, state: &mut DelayedState) {
        let Some(&(next, _)) = state.pending.keys().next() else {
            return;
        };
        if state.armed.is_some_and(|armed| armed <= next + GRAIN) {
            return;
        }
        state.armed = Some(next);
        let me: Weak<dyn Timed> = self.me.clone();
        self.timers.at(next, me);
    }

    /// Takes out everything due by `now`, in due order.
    fn take_due(&self, now: Instant) -> Vec<(DelayId, Pending)> {
        let mut state = lock(&self.state);
        state.armed = None;
        let later = state.pending.split_off(&(now, DelayId(u64::MAX)));
        let due = std::mem::replace(&mut state.pending, later);
        self.arm(&mut state);
        due.into_iter().map(|((_, id), p)| (id, p)).collect()
    }
}

impl Timed for DelayedStore {
    fn fire(&self, now: Instant) {
        let due = self.take_due(now);
        let vhost = self.vhost.upgrade();
        for (id, pending) in due {
            if let Some(vhost) = &vhost {
                let message = Arc::new(undelayed(&pending.message));
                vhost.release_delayed(&pending.exchange, message);
            }
            if let (Some(log), true) = (self.log.get(), pending.logged) {
                log.released(id);
            }
        }
    }
}

/// The delay a message asks for: its `x-delay` header, when above 0.
pub(crate) fn requested_delay(message: &Message) -> Option<Duration> {
    let value = message.properties.headers.as_ref()?.get("x-delay")?;
    let ms = value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
    u64::try_from(ms)
        .ok()
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

/// The copy routed after the delay: `x-delay` negated, as the plugin marks it.
fn undelayed(message: &Message) -> Message {
    let delay =
        requested_delay(message).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut copy = message.clone();
    if let Some(headers) = copy.properties.headers.as_mut() {
        headers.insert("x-delay", FieldValue::I64(-delay));
    }
    copy
}
