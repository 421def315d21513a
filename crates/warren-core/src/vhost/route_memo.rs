//! The last route each thread took, kept for its next publish. A publisher sends to one
//! exchange and routing key over and over; looking the exchange up, walking its bindings and
//! resolving the queue names took a fifth of a 1:1 publisher's time, on the thread that
//! limits a 1:1 pipeline.
//!
//! A route is kept only when it depends on nothing but the exchange's bindings and the
//! routing key: the exchange's type routes by key alone, the message has no `CC`/`BCC` keys,
//! and no other exchange was routed through (exchange bindings, an alternate exchange). It is
//! used again only while two versions are unchanged: the vhost's (any exchange or queue
//! added to or removed from its maps, see [`Changing`]) and the exchange's own bindings'
//! (see `Exchange::bindings_version`). Versions are read before the route is worked out, so a
//! change made meanwhile makes the kept route stale, never the other way. It holds weak
//! references: a deleted queue is not kept alive by a thread that stopped publishing.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLockWriteGuard, Weak};

use warren_model::{ExchangeName, RoutingKey};

use crate::exchange::Exchange;
use crate::queue::Queue;

/// What a route is worked out for, and the vhost's maps version it is worked out under.
pub(super) struct RouteKey<'a> {
    /// The vhost's [`unique_id`].
    pub vhost: u64,
    /// The vhost's version of its maps, read before the route is.
    pub maps: u64,
    pub exchange: &'a ExchangeName,
    pub key: &'a RoutingKey,
}

struct Memo {
    vhost: u64,
    maps: u64,
    exchange_name: ExchangeName,
    key: RoutingKey,
    exchange: Weak<Exchange>,
    bindings: u64,
    queues: Vec<Weak<Queue>>,
}

impl Memo {
    fn is_for(&self, at: &RouteKey<'_>) -> bool {
        self.vhost == at.vhost
            && self.maps == at.maps
            && self.exchange_name == *at.exchange
            && self.key == *at.key
    }
}

thread_local! {
    static LAST: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

/// A kept route's queues: a route to one queue, the most common, is recalled without a list.
pub(super) enum Recalled {
    One(Arc<Queue>),
    Many(Vec<Arc<Queue>>),
}

impl Deref for Recalled {
    type Target = [Arc<Queue>];
    fn deref(&self) -> &[Arc<Queue>] {
        match self {
            Self::One(queue) => std::slice::from_ref(queue),
            Self::Many(queues) => queues,
        }
    }
}

/// The queues of the route kept for `at`, if it is still good.
pub(super) fn recall(at: &RouteKey<'_>) -> Option<Recalled> {
    LAST.with_borrow(|last| {
        let memo = last.as_ref().filter(|memo| memo.is_for(at))?;
        let exchange = memo.exchange.upgrade()?;
        if exchange.bindings_version() != memo.bindings {
            return None;
        }
        match memo.queues.as_slice() {
            [one] => one.upgrade().map(Recalled::One),
            many => {
                // Sized at once: collecting into an `Option` cannot see the length.
                let mut queues = Vec::with_capacity(many.len());
                for queue in many {
                    queues.push(queue.upgrade()?);
                }
                Some(Recalled::Many(queues))
            }
        }
    })
}

/// Keeps the route to `queues` from `exchange`, worked out under `at` and the exchange's
/// bindings version `bindings` (both read before the route was). The last memo's list is
/// reused: a publisher that changes key at every publish pays a few counts, not allocations.
pub(super) fn remember(
    at: &RouteKey<'_>,
    exchange: &Arc<Exchange>,
    bindings: u64,
    queues: &[Arc<Queue>],
) {
    LAST.with_borrow_mut(|last| {
        let mut kept = last.take().map(|memo| memo.queues).unwrap_or_default();
        kept.clear();
        kept.extend(queues.iter().map(Arc::downgrade));
        *last = Some(Memo {
            vhost: at.vhost,
            maps: at.maps,
            exchange_name: at.exchange.clone(),
            key: at.key.clone(),
            exchange: Arc::downgrade(exchange),
            bindings,
            queues: kept,
        });
    });
}

/// A number no other vhost of this process has: a vhost deleted and made again, even at the
/// same address, is another.
pub(super) fn unique_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A write guard of one of the vhost's maps that counts a change of its routes when it is
/// dropped, before the lock is released.
pub(super) struct Changing<'a, T> {
    guard: RwLockWriteGuard<'a, T>,
    version: &'a AtomicU64,
}

impl<'a, T> Changing<'a, T> {
    pub fn new(guard: RwLockWriteGuard<'a, T>, version: &'a AtomicU64) -> Self {
        Self { guard, version }
    }
}

impl<T> Deref for Changing<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Changing<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for Changing<'_, T> {
    fn drop(&mut self) {
        self.version.fetch_add(1, Ordering::Release);
    }
}
