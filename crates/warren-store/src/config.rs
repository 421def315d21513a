//! Tuning knobs for the store.

use std::time::Duration;

/// How the store sizes segments, bounds its write buffer and compacts.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// A segment is sealed and a new one started once it reaches this many bytes.
    pub segment_bytes: u64,
    /// Appends wait while this many bytes are buffered and not yet written, so a fast
    /// publisher cannot grow memory without bound when the disk is slow.
    pub max_pending_bytes: usize,
    /// A sealed segment whose live bytes fall below this fraction of its size is rewritten
    /// (its live records copied to the head) and deleted.
    pub compact_ratio: f64,
    /// Run compaction on a background thread whenever a segment is sealed. When false the
    /// owner calls [`crate::Store::compact`] itself.
    pub background_compaction: bool,
    /// The background compactor leaves alone a segment that lost a live message within this
    /// long: a queue is most likely draining it, and it will soon be dead and deleted without
    /// copying anything. [`crate::Store::compact`] does not wait.
    pub compact_quiet: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            max_pending_bytes: 64 << 20,
            compact_ratio: 0.5,
            background_compaction: true,
            compact_quiet: Duration::from_secs(10),
        }
    }
}
