//! The `[storage]` section: how the message store under `data_dir` is sized.

use serde::Deserialize;
use warren_core::StoreConfig;

/// Storage settings; see `config/warren.toml` for each key.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// A segment file is sealed and a new one started at this many bytes.
    pub segment_bytes: u64,
    /// Bytes of ready message bodies each durable queue keeps in memory; persistent messages
    /// beyond them stay on disk only and are read back when delivered.
    pub queue_memory_bytes: u64,
    /// Below this many free bytes on the data directory's file system, publishers are
    /// blocked until space returns; 0 turns the check off.
    pub disk_free_limit: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        let store = StoreConfig::default();
        Self {
            segment_bytes: store.segment_bytes,
            queue_memory_bytes: 16 << 20,
            disk_free_limit: 50_000_000,
        }
    }
}

impl StorageSection {
    /// The store's settings.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            segment_bytes: self.segment_bytes.max(1 << 20),
            ..StoreConfig::default()
        }
    }
}
