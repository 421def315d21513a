//! The main path: declare, publish, consume, deliver, ack, get, requeue on close.

mod common;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, channel, queue, AMQPClass};
use common::*;
use warren_model::QueueHandle;

fn deliveries(frames: &[AMQPFrame]) -> Vec<(basic::Deliver, Vec<u8>)> {
    let mut out = Vec::new();
    let mut iter = frames.iter().peekable();
    while let Some(f) = iter.next() {
        if let AMQPFrame::Method(_, AMQPClass::Basic(basic::AMQPMethod::Deliver(d))) = f {
            let mut body = Vec::new();
            let Some(AMQPFrame::Header(_, h)) = iter.next() else {
                panic!("no header")
            };
            while (body.len() as u64) < h.body_size {
                let Some(AMQPFrame::Body(_, b)) = iter.next() else {
                    panic!("no body")
                };
                body.extend_from_slice(b);
            }
            out.push((d.clone(), body));
        }
    }
    out
}

fn ack(ch: u16, tag: u64, multiple: bool) -> AMQPFrame {
    method(
        ch,
        AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
            delivery_tag: tag,
            multiple,
        })),
    )
}

#[test]
fn declare_publish_consume_ack() {
    let mut c = Client::connected();
    let ok = c.declare(1, "q");
    assert!(
        matches!(ok.as_slice(), [AMQPFrame::Method(1, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(d)))] if d.queue.as_str() == "q")
    );
    assert!(c.send(&publish(1, "", "q", b"hello")).is_empty());
    let frames = c.consume(1, "q", "", false);
    let Some(AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)))) =
        frames.first()
    else {
        panic!("{frames:?}");
    };
    assert!(ok.consumer_tag.as_str().starts_with("amq.ctag-"));
    let got = deliveries(&frames);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.delivery_tag, 1);
    assert_eq!(got[0].0.routing_key.as_str(), "q");
    assert_eq!(got[0].1, b"hello");
    assert!(c.send(&[ack(1, 1, false)]).is_empty());
    assert_eq!(c.vhost().queue("q").unwrap().acked(), 1);
}

#[test]
fn bodies_larger_than_a_frame_are_split_and_joined() {
    let mut c = Client::connected();
    c.declare(1, "q");
    let body: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let mut frames = publish(1, "", "q", &[]);
    let AMQPFrame::Header(_, h) = &mut frames[1] else {
        unreachable!()
    };
    h.body_size = body.len() as u64;
    for chunk in body.chunks(100_000) {
        frames.push(AMQPFrame::Body(1, chunk.to_vec()));
    }
    c.send(&frames);
    let out = c.consume(1, "q", "t", true);
    let bodies: Vec<_> = out
        .iter()
        .filter(|f| matches!(f, AMQPFrame::Body(..)))
        .collect();
    assert!(bodies.len() >= 3, "split by frame_max");
    assert_eq!(deliveries(&out)[0].1, body);
}

#[test]
fn multiple_ack_and_tag_zero_settle_ranges() {
    let mut c = Client::connected();
    c.declare(1, "q");
    for i in 0..4u8 {
        c.send(&publish(1, "", "q", &[i]));
    }
    let got = deliveries(&c.consume(1, "q", "t", false));
    assert_eq!(got.len(), 4);
    c.send(&[ack(1, 2, true)]);
    assert_eq!(c.vhost().queue("q").unwrap().acked(), 2);
    c.send(&[ack(1, 0, true)]);
    assert_eq!(c.vhost().queue("q").unwrap().acked(), 4);
}

#[test]
fn unknown_and_double_acks_close_the_channel_with_406() {
    let mut c = Client::connected();
    let frames = c.send(&[ack(1, 99, false)]);
    assert_eq!(
        close_code(&frames),
        Some((406, "PRECONDITION_FAILED - unknown delivery tag 99".into()))
    );
    let AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Close(close))) = &frames[0]
    else {
        panic!()
    };
    assert_eq!((close.class_id, close.method_id), (60, 80));

    let mut c = Client::connected();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", b"x"));
    c.consume(1, "q", "t", false);
    assert!(c.send(&[ack(1, 1, false)]).is_empty());
    assert_eq!(
        close_code(&c.send(&[ack(1, 1, false)])).map(|c| c.0),
        Some(406)
    );
}

#[test]
fn nack_with_requeue_redelivers() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", b"x"));
    c.consume(1, "q", "t", false);
    let nack = basic::Nack {
        delivery_tag: 1,
        multiple: false,
        requeue: true,
    };
    let frames = c.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Nack(nack)))]);
    let again = deliveries(&frames);
    assert_eq!(again.len(), 1);
    assert!(again[0].0.redelivered);
    assert_eq!(again[0].0.delivery_tag, 2);
}

#[test]
fn get_returns_get_ok_then_get_empty() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", b"one"));
    let get = basic::Get {
        queue: s("q"),
        no_ack: false,
    };
    let frames = c.send(&[method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Get(get.clone())),
    )]);
    assert!(
        matches!(&frames[0], AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::GetOk(ok))) if ok.delivery_tag == 1 && ok.message_count == 0)
    );
    assert!(matches!(&frames[2], AMQPFrame::Body(1, b) if b == b"one"));
    let frames = c.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Get(get)))]);
    assert!(matches!(
        frames.as_slice(),
        [AMQPFrame::Method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::GetEmpty(_))
        )]
    ));
}

#[test]
fn closing_a_channel_requeues_its_unacked_messages() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", b"x"));
    c.consume(1, "q", "t", false);
    let close = channel::Close {
        reply_code: 200,
        reply_text: s("bye"),
        class_id: 0,
        method_id: 0,
    };
    let frames = c.send(&[method(
        1,
        AMQPClass::Channel(channel::AMQPMethod::Close(close)),
    )]);
    assert!(matches!(
        frames.as_slice(),
        [AMQPFrame::Method(
            1,
            AMQPClass::Channel(channel::AMQPMethod::CloseOk(_))
        )]
    ));
    let q = c.vhost().queue("q").unwrap();
    let ready = q.ready();
    assert_eq!(ready.len(), 1);
    assert!(ready[0].redelivered, "redelivered");
}

#[test]
fn connection_close_releases_everything() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", b"x"));
    c.consume(1, "q", "t", false);
    let close = amq_protocol::protocol::connection::Close {
        reply_code: 200,
        reply_text: s("bye"),
        class_id: 0,
        method_id: 0,
    };
    let frames = c.send(&[method(
        0,
        AMQPClass::Connection(amq_protocol::protocol::connection::AMQPMethod::Close(close)),
    )]);
    assert!(matches!(
        frames.as_slice(),
        [AMQPFrame::Method(
            0,
            AMQPClass::Connection(amq_protocol::protocol::connection::AMQPMethod::CloseOk(_))
        )]
    ));
    assert_eq!(c.status, warren_model::SessionStatus::Close);
    c.session.on_close();
    assert_eq!(c.vhost().queue("q").unwrap().message_count(), 1);
    assert_eq!(c.vhost().closed.lock().unwrap().len(), 1);
}

#[test]
fn server_cancel_is_sent_to_clients_that_asked() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.consume(1, "q", "t", false);
    let del = queue::Delete {
        queue: s("q"),
        ..Default::default()
    };
    let frames = c.send(&[method(1, AMQPClass::Queue(queue::AMQPMethod::Delete(del)))]);
    assert!(frames.iter().any(|f| matches!(f, AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Cancel(x))) if x.consumer_tag.as_str() == "t")), "{frames:?}");
}

#[test]
fn cancel_stops_deliveries() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.consume(1, "q", "t", true);
    let cancel = basic::Cancel {
        consumer_tag: s("t"),
        nowait: false,
    };
    let frames = c.send(&[method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel)),
    )]);
    assert!(matches!(
        frames.as_slice(),
        [AMQPFrame::Method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::CancelOk(_))
        )]
    ));
    assert!(c.send(&publish(1, "", "q", b"x")).is_empty());
    assert_eq!(c.vhost().queue("q").unwrap().message_count(), 1);
}

#[test]
fn nowait_declares_send_nothing() {
    let mut c = Client::connected();
    let d = queue::Declare {
        queue: s("q"),
        nowait: true,
        ..Default::default()
    };
    assert!(c
        .send(&[method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(d)))])
        .is_empty());
    assert!(c.vhost().queue("q").is_some());
}
