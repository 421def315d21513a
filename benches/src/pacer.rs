//! Rate limiting for one publisher: how many messages it may send now.

use std::time::{Duration, Instant};

use crate::ticker::Ticker;

/// Largest batch a publisher writes at once.
pub const MAX_BATCH: u64 = 256;

/// Publishers whose slot is shorter than this are woken by a [`Ticker`] (a kernel timer)
/// instead of tokio's timer. Tokio's timer counts whole milliseconds: at 10k msg/s it would
/// wake a publisher once a millisecond to send ten messages back to back, and a run at a
/// "fixed rate" would measure bursts.
const FINE_SLOT: Duration = Duration::from_millis(2);

/// Paces one publisher at a fixed rate, or not at all.
#[derive(Debug)]
pub struct Pacer {
    per_sec: f64,
    start: Instant,
    sent: u64,
    ticker: Option<Ticker>,
}

impl Pacer {
    /// A pacer for `per_sec` messages per second; 0 is unlimited.
    pub fn new(per_sec: f64) -> Self {
        let start = Instant::now();
        let fine = per_sec > 1.0 / FINE_SLOT.as_secs_f64();
        Self {
            per_sec,
            start,
            sent: 0,
            // Without a ticker (no timer could be made) the pacing is coarser, not wrong.
            ticker: fine.then(|| Ticker::start(start, per_sec).ok()).flatten(),
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
                Err(wait) => match &self.ticker {
                    Some(ticker) => ticker.tick().await,
                    None => tokio::time::sleep(wait).await,
                },
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

    #[tokio::test]
    async fn only_short_slots_get_a_ticker() {
        assert!(Pacer::new(0.0).ticker.is_none());
        assert!(Pacer::new(100.0).ticker.is_none());
        assert!(Pacer::new(10_000.0).ticker.is_some());
    }

    #[tokio::test]
    async fn a_fine_rate_sends_one_message_at_a_time() {
        // 10k msg/s: a slot of 100 us. With tokio's millisecond timer every batch after the
        // first would hold about ten messages.
        let mut pacer = Pacer::new(10_000.0);
        let mut batches = Vec::new();
        while pacer.sent < 200 {
            let n = pacer.next_batch().await;
            pacer.sent(n);
            batches.push(n);
        }
        // On average under 3.4 messages a batch, where tokio's timer gives about 10; a loaded
        // machine may delay a tick and merge a few slots, so this is not "all ones".
        assert!(batches.len() >= 60, "batches too large: {batches:?}");
    }
}
