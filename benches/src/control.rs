//! What every task of a run shares: the clock, the stop signals and the live counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

/// The run's clock and stop signals.
#[derive(Debug)]
pub struct Control {
    base: Instant,
    stop_publishing: watch::Sender<bool>,
    stop_consuming: watch::Sender<bool>,
}

impl Default for Control {
    fn default() -> Self {
        Self::new()
    }
}

impl Control {
    /// A fresh run: the clock starts now.
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            stop_publishing: watch::channel(false).0,
            stop_consuming: watch::channel(false).0,
        }
    }

    /// Nanoseconds since the run started: the timestamp carried in payloads.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Tells publishers to stop.
    pub fn stop_publishing(&self) {
        self.stop_publishing.send_replace(true);
    }

    /// Tells consumers (and idle connections) to stop.
    pub fn stop_consuming(&self) {
        self.stop_consuming.send_replace(true);
    }

    /// A signal that fires when publishers must stop.
    pub fn publishing_stopped(&self) -> Stop {
        Stop(self.stop_publishing.subscribe())
    }

    /// A signal that fires when consumers must stop.
    pub fn consuming_stopped(&self) -> Stop {
        Stop(self.stop_consuming.subscribe())
    }
}

/// One task's view of a stop signal.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl From<watch::Receiver<bool>> for Stop {
    fn from(rx: watch::Receiver<bool>) -> Self {
        Self(rx)
    }
}

impl Stop {
    /// True once the signal fired.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the signal fires.
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which only happens when the run is over.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// A counter a task bumps once per batch and the run reads at any time.
#[derive(Debug, Default, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
