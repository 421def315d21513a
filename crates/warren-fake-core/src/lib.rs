//! A small in-memory core behind the `warren-model` traits, for the protocol adapters' session
//! tests: a test drives a sans-IO session against it and then asserts what the session asked of
//! the core ([`Call`]s in order), what the queues hold, and what was settled.
//!
//! What it is: the default exchange, `amq.direct`, `amq.fanout` and `amq.topic`, exchanges
//! declared by kind (`direct`: exact key; `topic`: `*` one word, `#` zero or more; `fanout`:
//! every binding; any other kind: exact key), queues that keep their ready and unacknowledged
//! messages with or without consumers (so a session that goes away and comes back finds what
//! was routed meanwhile), round-robin delivery, settlement with requeue at the original
//! position, exclusive queues deleted when their connection closes, and `guest`/`guest` on
//! vhost `/`.
//!
//! What it is not: the real core. It ignores prefetch and shared credit windows, queue
//! arguments, declare equivalence, exclusivity checks, TTL, dead-lettering, length limits and
//! flow; it never writes to disk (publishes have no [`DurableWrite`](warren_model::DurableWrite));
//! it keeps no adapter blobs and has no publish gate.
//!
//! Invariants: locks are never held while a [`DeliverySink`](warren_model::DeliverySink) is
//! called; a message reaches a queue at most once per publish, however many of its bindings
//! match; every trait call is journaled before it takes effect, settlements of unknown
//! positions included, so a test can count them.

mod calls;
mod queue;
mod vhost;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use warren_model::{Broker, ConnectionId, CoreError, UserName, VHost, VHostName};

pub use calls::{topic_matches, Call};
pub use queue::{FakeQueue, Queued};
pub use vhost::FakeVHost;

/// The broker: one vhost `/`, one user `guest`/`guest`.
#[derive(Default)]
pub struct FakeBroker {
    /// The only vhost.
    pub vhost: Arc<FakeVHost>,
    next_conn: AtomicU64,
}

impl FakeBroker {
    /// A broker with an empty vhost `/`.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

impl Broker for FakeBroker {
    fn authenticate(
        &self,
        user: &str,
        password: &str,
        _from_loopback: bool,
    ) -> Result<UserName, CoreError> {
        if user == "guest" && password == "guest" {
            UserName::try_from(user)
        } else {
            Err(CoreError::access_refused(
                "Login was refused using authentication mechanism PLAIN.",
            ))
        }
    }

    fn vhost(&self, _user: &UserName, vhost: &VHostName) -> Result<Arc<dyn VHost>, CoreError> {
        if vhost.as_str() == "/" {
            Ok(self.vhost.clone())
        } else {
            Err(CoreError::not_allowed(format!("vhost {vhost} not found")))
        }
    }

    fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }
}
