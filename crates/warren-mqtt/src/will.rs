//! Last will: validated at CONNECT, published when the connection ends without a normal
//! DISCONNECT (or with DISCONNECT 0x04), after the MQTT 5 Will Delay Interval unless the client
//! reconnected meanwhile (MQTT-3.1.3-9). The delay is capped by the session expiry, so the will
//! goes no later than the session ends (MQTT 5 section 3.1.3.2.2). When the broker shuts down,
//! the wills of the connected clients are published at once, delay or not (as Mosquitto does):
//! the timer would not outlive the broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_model::{ConnectionId, RoutingKey, VHost};

use crate::codec::{PublishProperties, QoS, WillPacket};
use crate::convert::{to_message, Origin};
use crate::errors::MqttError;
use crate::factory::Shared;
use crate::registry::SessionKey;
use crate::session::wall_ms;
use crate::topic::{mqtt_to_key, TopicName};

/// A validated will.
pub struct Will {
    topic: TopicName,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    delay_secs: u32,
    properties: PublishProperties,
}

impl Will {
    /// Publish without waiting for the Will Delay Interval (the broker is stopping).
    pub fn skip_delay(&mut self) {
        self.delay_secs = 0;
    }
}

impl TryFrom<WillPacket> for Will {
    type Error = MqttError;
    fn try_from(w: WillPacket) -> Result<Self, MqttError> {
        Ok(Self {
            topic: TopicName::try_from(w.topic.as_str())?,
            payload: w.payload,
            qos: w.qos,
            retain: w.retain,
            delay_secs: w.delay_secs,
            properties: w.properties,
        })
    }
}

/// Who the will belongs to.
pub struct Owner {
    /// The registry key.
    pub key: SessionKey,
    /// The generation of the session that ended.
    pub generation: u64,
    /// The connection that published it.
    pub conn: ConnectionId,
    /// The vhost.
    pub vhost: Arc<dyn VHost>,
    /// Session expiry in seconds (0: ends with the connection).
    pub session_expiry: u32,
}

/// Publishes `will` now, or schedules it after its delay counted from `now`. A will whose delay reaches the end
/// of the session (MQTT-3.1.3-9) is handed back: the session's expiry publishes it once the
/// session is gone, so nobody who sees the will can still resume the session.
pub fn trigger(
    will: Will,
    owner: Owner,
    shared: &Arc<Shared>,
    now: Instant,
) -> Option<(Will, Owner)> {
    if owner.session_expiry > 0 && will.delay_secs >= owner.session_expiry {
        return Some((will, owner));
    }
    let delay = will.delay_secs.min(owner.session_expiry);
    if delay == 0 {
        publish(&will, &owner, shared);
        return None;
    }
    let at = now + Duration::from_secs(delay.into());
    let shared2 = Arc::clone(shared);
    shared.scheduler.schedule(
        at,
        Box::new(move || {
            if !shared2
                .registry
                .reconnected_since(&owner.key, owner.generation)
            {
                publish(&will, &owner, &shared2);
            }
        }),
    );
    None
}

/// Publishes `will` of `owner` now.
pub fn publish(will: &Will, owner: &Owner, shared: &Shared) {
    let config = &shared.config;
    let key = mqtt_to_key(will.topic.as_str(), config.topic_mapping);
    let Ok(key) = RoutingKey::try_from(key) else {
        return;
    };
    let origin = Origin {
        exchange: &config.exchange,
        key,
        publisher: owner.conn,
        mapping: config.topic_mapping,
        now_ms: wall_ms(),
    };
    let message = Arc::new(to_message(
        will.qos,
        will.retain,
        will.payload.clone(),
        Some(&will.properties),
        origin,
    ));
    if will.retain {
        shared
            .retained
            .set(owner.vhost.name(), &will.topic, Arc::clone(&message));
    }
    if let Err(e) = owner.vhost.publish(&config.exchange, message) {
        tracing::warn!("mqtt: will of {} not published: {e}", owner.key.1);
    }
}
