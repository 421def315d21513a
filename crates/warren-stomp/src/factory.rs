//! The entry point for the network layer.

use std::sync::Arc;
use std::time::Instant;

use warren_model::{Broker, PeerInfo, Session, SessionFactory, Wake};

use crate::config::StompConfig;
use crate::session::StompSession;

/// What every session of one factory shares.
pub struct Shared {
    /// The core.
    pub broker: Arc<dyn Broker>,
    /// The listener's settings.
    pub config: StompConfig,
}

/// Makes a STOMP session for each accepted connection.
pub struct StompSessionFactory {
    shared: Arc<Shared>,
}

impl StompSessionFactory {
    /// A factory serving `broker` with `config`.
    pub fn new(broker: Arc<dyn Broker>, config: StompConfig) -> Self {
        Self {
            shared: Arc::new(Shared { broker, config }),
        }
    }
}

impl SessionFactory for StompSessionFactory {
    fn new_session(&self, peer: PeerInfo, waker: Arc<dyn Wake>) -> Box<dyn Session> {
        Box::new(StompSession::new(
            Arc::clone(&self.shared),
            peer,
            waker,
            Instant::now(),
        ))
    }
}
