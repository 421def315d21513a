//! Flow control between publishers and a queue, as RabbitMQ's "flow" state: publishers that
//! outrun a queue's consumers are paused, so the consumers' connections get the CPU and the
//! backlog stops growing, instead of a queue swelling by hundreds of thousands of messages a
//! second while its consumer starves.
//!
//! A queue closes its valve when its backlog passes a high mark while a consumer could take
//! more (so the backlog grows because delivering cannot keep up, not because consumers are
//! at their prefetch limit: a queue buffering for busy consumers is what queues are for),
//! and opens it below a low mark. A publish that reached a closed valve hands it to the
//! publishing session, which stops reading until the valve opens or [`MAX_PAUSE`] passed.
//! The cap keeps a connection that both publishes to and consumes from a queue from waiting
//! on acks it has stopped reading.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::Wake;

/// The longest one pause of a publisher.
pub const MAX_PAUSE: Duration = Duration::from_millis(50);

/// A queue's valve: closed while its publishers must wait.
#[derive(Default)]
pub struct FlowValve {
    closed: AtomicBool,
    /// How many times it opened: a pause is over once the valve opened after it began, even
    /// if the valve closed again since (its waiters were woken, and taken off, at the open).
    opened: AtomicU64,
    /// Held weakly: a session that closed while waiting must not be kept alive by a valve
    /// that stays closed.
    waiters: Mutex<Vec<Weak<dyn Wake>>>,
}

impl std::fmt::Debug for FlowValve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowValve")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl FlowValve {
    /// True while publishers must wait.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes it; true when it was open.
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Opens it and wakes every session waiting on it.
    pub fn open(&self) {
        if !self.closed.swap(false, Ordering::AcqRel) {
            return;
        }
        let waiters = {
            let mut waiters = self.waiters();
            self.opened.fetch_add(1, Ordering::AcqRel);
            std::mem::take(&mut *waiters)
        };
        for waker in waiters.iter().filter_map(Weak::upgrade) {
            waker.wake();
        }
    }

    /// Wakes `waker` when the valve opens. The count of opens so far, or none (and nothing
    /// registered) when it is open.
    fn wait(&self, waker: &Arc<dyn Wake>) -> Option<u64> {
        let mut waiters = self.waiters();
        // Read under the lock `open` takes after clearing the flag: either this sees it
        // open, or `open` sees this waiter and counts its open after this read.
        if !self.is_closed() {
            return None;
        }
        let waker = Arc::downgrade(waker);
        if !waiters.iter().any(|w| Weak::ptr_eq(w, &waker)) {
            waiters.retain(|w| w.strong_count() > 0);
            waiters.push(waker);
        }
        Some(self.opened.load(Ordering::Acquire))
    }

    /// True when it opened since it had opened `opens` times.
    fn opened_since(&self, opens: u64) -> bool {
        self.opened.load(Ordering::Acquire) != opens
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn Wake>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A session's pause on a closed valve.
#[derive(Debug)]
pub struct FlowPause {
    valve: Arc<FlowValve>,
    /// The valve's count of opens when the pause began.
    opens: u64,
    until: Instant,
}

impl FlowPause {
    /// Pauses on `valve` (registering `waker`), unless it is open already.
    pub fn start(valve: Arc<FlowValve>, waker: &Arc<dyn Wake>, now: Instant) -> Option<Self> {
        let opens = valve.wait(waker)?;
        Some(Self {
            valve,
            opens,
            until: now + MAX_PAUSE,
        })
    }

    /// True while the session must not read: the valve has not opened since the pause began,
    /// and the cap has not passed. A pause that ended stays ended when the valve closes again:
    /// the open took the session off the valve's waiters, so nothing but the cap would end
    /// it. `now` is asked only until the valve opens: a session asks on every event.
    pub fn holds(&self, now: impl FnOnce() -> Instant) -> bool {
        !self.valve.opened_since(self.opens) && now() < self.until
    }

    /// When the pause ends at the latest.
    pub fn until(&self) -> Instant {
        self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wake::CountingWake as Count;

    #[test]
    fn a_pause_lasts_until_the_valve_opens() {
        let valve = Arc::new(FlowValve::default());
        let count = Arc::new(Count::default());
        let waker: Arc<dyn Wake> = count.clone();
        let now = Instant::now();
        assert!(
            FlowPause::start(Arc::clone(&valve), &waker, now).is_none(),
            "open"
        );
        assert!(valve.close());
        assert!(!valve.close(), "already closed");
        let pause = FlowPause::start(Arc::clone(&valve), &waker, now).unwrap();
        let _again = FlowPause::start(Arc::clone(&valve), &waker, now).unwrap();
        assert!(pause.holds(|| now));
        valve.open();
        assert!(!pause.holds(|| now));
        assert_eq!(count.count(), 1, "woken once");
    }

    #[test]
    fn a_closed_valve_does_not_keep_a_gone_session_alive() {
        let valve = FlowValve::default();
        valve.close();
        let waker: Arc<dyn Wake> = Arc::new(Count::default());
        assert!(valve.wait(&waker).is_some());
        let gone = Arc::downgrade(&waker);
        drop(waker);
        assert!(gone.upgrade().is_none());
        valve.open();
    }

    #[test]
    fn a_pause_that_ended_stays_ended_when_the_valve_closes_again() {
        let valve = Arc::new(FlowValve::default());
        let count = Arc::new(Count::default());
        let waker: Arc<dyn Wake> = count.clone();
        let now = Instant::now();
        valve.close();
        let first = FlowPause::start(Arc::clone(&valve), &waker, now).unwrap();
        valve.open();
        assert!(valve.close(), "closed again by the next arrivals");
        assert!(
            !first.holds(|| now),
            "no longer a waiter: nothing would wake it before the cap"
        );
        let second = FlowPause::start(Arc::clone(&valve), &waker, now).unwrap();
        assert!(second.holds(|| now));
        valve.open();
        assert!(!second.holds(|| now));
        assert_eq!(count.count(), 2, "woken at each open");
    }

    #[test]
    fn a_pause_ends_after_the_cap_even_if_the_valve_stays_closed() {
        let valve = Arc::new(FlowValve::default());
        let waker: Arc<dyn Wake> = Arc::new(Count::default());
        valve.close();
        let now = Instant::now();
        let pause = FlowPause::start(valve, &waker, now).unwrap();
        assert!(pause.holds(|| now + MAX_PAUSE / 2));
        assert!(!pause.holds(|| now + MAX_PAUSE));
        assert_eq!(pause.until(), now + MAX_PAUSE);
    }
}
