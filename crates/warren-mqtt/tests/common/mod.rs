//! A sans-IO MQTT client for session tests: packets are encoded with the wire codec's client
//! side, fed to `on_input`, and the replies decoded; the clock and the scheduler are driven by
//! hand, so nothing sleeps. Sessions run against the real core ([`TestBroker`]) or against the
//! fake core of `warren-fake-core` ([`fake_core::FakeCoreBroker`]).
#![allow(dead_code)]

pub mod fake_core;
pub mod packets;

use std::num::NonZeroU16;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rmqtt_codec::types::{Publish, QoS};
use rmqtt_codec::{v3, v5};
use tokio_util::codec::{Decoder, Encoder};
use warren_core::{Core, CoreConfig};
use warren_model::{
    BindingSpec, Broker, ConnectionId, ConsumeSpec, Consumption, CoreError, Delivery, DeliverySink,
    DurableWrite, ExchangeName, ExchangeSpec, Message, PeerInfo, PublishOutcome, QueueDeclareOk,
    QueueName, QueueSpec, Scheduler, Session, SessionFactory, SessionStatus, UserName, VHost,
    VHostName, Wake,
};
use warren_mqtt::{MqttConfig, MqttSessionFactory};

#[derive(Default)]
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

type Task = (Instant, Box<dyn FnOnce() + Send>);

/// Runs tasks only when the test says the time has come.
#[derive(Default)]
pub struct ManualScheduler(Mutex<Vec<Task>>);

impl Scheduler for ManualScheduler {
    fn schedule(&self, at: Instant, task: Box<dyn FnOnce() + Send>) {
        self.0.lock().unwrap().push((at, task));
    }
}

impl ManualScheduler {
    /// Runs every task due at `now`; returns how many ran.
    pub fn run_until(&self, now: Instant) -> usize {
        let due: Vec<Task> = {
            let mut tasks = self.0.lock().unwrap();
            let (due, later) = tasks.drain(..).partition(|(at, _)| *at <= now);
            *tasks = later;
            due
        };
        let n = due.len();
        for (_, task) in due {
            task();
        }
        n
    }

    pub fn pending(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

pub struct TestBroker {
    pub core: Arc<Core>,
    pub factory: MqttSessionFactory,
    pub scheduler: Arc<ManualScheduler>,
}

type Done = Box<dyn FnOnce(Result<(), CoreError>) + Send>;

/// Disk writes that complete only when the test says so: with [`TestBroker::with_held_writes`]
/// every publish that reaches a queue is "being written" until [`HeldWrites::complete_all`].
#[derive(Default)]
pub struct HeldWrites(Mutex<Vec<Done>>);

impl HeldWrites {
    /// Completes every write made so far, in order; returns how many.
    pub fn complete_all(&self) -> usize {
        let done: Vec<Done> = std::mem::take(&mut *self.0.lock().unwrap());
        let n = done.len();
        for d in done {
            d(Ok(()));
        }
        n
    }

    /// Fails every write made so far (the store broke); returns how many.
    pub fn fail_all(&self) -> usize {
        let done: Vec<Done> = std::mem::take(&mut *self.0.lock().unwrap());
        let n = done.len();
        for d in done {
            d(Err(CoreError::new(
                warren_model::ErrorKind::Internal,
                "test: disk failed",
            )));
        }
        n
    }

    pub fn pending(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

struct HeldWrite(Arc<HeldWrites>);

impl DurableWrite for HeldWrite {
    fn on_durable(self: Box<Self>, done: Done) {
        self.0 .0.lock().unwrap().push(done);
    }
}

/// The core, with each routed publish reported as a disk write held in [`HeldWrites`].
struct HoldingBroker {
    core: Arc<Core>,
    held: Arc<HeldWrites>,
}

impl Broker for HoldingBroker {
    fn authenticate(&self, user: &str, password: &str, lo: bool) -> Result<UserName, CoreError> {
        self.core.authenticate(user, password, lo)
    }
    fn vhost(&self, user: &UserName, vhost: &VHostName) -> Result<Arc<dyn VHost>, CoreError> {
        let inner = self.core.vhost(user, vhost)?;
        Ok(Arc::new(HoldingVHost {
            inner,
            held: Arc::clone(&self.held),
        }))
    }
    fn next_connection_id(&self) -> ConnectionId {
        self.core.next_connection_id()
    }
}

struct HoldingVHost {
    inner: Arc<dyn VHost>,
    held: Arc<HeldWrites>,
}

impl VHost for HoldingVHost {
    fn name(&self) -> &VHostName {
        self.inner.name()
    }
    fn declare_exchange(&self, spec: ExchangeSpec, passive: bool) -> Result<(), CoreError> {
        self.inner.declare_exchange(spec, passive)
    }
    fn delete_exchange(&self, name: &ExchangeName, if_unused: bool) -> Result<(), CoreError> {
        self.inner.delete_exchange(name, if_unused)
    }
    fn declare_queue(
        &self,
        spec: QueueSpec,
        passive: bool,
        owner: ConnectionId,
    ) -> Result<QueueDeclareOk, CoreError> {
        self.inner.declare_queue(spec, passive, owner)
    }
    fn delete_queue(
        &self,
        name: &QueueName,
        if_unused: bool,
        if_empty: bool,
        owner: ConnectionId,
    ) -> Result<u32, CoreError> {
        self.inner.delete_queue(name, if_unused, if_empty, owner)
    }
    fn purge_queue(&self, name: &QueueName, owner: ConnectionId) -> Result<u32, CoreError> {
        self.inner.purge_queue(name, owner)
    }
    fn bind(&self, binding: BindingSpec, owner: ConnectionId) -> Result<(), CoreError> {
        self.inner.bind(binding, owner)
    }
    fn unbind(&self, binding: BindingSpec, owner: ConnectionId) -> Result<(), CoreError> {
        self.inner.unbind(binding, owner)
    }
    fn publish(
        &self,
        exchange: &ExchangeName,
        message: Arc<Message>,
    ) -> Result<PublishOutcome, CoreError> {
        let mut outcome = self.inner.publish(exchange, message)?;
        if outcome.queues > 0 {
            outcome.durable = Some(Box::new(HeldWrite(Arc::clone(&self.held))));
        }
        Ok(outcome)
    }
    fn consume(
        &self,
        queue: &QueueName,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        owner: ConnectionId,
    ) -> Result<Consumption, CoreError> {
        self.inner.consume(queue, spec, sink, owner)
    }
    fn get(
        &self,
        queue: &QueueName,
        no_ack: bool,
        owner: ConnectionId,
    ) -> Result<Option<(Delivery, u32)>, CoreError> {
        self.inner.get(queue, no_ack, owner)
    }
    fn connection_closed(&self, owner: ConnectionId) {
        self.inner.connection_closed(owner)
    }
    fn queue_names(&self) -> Vec<QueueName> {
        self.inner.queue_names()
    }
}

impl TestBroker {
    pub fn new() -> Self {
        Self::with_config(MqttConfig::default())
    }

    pub fn with_config(config: MqttConfig) -> Self {
        let core = Core::new(CoreConfig::default());
        let scheduler = Arc::new(ManualScheduler::default());
        let broker: Arc<dyn Broker> = core.clone();
        let factory = MqttSessionFactory::new(broker, config, scheduler.clone());
        Self {
            core,
            factory,
            scheduler,
        }
    }

    /// A broker whose disk writes wait for the test (see [`HeldWrites`]).
    pub fn with_held_writes(config: MqttConfig) -> (Self, Arc<HeldWrites>) {
        let core = Core::new(CoreConfig::default());
        let scheduler = Arc::new(ManualScheduler::default());
        let held = Arc::new(HeldWrites::default());
        let broker: Arc<dyn Broker> = Arc::new(HoldingBroker {
            core: core.clone(),
            held: Arc::clone(&held),
        });
        let factory = MqttSessionFactory::new(broker, config, scheduler.clone());
        let broker = Self {
            core,
            factory,
            scheduler,
        };
        (broker, held)
    }

    pub fn client(&self) -> Client {
        Client::of(&self.factory)
    }
}

pub struct Client {
    pub session: Box<dyn Session>,
    pub waker: Arc<CountingWaker>,
    pub output: BytesMut,
    pub now: Instant,
    pub status: SessionStatus,
    v3: v3::Codec,
    v5: v5::Codec,
}

pub fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

pub fn enc3(p: v3::Packet) -> BytesMut {
    let mut out = BytesMut::new();
    v3::Codec::new(0).encode(p, &mut out).unwrap();
    out
}

pub fn enc5(p: v5::Packet) -> BytesMut {
    let mut out = BytesMut::new();
    v5::Codec::new(0, 0).encode(p, &mut out).unwrap();
    out
}

pub fn publish(topic: &str, qos: QoS, id: u16, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        retain: false,
        qos,
        topic: topic.into(),
        packet_id: NonZeroU16::new(id),
        payload: Bytes::from_static(payload),
        properties: None,
    }
}

pub fn connect3(id: &str, clean: bool) -> v3::Packet {
    v3::Packet::Connect(Box::new(v3::Connect {
        clean_session: clean,
        keep_alive: 30,
        client_id: id.into(),
        ..v3::Connect::default()
    }))
}

pub fn connect5(id: &str, clean: bool, expiry: u32) -> v5::Connect {
    v5::Connect {
        clean_start: clean,
        keep_alive: 30,
        session_expiry_interval_secs: expiry,
        client_id: id.into(),
        ..v5::Connect::default()
    }
}

pub fn sub3(id: u16, filters: &[(&str, QoS)]) -> v3::Packet {
    v3::Packet::Subscribe {
        packet_id: pid(id),
        topic_filters: filters.iter().map(|(f, q)| ((*f).into(), *q)).collect(),
    }
}

pub fn opts(qos: QoS) -> v5::SubscriptionOptions {
    v5::SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: v5::RetainHandling::AtSubscribe,
    }
}

pub fn sub5(id: u16, filters: &[(&str, v5::SubscriptionOptions)]) -> v5::Packet {
    v5::Packet::Subscribe(v5::Subscribe {
        packet_id: pid(id),
        id: None,
        user_properties: vec![],
        topic_filters: filters.iter().map(|(f, o)| ((*f).into(), *o)).collect(),
    })
}

impl Client {
    /// A new connection to `factory`.
    pub fn of(factory: &MqttSessionFactory) -> Self {
        let waker = Arc::new(CountingWaker::default());
        let peer = PeerInfo {
            certificate_login: None,
            remote: "127.0.0.1:40000".parse().unwrap(),
            local: "127.0.0.1:1883".parse().unwrap(),
        };
        Client {
            session: factory.new_session(peer, waker.clone()),
            waker,
            output: BytesMut::new(),
            now: Instant::now(),
            status: SessionStatus::Continue,
            v3: v3::Codec::new(0),
            v5: v5::Codec::new(0, 0),
        }
    }

    /// Raw bytes in; whatever the session wrote (input and one wake) out.
    pub fn raw(&mut self, bytes: &[u8]) -> BytesMut {
        let mut input = BytesMut::from(bytes);
        self.status = self
            .session
            .on_input(&mut input, &mut self.output, self.now);
        self.wake_raw()
    }

    /// Raw bytes in, without the wake: what `on_input` itself wrote.
    pub fn input_only(&mut self, bytes: &[u8]) -> BytesMut {
        let mut input = BytesMut::from(bytes);
        self.status = self
            .session
            .on_input(&mut input, &mut self.output, self.now);
        self.output.split()
    }

    pub fn wake_raw(&mut self) -> BytesMut {
        if self.status == SessionStatus::Continue {
            self.status = self.session.on_wake(&mut self.output, self.now);
        }
        let out = self.output.split();
        // As the driver: drained is told after something was written.
        if !out.is_empty() {
            self.session.on_drained();
        }
        out
    }

    pub fn decode3(&mut self, mut bytes: BytesMut) -> Vec<v3::Packet> {
        let mut out = Vec::new();
        while let Some((p, _)) = self
            .v3
            .decode(&mut bytes)
            .expect("server wrote valid 3.1.1")
        {
            out.push(p);
        }
        assert!(bytes.is_empty());
        out
    }

    pub fn decode5(&mut self, mut bytes: BytesMut) -> Vec<v5::Packet> {
        let mut out = Vec::new();
        while let Some((p, _)) = self.v5.decode(&mut bytes).expect("server wrote valid 5.0") {
            out.push(p);
        }
        assert!(bytes.is_empty());
        out
    }

    pub fn send3(&mut self, p: v3::Packet) -> Vec<v3::Packet> {
        let out = self.raw(&enc3(p));
        self.decode3(out)
    }

    pub fn send5(&mut self, p: v5::Packet) -> Vec<v5::Packet> {
        let out = self.raw(&enc5(p));
        self.decode5(out)
    }

    pub fn wake3(&mut self) -> Vec<v3::Packet> {
        let out = self.wake_raw();
        self.decode3(out)
    }

    pub fn wake5(&mut self) -> Vec<v5::Packet> {
        let out = self.wake_raw();
        self.decode5(out)
    }

    pub fn tick(&mut self, by: Duration) -> BytesMut {
        self.now += by;
        self.status = self.session.on_tick(&mut self.output, self.now);
        self.output.split()
    }

    pub fn close(&mut self) {
        self.session.on_close();
    }

    /// The broker shuts down: what the session wrote before it closed.
    pub fn shutdown(&mut self) -> BytesMut {
        self.status = self.session.on_shutdown(&mut self.output);
        self.output.split()
    }

    pub fn closed(&self) -> bool {
        self.status == SessionStatus::Close
    }

    /// Connects with 3.1.1, asserting CONNACK 0; returns session present.
    pub fn connect3(&mut self, id: &str, clean: bool) -> bool {
        let out = self.input_only(&enc3(connect3(id, clean)));
        match self.decode3(out).as_slice() {
            [v3::Packet::ConnectAck(ack)] => {
                assert_eq!(ack.return_code, v3::ConnectAckReason::ConnectionAccepted);
                ack.session_present
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with 5.0, asserting success; returns the CONNACK.
    pub fn connect5(&mut self, c: v5::Connect) -> v5::ConnectAck {
        let out = self.input_only(&enc5(v5::Packet::Connect(Box::new(c))));
        match self.decode5(out).as_slice() {
            [v5::Packet::ConnectAck(ack)] => {
                assert_eq!(ack.reason_code, v5::ConnectAckReason::Success, "{ack:?}");
                (**ack).clone()
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}
