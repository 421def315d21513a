//! Rate limiting for one publisher: how many messages it may send now.

use std::time::{Duration, Instant};

/// Largest batch a publisher writes at once.
pub const MAX_BATCH: u64 = 256;

/// Paces one publisher at a fixed rate, or not at all.
#[derive(Debug)]
pub struct Pacer {
    per_sec: f64,
    start: Instant,
    sent: u64,
}

impl Pacer {
    /// A pacer for `per_sec` messages per second; 0 is unlimited.
    pub fn new(per_sec: f64) -> Self {
        Self {
            per_sec,
            start: Instant::now(),
            sent: 0,
        }
    }

    /// Messages that may be sent at `now` (at most [`MAX_BATCH`]), or how long to wait
    /// before the next one is due.
    pub fn allowance(&self, now: Instant) -> Result<u64, Duration> {
        if self.per_sec <= 0.0 {
            return Ok(MAX_BATCH);
        }
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        // Truncation is the intent: a message is due once its whole slot has started.
        let due = (elapsed * self.per_sec) as u64 + 1;
        match due.saturating_sub(self.sent) {
            0 => {
                let next = (self.sent as f64) / self.per_sec - elapsed;
                Err(Duration::from_secs_f64(next.max(0.0)))
            }
            n => Ok(n.min(MAX_BATCH)),
        }
    }

    /// Records `n` messages as sent.
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
    }

    /// Waits until at least one message is due, then returns how many are.
    pub async fn next_batch(&self) -> u64 {
        loop {
            match self.allowance(Instant::now()) {
                Ok(n) => return n,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_always_allows_a_full_batch() {
        let pacer = Pacer::new(0.0);
        assert_eq!(pacer.allowance(Instant::now()), Ok(MAX_BATCH));
    }

    #[test]
    fn rate_spreads_messages_over_time() {
        let mut pacer = Pacer::new(1000.0);
        let start = pacer.start;
        assert_eq!(pacer.allowance(start), Ok(1));
        pacer.sent(1);
        let wait = pacer.allowance(start).unwrap_err();
        assert!(wait <= Duration::from_millis(1), "{wait:?}");
        assert_eq!(pacer.allowance(start + Duration::from_millis(10)), Ok(10));
        pacer.sent(10);
        assert_eq!(
            pacer.allowance(start + Duration::from_secs(10)),
            Ok(MAX_BATCH)
        );
    }
}
