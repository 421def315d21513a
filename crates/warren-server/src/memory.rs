//! The memory high watermark: a task that samples the process's resident memory every
//! [`PERIOD`] and raises the core's memory alarm while it is above `memory.high_watermark`
//! (RabbitMQ's memory alarm), so a fast publisher cannot grow a queue until the machine runs
//! out of memory. Nothing is lost: publishers simply wait while consumers drain.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use warren_model::{Alarm, PublishGate};

/// Short enough that a publisher at full speed overshoots by tens of megabytes at most.
const PERIOD: Duration = Duration::from_millis(100);

/// Checks once now, then every [`PERIOD`]; `watermark` 0 turns the check off.
pub fn monitor(watermark: u64, gate: Arc<PublishGate>) -> Option<JoinHandle<()>> {
    if watermark == 0 {
        return None;
    }
    tracing::info!(watermark, "memory high watermark set");
    check(watermark, &gate);
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            check(watermark, &gate);
        }
    }))
}

fn check(watermark: u64, gate: &PublishGate) {
    let rss = match resident_bytes() {
        Ok(rss) => rss,
        Err(err) => {
            tracing::warn!(%err, "cannot read resident memory");
            return;
        }
    };
    let high = rss > watermark;
    if gate.set_alarm(Alarm::Memory, high) {
        if high {
            tracing::warn!(
                rss,
                watermark,
                "memory alarm: resident memory above the high watermark, publishers blocked"
            );
        } else {
            tracing::info!(rss, watermark, "memory alarm cleared, publishers unblocked");
        }
    }
}

/// The process's resident set, in bytes (second field of `/proc/self/statm`, in pages).
pub fn resident_bytes() -> std::io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse::<u64>().ok())
        .ok_or_else(|| std::io::Error::other("unexpected /proc/self/statm"))?;
    Ok(pages.saturating_mul(rustix::param::page_size() as u64))
}

/// Total RAM from `/proc/meminfo`, if it can be read.
pub fn total_ram() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&meminfo)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_kib() {
        let meminfo = "MemTotal:       16318480 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(16_318_480 * 1024));
        assert_eq!(parse_mem_total("nonsense"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(resident_bytes().unwrap() > 0);
        assert!(total_ram().unwrap() > 0);
    }

    #[test]
    fn a_watermark_below_the_resident_set_raises_only_the_memory_alarm() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let gate = Arc::new(PublishGate::default());
        let _guard = runtime.enter();
        assert!(monitor(0, Arc::clone(&gate)).is_none(), "0 turns it off");
        let task = monitor(1, Arc::clone(&gate)).unwrap();
        assert!(gate.is_raised(Alarm::Memory));
        assert!(!gate.is_raised(Alarm::Disk));
        task.abort();
        check(u64::MAX, &gate);
        assert!(!gate.is_blocked());
    }
}
