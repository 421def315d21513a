//! Publisher confirms (acks for every publish, mandatory returns ahead of their ack) and
//! transactions (publishes and acks held until commit, dropped on rollback, mode errors).

use std::collections::BTreeSet;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, confirm, AMQPClass};
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Confirmation};
use warren_it::raw::{self, Args, Incoming, Open, Raw};
use warren_it::{
    assert_code, assert_usable, channel, confirm_channel, declare_queue, drain, eventually_async,
    message_count, target, unique, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_publish_is_acked() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    assert!(ch.status().confirm());
    let q = unique("confirms");
    declare_queue(&ch, &q).await;
    let mut pending = Vec::new();
    for i in 0..50 {
        let confirm = ch
            .basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                format!("m{i}").as_bytes(),
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        pending.push(confirm);
    }
    for confirm in pending {
        let c = tokio::time::timeout(DEADLINE, confirm)
            .await
            .expect("confirm within deadline")
            .expect("confirm");
        assert!(matches!(c, Confirmation::Ack(None)), "{c:?}");
    }
    assert_eq!(message_count(&conn, &q).await, Some(50));
}

/// A raw connection with channel 1 in confirm mode.
fn raw_confirm_channel(t: &warren_it::Target) -> Raw {
    let mut raw = Raw::open(t.addr(), &Open::default());
    raw.open_channel(1);
    raw.send(&raw::method(1, 85, 10, Args::new().bits(&[false])))
        .expect("confirm.select");
    match raw.read_method(DEADLINE) {
        (1, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(_))) => raw,
        other => panic!("expected confirm.select-ok, got {other:?}"),
    }
}

fn mandatory_publish(channel: u16, exchange: &str, key: &str, body: &[u8]) -> Vec<u8> {
    let args = Args::new()
        .u16(0)
        .short(exchange)
        .short(key)
        .bits(&[true, false]);
    let mut out = raw::method(channel, 60, 40, args);
    out.extend(raw::content_header(channel, body.len() as u64, None));
    out.extend(raw::frame(raw::FRAME_BODY, channel, body));
    out
}

#[test]
fn acks_cover_each_delivery_tag_exactly_once_possibly_as_multiple() {
    let t = target();
    let mut raw = raw_confirm_channel(&t);
    let q = unique("rawconfirm");
    raw.send(&raw::queue_declare(1, &q, &raw::table(&[])))
        .expect("declare");
    let _ = raw.read_method(DEADLINE);
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend(raw::publish(1, "", &q, format!("m{i}").as_bytes()));
    }
    raw.send(&batch).expect("publish batch");
    let mut acked = BTreeSet::new();
    let mut highest = 0;
    while highest < 200 {
        match raw.read_method(DEADLINE) {
            (1, AMQPClass::Basic(basic::AMQPMethod::Ack(ack))) => {
                assert!(ack.delivery_tag > highest, "acks go forward: {ack:?}");
                let from = if ack.multiple {
                    highest + 1
                } else {
                    ack.delivery_tag
                };
                for tag in from..=ack.delivery_tag {
                    assert!(acked.insert(tag), "tag {tag} acked twice");
                }
                highest = ack.delivery_tag;
            }
            other => panic!("expected basic.ack, got {other:?}"),
        }
    }
    assert_eq!(acked, (1..=200).collect::<BTreeSet<u64>>());
}

#[test]
fn unroutable_mandatory_publish_is_returned_before_its_ack() {
    let t = target();
    let mut raw = raw_confirm_channel(&t);
    let key = unique("no-such-queue");
    raw.send(&mandatory_publish(1, "", &key, b"bounce"))
        .expect("publish");
    let (_, first) = raw.read_method(DEADLINE);
    match first {
        AMQPClass::Basic(basic::AMQPMethod::Return(ret)) => {
            assert_eq!(ret.reply_code, 312, "NO_ROUTE");
            assert_eq!(ret.routing_key.as_str(), key);
        }
        other => panic!("expected basic.return first, got {other:?}"),
    }
    match raw.read(DEADLINE) {
        Incoming::Frame(AMQPFrame::Header(1, header)) => assert_eq!(header.body_size, 6),
        other => panic!("expected the returned content header, got {other:?}"),
    }
    match raw.read(DEADLINE) {
        Incoming::Frame(AMQPFrame::Body(1, body)) => assert_eq!(body, b"bounce"),
        other => panic!("expected the returned body, got {other:?}"),
    }
    match raw.read_method(DEADLINE) {
        (1, AMQPClass::Basic(basic::AMQPMethod::Ack(ack))) => assert_eq!(ack.delivery_tag, 1),
        other => panic!("expected basic.ack after the return, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_returns_only_unroutable_messages() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("mandatory");
    declare_queue(&ch, &q).await;
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let routed = ch
        .basic_publish(
            "".into(),
            q.as_str().into(),
            mandatory,
            b"routed",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(matches!(routed, Confirmation::Ack(None)), "{routed:?}");
    let missing = unique("missing");
    let bounced = ch
        .basic_publish(
            "".into(),
            missing.as_str().into(),
            mandatory,
            b"bounced",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    match bounced {
        Confirmation::Ack(Some(ret)) => {
            assert_eq!(ret.reply_code, 312);
            assert_eq!(ret.delivery.data, b"bounced");
        }
        other => panic!("expected an ack carrying the returned message: {other:?}"),
    }
    let dropped = ch
        .basic_publish(
            "".into(),
            missing.as_str().into(),
            BasicPublishOptions::default(),
            b"dropped",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(
        matches!(dropped, Confirmation::Ack(None)),
        "not mandatory: no return"
    );
    assert_eq!(drain(&ch, &q).await, vec!["routed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_publishes_are_invisible_until_commit_and_dropped_on_rollback() {
    let t = target();
    let conn = t.connect().await;
    let q = unique("txpub");
    let setup = channel(&conn).await;
    declare_queue(&setup, &q).await;
    let tx = channel(&conn).await;
    tx.tx_select().await.expect("tx.select");
    for body in [b"a", b"b"] {
        tx.basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .expect("publish");
    }
    tx.basic_qos(0, Default::default())
        .await
        .expect("round trip on the tx channel");
    assert_eq!(
        message_count(&conn, &q).await,
        Some(0),
        "uncommitted publishes visible"
    );
    tx.tx_commit().await.expect("tx.commit");
    assert_eq!(message_count(&conn, &q).await, Some(2));

    tx.basic_publish(
        "".into(),
        q.as_str().into(),
        BasicPublishOptions::default(),
        b"c",
        BasicProperties::default(),
    )
    .await
    .expect("publish");
    tx.tx_rollback().await.expect("tx.rollback");
    tx.tx_commit().await.expect("an empty commit");
    assert_eq!(drain(&setup, &q).await, vec!["a", "b"]);
}

/// Gets, acks in a transaction, commits or rolls back, closes the channel, publishes a marker,
/// and returns what the queue then holds.
async fn tx_ack_then(commit: bool) -> Vec<String> {
    let t = target();
    let conn = t.connect().await;
    let q = unique("txack");
    let pc = confirm_channel(&conn).await;
    declare_queue(&pc, &q).await;
    warren_it::publish(&pc, "", &q, b"held").await;
    let tx = channel(&conn).await;
    tx.tx_select().await.expect("tx.select");
    let m = tx
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: false })
        .await
        .expect("get")
        .expect("the message");
    m.delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    if commit {
        tx.tx_commit().await.expect("commit");
    } else {
        tx.tx_rollback().await.expect("rollback");
    }
    tx.close(200, "bye".into()).await.expect("close");
    warren_it::publish(&pc, "", &q, b"marker").await;
    let expected = if commit { 1 } else { 2 };
    let settled = eventually_async(DEADLINE, || async {
        message_count(&conn, &q).await == Some(expected)
    })
    .await;
    assert!(settled, "queue never held {expected} messages");
    drain(&pc, &q).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_ack_takes_effect_on_commit() {
    assert_eq!(
        tx_ack_then(true).await,
        vec!["marker"],
        "committed ack removes the message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_ack_is_dropped_on_rollback() {
    assert_eq!(
        tx_ack_then(false).await,
        vec!["held", "marker"],
        "rolled-back ack leaves the message unacked, requeued on close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_or_rollback_without_select_is_precondition_failed() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    assert_code(ch.tx_commit().await, 406);
    let ch = channel(&conn).await;
    assert_code(ch.tx_rollback().await, 406);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_and_tx_modes_exclude_each_other() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    ch.tx_select().await.expect("tx.select");
    assert_code(
        ch.confirm_select(ConfirmSelectOptions::default()).await,
        406,
    );
    let ch = confirm_channel(&conn).await;
    assert_code(ch.tx_select().await, 406);
    assert_usable(&conn).await;
}
