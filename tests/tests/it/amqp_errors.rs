//! Error scoping: soft errors (403, 404, 405, 406) close only their channel while the
//! connection and its other channels keep working; unknown or repeated delivery tags are 406;
//! misuse of channels and frames is a connection error.

use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ExchangeKind};
use warren_it::raw::{self, Args, Open, Raw};
use warren_it::{
    assert_usable, body, channel, confirm_channel, declare_queue, next_delivery, publish,
    reply_code, target, unique, Target, DEADLINE,
};

#[derive(Clone, Copy, Debug)]
enum Fault {
    NotFound,
    ResourceLocked,
    PreconditionFailed,
    AccessRefused,
}

async fn provoke(fault: Fault, ch: &Channel, t: &Target) -> lapin::Error {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let res = match fault {
        Fault::NotFound => ch
            .queue_declare(
                unique("missing").as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await
            .map(drop),
        Fault::ResourceLocked => {
            let owner = t.connect().await;
            let q = unique("locked");
            let exclusive = QueueDeclareOptions {
                exclusive: true,
                ..QueueDeclareOptions::default()
            };
            channel(&owner)
                .await
                .queue_declare(q.as_str().into(), exclusive, FieldTable::default())
                .await
                .expect("exclusive declare");
            let res = ch
                .queue_declare(q.as_str().into(), passive, FieldTable::default())
                .await
                .map(drop);
            let _ = owner.close(200, "bye".into()).await;
            res
        }
        Fault::PreconditionFailed => {
            let q = unique("equiv");
            declare_queue(ch, &q).await;
            let durable = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            ch.queue_declare(q.as_str().into(), durable, FieldTable::default())
                .await
                .map(drop)
        }
        Fault::AccessRefused => {
            ch.exchange_declare(
                format!("amq.{}", unique("x")).as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
        }
    };
    res.expect_err("the fault must fail")
}

/// A bystander channel consuming its own queue, to prove it survives a sibling's error.
async fn bystander(conn: &Connection) -> (Channel, String, lapin::Consumer) {
    let ch = confirm_channel(conn).await;
    let q = unique("bystander");
    declare_queue(&ch, &q).await;
    let consumer = ch
        .basic_consume(
            q.as_str().into(),
            "bystander".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    (ch, q, consumer)
}

async fn only_the_channel_closes(fault: Fault, code: u16) {
    let t = target();
    let conn = t.connect().await;
    let (by_ch, by_q, mut by_consumer) = bystander(&conn).await;
    let victim = channel(&conn).await;
    let err = provoke(fault, &victim, &t).await;
    assert_eq!(reply_code(&err), Some(code), "{fault:?}: {err:?}");
    assert!(err.is_amqp_soft_error(), "{fault:?} is a channel error");
    assert!(
        !victim.status().connected(),
        "the failing channel is closed"
    );
    assert!(conn.status().connected(), "the connection stays open");
    publish(&by_ch, "", &by_q, b"still here").await;
    assert_eq!(body(&next_delivery(&mut by_consumer).await), "still here");
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_closes_only_the_channel() {
    only_the_channel_closes(Fault::NotFound, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_locked_closes_only_the_channel() {
    only_the_channel_closes(Fault::ResourceLocked, 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precondition_failed_closes_only_the_channel() {
    only_the_channel_closes(Fault::PreconditionFailed, 406).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_refused_closes_only_the_channel() {
    only_the_channel_closes(Fault::AccessRefused, 403).await;
}

/// A raw connection with channel 1 open and a queue holding one message.
fn raw_with_message(t: &Target) -> (Raw, String) {
    let mut raw = Raw::open(t.addr(), &Open::default());
    raw.open_channel(1);
    let q = unique("rawq");
    raw.send(&raw::queue_declare(1, &q, &raw::table(&[])))
        .expect("declare");
    let _ = raw.read_method(DEADLINE);
    raw.send(&raw::publish(1, "", &q, b"one")).expect("publish");
    (raw, q)
}

/// Channel 1 is closed with `code` blaming `method`; `fresh` (unused so far) and channel 1
/// itself then open again on the same connection.
fn assert_channel_1_closed(raw: &mut Raw, code: u16, method: (u16, u16), fresh: u16) {
    let close = raw.read_channel_close(1);
    assert_eq!(close.reply_code, code, "{close:?}");
    assert_eq!(
        (close.class_id, close.method_id),
        method,
        "blames the method"
    );
    raw.open_channel(fresh);
    raw.open_channel(1);
}

#[test]
fn ack_of_an_unknown_delivery_tag_is_precondition_failed() {
    let t = target();
    let (mut raw, _q) = raw_with_message(&t);
    raw.send(&raw::basic_ack(1, 42, false)).expect("ack");
    assert_channel_1_closed(&mut raw, 406, (60, 80), 2);
}

#[test]
fn acking_a_delivery_twice_is_precondition_failed() {
    let t = target();
    let (mut raw, q) = raw_with_message(&t);
    raw.send(&raw::basic_get(1, &q, false)).expect("get");
    let (_, get_ok) = raw.read_method(DEADLINE);
    let tag = match get_ok {
        amq_protocol::protocol::AMQPClass::Basic(
            amq_protocol::protocol::basic::AMQPMethod::GetOk(ok),
        ) => ok.delivery_tag,
        other => panic!("expected get-ok, got {other:?}"),
    };
    raw.send(&raw::basic_ack(1, tag, false)).expect("ack");
    raw.send(&raw::basic_ack(1, tag, false)).expect("ack again");
    assert_channel_1_closed(&mut raw, 406, (60, 80), 2);
}

#[test]
fn nack_and_reject_of_unknown_tags_are_precondition_failed() {
    let t = target();
    let (mut raw, _q) = raw_with_message(&t);
    let nack = Args::new().u64(7).bits(&[false, true]);
    raw.send(&raw::method(1, 60, 120, nack)).expect("nack");
    assert_channel_1_closed(&mut raw, 406, (60, 120), 2);
    let reject = Args::new().u64(7).bits(&[true]);
    raw.send(&raw::method(1, 60, 90, reject)).expect("reject");
    assert_channel_1_closed(&mut raw, 406, (60, 90), 3);
}

#[test]
fn using_a_channel_that_was_never_opened_is_a_connection_error() {
    let t = target();
    let mut raw = Raw::open(t.addr(), &Open::default());
    raw.send(&raw::queue_declare(5, &unique("q"), &raw::table(&[])))
        .expect("declare on an unopened channel");
    let ending = raw.wait_closed(DEADLINE);
    let close = ending
        .close
        .clone()
        .unwrap_or_else(|| panic!("no connection.close: {ending:?}"));
    assert_eq!(close.reply_code, 504, "CHANNEL_ERROR: {close:?}");
    assert!(ending.eof);
}

#[test]
fn content_without_a_publish_is_unexpected_frame() {
    let t = target();
    let mut raw = Raw::open(t.addr(), &Open::default());
    raw.open_channel(1);
    raw.send(&raw::frame(raw::FRAME_BODY, 1, b"orphan body"))
        .expect("stray body");
    let ending = raw.wait_closed(DEADLINE);
    let close = ending
        .close
        .clone()
        .unwrap_or_else(|| panic!("no connection.close: {ending:?}"));
    assert_eq!(close.reply_code, 505, "UNEXPECTED_FRAME: {close:?}");
    assert!(ending.eof);
}

#[test]
fn opening_an_open_channel_is_a_connection_error() {
    let t = target();
    let mut raw = Raw::open(t.addr(), &Open::default());
    raw.open_channel(1);
    raw.send(&raw::method(1, 20, 10, Args::new().short("")))
        .expect("second channel.open");
    let close = raw.wait_closed(DEADLINE).close.expect("connection.close");
    assert_eq!(close.reply_code, 504, "CHANNEL_ERROR: {close:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_error_does_not_affect_other_connections() {
    let t = target();
    let survivor = t.connect().await;
    let (by_ch, by_q, mut by_consumer) = bystander(&survivor).await;
    let doomed = t.connect().await;
    let ch = channel(&doomed).await;
    let own_q = unique("doomed");
    declare_queue(&ch, &own_q).await;
    let dup = ch
        .basic_consume(
            own_q.as_str().into(),
            "tag".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert!(dup.is_ok());
    let err = ch
        .basic_consume(
            own_q.as_str().into(),
            "tag".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("duplicate consumer tag");
    assert!(err.is_amqp_hard_error(), "{err:?}");
    publish(&by_ch, "", &by_q, b"unaffected").await;
    let d = next_delivery(&mut by_consumer).await;
    assert_eq!(body(&d), "unaffected");
    assert_usable(&survivor).await;
}

#[test]
fn unknown_class_is_a_connection_error() {
    let t = target();
    let mut raw = Raw::open(t.addr(), &Open::default());
    raw.open_channel(1);
    raw.send(&raw::method(1, 999, 10, Args::new()))
        .expect("send");
    let ending = raw.wait_closed(DEADLINE);
    assert!(ending.eof, "the connection ends");
    if let Some(close) = ending.close {
        assert!(close.reply_code >= 500, "a hard error: {close:?}");
    }
}
