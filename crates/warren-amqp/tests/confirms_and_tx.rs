//! Publisher confirms (coalesced acks, returns before acks) and transactions.

mod common;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, confirm, tx, AMQPClass};
use common::*;
use warren_model::QueueHandle;

fn select_confirms(c: &mut Client) {
    let sel = confirm::Select { nowait: false };
    let frames = c.send(&[method(
        1,
        AMQPClass::Confirm(confirm::AMQPMethod::Select(sel)),
    )]);
    assert!(matches!(
        frames.as_slice(),
        [AMQPFrame::Method(
            1,
            AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))
        )]
    ));
}

fn tx_method(m: tx::AMQPMethod) -> AMQPFrame {
    method(1, AMQPClass::Tx(m))
}

#[test]
fn a_batch_of_publishes_is_confirmed_with_one_multiple_ack() {
    let mut c = Client::connected();
    c.declare(1, "q");
    select_confirms(&mut c);
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.extend(publish(1, "", "q", b"x"));
    }
    let acks = c.send(&frames);
    assert!(
        matches!(acks.as_slice(), [AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a)))] if a.delivery_tag == 3 && a.multiple),
        "{acks:?}"
    );
    let acks = c.send(&publish(1, "", "q", b"x"));
    assert!(
        matches!(acks.as_slice(), [AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a)))] if a.delivery_tag == 4 && !a.multiple)
    );
}

#[test]
fn an_unroutable_mandatory_publish_is_returned_before_its_ack() {
    let mut c = Client::connected();
    select_confirms(&mut c);
    let frames = c.send(&publish_frames(
        1,
        "",
        "nowhere",
        b"x",
        Default::default(),
        true,
    ));
    let AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Return(ret))) = &frames[0] else {
        panic!("{frames:?}");
    };
    assert_eq!(ret.reply_code, 312);
    assert_eq!(ret.reply_text.as_str(), "NO_ROUTE");
    assert!(matches!(&frames[2], AMQPFrame::Body(1, b) if b == b"x"));
    assert!(
        matches!(&frames[3], AMQPFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) if a.delivery_tag == 1)
    );
}

#[test]
fn publishing_to_a_missing_exchange_closes_the_channel_without_an_ack() {
    let mut c = Client::connected();
    select_confirms(&mut c);
    let frames = c.send(&publish(1, "missing", "k", b"x"));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        close_code(&frames),
        Some((404, "NOT_FOUND - no exchange 'missing' in vhost '/'".into()))
    );
}

#[test]
fn a_foreign_user_id_closes_the_channel_with_406() {
    let mut c = Client::connected();
    c.declare(1, "q");
    let props = basic::AMQPProperties::default().with_user_id(s("mallory"));
    let frames = c.send(&publish_frames(1, "", "q", b"x", props, false));
    let (code, text) = close_code(&frames).unwrap();
    assert_eq!(code, 406);
    assert!(
        text.contains("user_id property set to 'mallory' but authenticated user was 'guest'"),
        "{text}"
    );
}

#[test]
fn tx_publishes_wait_for_commit_and_rollback_drops_them() {
    let mut c = Client::connected();
    c.declare(1, "q");
    assert!(matches!(
        c.send(&[tx_method(tx::AMQPMethod::Select(tx::Select {}))])
            .as_slice(),
        [AMQPFrame::Method(
            1,
            AMQPClass::Tx(tx::AMQPMethod::SelectOk(_))
        )]
    ));
    c.send(&publish(1, "", "q", b"dropped"));
    c.send(&[tx_method(tx::AMQPMethod::Rollback(tx::Rollback {}))]);
    assert_eq!(c.vhost().queue("q").unwrap().message_count(), 0);
    c.send(&publish(1, "", "q", b"kept"));
    assert_eq!(c.vhost().queue("q").unwrap().message_count(), 0);
    let frames = c.send(&[tx_method(tx::AMQPMethod::Commit(tx::Commit {}))]);
    assert!(matches!(
        frames.as_slice(),
        [AMQPFrame::Method(
            1,
            AMQPClass::Tx(tx::AMQPMethod::CommitOk(_))
        )]
    ));
    assert_eq!(c.vhost().queue("q").unwrap().message_count(), 1);
}

#[test]
fn tx_acks_apply_on_commit_and_return_on_rollback() {
    let mut c = Client::connected();
    c.declare(1, "q");
    c.send(&publish(1, "", "q", b"x"));
    c.consume(1, "q", "t", false);
    c.send(&[tx_method(tx::AMQPMethod::Select(tx::Select {}))]);
    let ack = method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
            delivery_tag: 1,
            multiple: false,
        })),
    );
    c.send(std::slice::from_ref(&ack));
    c.send(&[tx_method(tx::AMQPMethod::Rollback(tx::Rollback {}))]);
    let q = c.vhost().queue("q").unwrap();
    assert_eq!(q.acked(), 0);
    c.send(&[ack]);
    c.send(&[tx_method(tx::AMQPMethod::Commit(tx::Commit {}))]);
    assert_eq!(q.acked(), 1);
}

#[test]
fn commit_without_select_is_406() {
    let mut c = Client::connected();
    let frames = c.send(&[tx_method(tx::AMQPMethod::Commit(tx::Commit {}))]);
    assert_eq!(
        close_code(&frames),
        Some((
            406,
            "PRECONDITION_FAILED - channel is not transactional".into()
        ))
    );
}

#[test]
fn confirm_and_tx_exclude_each_other() {
    let mut c = Client::connected();
    select_confirms(&mut c);
    let frames = c.send(&[tx_method(tx::AMQPMethod::Select(tx::Select {}))]);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(406));

    let mut c = Client::connected();
    c.send(&[tx_method(tx::AMQPMethod::Select(tx::Select {}))]);
    let sel = confirm::Select { nowait: true };
    let frames = c.send(&[method(
        1,
        AMQPClass::Confirm(confirm::AMQPMethod::Select(sel)),
    )]);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(406));
}
