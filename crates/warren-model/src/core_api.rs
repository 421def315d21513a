//! The traits at the adapter boundary. Protocol adapters call the core only through these, and
//! the network driver runs sessions only through [`Session`]; neither side names the other's
//! crate, so the compiler keeps the core protocol-neutral.
//!
//! Everything here is synchronous: core operations take short locks and never block on I/O.
//! Results that arrive later (deliveries, cancel notifications) are pushed to a
//! [`DeliverySink`], which wakes the connection's task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::error::CoreError;
use crate::field::FieldTable;
use crate::message::Message;
use crate::names::{
    ConnectionId, ConsumerId, ConsumerTag, ExchangeName, QueueName, QueueSeq, RoutingKey, UserName,
    VHostName,
};

/// The broker as adapters see it: authentication and vhost lookup.
pub trait Broker: Send + Sync {
    /// Checks credentials. `from_loopback` lets the core refuse loopback-only users (guest)
    /// on remote connections, as RabbitMQ does.
    fn authenticate(
        &self,
        user: &str,
        password: &str,
        from_loopback: bool,
    ) -> Result<UserName, CoreError>;
    /// Opens `vhost` for `user`; 530-style `NotAllowed` when it does not exist or is refused.
    fn vhost(&self, user: &UserName, vhost: &VHostName) -> Result<Arc<dyn VHost>, CoreError>;
    /// A fresh id for a new connection.
    fn next_connection_id(&self) -> ConnectionId;
    /// Logs in `user` without a password, because the transport already proved who it is (a
    /// verified TLS client certificate). The user must exist. Brokers that do not support it
    /// refuse.
    fn authenticate_external(
        &self,
        user: &str,
        from_loopback: bool,
    ) -> Result<UserName, CoreError> {
        let _ = (user, from_loopback);
        Err(CoreError::access_refused(
            "Login was refused using authentication mechanism EXTERNAL.",
        ))
    }
    /// Where an adapter keeps state across restarts (MQTT sessions and retained messages);
    /// `None` when the broker keeps nothing on disk.
    fn blobs(&self) -> Option<Arc<dyn Blobs>> {
        None
    }
    /// The gate that holds publishers back while a resource alarm (low disk space) is on;
    /// `None` when the broker has none.
    fn publish_gate(&self) -> Option<Arc<crate::PublishGate>> {
        None
    }
}

/// Small values an adapter keeps across restarts, by namespace (`space`) and key. Writes are
/// not waited for, but they reach the disk in the order they were made together with the
/// broker's message writes: once a later publish's [`DurableWrite`] completes, every earlier
/// `put` and `delete` is durable too.
pub trait Blobs: Send + Sync {
    /// Sets `key` in `space` to `value`.
    fn put(&self, space: &str, key: &[u8], value: &[u8]);
    /// Removes `key` from `space`.
    fn delete(&self, space: &str, key: &[u8]);
    /// Hands over the values `space` had when the broker started (once; later calls get
    /// nothing).
    fn take_recovered(&self, space: &str) -> Vec<(Vec<u8>, bytes::Bytes)>;
}

/// An exchange declaration.
#[derive(Clone, Debug)]
pub struct ExchangeSpec {
    /// Its name.
    pub name: ExchangeName,
    /// Its type: `direct`, `fanout`, `topic`, `headers`, or a plugin type.
    pub kind: String,
    /// Survives restart.
    pub durable: bool,
    /// Deleted when its last binding (as source) goes.
    pub auto_delete: bool,
    /// Clients may not publish to it directly.
    pub internal: bool,
    /// Extra arguments.
    pub arguments: FieldTable,
}

/// A queue declaration.
#[derive(Clone, Debug)]
pub struct QueueSpec {
    /// Its name; `None` asks the server for an `amq.gen-...` name.
    pub name: Option<QueueName>,
    /// Survives restart.
    pub durable: bool,
    /// Owned by the declaring connection; deleted when it closes.
    pub exclusive: bool,
    /// Deleted when its last consumer goes (after it had one).
    pub auto_delete: bool,
    /// `x-*` arguments.
    pub arguments: FieldTable,
}

/// What a queue declaration reports back.
#[derive(Clone, Debug)]
pub struct QueueDeclareOk {
    /// The queue's name (server-named queues learn theirs here).
    pub name: QueueName,
    /// Ready messages.
    pub message_count: u32,
    /// Active consumers.
    pub consumer_count: u32,
}

/// Where a binding leads.
#[derive(Clone, PartialEq, Debug)]
pub enum Destination {
    /// Into a queue.
    Queue(QueueName),
    /// Into another exchange (exchange-to-exchange binding).
    Exchange(ExchangeName),
}

/// A binding from an exchange to a destination.
#[derive(Clone, Debug)]
pub struct BindingSpec {
    /// The exchange messages come from.
    pub source: ExchangeName,
    /// Where they go.
    pub destination: Destination,
    /// The binding key.
    pub routing_key: RoutingKey,
    /// Binding arguments (headers exchanges match on these).
    pub arguments: FieldTable,
}

/// A write the core started for a publish (a persistent message reached a durable queue).
/// Adapters hold it back from the publisher's confirm (AMQP `basic.ack`, MQTT PUBACK/PUBREC,
/// STOMP RECEIPT) until it completes, so nothing is confirmed before it is on disk.
pub trait DurableWrite: Send {
    /// Calls `done` once: with `Ok` when the message is durable, with an error when it never
    /// will be (the store failed). Writes complete in the order they were made. `done` may run
    /// at once or on another thread; it must be quick and must not block (queue the confirm,
    /// wake the connection).
    fn on_durable(self: Box<Self>, done: Box<dyn FnOnce(Result<(), CoreError>) + Send>);
}

/// What a publish did.
#[derive(Default)]
pub struct PublishOutcome {
    /// How many queues received the message; 0 means unroutable.
    pub queues: usize,
    /// How many queues refused it for a length limit (`x-overflow` `reject-publish` or
    /// `reject-publish-dlx`). Non-zero means the publisher must be told it was not taken
    /// (an AMQP `basic.nack` under confirms).
    pub rejected: usize,
    /// Held by a delayed-message exchange: it is routed when its delay ends, so it is
    /// neither routed nor unroutable yet.
    pub delayed: bool,
    /// Set when the message is being written to disk: confirm only once it completes.
    pub durable: Option<Box<dyn DurableWrite>>,
    /// Set when a queue that took the message is in flow: its consumers cannot keep up, and
    /// the publisher should pause on this valve (see [`crate::flow`]).
    pub flow: Option<Arc<crate::flow::FlowValve>>,
}

impl std::fmt::Debug for PublishOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishOutcome")
            .field("queues", &self.queues)
            .field("rejected", &self.rejected)
            .field("delayed", &self.delayed)
            .field("durable", &self.durable.is_some())
            .field("flow", &self.flow.is_some())
            .finish()
    }
}

impl PublishOutcome {
    /// True unless the message reached no queue and waits nowhere (a `mandatory` return).
    pub fn routed(&self) -> bool {
        self.queues > 0 || self.rejected > 0 || self.delayed
    }
}

/// A prefetch window shared by several consumers (AMQP `basic.qos` with `global=true`).
/// A limit of 0 means unlimited.
#[derive(Debug, Default)]
pub struct CreditPool {
    limit: AtomicU32,
    in_flight: AtomicU32,
}

impl CreditPool {
    /// A pool with `limit` messages in flight at most (0 = unlimited).
    pub fn new(limit: u32) -> Self {
        Self {
            limit: AtomicU32::new(limit),
            in_flight: AtomicU32::new(0),
        }
    }
    /// Changes the limit; takes effect on the next delivery.
    pub fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Ordering::Relaxed);
    }
    /// Takes one credit if the window has room.
    pub fn try_take(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (limit == 0 || n < limit).then_some(n + 1)
            })
            .is_ok()
    }
    /// Gives one credit back (a settled message).
    pub fn give_back(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
    }
    /// Takes one credit even when the window is full: for a message settled in its queue that
    /// still counts against the window (an MQTT QoS 2 delivery awaiting PUBCOMP). Taken before
    /// the settle that gives the message's own credit back, so the window never opens between.
    pub fn hold(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }
    /// The window (0 = unlimited).
    pub fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }
    /// Messages in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// A consumer's request.
#[derive(Clone, Debug)]
pub struct ConsumeSpec {
    /// The client's tag, echoed on every delivery.
    pub tag: ConsumerTag,
    /// Deliveries count as settled when sent.
    pub no_ack: bool,
    /// No other consumer may share the queue.
    pub exclusive: bool,
    /// Per-consumer prefetch (0 = unlimited).
    pub prefetch: u32,
    /// A window shared with other consumers of the same channel, if any.
    pub shared_credit: Option<Arc<CreditPool>>,
    /// Consumer arguments (e.g. `x-priority`).
    pub arguments: FieldTable,
}

/// How a delivered message is settled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Settlement {
    /// Done with; removed.
    Ack,
    /// Back to the queue at its original position, marked redelivered.
    Requeue,
    /// Rejected without requeue: dropped (or dead-lettered).
    Discard,
}

/// A handle on one queue, held by consumers and deliveries so settlement needs no lookup and
/// cannot hit a queue re-declared under the same name.
pub trait QueueHandle: Send + Sync {
    /// The queue's name.
    fn name(&self) -> &QueueName;
    /// Settles delivered messages.
    fn settle(&self, seqs: &[QueueSeq], how: Settlement);
    /// Removes a consumer. Its unsettled messages stay unsettled until settled or requeued.
    fn cancel(&self, consumer: ConsumerId);
    /// Tries to deliver again: call after credit was freed or a sink drained.
    fn kick(&self);
    /// Ready messages.
    fn message_count(&self) -> u32;
}

/// One message handed to a consumer or to `get`.
#[derive(Clone)]
pub struct Delivery {
    /// The queue it came from; settle through it.
    pub queue: Arc<dyn QueueHandle>,
    /// Its position in that queue.
    pub seq: QueueSeq,
    /// The message.
    pub message: Arc<Message>,
    /// Delivered before and requeued.
    pub redelivered: bool,
    /// The consumer it went to (`None` for `get`).
    pub consumer: Option<ConsumerTag>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", self.queue.name())
            .field("seq", &self.seq)
            .field("redelivered", &self.redelivered)
            .field("consumer", &self.consumer)
            .finish()
    }
}

/// Where a queue sends deliveries for a consumer. Implemented by adapters; the core calls it
/// without holding a queue lock, and an implementation must not call back into the queue.
pub trait DeliverySink: Send + Sync {
    /// Takes a delivery.
    fn deliver(&self, delivery: Delivery);
    /// Takes a dispatch round's deliveries for this consumer, in order; an implementation
    /// that can take them at once (one lock, one wake-up) should.
    fn deliver_all(&self, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            self.deliver(delivery);
        }
    }
    /// False when the connection's outbound buffer is full: the queue then holds deliveries
    /// until `QueueHandle::kick` is called.
    fn has_room(&self) -> bool;
    /// The core cancelled the consumer (its queue was deleted).
    fn cancelled(&self, tag: &ConsumerTag);
}

/// A registered consumer.
#[derive(Clone)]
pub struct Consumption {
    /// The core's id for it.
    pub id: ConsumerId,
    /// The queue it consumes.
    pub queue: Arc<dyn QueueHandle>,
}

/// A virtual host: the namespace of exchanges and queues.
pub trait VHost: Send + Sync {
    /// Its name.
    fn name(&self) -> &VHostName;
    /// Declares (or with `passive`, checks) an exchange.
    fn declare_exchange(&self, spec: ExchangeSpec, passive: bool) -> Result<(), CoreError>;
    /// Deletes an exchange; `if_unused` refuses when it has bindings.
    fn delete_exchange(&self, name: &ExchangeName, if_unused: bool) -> Result<(), CoreError>;
    /// Declares (or with `passive`, checks) a queue.
    fn declare_queue(
        &self,
        spec: QueueSpec,
        passive: bool,
        owner: ConnectionId,
    ) -> Result<QueueDeclareOk, CoreError>;
    /// Deletes a queue, returning how many messages it held.
    fn delete_queue(
        &self,
        name: &QueueName,
        if_unused: bool,
        if_empty: bool,
        owner: ConnectionId,
    ) -> Result<u32, CoreError>;
    /// Drops a queue's ready messages, returning how many.
    fn purge_queue(&self, name: &QueueName, owner: ConnectionId) -> Result<u32, CoreError>;
    /// Adds a binding (idempotent).
    fn bind(&self, binding: BindingSpec, owner: ConnectionId) -> Result<(), CoreError>;
    /// Removes a binding (absent bindings are not an error, as RabbitMQ).
    fn unbind(&self, binding: BindingSpec, owner: ConnectionId) -> Result<(), CoreError>;
    /// Routes a message from `exchange` by its annotations' routing key.
    fn publish(
        &self,
        exchange: &ExchangeName,
        message: Arc<Message>,
    ) -> Result<PublishOutcome, CoreError>;
    /// Holds back handing out what this thread publishes until the batch drops (see
    /// [`crate::PublishBatch`]); a core that does not batch dispatches at once.
    fn batch_publishes(&self) -> crate::PublishBatch {
        crate::PublishBatch::none()
    }
    /// Adds a consumer to a queue.
    fn consume(
        &self,
        queue: &QueueName,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        owner: ConnectionId,
    ) -> Result<Consumption, CoreError>;
    /// Takes one message, with the count of ready messages left.
    fn get(
        &self,
        queue: &QueueName,
        no_ack: bool,
        owner: ConnectionId,
    ) -> Result<Option<(Delivery, u32)>, CoreError>;
    /// A connection closed: its exclusive queues go.
    fn connection_closed(&self, owner: ConnectionId);
    /// The names of its queues now, in no order. For an adapter that owns a family of queue
    /// names to find, at start, the kept ones nothing holds any more.
    fn queue_names(&self) -> Vec<QueueName>;
}

/// Runs work later, on a broker thread. Adapters use it for timers that outlive a
/// connection (an MQTT will delay, a session expiry). There is no cancel: a task checks when it
/// runs whether it still applies. Not for per-message timers, which need a wheel of their own.
pub trait Scheduler: Send + Sync {
    /// Runs `task` at or after `at`.
    fn schedule(&self, at: Instant, task: Box<dyn FnOnce() + Send>);
}

/// Wakes a connection's task when the core has something for it.
pub trait Wake: Send + Sync {
    /// Schedules the session's `on_wake`.
    fn wake(&self);
}

/// Who is on the other end of a connection.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The address it connected to.
    pub local: SocketAddr,
    /// The login name proved by a verified TLS client certificate (its subject CN or a SAN, as
    /// the listener is configured). `None` without TLS, without a client certificate, or when
    /// the listener does not log in from certificates. Sessions may log this user in without a
    /// password (AMQP SASL EXTERNAL, MQTT and STOMP without credentials).
    pub certificate_login: Option<String>,
}

impl PeerInfo {
    /// A peer without a certificate login.
    pub fn new(remote: SocketAddr, local: SocketAddr) -> Self {
        Self {
            remote,
            local,
            certificate_login: None,
        }
    }
}

/// What the driver should do after a session call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SessionStatus {
    /// Keep going.
    Continue,
    /// Write what is in the output buffer, then close the connection.
    Close,
}

/// Deliveries a session encodes in one `on_wake` before it hands control back so the driver
/// can write them: large enough to batch many messages per write, small enough that a
/// subscriber with a backlog sees a steady stream rather than megabytes at once. The session
/// resumes from `on_drained`.
pub const OUTPUT_BATCH: usize = 64 * 1024;

/// A protocol session, driven by the network layer. Sans-IO: it sees bytes and time, never a
/// socket.
pub trait Session: Send {
    /// Consumes whole frames from `input` (leaving a partial frame), appending replies to
    /// `output`.
    fn on_input(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        now: Instant,
    ) -> SessionStatus;
    /// Moves what the core pushed (deliveries, notifications) into `output`.
    fn on_wake(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus;
    /// Time-driven work (heartbeats); called at or after `next_deadline`.
    fn on_tick(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus;
    /// When `on_tick` is next due.
    fn next_deadline(&self) -> Option<Instant>;
    /// The driver wrote everything out; a chance to resume queues held for room.
    fn on_drained(&mut self);
    /// False while the session wants the driver to stop reading (backpressure).
    fn wants_input(&self) -> bool;
    /// The connection is gone: release everything (requeue unsettled, drop exclusives).
    fn on_close(&mut self);
    /// The broker is shutting down: append a protocol goodbye (e.g. AMQP `connection.close`
    /// 320) to `output`. The driver flushes it, with a deadline, then closes.
    fn on_shutdown(&mut self, output: &mut BytesMut) -> SessionStatus {
        let _ = output;
        SessionStatus::Close
    }
}

/// Makes a session for each accepted connection.
pub trait SessionFactory: Send + Sync {
    /// A new session for `peer`; it calls `waker` when the core has output for it.
    fn new_session(&self, peer: PeerInfo, waker: Arc<dyn Wake>) -> Box<dyn Session>;
}
