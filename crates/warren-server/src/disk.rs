//! The disk-free limit: a task that looks at the free space of the data directory's file
//! system every second and closes the core's publish gate while it is below
//! `storage.disk_free_limit` (RabbitMQ's disk alarm), so the store is never driven into a
//! full disk. Nothing is lost: publishers simply wait.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use warren_model::PublishGate;

const PERIOD: Duration = Duration::from_secs(1);

/// Checks once now, then every second; `limit` 0 turns the check off.
pub fn monitor(dir: PathBuf, limit: u64, gate: Arc<PublishGate>) -> Option<JoinHandle<()>> {
    if limit == 0 {
        return None;
    }
    check(&dir, limit, &gate);
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PERIOD);
        loop {
            ticks.tick().await;
            check(&dir, limit, &gate);
        }
    }))
}

fn check(dir: &Path, limit: u64, gate: &PublishGate) {
    let free = match free_bytes(dir) {
        Ok(free) => free,
        Err(err) => {
            tracing::warn!(%err, dir = %dir.display(), "cannot read free disk space");
            return;
        }
    };
    let low = free < limit;
    if gate.set_blocked(low) {
        if low {
            tracing::warn!(
                free,
                limit,
                "disk alarm: free space below the limit, publishers blocked"
            );
        } else {
            tracing::info!(free, limit, "disk alarm cleared, publishers unblocked");
        }
    }
}

/// Bytes available to unprivileged users on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
