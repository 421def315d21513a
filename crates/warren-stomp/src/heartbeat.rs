//! Heart-beating (1.2 "Heart-beating"): the CONNECT header `heart-beat:cx,cy` says the client
//! can send every `cx` ms and wants to receive every `cy` ms; the server answers `sx,sy`.
//! Each direction is on when both sides ask for it, at the larger of the two intervals; we
//! send an EOL when nothing else went out for an interval, and give up on a client silent for
//! two of its intervals.

use std::time::{Duration, Instant};

/// What a tick calls for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Beat {
    /// Nothing.
    Idle,
    /// Send an EOL.
    Send,
    /// The client missed its beats.
    Dead,
}

/// The negotiated intervals and when bytes last went each way.
#[derive(Debug)]
pub struct Heartbeat {
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
    last_sent: Instant,
    last_received: Instant,
}

/// Reads `heart-beat: cx,cy`; a missing or unreadable header means `0,0`, as the spec says.
pub fn parse(header: Option<&str>) -> (u32, u32) {
    let Some((cx, cy)) = header.and_then(|h| h.split_once(',')) else {
        return (0, 0);
    };
    let n = |s: &str| s.trim().parse::<u32>().unwrap_or(0);
    (n(cx), n(cy))
}

impl Heartbeat {
    /// Heart-beats off.
    pub fn off(now: Instant) -> Self {
        Self {
            send_every: None,
            expect_every: None,
            last_sent: now,
            last_received: now,
        }
    }

    /// Negotiates from the client's `(cx, cy)`; the server offers `floor` ms either way.
    /// Returns the CONNECTED header's `(sx, sy)`.
    pub fn negotiate(&mut self, client: (u32, u32), floor: u32, now: Instant) -> (u32, u32) {
        let (cx, cy) = client;
        let sx = if cy == 0 { 0 } else { cy.max(floor) };
        let sy = if cx == 0 { 0 } else { cx.max(floor) };
        let ms = |v: u32| (v > 0).then(|| Duration::from_millis(v.into()));
        self.send_every = ms(sx);
        self.expect_every = ms(sy);
        self.last_sent = now;
        self.last_received = now;
        (sx, sy)
    }

    /// Bytes arrived.
    pub fn received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// Bytes went out.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// The next instant a tick has work.
    pub fn deadline(&self) -> Option<Instant> {
        let send = self.send_every.map(|i| self.last_sent + i);
        let dead = self.expect_every.map(|i| self.last_received + i * 2);
        match (send, dead) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What to do at `now`.
    pub fn tick(&mut self, now: Instant) -> Beat {
        if self
            .expect_every
            .is_some_and(|i| now >= self.last_received + i * 2)
        {
            return Beat::Dead;
        }
        if self.send_every.is_some_and(|i| now >= self.last_sent + i) {
            self.last_sent = now;
            return Beat::Send;
        }
        Beat::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_takes_the_larger_interval_and_the_floor() {
        let now = Instant::now();
        let mut hb = Heartbeat::off(now);
        assert_eq!(hb.negotiate((1000, 2000), 100, now), (2000, 1000));
        assert_eq!(hb.negotiate((0, 0), 100, now), (0, 0));
        assert_eq!(hb.deadline(), None);
        assert_eq!(hb.negotiate((10, 0), 100, now), (0, 100));
        assert_eq!(parse(Some("5, 7")), (5, 7));
        assert_eq!(parse(Some("junk")), (0, 0));
        assert_eq!(parse(None), (0, 0));
    }

    #[test]
    fn sends_when_idle_and_declares_a_silent_client_dead() {
        let now = Instant::now();
        let mut hb = Heartbeat::off(now);
        hb.negotiate((1000, 500), 100, now);
        assert_eq!(hb.tick(now), Beat::Idle);
        assert_eq!(hb.deadline(), Some(now + Duration::from_millis(500)));
        assert_eq!(hb.tick(now + Duration::from_millis(500)), Beat::Send);
        hb.received(now + Duration::from_millis(1500));
        assert_eq!(hb.tick(now + Duration::from_millis(2000)), Beat::Send);
        assert_eq!(hb.tick(now + Duration::from_millis(3500)), Beat::Dead);
    }
}
