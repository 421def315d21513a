//! The entry point for the network layer, and the broker-wide MQTT state every session of the
//! listener shares: the session registry and the retained store.

use std::sync::Arc;
use std::time::Instant;

use warren_model::{Blobs, Broker, PeerInfo, Scheduler, Session, SessionFactory, Wake};

use crate::config::MqttConfig;
use crate::groups::Groups;
use crate::registry::Registry;
use crate::retained::RetainedStore;
use crate::session::MqttSession;

/// What every session of one factory shares.
pub struct Shared {
    /// The core.
    pub broker: Arc<dyn Broker>,
    /// The listener's settings.
    pub config: MqttConfig,
    /// Timers that outlive a connection (will delay, session expiry).
    pub scheduler: Arc<dyn Scheduler>,
    /// Connected and persistent sessions.
    pub registry: Registry,
    /// Retained messages.
    pub retained: RetainedStore,
    /// Sessions holding each shared subscription group.
    pub groups: Groups,
    /// Where persistent sessions and retained messages are kept, when the broker has a disk.
    pub blobs: Option<Arc<dyn Blobs>>,
}

/// Makes an MQTT session for each accepted connection.
pub struct MqttSessionFactory {
    shared: Arc<Shared>,
}

impl MqttSessionFactory {
    /// A factory serving `broker` with `config`, running timers on `scheduler`.
    pub fn new(broker: Arc<dyn Broker>, config: MqttConfig, scheduler: Arc<dyn Scheduler>) -> Self {
        let shared = Arc::new(Shared {
            blobs: broker.blobs(),
            broker,
            config,
            scheduler,
            registry: Registry::default(),
            retained: RetainedStore::default(),
            groups: Groups::default(),
        });
        crate::persist::restore(&shared);
        Self { shared }
    }
}

impl SessionFactory for MqttSessionFactory {
    fn new_session(&self, peer: PeerInfo, waker: Arc<dyn Wake>) -> Box<dyn Session> {
        Box::new(MqttSession::new(
            Arc::clone(&self.shared),
            peer,
            waker,
            Instant::now(),
        ))
    }
}
