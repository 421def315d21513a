//! Latency histograms and the report a run prints.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::options::Options;

/// Longest latency the histogram tracks (60 s, in ns); longer ones are clamped.
const MAX_NS: u64 = 60_000_000_000;

/// End-to-end latencies of one consumer, in nanoseconds (3 significant digits).
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        // 1 ns to 60 s at 3 significant digits is a valid configuration; it cannot fail.
        Self(Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds"))
    }

    /// Records one latency.
    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.clamp(1, MAX_NS));
    }

    /// Adds another consumer's latencies.
    pub fn merge(&mut self, other: &Latency) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Percentiles in microseconds.
    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1000.0;
        let empty = self.0.is_empty();
        let q = |quantile: f64| {
            if empty {
                0.0
            } else {
                us(self.0.value_at_quantile(quantile))
            }
        };
        LatencySummary {
            count: self.0.len(),
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if empty { 0.0 } else { us(self.0.max()) },
            mean_us: if empty { 0.0 } else { self.0.mean() / 1000.0 },
        }
    }
}

/// Latency percentiles of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Messages timed.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// What the broker process used, from /proc.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BrokerUsage {
    /// RSS before the load generator connected.
    pub rss_start_kib: u64,
    /// RSS with the idle connections open (before publishing).
    pub rss_idle_kib: u64,
    /// `(rss_idle - rss_start) / idle connections`.
    pub rss_per_idle_kib: f64,
    /// Highest RSS seen during the window.
    pub rss_peak_kib: u64,
    /// CPU used during the window, in percent of one core.
    pub cpu_percent: f64,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was run.
    pub options: Options,
    /// The measurement window, in seconds.
    pub window_s: f64,
    /// Messages published in the window.
    pub published: u64,
    /// Messages consumed in the window.
    pub consumed: u64,
    /// `published / window`.
    pub publish_rate: f64,
    /// `consumed / window`: egress, so fan-out counts every copy.
    pub consume_rate: f64,
    /// Messages published in total (the window plus the time to stop).
    pub published_total: u64,
    /// Messages confirmed in total (confirms, receipts, MQTT QoS > 0).
    pub confirmed_total: u64,
    /// Messages consumed in total (after the drain).
    pub consumed_total: u64,
    /// Copies the consumers should have received in total.
    pub expected_total: u64,
    /// End-to-end latency of consumed messages.
    pub latency: LatencySummary,
    /// Connections or tasks that failed.
    pub errors: u64,
    /// The first few failures.
    pub error_messages: Vec<String>,
    /// The broker's resource use, with `--broker-pid`.
    pub broker: Option<BrokerUsage>,
    /// CPU the load generator itself used during the window, in percent of one core: with
    /// the broker's, it shows whether the client or the broker was the limit.
    pub client_cpu_percent: f64,
    /// Bytes the slow consumers (`--slow-consumers`) read in all.
    pub slow_read_bytes: u64,
}

/// Messages per second over `seconds`.
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Report {
    /// A few lines for people.
    pub fn text(&self) -> String {
        let l = &self.latency;
        let mut s = format!(
            "published {} ({:.0} msg/s), consumed {} ({:.0} msg/s) in {:.2} s\n\
             latency us: p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} ({} timed)\n\
             totals: published {} confirmed {} consumed {} expected {}; errors {}\n",
            self.published,
            self.publish_rate,
            self.consumed,
            self.consume_rate,
            self.window_s,
            l.p50_us,
            l.p99_us,
            l.p999_us,
            l.max_us,
            l.count,
            self.published_total,
            self.confirmed_total,
            self.consumed_total,
            self.expected_total,
            self.errors,
        );
        for e in &self.error_messages {
            s.push_str(&format!("  error: {e}\n"));
        }
        s.push_str(&format!(
            "load generator cpu {:.0}%\n",
            self.client_cpu_percent
        ));
        if self.options.slow_consumers > 0 {
            s.push_str(&format!(
                "slow consumers: {} read {} bytes\n",
                self.options.slow_consumers, self.slow_read_bytes
            ));
        }
        if let Some(b) = &self.broker {
            s.push_str(&format!(
                "broker: rss start {} KiB, idle {} KiB ({:.2} KiB/idle conn), peak {} KiB, cpu {:.0}%\n",
                b.rss_start_kib, b.rss_idle_kib, b.rss_per_idle_kib, b.rss_peak_kib, b.cpu_percent
            ));
        }
        s
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
