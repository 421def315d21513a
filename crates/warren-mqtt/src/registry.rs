//! The broker-wide session registry: which client ids are connected, and the state of
//! persistent sessions while their clients are away.
//!
//! Invariants: an entry's `generation` changes on every CONNECT of its client id, so a timer
//! (session expiry, will delay) or a taken-over connection holding an old generation can tell it
//! no longer owns the session; the state of a live session is shared (`Arc<Mutex<_>>`) between
//! the registry and the connection, so a takeover resumes the very same subscriptions. Locks
//! are short and never held while calling the core.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use warren_model::{ConnectionId, QueueSeq, VHostName, Wake};

use crate::codec::SubOptions;
use crate::topic::{ClientId, TopicFilter};

/// A session's identity: client ids are unique per vhost.
pub type SessionKey = (VHostName, ClientId);

/// One subscription's options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sub {
    /// As the client asked.
    pub options: SubOptions,
    /// MQTT 5 Subscription Identifier.
    pub id: Option<u32>,
}

/// What survives a disconnect of a persistent session.
#[derive(Default, Debug)]
pub struct SessionState {
    /// Plain subscriptions.
    pub subs: BTreeMap<TopicFilter, Sub>,
    /// Shared subscriptions by (group, filter).
    pub shares: BTreeMap<(String, TopicFilter), Sub>,
    /// Inbound QoS 2 packet ids routed, PUBREL not yet received.
    pub qos2_in: BTreeSet<u16>,
    /// Outbound QoS 2 packet ids whose PUBREL was sent, PUBCOMP not yet received.
    pub pubrel_out: BTreeSet<u16>,
    /// Packet ids of messages requeued unacknowledged, reused on redelivery (MQTT-4.4.0-1).
    pub resume_ids: HashMap<QueueSeq, u16>,
}

/// Shared, lockable session state.
pub type SharedState = Arc<Mutex<SessionState>>;

/// A live session's state, made at first use: a clean session that never subscribes, nor
/// publishes at QoS 2, needs none, and idle connections are the many.
#[derive(Default)]
pub struct LazyState(OnceLock<SharedState>);

impl LazyState {
    /// The state a session resumes, if any (made at first use if not).
    pub fn new(resumed: Option<SharedState>) -> Self {
        Self(resumed.map(OnceLock::from).unwrap_or_default())
    }

    /// The state, made now if it was not yet.
    pub fn get(&self) -> &SharedState {
        self.0.get_or_init(SharedState::default)
    }

    /// The state if it was made (reading a state never made reads an empty one).
    pub fn existing(&self) -> Option<&SharedState> {
        self.0.get()
    }

    /// Locks the state, made now if it was not yet.
    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        lock(self.get())
    }
}

/// Locks a session state, surviving a poisoned lock.
pub fn lock(state: &SharedState) -> MutexGuard<'_, SessionState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A live connection as the registry sees it: enough to ask it to go.
pub struct LiveHandle {
    /// Its connection id (owner of its exclusive queue).
    pub conn: ConnectionId,
    taken_over: AtomicBool,
    waker: Arc<dyn Wake>,
}

impl LiveHandle {
    /// A handle on connection `conn`, woken through `waker`.
    pub fn new(conn: ConnectionId, waker: Arc<dyn Wake>) -> Self {
        Self {
            conn,
            taken_over: AtomicBool::new(false),
            waker,
        }
    }

    /// Asks the connection to close because its client id connected again.
    pub fn take_over(&self) {
        self.taken_over.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether another connection took the session over.
    pub fn is_taken_over(&self) -> bool {
        self.taken_over.load(Ordering::Acquire)
    }

    /// Wakes the connection (to pick up state a previous connection parked late).
    pub fn wake(&self) {
        self.waker.wake();
    }
}

struct Entry {
    generation: u64,
    live: Option<Arc<LiveHandle>>,
    state: Option<SharedState>,
}

/// What [`Registry::attach`] found.
pub struct Attached {
    /// This connection's generation of the session.
    pub generation: u64,
    /// The connection that held the client id, now asked to go.
    pub previous: Option<Arc<LiveHandle>>,
    /// The persistent state, when one was kept.
    pub state: Option<SharedState>,
}

/// All sessions of the broker.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<HashMap<SessionKey, Entry>>,
    next_generation: AtomicU64,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionKey, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `live` the session's connection; a previous one is asked to go.
    pub fn attach(&self, key: &SessionKey, live: Arc<LiveHandle>) -> Attached {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut entries = self.lock();
        let entry = entries.entry(key.clone()).or_insert(Entry {
            generation,
            live: None,
            state: None,
        });
        entry.generation = generation;
        let previous = entry.live.replace(live);
        let state = entry.state.take();
        drop(entries);
        if let Some(prev) = &previous {
            prev.take_over();
        }
        Attached {
            generation,
            previous,
            state,
        }
    }

    /// A persistent session recovered from disk, without a connection: its generation.
    pub fn restore(&self, key: &SessionKey, state: SessionState) -> u64 {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Entry {
            generation,
            live: None,
            state: Some(Arc::new(Mutex::new(state))),
        };
        self.lock().insert(key.clone(), entry);
        generation
    }

    /// Keeps `state` for the session (persistent) or nothing (clean), if still `generation`.
    pub fn set_state(&self, key: &SessionKey, generation: u64, state: Option<SharedState>) {
        if let Some(entry) = self.lock().get_mut(key) {
            if entry.generation == generation {
                entry.state = state;
            }
        }
    }

    /// The connection of `generation` closed. True when it still owned the session (no
    /// takeover happened); the entry then stays only if it holds persistent state.
    pub fn detach(&self, key: &SessionKey, generation: u64) -> bool {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key).filter(|e| e.generation == generation) else {
            return false;
        };
        entry.live = None;
        if entry.state.is_none() {
            entries.remove(key);
        }
        true
    }

    /// Wakes the session's current connection, if it has one.
    pub fn wake_current(&self, key: &SessionKey) {
        let current = self.lock().get(key).and_then(|e| e.live.clone());
        if let Some(live) = current {
            live.wake();
        }
    }

    /// True when no connection attached since `generation`.
    pub fn is_current(&self, key: &SessionKey, generation: u64) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|e| e.generation == generation)
    }

    /// True when the client connected again after `generation` (an ended session is not a
    /// reconnect).
    pub fn reconnected_since(&self, key: &SessionKey, generation: u64) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|e| e.generation != generation)
    }

    /// Ends a persistent session of `generation` whose client stayed away: `Some` with its
    /// state (if it kept one) when it did.
    pub fn expire(&self, key: &SessionKey, generation: u64) -> Option<Option<SharedState>> {
        let mut entries = self.lock();
        let expired = entries
            .get(key)
            .is_some_and(|e| e.generation == generation && e.live.is_none());
        if !expired {
            return None;
        }
        entries.remove(key).map(|e| e.state)
    }
}
