//! A thread that wakes a paced publisher at every slot, finer than tokio's millisecond timer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How far past each slot's start the ticker wakes, so that the publisher, reading the clock
/// after the tick, never finds the slot still ahead of it.
const PAST_THE_SLOT: Duration = Duration::from_micros(1);

/// Wakes its owner at every slot of a fixed rate until dropped.
#[derive(Debug)]
pub struct Ticker {
    tick: Arc<Notify>,
    stop: Arc<AtomicBool>,
}

impl Ticker {
    /// Starts a ticker thread for slots of `1 / per_sec` seconds from `start`.
    pub fn start(start: Instant, per_sec: f64) -> std::io::Result<Self> {
        let tick = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_tick, thread_stop) = (tick.clone(), stop.clone());
        thread::Builder::new()
            .name("warren-bench-ticker".into())
            .spawn(move || tick_until_stopped(start, per_sec, &thread_tick, &thread_stop))?;
        Ok(Self { tick, stop })
    }

    /// Waits for the next slot (at once if one passed since the last wait).
    pub async fn tick(&self) {
        self.tick.notified().await;
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // The thread sees this at its next slot and ends; nothing waits for it.
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn tick_until_stopped(start: Instant, per_sec: f64, tick: &Notify, stop: &AtomicBool) {
    fine_timer_slack();
    let mut slot: u64 = 1;
    while !stop.load(Ordering::Relaxed) {
        let due = start + Duration::from_secs_f64(slot as f64 / per_sec) + PAST_THE_SLOT;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        tick.notify_one();
        // Behind after a stall: the next tick is the next slot from now, not every one missed
        // (the pacer counts those).
        let now_slot = (start.elapsed().as_secs_f64() * per_sec) as u64;
        slot = (slot + 1).max(now_slot + 1);
    }
}

/// Linux lets a sleeping thread wake up to 50 us late by default (its timer slack), half a
/// slot at 10k msg/s; 1 us keeps the slots even. Best effort: without it the pacing is coarser.
fn fine_timer_slack() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1_000));
    }
}
