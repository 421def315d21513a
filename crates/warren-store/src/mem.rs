//! An in-memory [`Fs`] that models what a crash keeps: written but unsynced bytes and
//! unsynced directory changes may vanish. Tests use it to inject fsync failures and crashes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fs::{Fs, SegmentFile};

/// An in-memory file system with crash and failure injection.
#[derive(Clone, Default)]
pub struct MemFs {
    inner: Arc<MemInner>,
}

#[derive(Default)]
struct MemInner {
    /// Names as the running process sees them.
    live: Mutex<HashMap<PathBuf, Arc<MemFile>>>,
    /// Names as they would be after a crash (as of the last directory sync).
    durable: Mutex<HashMap<PathBuf, Arc<MemFile>>>,
    fail_sync: AtomicBool,
    fail_write: AtomicBool,
}

#[derive(Default)]
struct MemFile {
    state: Mutex<FileState>,
    owner: std::sync::Weak<MemInner>,
}

#[derive(Default, Clone)]
struct FileState {
    data: Vec<u8>,
    /// Bytes before this are durable.
    synced: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every fsync (file or directory) fails, as on a dying disk.
    pub fn fail_syncs(&self, fail: bool) {
        self.inner.fail_sync.store(fail, Ordering::SeqCst);
    }

    /// From now on every write fails, as on a full disk.
    pub fn fail_writes(&self, fail: bool) {
        self.inner.fail_write.store(fail, Ordering::SeqCst);
    }

    /// Simulates power loss and returns the file system as a restarted machine sees it:
    /// directory changes since the last directory sync are undone, and each file keeps its
    /// synced bytes plus `keep(unsynced)` of the bytes written after (a torn write keeps a
    /// prefix). The old handle lives on, detached, so a store still running on it harms nothing.
    pub fn crash(&self, keep: &mut dyn FnMut(usize) -> usize) -> MemFs {
        let fresh = MemFs::new();
        let durable = lock(&self.inner.durable).clone();
        let mut reborn = HashMap::new();
        for (path, file) in durable {
            let mut state = lock(&file.state).clone();
            let unsynced = state.data.len() - state.synced;
            let kept = keep(unsynced).min(unsynced);
            state.data.truncate(state.synced + kept);
            state.synced = state.data.len();
            let owner = Arc::downgrade(&fresh.inner);
            reborn.insert(
                path,
                Arc::new(MemFile {
                    state: Mutex::new(state),
                    owner,
                }),
            );
        }
        *lock(&fresh.inner.live) = reborn.clone();
        *lock(&fresh.inner.durable) = reborn;
        fresh
    }

    /// Creates a durable file with `data` (for loading fixtures and damaged logs).
    pub fn put_file(&self, path: &Path, data: Vec<u8>) {
        let file = self.new_file();
        *lock(&file.state) = FileState {
            synced: data.len(),
            data,
        };
        lock(&self.inner.live).insert(path.to_path_buf(), file.clone());
        lock(&self.inner.durable).insert(path.to_path_buf(), file);
    }

    /// The names of the files in `dir`, sorted.
    pub fn names(&self, dir: &Path) -> Vec<String> {
        let mut names = self.list(dir).unwrap_or_default();
        names.sort();
        names
    }

    /// A copy of a file's current bytes, for tests that inspect or damage the log.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        lock(&self.inner.live)
            .get(path)
            .map(|f| lock(&f.state).data.clone())
    }

    /// Replaces a file's bytes (durably), for tests that damage the log.
    pub fn write_file(&self, path: &Path, data: Vec<u8>) {
        if let Some(f) = lock(&self.inner.live).get(path) {
            let mut state = lock(&f.state);
            state.synced = data.len();
            state.data = data;
        }
    }

    fn new_file(&self) -> Arc<MemFile> {
        Arc::new(MemFile {
            state: Mutex::default(),
            owner: Arc::downgrade(&self.inner),
        })
    }
}

impl Fs for MemFs {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let live = lock(&self.inner.live);
        let names = live.keys().filter(|p| p.parent() == Some(dir));
        Ok(names
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let file = self.new_file();
        lock(&self.inner.live).insert(path.to_path_buf(), file.clone());
        Ok(file)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let live = lock(&self.inner.live);
        let file = live
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(file.clone())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let removed = lock(&self.inner.live).remove(path);
        removed
            .map(drop)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.inner.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected directory fsync failure"));
        }
        let live = lock(&self.inner.live);
        let mut durable = lock(&self.inner.durable);
        durable.retain(|p, _| p.parent() != Some(dir));
        for (p, f) in live.iter().filter(|(p, _)| p.parent() == Some(dir)) {
            durable.insert(p.clone(), f.clone());
        }
        Ok(())
    }
}

impl MemFile {
    fn flag(&self, which: fn(&MemInner) -> &AtomicBool) -> bool {
        self.owner
            .upgrade()
            .is_some_and(|o| which(&o).load(Ordering::SeqCst))
    }
}

impl SegmentFile for MemFile {
    fn size(&self) -> io::Result<u64> {
        Ok(lock(&self.state).data.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let state = lock(&self.state);
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let src = state.data.get(start..start + buf.len());
        buf.copy_from_slice(src.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.flag(|o| &o.fail_write) {
            return Err(io::Error::other("injected write failure (disk full)"));
        }
        let mut state = lock(&self.state);
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        if state.data.len() < start + buf.len() {
            state.data.resize(start + buf.len(), 0);
        }
        state.data[start..start + buf.len()].copy_from_slice(buf);
        state.synced = state.synced.min(start);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        if self.flag(|o| &o.fail_sync) {
            return Err(io::Error::other("injected fsync failure"));
        }
        let mut state = lock(&self.state);
        state.synced = state.data.len();
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut state = lock(&self.state);
        let len = usize::try_from(len).map_err(io::Error::other)?;
        state.data.truncate(len);
        state.synced = state.synced.min(len);
        Ok(())
    }
}
