//! [`Live`]: what a connected MQTT session holds besides its connection (which is the
//! session's own, in `session`).

use std::collections::BTreeMap;
use std::sync::Arc;

use warren_model::{ConnectionId, ConsumerTag, Consumption, CreditPool, QueueName, VHost};

use crate::alias::{Aliases, OutboundAliases};
use crate::codec::Version;
use crate::connect;
use crate::durable_acks::DurableAcks;
use crate::errors::MqttError;
use crate::inflight::Inflight;
use crate::registry::{LazyState, LiveHandle, SessionKey};
use crate::will::Will;

/// A connected session's state.
pub struct Live {
    /// Protocol version.
    pub version: Version,
    /// Registry key.
    pub key: SessionKey,
    /// This connection's generation of the session.
    pub generation: u64,
    /// The core's id for this connection.
    pub conn: ConnectionId,
    /// The vhost.
    pub vhost: Arc<dyn VHost>,
    /// Kept after disconnect.
    pub persistent: bool,
    /// The session queue is durable (declared for a persistent session).
    pub durable_queue: bool,
    /// Session Expiry Interval in seconds (after the cap).
    pub session_expiry: u32,
    /// Its consumer.
    pub consumer: Option<Consumption>,
    /// That consumer acknowledges (see `subscribe::needs_acks`).
    pub consumer_acks: bool,
    /// Consumers of shared-subscription queues, by queue, with their tags.
    pub shares: BTreeMap<QueueName, (ConsumerTag, Consumption)>,
    /// Subscriptions and QoS 2 state, shared with the registry (persistent sessions).
    pub state: LazyState,
    /// Outbound window.
    pub inflight: Inflight,
    /// Prefetch asked of the core (the outbound window).
    pub window: u32,
    /// The window shared by all the session's consumers (its queue and shared
    /// subscriptions), with one credit held for each QoS 2 id awaiting PUBCOMP.
    pub credit: Arc<CreditPool>,
    /// Topic aliases both ways, made at the first one.
    pub aliases: Option<Box<Aliases>>,
    /// The client's Topic Alias Maximum (0: it takes none).
    pub out_alias_max: u16,
    /// Keep alive in force, seconds (0: none).
    pub keep_alive: u16,
    /// The will, cleared by a normal DISCONNECT. Boxed: most sessions have none.
    pub will: Option<Box<Will>>,
    /// Our registry handle.
    pub handle: Arc<LiveHandle>,
    /// PUBACKs and PUBRECs waiting for the disk.
    pub acks: DurableAcks,
    /// The last topic converted to a routing key and back.
    pub topics: crate::topic_cache::TopicCache,
    /// A publish reached a queue in flow: the session pauses on its valve.
    pub flow: Option<Arc<warren_model::flow::FlowValve>>,
}

impl Live {
    /// The topic aliases, made now if they were not yet.
    pub fn aliases(&mut self) -> &mut Aliases {
        let max = self.out_alias_max;
        self.aliases.get_or_insert_with(|| {
            Box::new(Aliases {
                inbound: BTreeMap::new(),
                outbound: OutboundAliases::new(max),
            })
        })
    }

    /// The session's own queue, named from the client id (checked at CONNECT). Made when
    /// asked, not kept: every connection would hold the name, few use it.
    pub fn queue(&self) -> Result<QueueName, MqttError> {
        connect::session_queue(&self.key.1)
    }
}
