//! `basic.deliver` is written by hand on the delivery path; amq-protocol writes every other
//! method. The bytes must be amq-protocol's for every input, long names cut to 255 octets at a
//! character boundary as every other short string Warren sends.

mod common;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, AMQPClass};
use bytes::BytesMut;
use common::{encode, s};
use warren_amqp::codec::{self, DeliverFields, Frame, FrameWriter};
use warren_amqp::convert::short;

/// What amq-protocol writes for the same delivery, its strings cut as `short` cuts them.
fn reference(channel: u16, d: &DeliverFields<'_>) -> Vec<u8> {
    let method = basic::Deliver {
        consumer_tag: short(d.consumer_tag),
        delivery_tag: d.delivery_tag,
        redelivered: d.redelivered,
        exchange: short(d.exchange),
        routing_key: short(d.routing_key),
    };
    let class = AMQPClass::Basic(basic::AMQPMethod::Deliver(method));
    encode(&[AMQPFrame::Method(channel, class)])
}

fn written(channel: u16, d: &DeliverFields<'_>) -> BytesMut {
    let mut out = BytesMut::from(&b"before"[..]);
    FrameWriter::deliver(&mut out, channel, d);
    assert_eq!(&out[..6], b"before", "appended, not overwritten");
    out.split_off(6)
}

#[test]
fn deliveries_are_written_as_amq_protocol_writes_them() {
    let long_ascii = "k".repeat(300);
    let long_accented = "\u{e9}".repeat(200);
    let names = [
        "",
        "amq.topic",
        "x",
        "r\u{e9}sum\u{e9}",
        &long_ascii,
        &long_accented,
    ];
    for (i, name) in names.iter().enumerate() {
        for (channel, delivery_tag, redelivered) in [(1, 1, false), (65_535, u64::MAX, true)] {
            let d = DeliverFields {
                consumer_tag: names[(i + 1) % names.len()],
                delivery_tag,
                redelivered,
                exchange: name,
                routing_key: names[(i + 2) % names.len()],
            };
            assert_eq!(
                &written(channel, &d)[..],
                &reference(channel, &d)[..],
                "{d:?}"
            );
        }
    }
}

#[test]
fn a_written_delivery_decodes_back() {
    let d = DeliverFields {
        consumer_tag: "ctag-1",
        delivery_tag: 42,
        redelivered: true,
        exchange: "amq.direct",
        routing_key: "a.b",
    };
    let mut out = written(7, &d);
    let Ok(Some(Frame::Method {
        channel, method, ..
    })) = codec::decode(&mut out, 131_072)
    else {
        panic!("not a method frame");
    };
    assert_eq!(channel, 7);
    let AMQPClass::Basic(basic::AMQPMethod::Deliver(back)) = *method else {
        panic!("not basic.deliver: {method:?}");
    };
    assert_eq!(back.consumer_tag, s("ctag-1"));
    assert_eq!(back.delivery_tag, 42);
    assert!(back.redelivered);
    assert_eq!(back.exchange, s("amq.direct"));
    assert_eq!(back.routing_key, s("a.b"));
    assert!(out.is_empty(), "one whole frame");
}
