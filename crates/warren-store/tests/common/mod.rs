//! Helpers shared by the store's test suites.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use warren_store::mem::MemFs;
use warren_store::{Fs, MessageId, QueueId, Recovered, StdFs, Store, StoreConfig};

/// A place to open stores: a real temporary directory or an in-memory file system.
pub struct Env {
    pub fs: Arc<dyn Fs>,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Env {
    pub fn std() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        Env {
            fs: Arc::new(StdFs),
            dir: tmp.path().join("store"),
            _tmp: Some(tmp),
        }
    }

    pub fn mem(fs: MemFs) -> Env {
        Env {
            fs: Arc::new(fs),
            dir: PathBuf::from("/data"),
            _tmp: None,
        }
    }

    pub fn open(&self, config: StoreConfig) -> (Store, Recovered) {
        Store::open_with(self.fs.clone(), &self.dir, config).expect("open store")
    }
}

/// A config with small segments and no background compaction, so tests drive compaction.
pub fn small(segment_bytes: u64) -> StoreConfig {
    StoreConfig {
        segment_bytes,
        background_compaction: false,
        ..StoreConfig::default()
    }
}

/// The (queue, message) pairs a recovery returned.
pub fn pairs(recovered: &Recovered) -> BTreeSet<(QueueId, MessageId)> {
    let mut out = BTreeSet::new();
    for (q, backlog) in &recovered.queues {
        for m in backlog {
            out.insert((*q, m.id));
        }
    }
    out
}

/// The body the tests publish for the n-th message.
pub fn body(n: u64) -> Vec<u8> {
    format!("body-{n}").into_bytes()
}

pub fn segment_files(dir: &Path, fs: &dyn Fs) -> Vec<String> {
    let mut names: Vec<String> = fs
        .list(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wseg"))
        .collect();
    names.sort();
    names
}
