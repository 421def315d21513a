//! The publish gate: broker-wide alarms (free disk space below the limit, memory above the
//! high watermark) that stop publishers until every one of them clears, as RabbitMQ's resource
//! alarms do. Every session registers its
//! waker (weakly; dead ones are pruned as the list grows) and is woken when the gate changes;
//! a session holding a publisher back also looks again every [`GATE_POLL`], in case it was
//! busy when the wake came.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::flow::{FlowPause, FlowValve};
use crate::Wake;

/// How often a held-back session looks at the gate again.
pub const GATE_POLL: Duration = Duration::from_millis(250);

/// A resource alarm that can hold the gate; each is raised and cleared on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// Free disk space below the limit.
    Disk,
    /// Process memory above the high watermark.
    Memory,
}

impl Alarm {
    fn bit(self) -> u8 {
        match self {
            Self::Disk => 1,
            Self::Memory => 2,
        }
    }
}

/// Open, or closed to publishers while any alarm is raised.
#[derive(Default)]
pub struct PublishGate {
    /// One bit per raised [`Alarm`]: one alarm clearing must not open the gate another holds.
    alarms: AtomicU8,
    watchers: Mutex<Watchers>,
}

#[derive(Default)]
struct Watchers {
    wakers: Vec<Weak<dyn Wake>>,
    /// Prune dead entries when the list reaches this length.
    prune_at: usize,
}

impl std::fmt::Debug for PublishGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishGate")
            .field("blocked", &self.is_blocked())
            .finish_non_exhaustive()
    }
}

impl PublishGate {
    /// True while publishers must wait.
    pub fn is_blocked(&self) -> bool {
        self.alarms.load(Ordering::Acquire) != 0
    }

    /// True while `alarm` is raised.
    pub fn is_raised(&self, alarm: Alarm) -> bool {
        self.alarms.load(Ordering::Acquire) & alarm.bit() != 0
    }

    /// Raises or clears the disk alarm (see [`PublishGate::set_alarm`]).
    pub fn set_blocked(&self, blocked: bool) -> bool {
        self.set_alarm(Alarm::Disk, blocked)
    }

    /// Raises or clears `alarm`; true when that changed the alarm. Every session is woken
    /// when the gate as a whole opened or closed.
    pub fn set_alarm(&self, alarm: Alarm, raised: bool) -> bool {
        let before = if raised {
            self.alarms.fetch_or(alarm.bit(), Ordering::AcqRel)
        } else {
            self.alarms.fetch_and(!alarm.bit(), Ordering::AcqRel)
        };
        let after = if raised {
            before | alarm.bit()
        } else {
            before & !alarm.bit()
        };
        if (before == 0) != (after == 0) {
            let live: Vec<_> = self
                .watchers()
                .wakers
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
            for waker in live {
                waker.wake();
            }
        }
        before != after
    }

    /// Wakes `waker` on every change from now on, as long as it lives.
    pub fn watch(&self, waker: &Arc<dyn Wake>) {
        let mut watchers = self.watchers();
        if watchers.wakers.len() >= watchers.prune_at {
            watchers.wakers.retain(|w| w.strong_count() > 0);
            watchers.prune_at = (watchers.wakers.len() * 2).max(64);
        }
        watchers.wakers.push(Arc::downgrade(waker));
    }

    fn watchers(&self) -> std::sync::MutexGuard<'_, Watchers> {
        self.watchers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One session's use of the gate: only a connection that publishes is held back (a consumer
/// must keep reading, or its acks could never free the disk). It also holds the session's
/// pause on a queue's flow valve (see [`crate::flow`]).
#[derive(Default)]
pub struct GateWatch {
    gate: Option<Arc<PublishGate>>,
    waker: Option<Arc<dyn Wake>>,
    published: bool,
    last_seen: Option<Instant>,
    /// Boxed: most sessions are never paused.
    flow: Option<Box<FlowPause>>,
}

impl std::fmt::Debug for GateWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateWatch")
            .field("gate", &self.gate)
            .field("published", &self.published)
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

impl GateWatch {
    /// Watches `gate` (none: never blocked); `waker` is woken when it changes, or when a
    /// valve this session pauses on opens.
    pub fn new(gate: Option<Arc<PublishGate>>, waker: &Arc<dyn Wake>) -> Self {
        if let Some(gate) = &gate {
            gate.watch(waker);
        }
        Self {
            gate,
            waker: Some(Arc::clone(waker)),
            published: false,
            last_seen: None,
            flow: None,
        }
    }

    /// The session received a publish.
    pub fn published(&mut self) {
        self.published = true;
    }

    /// A publish reached a queue whose valve is closed: stop reading until it opens (at most
    /// [`crate::flow::MAX_PAUSE`]).
    pub fn throttle(&mut self, valve: Arc<FlowValve>, now: Instant) {
        if let Some(waker) = &self.waker {
            self.flow = FlowPause::start(valve, waker, now).map(Box::new);
        }
    }

    /// Records the session's current time (for the next poll).
    pub fn saw(&mut self, now: Instant) {
        self.last_seen = Some(now);
    }

    /// True while the gate is closed (whether or not this session is held by it).
    pub fn gate_closed(&self) -> bool {
        self.gate.as_ref().is_some_and(|g| g.is_blocked())
    }

    /// True while a resource alarm holds this session: what a protocol that tells clients
    /// they are blocked reports. A flow pause is silent, as in RabbitMQ.
    pub fn alarm_holds(&self) -> bool {
        self.published && self.gate_closed()
    }

    /// True while `alarm` is raised on the gate this session watches.
    pub fn raised(&self, alarm: Alarm) -> bool {
        self.gate.as_ref().is_some_and(|g| g.is_raised(alarm))
    }

    /// True while this session must stop reading: an alarm or a flow pause.
    pub fn holds(&self) -> bool {
        self.alarm_holds() || self.paused()
    }

    fn paused(&self) -> bool {
        self.flow.as_ref().is_some_and(|p| p.holds(Instant::now))
    }

    /// When to look again while something holds this session.
    pub fn deadline(&self) -> Option<Instant> {
        let alarm = self
            .alarm_holds()
            .then(|| self.last_seen.unwrap_or_else(Instant::now) + GATE_POLL);
        let pause = self
            .flow
            .as_ref()
            .filter(|_| self.paused())
            .map(|p| p.until());
        earliest(alarm, pause)
    }
}

/// The earlier of two optional deadlines.
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wake::CountingWake as Count;

    #[test]
    fn only_a_publishing_session_is_held_and_only_while_closed() {
        let gate = Arc::new(PublishGate::default());
        let count = Arc::new(Count::default());
        let waker: Arc<dyn Wake> = count.clone();
        let mut watch = GateWatch::new(Some(Arc::clone(&gate)), &waker);
        assert!(gate.set_blocked(true));
        assert!(!gate.set_blocked(true));
        assert!(!watch.holds(), "a consumer keeps reading");
        watch.published();
        assert!(watch.holds());
        let now = Instant::now();
        watch.saw(now);
        assert_eq!(watch.deadline(), Some(now + GATE_POLL));
        assert!(gate.set_blocked(false));
        assert!(!watch.holds());
        assert_eq!(watch.deadline(), None);
        assert_eq!(count.count(), 2, "woken on each change");
    }

    #[test]
    fn the_gate_opens_only_when_every_alarm_has_cleared() {
        let gate = Arc::new(PublishGate::default());
        let count = Arc::new(Count::default());
        let waker: Arc<dyn Wake> = count.clone();
        gate.watch(&waker);
        assert!(gate.set_alarm(Alarm::Disk, true));
        assert!(gate.set_alarm(Alarm::Memory, true));
        assert!(gate.set_alarm(Alarm::Disk, false));
        assert!(gate.is_blocked(), "the memory alarm still holds it");
        assert!(gate.is_raised(Alarm::Memory) && !gate.is_raised(Alarm::Disk));
        assert!(!gate.set_alarm(Alarm::Disk, false));
        assert!(gate.set_alarm(Alarm::Memory, false));
        assert!(!gate.is_blocked());
        assert_eq!(count.count(), 2, "woken on close and open only");
    }

    #[test]
    fn a_flow_pause_holds_a_session_silently_until_the_valve_opens() {
        let count = Arc::new(Count::default());
        let waker: Arc<dyn Wake> = count.clone();
        let mut watch = GateWatch::new(None, &waker);
        let valve = Arc::new(FlowValve::default());
        valve.close();
        watch.published();
        // Paused from a moment well ahead, so a slow test machine cannot outlast the pause.
        let now = Instant::now() + Duration::from_secs(3600);
        watch.throttle(Arc::clone(&valve), now);
        assert!(watch.holds());
        assert!(!watch.alarm_holds(), "no connection.blocked for flow");
        assert_eq!(watch.deadline(), Some(now + crate::flow::MAX_PAUSE));
        valve.open();
        assert!(!watch.holds());
        assert_eq!(watch.deadline(), None);
        assert_eq!(count.count(), 1, "woken when it opened");
    }

    #[test]
    fn dead_watchers_are_pruned() {
        let gate = PublishGate::default();
        for _ in 0..1000 {
            let waker: Arc<dyn Wake> = Arc::new(Count::default());
            gate.watch(&waker);
        }
        assert!(gate.watchers().wakers.len() <= 64);
    }
}
