//! Hard and soft errors as RabbitMQ reports them, and hostile input.

mod common;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, channel, connection, exchange, AMQPClass};
use common::*;
use warren_amqp::AmqpConfig;
use warren_model::SessionStatus;

#[test]
fn a_method_on_an_unopened_channel_is_504() {
    let mut c = Client::connected();
    let frames = c.declare(7, "q");
    assert!(is_connection_close(&frames));
    assert_eq!(
        close_code(&frames),
        Some((504, "CHANNEL_ERROR - expected 'channel.open'".into()))
    );
}

#[test]
fn a_channel_above_channel_max_is_refused() {
    let mut c = Client::connected();
    let frames = c.send(&[method(
        4000,
        AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )]);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(530));
}

#[test]
fn frames_after_connection_close_are_discarded_until_close_ok() {
    let mut c = Client::connected();
    c.declare(7, "q");
    assert!(c.declare(1, "q").is_empty());
    assert_eq!(c.status, SessionStatus::Continue);
    c.send(&[method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
    )]);
    assert_eq!(c.status, SessionStatus::Close);
}

#[test]
fn a_missing_close_ok_times_out() {
    let mut c = Client::connected();
    c.declare(7, "q");
    c.advance(std::time::Duration::from_secs(5));
    assert_eq!(c.status, SessionStatus::Close);
}

/// A passive declare of an exchange that does not exist: a soft error (404) on channel 1.
fn declare_missing_exchange() -> AMQPFrame {
    let d = exchange::Declare {
        exchange: s("nope"),
        kind: s("direct"),
        passive: true,
        ..Default::default()
    };
    method(1, AMQPClass::Exchange(exchange::AMQPMethod::Declare(d)))
}

#[test]
fn soft_errors_close_only_the_channel_and_it_reopens() {
    let mut c = Client::connected();
    let frames = c.send(&[declare_missing_exchange()]);
    let [AMQPFrame::Method(1, AMQPClass::Channel(channel::AMQPMethod::Close(close)))] =
        frames.as_slice()
    else {
        panic!("{frames:?}");
    };
    assert_eq!(close.reply_code, 404);
    assert_eq!((close.class_id, close.method_id), (40, 10));
    // discarded while closing
    assert!(c.declare(1, "q").is_empty());
    c.send(&[method(
        1,
        AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
    )]);
    let ok = c.send(&[method(
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

#[test]
fn a_reused_consumer_tag_is_530() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.consume(1, "q", "t", false);
    let frames = c.consume(1, "q", "t", false);
    assert!(is_connection_close(&frames));
    assert_eq!(close_code(&frames).map(|c| c.0), Some(530));
}

#[test]
fn qos_with_prefetch_size_is_not_implemented() {
    let mut c = Client::connected();
    // basic.qos with prefetch-size 1 (amq-protocol cannot encode it)
    let mut payload = vec![0, 60, 0, 10, 0, 0, 0, 1, 0, 10, 0];
    let mut frame = vec![1, 0, 1];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.append(&mut payload);
    frame.push(0xCE);
    let frames = c.send_raw(&frame);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(540));
    let qos = basic::Qos {
        prefetch_count: 10,
        global: false,
    };
    let mut c = Client::connected();
    let frames = c.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Qos(qos)))]);
    assert!(matches!(
        frames.as_slice(),
        [AMQPFrame::Method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::QosOk(_))
        )]
    ));
}

#[test]
fn recover_without_requeue_is_not_implemented() {
    let mut c = Client::connected();
    let r = basic::Recover { requeue: false };
    let frames = c.send(&[method(1, AMQPClass::Basic(basic::AMQPMethod::Recover(r)))]);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(540));
}

#[test]
fn garbage_bytes_are_a_frame_error() {
    let mut c = Client::connected();
    let frames = c.send_raw(b"\x42garbage-garbage");
    assert_eq!(close_code(&frames).map(|c| c.0), Some(501));
    assert_eq!(c.status, SessionStatus::Close);
}

#[test]
fn an_oversized_frame_is_refused_from_its_header() {
    let mut c = Client::connected();
    // only the 7-octet header of a 1 GiB frame
    let frames = c.send_raw(&[1, 0, 1, 0x40, 0, 0, 0]);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(501));
    assert_eq!(c.status, SessionStatus::Close);
}

fn nested_declare(levels: usize) -> Vec<u8> {
    // queue.declare: reserved, "q", bits, then the nested arguments table
    let mut payload = vec![0, 50, 0, 10, 0, 0, 1, b'q', 0];
    let total = 7 * (levels - 1) + 4;
    for level in 0..levels - 1 {
        payload.extend_from_slice(&((total - 7 * level - 4) as u32).to_be_bytes());
        payload.extend_from_slice(&[1, b'k', b'F']);
    }
    payload.extend_from_slice(&0u32.to_be_bytes());
    let mut frame = vec![1, 0, 1];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame.push(0xCE);
    frame
}

#[test]
fn deeply_nested_tables_are_refused_without_overflowing() {
    let mut c = Client::connected();
    let frames = c.send_raw(&nested_declare(18_000));
    assert_eq!(close_code(&frames).map(|c| c.0), Some(502));

    let config = AmqpConfig {
        frame_max: 0,
        ..AmqpConfig::default()
    };
    let mut c = Client::with_config(config);
    c.connect();
    let frames = c.send_raw(&nested_declare(100_000));
    assert_eq!(close_code(&frames).map(|c| c.0), Some(502));
}

#[test]
fn nested_headers_in_a_content_header_are_refused() {
    let mut c = Client::connected();
    let mut frames = encode(&publish(1, "", "q", b"")[..1]);
    // content header: class 60, weight 0, size 0, flags = headers, then a deep table
    let mut payload = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0];
    let levels = 1000;
    let total = 7 * (levels - 1) + 4;
    for level in 0..levels - 1 {
        payload.extend_from_slice(&((total - 7 * level - 4) as u32).to_be_bytes());
        payload.extend_from_slice(&[1, b'k', b'F']);
    }
    payload.extend_from_slice(&0u32.to_be_bytes());
    frames.extend_from_slice(&[2, 0, 1]);
    frames.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frames.extend_from_slice(&payload);
    frames.push(0xCE);
    let out = c.send_raw(&frames);
    assert_eq!(close_code(&out).map(|c| c.0), Some(502));
}

#[test]
fn a_body_without_a_publish_is_unexpected() {
    let mut c = Client::connected();
    let frames = c.send(&[AMQPFrame::Body(1, b"x".to_vec())]);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(505));
}

#[test]
fn shutdown_says_connection_forced() {
    let mut c = Client::connected();
    let status = c.session.on_shutdown(&mut c.output);
    assert_eq!(status, SessionStatus::Close);
    let frames = c.take_output();
    assert_eq!(close_code(&frames).map(|c| c.0), Some(320));
}

/// The reply code, and the class and method ids, of the `connection.close` among `frames`.
fn connection_close(frames: &[AMQPFrame]) -> Option<(u16, u16, u16)> {
    frames.iter().find_map(|f| match f {
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
            Some((c.reply_code, c.class_id, c.method_id))
        }
        _ => None,
    })
}

fn publish_method(ch: u16) -> AMQPFrame {
    method(
        ch,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: s(""),
            routing_key: s("q"),
            mandatory: false,
            immediate: false,
        })),
    )
}

#[test]
fn a_publish_on_an_unopened_channel_is_504_naming_basic_publish() {
    let mut c = Client::connected();
    let frames = c.send(&[publish_method(9)]);
    assert_eq!(connection_close(&frames), Some((504, 60, 40)));
}

#[test]
fn a_publish_on_channel_zero_is_504() {
    let mut c = Client::connected();
    let frames = c.send(&[publish_method(0)]);
    assert_eq!(connection_close(&frames), Some((504, 60, 40)));
}

#[test]
fn a_publish_above_channel_max_is_530() {
    let mut c = Client::connected();
    let frames = c.send(&[publish_method(4000)]);
    assert_eq!(connection_close(&frames), Some((530, 60, 40)));
}

#[test]
fn a_publish_while_content_is_awaited_is_505() {
    let mut c = Client::connected();
    let frames = c.send(&[publish_method(1), publish_method(1)]);
    assert_eq!(connection_close(&frames), Some((505, 60, 40)));
}

#[test]
fn a_publish_on_a_closing_channel_is_discarded() {
    let mut c = Client::connected();
    let closing = c.send(&[declare_missing_exchange()]);
    assert!(is_channel_close(&closing), "{closing:?}");
    assert!(c.send(&publish(1, "", "q", b"late")).is_empty());
    assert!(c.vhost().publishes().is_empty(), "nothing was published");
}
