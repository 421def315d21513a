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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::Wake;

/// The longest one pause of a publisher.
pub const MAX_PAUSE: Duration = Duration::from_millis(50);

/// A queue's valve: closed while its publishers must wait.
#[derive(Default)]
pub struct FlowValve {
    closed: AtomicBool,
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
        let waiters = std::mem::take(&mut *self.waiters());
        for waker in waiters.iter().filter_map(Weak::upgrade) {
            waker.wake();
        }
    }

    /// Wakes `waker` when the valve opens; false (and nothing registered) when it is open.
    pub fn wait(&self, waker: &Arc<dyn Wake>) -> bool {
        let mut waiters = self.waiters();
        // Read under the lock `open` takes after clearing the flag: either this sees it
        // open, or `open` sees this waiter.
        if !self.is_closed() {
            return false;
        }
        let waker = Arc::downgrade(waker);
        if !waiters.iter().any(|w| Weak::ptr_eq(w, &waker)) {
            waiters.retain(|w| w.strong_count() > 0);
            waiters.push(waker);
        }
        true
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn Wake>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A session's pause on a closed valve.
#[derive(Debug)]
pub struct FlowPause {
    valve: Arc<FlowValve>,
    until: Instant,
}

impl FlowPause {
    /// Pauses on `valve` (registering `waker`), unless it is open already.
    pub fn start(valve: Arc<FlowValve>, waker: &Arc<dyn Wake>, now: Instant) -> Option<Self> {
        valve.wait(waker).then(|| Self {
            valve,
            until: now + MAX_PAUSE,
        })
    }

    /// True while the session must not read. `now` is asked only while the valve is closed:
    /// a session asks on every event, and a pause that ended stays until the next one.
    pub fn holds(&self, now: impl FnOnce() -> Instant) -> bool {
        self.valve.is_closed() && now() < self.until
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
        assert!(valve.wait(&waker));
        let gone = Arc::downgrade(&waker);
        drop(waker);
        assert!(gone.upgrade().is_none());
        valve.open();
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
