//! A sans-IO client for session tests: frames go in through `on_input`, replies come back
//! parsed, with the clock advanced by hand.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amq_protocol::frame::{gen_frame, parse_frame, AMQPContentHeader, AMQPFrame, WriteContext};
use amq_protocol::protocol::{basic, channel, connection, queue, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable, LongString, ShortString};
use bytes::BytesMut;
use warren_amqp::{AmqpConfig, AmqpSessionFactory};
use warren_model::{Broker, PeerInfo, Session, SessionFactory, SessionStatus, Wake};

pub use warren_fake_core::{FakeBroker, FakeVHost};

#[derive(Default)]
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Client {
    pub session: Box<dyn Session>,
    pub broker: Arc<FakeBroker>,
    pub waker: Arc<CountingWaker>,
    pub output: BytesMut,
    pub now: Instant,
    pub status: SessionStatus,
}

pub fn encode(frames: &[AMQPFrame]) -> Vec<u8> {
    let mut buf = Vec::new();
    for f in frames {
        let ctx = gen_frame(f)(WriteContext::from(Vec::new())).unwrap();
        buf.extend_from_slice(&ctx.write);
    }
    buf
}

pub fn decode_all(mut bytes: &[u8]) -> Vec<AMQPFrame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (rest, f) = parse_frame(bytes).expect("server wrote a valid frame");
        frames.push(f);
        bytes = rest;
    }
    frames
}

pub fn method(ch: u16, m: AMQPClass) -> AMQPFrame {
    AMQPFrame::Method(ch, m)
}

pub fn s(text: &str) -> ShortString {
    ShortString::from(text)
}

impl Client {
    pub fn new() -> Self {
        Self::with_config(AmqpConfig::default())
    }

    pub fn with_config(config: AmqpConfig) -> Self {
        let broker = Arc::new(FakeBroker::default());
        Self::with_broker(broker.clone(), broker, config)
    }

    /// A client of `core`; `fake` only serves the accessors of fake-core tests.
    pub fn with_broker(core: Arc<dyn Broker>, broker: Arc<FakeBroker>, config: AmqpConfig) -> Self {
        let waker = Arc::new(CountingWaker::default());
        let factory = AmqpSessionFactory::new(core, config);
        let peer = PeerInfo {
            certificate_login: None,
            remote: "127.0.0.1:40000".parse().unwrap(),
            local: "127.0.0.1:5672".parse().unwrap(),
        };
        let session = factory.new_session(peer, waker.clone());
        Self {
            session,
            broker,
            waker,
            output: BytesMut::new(),
            now: Instant::now(),
            status: SessionStatus::Continue,
        }
    }

    pub fn vhost(&self) -> &FakeVHost {
        &self.broker.vhost
    }

    /// Sends raw bytes, then runs a wake, returning every frame written.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Vec<AMQPFrame> {
        let mut input = BytesMut::from(bytes);
        self.status = self
            .session
            .on_input(&mut input, &mut self.output, self.now);
        self.wake()
    }

    pub fn send(&mut self, frames: &[AMQPFrame]) -> Vec<AMQPFrame> {
        self.send_raw(&encode(frames))
    }

    pub fn wake(&mut self) -> Vec<AMQPFrame> {
        if self.status == SessionStatus::Continue {
            self.status = self.session.on_wake(&mut self.output, self.now);
        }
        self.take_output()
    }

    pub fn take_output(&mut self) -> Vec<AMQPFrame> {
        let bytes = self.output.split();
        if !bytes.is_empty() {
            self.session.on_drained();
        }
        decode_all(&bytes)
    }

    pub fn advance(&mut self, by: Duration) -> Vec<AMQPFrame> {
        self.now += by;
        self.status = self.session.on_tick(&mut self.output, self.now);
        self.take_output()
    }

    pub fn handshake_frames(
        &mut self,
        mechanism: &str,
        response: Vec<u8>,
        vhost: &str,
    ) -> Vec<AMQPFrame> {
        let start = self.send_raw(b"AMQP\x00\x00\x09\x01");
        assert!(matches!(
            start.as_slice(),
            [AMQPFrame::Method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Start(_))
            )]
        ));
        let mut caps = FieldTable::default();
        caps.insert(s("consumer_cancel_notify"), AMQPValue::Boolean(true));
        let mut props = FieldTable::default();
        props.insert(s("capabilities"), AMQPValue::FieldTable(caps));
        let start_ok = connection::StartOk {
            client_properties: props,
            mechanism: s(mechanism),
            response: LongString::from(response),
            locale: s("en_US"),
        };
        let tune = self.send(&[method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)),
        )]);
        if !matches!(
            tune.as_slice(),
            [AMQPFrame::Method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Tune(_))
            )]
        ) {
            return tune;
        }
        let tune_ok = connection::TuneOk {
            channel_max: 0,
            frame_max: 0,
            heartbeat: 10,
        };
        let open = connection::Open {
            virtual_host: s(vhost),
        };
        self.send(&[
            method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
            ),
            method(0, AMQPClass::Connection(connection::AMQPMethod::Open(open))),
        ])
    }

    /// Connects as guest to `/` and opens channel 1.
    pub fn connected() -> Self {
        let mut c = Self::new();
        c.connect();
        c
    }

    pub fn connect(&mut self) {
        let open = self.handshake_frames("PLAIN", b"\0guest\0guest".to_vec(), "/");
        assert!(
            matches!(
                open.as_slice(),
                [AMQPFrame::Method(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))
                )]
            ),
            "{open:?}"
        );
        let ok = self.send(&[method(
            1,
            AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
        )]);
        assert!(matches!(
            ok.as_slice(),
            [AMQPFrame::Method(
                1,
                AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))
            )]
        ));
    }

    pub fn declare(&mut self, ch: u16, name: &str) -> Vec<AMQPFrame> {
        let d = queue::Declare {
            queue: s(name),
            ..Default::default()
        };
        self.send(&[method(ch, AMQPClass::Queue(queue::AMQPMethod::Declare(d)))])
    }

    pub fn consume(&mut self, ch: u16, queue: &str, tag: &str, no_ack: bool) -> Vec<AMQPFrame> {
        let c = basic::Consume {
            queue: s(queue),
            consumer_tag: s(tag),
            no_ack,
            ..Default::default()
        };
        self.send(&[method(ch, AMQPClass::Basic(basic::AMQPMethod::Consume(c)))])
    }
}

pub fn publish_frames(
    ch: u16,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: basic::AMQPProperties,
    mandatory: bool,
) -> Vec<AMQPFrame> {
    let p = basic::Publish {
        exchange: s(exchange),
        routing_key: s(key),
        mandatory,
        immediate: false,
    };
    let mut frames = vec![
        method(ch, AMQPClass::Basic(basic::AMQPMethod::Publish(p))),
        AMQPFrame::Header(
            ch,
            AMQPContentHeader {
                class_id: 60,
                body_size: body.len() as u64,
                properties: props,
            },
        ),
    ];
    if !body.is_empty() {
        frames.push(AMQPFrame::Body(ch, body.to_vec()));
    }
    frames
}

pub fn publish(ch: u16, exchange: &str, key: &str, body: &[u8]) -> Vec<AMQPFrame> {
    publish_frames(
        ch,
        exchange,
        key,
        body,
        basic::AMQPProperties::default(),
        false,
    )
}

/// The reply code of a channel.close or connection.close among `frames`.
pub fn close_code(frames: &[AMQPFrame]) -> Option<(u16, String)> {
    frames.iter().find_map(|f| match f {
        AMQPFrame::Method(_, AMQPClass::Channel(channel::AMQPMethod::Close(c))) => {
            Some((c.reply_code, c.reply_text.to_string()))
        }
        AMQPFrame::Method(_, AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
            Some((c.reply_code, c.reply_text.to_string()))
        }
        _ => None,
    })
}

pub fn is_connection_close(frames: &[AMQPFrame]) -> bool {
    frames.iter().any(|f| {
        matches!(
            f,
            AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(_)))
        )
    })
}

pub fn is_channel_close(frames: &[AMQPFrame]) -> bool {
    frames.iter().any(|f| {
        matches!(
            f,
            AMQPFrame::Method(_, AMQPClass::Channel(channel::AMQPMethod::Close(_)))
        )
    })
}
