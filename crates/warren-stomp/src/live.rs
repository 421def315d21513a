//! A connected session's state: subscriptions, deliveries awaiting ACK, transactions and
//! temporary queues.

use std::collections::BTreeMap;
use std::sync::Arc;

use warren_model::{
    ConnectionId, ConsumerTag, Consumption, QueueHandle, QueueName, QueueSeq, Settlement, UserName,
    VHost,
};

use crate::frame::Version;
use crate::receipts::Receipts;
use crate::tx::Transactions;

/// How a subscription's messages are acknowledged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AckMode {
    /// Settled when sent.
    Auto,
    /// An ACK settles the message and every earlier one of the subscription.
    Client,
    /// An ACK settles that message only.
    ClientIndividual,
}

impl AckMode {
    /// The mode an `ack` header names.
    pub fn parse(header: Option<&str>) -> Option<Self> {
        match header {
            None | Some("auto") => Some(Self::Auto),
            Some("client") => Some(Self::Client),
            Some("client-individual") => Some(Self::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// One SUBSCRIBE.
pub struct Subscription {
    /// The client's `id` (the destination when a 1.0 client gave none).
    pub id: String,
    /// Whether the client gave an `id`: only then do MESSAGEs carry `subscription`.
    pub has_id: bool,
    /// Acknowledgement mode.
    pub ack: AckMode,
    /// The consumer tag, which starts every message id.
    pub tag: ConsumerTag,
    /// The core's consumer.
    pub consumption: Consumption,
    /// A durable subscription's queue, deleted by an UNSUBSCRIBE with `durable:true`.
    pub durable_queue: Option<QueueName>,
}

/// A delivered message awaiting ACK or NACK.
pub struct Unacked {
    /// The subscription it went to.
    pub subscription: String,
    /// Its queue.
    pub queue: Arc<dyn QueueHandle>,
    /// Its position there.
    pub seq: QueueSeq,
}

impl Unacked {
    /// Settles it in its queue.
    pub fn settle(&self, how: Settlement) {
        self.queue.settle(&[self.seq], how);
    }
}

/// A connected session.
pub struct Live {
    /// The negotiated version.
    pub version: Version,
    /// The vhost named by `host`.
    pub vhost: Arc<dyn VHost>,
    /// The authenticated user.
    pub user: UserName,
    /// The core's id for this connection.
    pub conn: ConnectionId,
    /// The CONNECTED `session` header, part of every message id.
    pub session_id: String,
    /// Subscriptions by id.
    pub subs: BTreeMap<String, Subscription>,
    /// Subscription ids by consumer tag.
    pub by_tag: BTreeMap<ConsumerTag, String>,
    /// Deliveries awaiting ACK, by the number ending their message id.
    pub unacked: BTreeMap<u64, Unacked>,
    /// The number of the next delivery.
    pub next_delivery: u64,
    /// Open transactions.
    pub txs: Transactions,
    /// Temporary queues by their `/temp-queue/` name.
    pub temp_queues: BTreeMap<String, QueueName>,
    /// RECEIPTs owed, in order.
    pub receipts: Receipts,
    /// `/queue/` destinations this connection's SENDs already declared.
    pub declared: DeclaredQueues,
    /// A SEND reached a queue in flow: the session pauses on its valve.
    pub flow: Option<Arc<warren_model::flow::FlowValve>>,
}

/// The `/queue/` destinations a connection has declared, so that a SEND declares its queue
/// once rather than every time (RabbitMQ's STOMP adapter also remembers them per
/// connection). Bounded: past [`DeclaredQueues::MAX`] names it starts over.
#[derive(Debug, Default)]
pub struct DeclaredQueues(std::collections::HashSet<String>);

impl DeclaredQueues {
    /// Most names remembered.
    pub const MAX: usize = 256;

    /// True if `name` was declared by this connection.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// Remembers `name`.
    pub fn insert(&mut self, name: &str) {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(name.to_owned());
    }

    /// Forgets everything (after an error, the next SEND declares again).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl Live {
    /// Ends everything: consumers cancelled, unacknowledged messages requeued, exclusive and
    /// temporary queues dropped by the core.
    pub fn release(mut self) {
        for sub in std::mem::take(&mut self.subs).into_values() {
            sub.consumption.queue.cancel(sub.consumption.id);
        }
        for unacked in std::mem::take(&mut self.unacked).into_values() {
            unacked.settle(Settlement::Requeue);
        }
        self.vhost.connection_closed(self.conn);
    }
}
