//! Heartbeat timing (spec 4.2.7): send one when the interval passes half-way without output,
//! give up on a peer silent for two intervals, as RabbitMQ does.

use std::time::{Duration, Instant};

/// When the last frame went each way, and the negotiated interval.
#[derive(Debug)]
pub struct Heartbeat {
    interval: Option<Duration>,
    last_received: Instant,
    last_sent: Instant,
}

/// What a tick calls for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Beat {
    /// Nothing.
    Idle,
    /// Send a heartbeat frame.
    Send,
    /// The peer missed its heartbeats.
    Dead,
}

impl Heartbeat {
    /// Heartbeats off until negotiated.
    pub fn new(now: Instant) -> Self {
        Self {
            interval: None,
            last_received: now,
            last_sent: now,
        }
    }

    /// Starts heartbeats every `secs` seconds (0 turns them off).
    pub fn start(&mut self, secs: u16, now: Instant) {
        self.interval = (secs > 0).then(|| Duration::from_secs(u64::from(secs)));
        self.last_received = now;
        self.last_sent = now;
    }

    /// The negotiated interval in seconds, for the log line.
    pub fn secs(&self) -> u64 {
        self.interval.map_or(0, |i| i.as_secs())
    }

    /// A frame arrived.
    pub fn received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// Something was written.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// The next instant a tick has work, if heartbeats are on.
    pub fn deadline(&self) -> Option<Instant> {
        let interval = self.interval?;
        let send_at = self.last_sent + interval / 2;
        let dead_at = self.last_received + interval * 2;
        Some(send_at.min(dead_at))
    }

    /// What to do at `now`.
    pub fn tick(&mut self, now: Instant) -> Beat {
        let Some(interval) = self.interval else {
            return Beat::Idle;
        };
        if now >= self.last_received + interval * 2 {
            return Beat::Dead;
        }
        if now >= self.last_sent + interval / 2 {
            self.last_sent = now;
            return Beat::Send;
        }
        Beat::Idle
    }
}
