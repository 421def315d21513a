//! The hand-rolled frames are checked against Warren's own decoder (amq-protocol inside), and
//! the parser against frames that decoder's encoder writes.

use amq_protocol::protocol::{basic, confirm, connection, queue, AMQPClass};
use warren_amqp::codec::{self, Frame as Decoded};
use warren_model::DeliveryMode;

use super::*;

fn decode_all(mut bytes: BytesMut) -> Vec<Decoded> {
    let mut frames = Vec::new();
    while let Some(frame) = codec::decode(&mut bytes, 131_072).expect("Warren decodes it") {
        frames.push(frame);
    }
    assert!(bytes.is_empty(), "trailing bytes");
    frames
}

fn methods(bytes: BytesMut) -> Vec<AMQPClass> {
    decode_all(bytes)
        .into_iter()
        .map(|f| match f {
            Decoded::Method { method, .. } => *method,
            other => panic!("not a method: {other:?}"),
        })
        .collect()
}

#[test]
fn handshake_methods_decode() {
    let mut out = BytesMut::new();
    start_ok(&mut out, "guest", "secret");
    tune_ok(&mut out, 2047, 131_072);
    open(&mut out, "/");
    let m = methods(out);
    let AMQPClass::Connection(connection::AMQPMethod::StartOk(s)) = &m[0] else {
        panic!("{m:?}")
    };
    assert_eq!(s.mechanism.as_str(), "PLAIN");
    assert_eq!(s.response.as_bytes(), b"\0guest\0secret");
    let AMQPClass::Connection(connection::AMQPMethod::TuneOk(t)) = &m[1] else {
        panic!("{m:?}")
    };
    assert_eq!(
        (t.channel_max, t.frame_max, t.heartbeat),
        (2047, 131_072, 0)
    );
    let AMQPClass::Connection(connection::AMQPMethod::Open(o)) = &m[2] else {
        panic!("{m:?}")
    };
    assert_eq!(o.virtual_host.as_str(), "/");
}

#[test]
fn channel_methods_decode() {
    let mut out = BytesMut::new();
    channel_open(&mut out, 1);
    confirm_select(&mut out, 1);
    qos(&mut out, 1, 100);
    let flags = QueueFlags {
        durable: true,
        exclusive: false,
        auto_delete: true,
    };
    queue_declare(&mut out, 1, "q1", flags);
    queue_bind(&mut out, 1, "q1", "amq.topic", "a.b");
    consume(&mut out, 1, "q1", true);
    ack(&mut out, 1, 42, true);
    let m = methods(out);
    assert!(matches!(
        m[1],
        AMQPClass::Confirm(confirm::AMQPMethod::Select(_))
    ));
    let AMQPClass::Basic(basic::AMQPMethod::Qos(q)) = &m[2] else {
        panic!("{m:?}")
    };
    assert_eq!(q.prefetch_count, 100);
    let AMQPClass::Queue(queue::AMQPMethod::Declare(d)) = &m[3] else {
        panic!("{m:?}")
    };
    assert_eq!(
        (d.queue.as_str(), d.durable, d.exclusive, d.auto_delete),
        ("q1", true, false, true)
    );
    let AMQPClass::Queue(queue::AMQPMethod::Bind(b)) = &m[4] else {
        panic!("{m:?}")
    };
    assert_eq!(
        (b.exchange.as_str(), b.routing_key.as_str()),
        ("amq.topic", "a.b")
    );
    let AMQPClass::Basic(basic::AMQPMethod::Consume(c)) = &m[5] else {
        panic!("{m:?}")
    };
    assert!(c.no_ack);
    let AMQPClass::Basic(basic::AMQPMethod::Ack(a)) = &m[6] else {
        panic!("{m:?}")
    };
    assert_eq!((a.delivery_tag, a.multiple), (42, true));
}

#[test]
fn publish_splits_the_body_at_frame_max() {
    let mut out = publish_prefix(1, "amq.topic", "k", true, 300);
    stamped_body(&mut out, 1, 300, 77, 108);
    let frames = decode_all(out);
    assert_eq!(frames.len(), 5, "method, header, three body frames of 100");
    let Decoded::Publish { publish: p, .. } = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (p.exchange.as_str(), p.routing_key.as_str()),
        ("amq.topic", "k")
    );
    let Decoded::Header { header, .. } = &frames[1] else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (header.body_size, header.properties.delivery_mode),
        (300, Some(DeliveryMode::Persistent))
    );
    let Decoded::Body { payload, .. } = &frames[2] else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (payload.len(), crate::payload::stamp(payload)),
        (100, Some(77))
    );
}

#[test]
fn parser_reads_what_warren_writes() {
    let mut out = BytesMut::new();
    let mut writer = codec::FrameWriter::default();
    let deliver = basic::Deliver {
        consumer_tag: "ctag".into(),
        delivery_tag: 9,
        redelivered: false,
        exchange: "".into(),
        routing_key: "q".into(),
    };
    writer
        .method(
            &mut out,
            1,
            AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)),
        )
        .unwrap();
    writer
        .content(&mut out, 1, &Default::default(), b"0123456789", 131_072)
        .unwrap();
    let (frame, used) = parse(&out).unwrap().unwrap();
    let Frame::Method(1, DELIVER, args) = frame else {
        panic!("{frame:?}")
    };
    let mut c = Cursor(args);
    assert_eq!((c.shortstr().unwrap(), c.u64().unwrap()), ("ctag", 9));
    let rest = &out[used..];
    let (frame, used2) = parse(rest).unwrap().unwrap();
    assert_eq!(frame, Frame::Header(1, 10));
    assert_eq!(
        parse(&rest[used2..]).unwrap().unwrap().0,
        Frame::Body(1, b"0123456789")
    );
}

#[test]
fn parser_waits_for_whole_frames_and_refuses_bad_ends() {
    let mut out = BytesMut::new();
    ack(&mut out, 1, 1, false);
    for cut in 0..out.len() {
        assert_eq!(parse(&out[..cut]).unwrap(), None, "cut at {cut}");
    }
    let last = out.len() - 1;
    out[last] = 0;
    assert!(parse(&out).is_err());
}
