//! A timer that wakes a paced publisher at every slot, finer than tokio's millisecond timer.

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;

/// How far past each slot's start the timer fires, so that the publisher, reading the clock
/// after the tick, never finds the slot still ahead of it.
const PAST_THE_SLOT: Duration = Duration::from_micros(1);

/// Fires at every slot of a fixed rate: a kernel timer (timerfd) in tokio's reactor, so the
/// worker that waits for the publisher's sockets is the one the slot wakes. A thread of its
/// own would add a second wake-up, on either core, to every message.
#[derive(Debug)]
pub struct Ticker {
    timer: AsyncFd<OwnedFd>,
}

impl Ticker {
    /// A ticker for slots of `1 / per_sec` seconds from `start`; fails outside a runtime.
    pub fn start(start: Instant, per_sec: f64) -> io::Result<Self> {
        // Registering with the reactor would panic without one.
        tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        let period = Duration::from_secs_f64(1.0 / per_sec);
        // A zero first expiry would disarm the timer: at least a nanosecond from now.
        let first = (start + period + PAST_THE_SLOT)
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let slots = Itimerspec {
            it_interval: timespec(period),
            it_value: timespec(first),
        };
        timerfd_settime(&timer, TimerfdTimerFlags::empty(), &slots)?;
        // `AsyncFd::new` is deprecated because a type may hand out a different descriptor
        // later; an `OwnedFd` cannot. Its replacement, `register`, is `unsafe`, which this
        // workspace forbids.
        #[allow(deprecated)]
        let timer = AsyncFd::new(timer)?;
        Ok(Self { timer })
    }

    /// Waits for the next slot (at once if one passed since the last wait).
    pub async fn tick(&self) {
        loop {
            let Ok(mut ready) = self.timer.readable().await else {
                return;
            };
            // The read takes the count of slots passed, which the pacer works out itself.
            let mut count = [0u8; 8];
            match rustix::io::read(self.timer.get_ref(), &mut count) {
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(rustix::io::Errno::INTR) => {}
                _ => return,
            }
        }
    }
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}
