//! The bounded outbox and heartbeats.

mod common;

use std::time::Duration;

use amq_protocol::frame::AMQPFrame;
use common::*;
use warren_amqp::AmqpConfig;
use warren_model::{QueueHandle, SessionStatus};

#[test]
fn a_full_outbox_stops_reading_and_holds_queues_until_drained() {
    let config = AmqpConfig {
        max_outbox_bytes: 2048,
        ..AmqpConfig::default()
    };
    let mut c = Client::with_config(config);
    c.connect();
    c.declare(1, "q");
    for _ in 0..20 {
        c.send(&publish(1, "", "q", &[0u8; 1000]));
    }
    let first = c.consume(1, "q", "t", true);
    // the queue stopped at the outbox bound instead of pushing everything
    let q = c.vhost().queue("q").unwrap();
    assert!(q.message_count() > 10);
    let mut delivered = first
        .iter()
        .filter(|f| matches!(f, AMQPFrame::Body(..)))
        .count();
    for _ in 0..100 {
        let frames = c.wake();
        delivered += frames
            .iter()
            .filter(|f| matches!(f, AMQPFrame::Body(..)))
            .count();
        if delivered == 20 {
            break;
        }
    }
    assert_eq!(delivered, 20);
    assert_eq!(q.message_count(), 0);
}

#[test]
fn a_backlog_is_written_in_batches_not_all_at_once() {
    let mut c = Client::connected();
    c.declare(1, "q");
    for _ in 0..300 {
        c.send(&publish(1, "", "q", &[0u8; 1000]));
    }
    let bodies = |frames: &[AMQPFrame]| {
        frames
            .iter()
            .filter(|f| matches!(f, AMQPFrame::Body(..)))
            .count()
    };
    let mut batches = vec![bodies(&c.consume(1, "q", "t", true))];
    while batches.iter().sum::<usize>() < 300 && batches.len() < 100 {
        batches.push(bodies(&c.wake()));
    }
    assert_eq!(batches.iter().sum::<usize>(), 300, "{batches:?}");
    // 64 KiB of output is about 60 deliveries of 1000 B, plus the one that crossed the line.
    assert!(batches.iter().all(|&n| n <= 66), "{batches:?}");
    assert!(batches.len() >= 5, "{batches:?}");
}

#[test]
fn wants_input_is_false_while_output_is_not_drained() {
    let config = AmqpConfig {
        max_outbox_bytes: 1024,
        ..AmqpConfig::default()
    };
    let mut c = Client::with_config(config);
    c.connect();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", &[0u8; 4000]));
    let mut input = bytes::BytesMut::from(
        &encode(&[method(
            1,
            amq_protocol::protocol::AMQPClass::Basic(
                amq_protocol::protocol::basic::AMQPMethod::Consume(
                    amq_protocol::protocol::basic::Consume {
                        queue: s("q"),
                        consumer_tag: s("t"),
                        no_ack: true,
                        ..Default::default()
                    },
                ),
            ),
        )])[..],
    );
    c.session.on_input(&mut input, &mut c.output, c.now);
    c.session.on_wake(&mut c.output, c.now);
    assert!(!c.session.wants_input());
    c.take_output();
    assert!(c.session.wants_input());
}

#[test]
fn heartbeats_are_sent_at_half_the_interval() {
    let mut c = Client::connected();
    // the client asked for 10 s
    let frames = c.advance(Duration::from_secs(5));
    assert_eq!(frames, vec![AMQPFrame::Heartbeat]);
    assert_eq!(c.status, SessionStatus::Continue);
}

#[test]
fn a_silent_client_is_dropped_after_two_intervals() {
    let mut c = Client::connected();
    c.advance(Duration::from_secs(9));
    c.send(&[AMQPFrame::Heartbeat]);
    c.advance(Duration::from_secs(19));
    assert_eq!(c.status, SessionStatus::Continue);
    c.advance(Duration::from_secs(2));
    assert_eq!(c.status, SessionStatus::Close);
    assert!(c.session.next_deadline().is_none());
}

#[test]
fn a_stalled_handshake_times_out() {
    let mut c = Client::new();
    c.send_raw(b"AMQP\x00\x00\x09\x01");
    assert!(c.session.next_deadline().is_some());
    c.advance(Duration::from_secs(11));
    assert_eq!(c.status, SessionStatus::Close);
}
