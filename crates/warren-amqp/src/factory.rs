//! The entry point for the network layer: configuration and the session factory.

use std::sync::Arc;
use std::time::Instant;

use warren_model::{Broker, PeerInfo, Session, SessionFactory, Wake};

use crate::connection::AmqpSession;
use crate::outbox::Outbox;

/// Limits the server proposes in `connection.tune`, and the outbound buffer bound.
#[derive(Clone, Debug)]
pub struct AmqpConfig {
    /// Largest frame, header and end octet included (RabbitMQ: 131072).
    pub frame_max: u32,
    /// Highest channel number (RabbitMQ: 2047).
    pub channel_max: u16,
    /// Proposed heartbeat interval in seconds (RabbitMQ: 60).
    pub heartbeat_secs: u16,
    /// Bytes of pending output (queued deliveries plus encoded frames) above which the
    /// connection stops reading and queues hold their deliveries.
    pub max_outbox_bytes: usize,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat_secs: 60,
            max_outbox_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Makes an AMQP 0-9-1 session for each accepted connection.
pub struct AmqpSessionFactory {
    broker: Arc<dyn Broker>,
    config: AmqpConfig,
}

impl AmqpSessionFactory {
    /// A factory serving `broker` with `config`.
    pub fn new(broker: Arc<dyn Broker>, config: AmqpConfig) -> Self {
        Self { broker, config }
    }
}

impl SessionFactory for AmqpSessionFactory {
    fn new_session(&self, peer: PeerInfo, waker: Arc<dyn Wake>) -> Box<dyn Session> {
        let outbox = Arc::new(Outbox::new(self.config.max_outbox_bytes, waker));
        Box::new(AmqpSession::new(
            self.config.clone(),
            Arc::clone(&self.broker),
            peer,
            outbox,
            Instant::now(),
        ))
    }
}
