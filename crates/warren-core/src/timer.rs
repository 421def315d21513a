//! One timer service per broker for everything time-driven in the core: message expiry, queue
//! expiry, delayed messages.
//!
//! Targets do not get a timer each. A target (a queue, a vhost's delay store) keeps its own
//! deadlines in a sorted structure and registers only its earliest one here; this service keeps
//! those in a `BTreeMap` and asks the [`Scheduler`] for one wake-up at the earliest of them.
//! The scheduler has no cancel, so a wake-up that finds nothing due just re-arms; a new wake-up
//! is asked for only when a deadline comes more than [`GRAIN`] before the armed one, which
//! bounds the stale wake-ups to one per grain of time.
//!
//! Without a scheduler (a core built for tests or tools), nothing fires on time: expiry then
//! happens lazily, when a queue next hands out or counts its messages.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use warren_model::Scheduler;

use crate::sync::lock;

/// How late a deadline may fire to save a wake-up.
pub(crate) const GRAIN: Duration = Duration::from_millis(5);

/// Something with deadlines.
pub(crate) trait Timed: Send + Sync {
    /// A deadline it registered is due (or past); it re-registers its next one, if any.
    fn fire(&self, now: Instant);
}

#[derive(Default)]
struct TimerState {
    due: BTreeMap<(Instant, u64), Weak<dyn Timed>>,
    next_id: u64,
    /// When the scheduler will next call us.
    armed: Option<Instant>,
}

/// The broker's timer service.
pub(crate) struct Timers {
    scheduler: Option<Arc<dyn Scheduler>>,
    state: Mutex<TimerState>,
    me: Weak<Timers>,
}

impl Timers {
    pub fn new(scheduler: Option<Arc<dyn Scheduler>>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            scheduler,
            state: Mutex::default(),
            me: me.clone(),
        })
    }

    /// Calls `target.fire` at or after `at` (at most [`GRAIN`] late).
    pub fn at(&self, at: Instant, target: Weak<dyn Timed>) {
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        let arm = {
            let mut state = lock(&self.state);
            let id = state.next_id;
            state.next_id += 1;
            state.due.insert((at, id), target);
            let arm = state.armed.is_none_or(|armed| at + GRAIN < armed);
            if arm {
                state.armed = Some(at);
            }
            arm
        };
        if arm {
            self.schedule(scheduler, at);
        }
    }

    fn schedule(&self, scheduler: &Arc<dyn Scheduler>, at: Instant) {
        let me = self.me.clone();
        scheduler.schedule(
            at,
            Box::new(move || {
                if let Some(timers) = me.upgrade() {
                    timers.run();
                }
            }),
        );
    }

    /// A wake-up: fires what is due, outside the lock, and re-arms for the rest.
    fn run(&self) {
        let now = Instant::now();
        let (due, rearm) = {
            let mut state = lock(&self.state);
            let later = state.due.split_off(&(now, u64::MAX));
            let due = std::mem::replace(&mut state.due, later);
            let next = state.due.keys().next().map(|(at, _)| *at);
            let stale = state.armed.is_none_or(|armed| armed <= now);
            let rearm = next.filter(|&n| stale || state.armed.is_some_and(|a| n + GRAIN < a));
            if stale {
                state.armed = None;
            }
            if rearm.is_some() {
                state.armed = rearm;
            }
            (due, rearm)
        };
        if let (Some(at), Some(scheduler)) = (rearm, &self.scheduler) {
            self.schedule(scheduler, at);
        }
        for target in due.into_values() {
            if let Some(target) = target.upgrade() {
                target.fire(now);
            }
        }
    }
}
