//! The main path against the real core: handshake, declare, bind, publish with confirms,
//! consume with prefetch, ack, and requeue when the connection goes.

mod common;

use std::sync::Arc;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, confirm, exchange, queue, AMQPClass};
use common::*;
use warren_amqp::AmqpConfig;
use warren_core::{Core, CoreConfig};

fn client() -> Client {
    let core = Core::new(CoreConfig::default());
    let mut c = Client::with_broker(core, Arc::new(FakeBroker::default()), AmqpConfig::default());
    c.connect();
    c
}

fn delivered_tags(frames: &[AMQPFrame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match f {
            AMQPFrame::Method(_, AMQPClass::Basic(basic::AMQPMethod::Deliver(d))) => {
                Some(d.delivery_tag)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn publish_through_a_direct_exchange_with_confirms_and_prefetch() {
    let mut c = client();
    let ex = exchange::Declare {
        exchange: s("ex"),
        kind: s("direct"),
        ..Default::default()
    };
    let frames = c.send(&[method(
        1,
        AMQPClass::Exchange(exchange::AMQPMethod::Declare(ex)),
    )]);
    assert!(
        matches!(
            frames.as_slice(),
            [AMQPFrame::Method(
                1,
                AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(_))
            )]
        ),
        "{frames:?}"
    );
    c.declare(1, "q");
    let bind = queue::Bind {
        queue: s("q"),
        exchange: s("ex"),
        routing_key: s("k"),
        ..Default::default()
    };
    c.send(&[method(1, AMQPClass::Queue(queue::AMQPMethod::Bind(bind)))]);
    c.send(&[method(
        1,
        AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
            nowait: false,
        })),
    )]);
    let mut frames = Vec::new();
    for i in 0..5u8 {
        frames.extend(publish(1, "ex", "k", &[i]));
    }
    let acks = c.send(&frames);
    assert!(
        matches!(acks.as_slice(), [AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a)))] if a.delivery_tag == 5 && a.multiple),
        "{acks:?}"
    );

    let qos = basic::Qos {
        prefetch_count: 2,
        global: false,
    };
    c.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Qos(qos)))]);
    let first = c.consume(1, "q", "t", false);
    assert_eq!(delivered_tags(&first), vec![1, 2], "prefetch 2");
    let ack = basic::Ack {
        delivery_tag: 2,
        multiple: true,
    };
    let more = c.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(ack)))]);
    assert_eq!(delivered_tags(&more), vec![3, 4]);
}

#[test]
fn missing_queue_closes_the_channel_with_rabbitmq_text() {
    let mut c = client();
    let get = basic::Get {
        queue: s("nope"),
        no_ack: true,
    };
    let frames = c.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Get(get)))]);
    let (code, text) = close_code(&frames).unwrap();
    assert_eq!(code, 404);
    assert_eq!(text, "NOT_FOUND - no queue 'nope' in vhost '/'");
}

#[test]
fn unacked_messages_return_when_the_connection_goes() {
    let core = Core::new(CoreConfig::default());
    let mut c = Client::with_broker(
        core.clone(),
        Arc::new(FakeBroker::default()),
        AmqpConfig::default(),
    );
    c.connect();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", b"x"));
    assert_eq!(delivered_tags(&c.consume(1, "q", "t", false)), vec![1]);
    c.session.on_close();
    let mut other =
        Client::with_broker(core, Arc::new(FakeBroker::default()), AmqpConfig::default());
    other.connect();
    let get = basic::Get {
        queue: s("q"),
        no_ack: true,
    };
    let frames = other.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Get(get)))]);
    assert!(
        matches!(&frames[0], AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::GetOk(ok))) if ok.redelivered),
        "{frames:?}"
    );
}
