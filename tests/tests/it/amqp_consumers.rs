//! Consumers and acknowledgements: round-robin dispatch, prefetch per consumer and per
//! channel, exclusive consumers, ack/nack/reject (single and multiple), redelivery order and
//! flag, basic.get, basic.recover, basic.cancel from either side.

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicQosOptions, BasicRecoverOptions, BasicRejectOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use warren_it::{
    assert_code, assert_usable, body, channel, confirm_channel, declare_queue, drain,
    eventually_async, message_count, next_delivery, publish, target, unique, DEADLINE,
};

async fn consume_with(ch: &Channel, queue: &str, tag: &str, opts: BasicConsumeOptions) -> Consumer {
    ch.basic_consume(queue.into(), tag.into(), opts, FieldTable::default())
        .await
        .expect("basic.consume")
}

async fn consume(ch: &Channel, queue: &str, tag: &str) -> Consumer {
    consume_with(ch, queue, tag, BasicConsumeOptions::default()).await
}

/// A queue holding `n` messages `m0..`, published with confirms.
async fn queue_with(conn: &Connection, what: &str, n: usize) -> String {
    let ch = confirm_channel(conn).await;
    let q = unique(what);
    declare_queue(&ch, &q).await;
    for i in 0..n {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    q
}

async fn qos(ch: &Channel, count: u16, global: bool) {
    ch.basic_qos(count, BasicQosOptions { global })
        .await
        .expect("basic.qos");
}

async fn ready(conn: &Connection, q: &str) -> u32 {
    message_count(conn, q).await.expect("queue exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_share_a_queue_round_robin() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "rr", 0).await;
    let (cha, chb) = (channel(&conn).await, channel(&conn).await);
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut a = consume_with(&cha, &q, "a", no_ack).await;
    let mut b = consume_with(&chb, &q, "b", no_ack).await;
    let pc = confirm_channel(&conn).await;
    for i in 0..10 {
        publish(&pc, "", &q, format!("m{i}").as_bytes()).await;
    }
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    for _ in 0..5 {
        got_a.push(body(&next_delivery(&mut a).await));
        got_b.push(body(&next_delivery(&mut b).await));
    }
    let evens: Vec<String> = (0..10).step_by(2).map(|i| format!("m{i}")).collect();
    let odds: Vec<String> = (1..10).step_by(2).map(|i| format!("m{i}")).collect();
    assert!(
        (got_a == evens && got_b == odds) || (got_a == odds && got_b == evens),
        "not alternating: a={got_a:?} b={got_b:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_consumer_prefetch_limits_each_consumer() {
    let t = target();
    let conn = t.connect().await;
    let (q1, q2) = (
        queue_with(&conn, "pf1", 5).await,
        queue_with(&conn, "pf2", 5).await,
    );
    let ch = channel(&conn).await;
    qos(&ch, 2, false).await;
    let mut c1 = consume(&ch, &q1, "c1").await;
    let mut c2 = consume(&ch, &q2, "c2").await;
    let mut first = Vec::new();
    for _ in 0..2 {
        first.push(next_delivery(&mut c1).await);
        next_delivery(&mut c2).await;
    }
    assert_eq!((ready(&conn, &q1).await, ready(&conn, &q2).await), (3, 3));
    first[0]
        .acker
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    let third = next_delivery(&mut c1).await;
    assert_eq!(body(&third), "m2");
    assert_eq!((ready(&conn, &q1).await, ready(&conn, &q2).await), (2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_prefetch_limits_the_whole_channel() {
    let t = target();
    let conn = t.connect().await;
    let (q1, q2) = (
        queue_with(&conn, "gpf1", 5).await,
        queue_with(&conn, "gpf2", 5).await,
    );
    let ch = channel(&conn).await;
    qos(&ch, 3, true).await;
    let mut c1 = consume(&ch, &q1, "c1").await;
    let mut c2 = consume(&ch, &q2, "c2").await;
    let mut tags = Vec::new();
    for _ in 0..3 {
        let next = tokio::time::timeout(DEADLINE, futures_lite::future::or(c1.next(), c2.next()))
            .await
            .expect("a delivery within the deadline")
            .expect("consumer open")
            .expect("delivery");
        tags.push(next.delivery_tag);
    }
    let in_flight = 10 - (ready(&conn, &q1).await + ready(&conn, &q2).await);
    assert_eq!(in_flight, 3, "channel-wide prefetch of 3");
    let last = *tags.iter().max().expect("three tags");
    ch.basic_ack(last, BasicAckOptions { multiple: true })
        .await
        .expect("ack all three");
    let seen = std::sync::atomic::AtomicU32::new(0);
    let refilled = eventually_async(DEADLINE, || async {
        let left = ready(&conn, &q1).await + ready(&conn, &q2).await;
        seen.store(left, std::sync::atomic::Ordering::Relaxed);
        left == 4
    })
    .await;
    assert!(
        refilled,
        "three more delivered after acking three; ready stuck at {seen:?} (want 4)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_consumer_locks_out_others() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "excl-consumer", 0).await;
    let ch = channel(&conn).await;
    let exclusive = BasicConsumeOptions {
        exclusive: true,
        ..BasicConsumeOptions::default()
    };
    let _owner = consume_with(&ch, &q, "owner", exclusive).await;
    let other = channel(&conn).await;
    let res = other
        .basic_consume(
            q.as_str().into(),
            "second".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 403);

    let q2 = queue_with(&conn, "excl-late", 0).await;
    let _plain = consume(&ch, &q2, "plain").await;
    let late = channel(&conn).await;
    let res = late
        .basic_consume(
            q2.as_str().into(),
            "late".into(),
            exclusive,
            FieldTable::default(),
        )
        .await;
    assert_code(res, 403);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_multiple_acknowledges_everything_up_to_the_tag() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "ackmulti", 5).await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, &q, "c").await;
    let mut ds = Vec::new();
    for _ in 0..5 {
        ds.push(next_delivery(&mut c).await);
    }
    ch.basic_ack(ds[2].delivery_tag, BasicAckOptions { multiple: true })
        .await
        .expect("ack multiple");
    ch.close(200, "bye".into()).await.expect("close");
    let requeued = eventually_async(DEADLINE, || async { ready(&conn, &q).await == 2 }).await;
    assert!(requeued, "the two unacked messages return to the queue");
    let gc = channel(&conn).await;
    assert_eq!(drain(&gc, &q).await, vec!["m3", "m4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_multiple_with_requeue_redelivers_in_order_and_flagged() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "nackmulti", 4).await;
    let ch = channel(&conn).await;
    qos(&ch, 4, false).await;
    let mut c = consume(&ch, &q, "c").await;
    let mut last = 0;
    for i in 0..4 {
        let d = next_delivery(&mut c).await;
        assert_eq!(body(&d), format!("m{i}"));
        assert!(!d.redelivered);
        last = d.delivery_tag;
    }
    let nack = BasicNackOptions {
        multiple: true,
        requeue: true,
    };
    ch.basic_nack(last, nack).await.expect("nack multiple");
    for i in 0..4 {
        let d = next_delivery(&mut c).await;
        assert_eq!(
            body(&d),
            format!("m{i}"),
            "requeued messages keep their order"
        );
        assert!(d.redelivered, "redelivered flag set");
        assert!(d.delivery_tag > last, "redeliveries get new tags");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_without_requeue_drops() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "nackdrop", 3).await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, &q, "c").await;
    let mut last = 0;
    for _ in 0..3 {
        last = next_delivery(&mut c).await.delivery_tag;
    }
    let nack = BasicNackOptions {
        multiple: true,
        requeue: false,
    };
    ch.basic_nack(last, nack).await.expect("nack");
    ch.close(200, "bye".into()).await.expect("close");
    let q_info = warren_it::passive_declare(&conn, &q).await.expect("queue");
    assert_eq!((q_info.message_count(), q_info.consumer_count()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_requeues_or_drops_one_message() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "reject", 2).await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, &q, "c").await;
    let m0 = next_delivery(&mut c).await;
    let m1 = next_delivery(&mut c).await;
    m0.acker
        .reject(BasicRejectOptions { requeue: false })
        .await
        .expect("reject drop");
    m1.acker
        .reject(BasicRejectOptions { requeue: true })
        .await
        .expect("reject requeue");
    let again = next_delivery(&mut c).await;
    assert_eq!(body(&again), "m1");
    assert!(again.redelivered);
    again
        .acker
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    assert_eq!(ready(&conn, &q).await, 0, "m0 was dropped, not requeued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_messages_return_to_their_original_position() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "order", 5).await;
    let ch = channel(&conn).await;
    let manual = BasicGetOptions { no_ack: false };
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = ch
            .basic_get(q.as_str().into(), manual)
            .await
            .expect("get")
            .expect("a message");
        got.push(m);
    }
    for i in [1, 0, 2] {
        ch.basic_reject(
            got[i].delivery.delivery_tag,
            BasicRejectOptions { requeue: true },
        )
        .await
        .expect("reject");
    }
    let mut order = Vec::new();
    while let Some(m) = ch
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("get")
    {
        order.push((body(&m.delivery), m.delivery.redelivered));
    }
    let expected: Vec<(String, bool)> = (0..5).map(|i| (format!("m{i}"), i < 3)).collect();
    assert_eq!(order, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_get_returns_messages_with_remaining_count_then_empty() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "get", 3).await;
    let ch = channel(&conn).await;
    let manual = BasicGetOptions { no_ack: false };
    let first = ch
        .basic_get(q.as_str().into(), manual)
        .await
        .expect("get")
        .expect("m0");
    assert_eq!(
        (body(&first.delivery), first.message_count),
        ("m0".into(), 2)
    );
    assert!(!first.delivery.redelivered);
    let second = ch
        .basic_get(q.as_str().into(), manual)
        .await
        .expect("get")
        .expect("m1");
    assert_eq!(
        (body(&second.delivery), second.message_count),
        ("m1".into(), 1)
    );
    assert!(second.delivery.delivery_tag > first.delivery.delivery_tag);
    first
        .delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    let third = ch
        .basic_get(q.as_str().into(), manual)
        .await
        .expect("get")
        .expect("m2");
    assert_eq!(third.message_count, 0);
    assert!(ch
        .basic_get(q.as_str().into(), manual)
        .await
        .expect("get-empty")
        .is_none());
    ch.close(200, "bye".into()).await.expect("close");
    let requeued = eventually_async(DEADLINE, || async { ready(&conn, &q).await == 2 }).await;
    assert!(
        requeued,
        "unacked gets return to the queue when the channel closes"
    );
    let ch = channel(&conn).await;
    let res = ch
        .basic_get(unique("missing").as_str().into(), manual)
        .await;
    assert_code(res, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_recover_redelivers_unacked_messages() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "recover", 2).await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, &q, "c").await;
    for i in 0..2 {
        let d = next_delivery(&mut c).await;
        assert_eq!((body(&d), d.redelivered), (format!("m{i}"), false));
    }
    ch.basic_recover(BasicRecoverOptions { requeue: true })
        .await
        .expect("basic.recover");
    for i in 0..2 {
        let d = next_delivery(&mut c).await;
        assert_eq!((body(&d), d.redelivered), (format!("m{i}"), true));
        d.acker.ack(BasicAckOptions::default()).await.expect("ack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_cancel_stops_deliveries() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "cancel", 0).await;
    let ch = channel(&conn).await;
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut c = consume_with(&ch, &q, "", no_ack).await;
    assert!(
        c.tag().as_str().starts_with("amq.ctag-"),
        "server-named tag {}",
        c.tag()
    );
    let pc = confirm_channel(&conn).await;
    publish(&pc, "", &q, b"before").await;
    assert_eq!(body(&next_delivery(&mut c).await), "before");
    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .expect("cancel");
    let ended = tokio::time::timeout(DEADLINE, c.next())
        .await
        .expect("stream ends");
    assert!(ended.is_none(), "no deliveries after cancel-ok: {ended:?}");
    publish(&pc, "", &q, b"after").await;
    assert_eq!(
        ready(&conn, &q).await,
        1,
        "published after cancel stays queued"
    );
    ch.basic_cancel("never-existed".into(), BasicCancelOptions::default())
        .await
        .expect("cancelling an unknown tag is answered with cancel-ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_queue_cancels_its_consumers_from_the_server() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "server-cancel", 0).await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, &q, "doomed").await;
    let other = channel(&conn).await;
    other
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete");
    let ended = tokio::time::timeout(DEADLINE, c.next())
        .await
        .expect("the consumer is cancelled within the deadline");
    assert!(
        ended.is_none(),
        "server-sent basic.cancel ends the consumer: {ended:?}"
    );
    assert!(ch.status().connected(), "the consumer's channel stays open");
    qos(&ch, 1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_consumer_tag_on_a_channel_is_not_allowed() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "duptag", 0).await;
    let ch = channel(&conn).await;
    let _c = consume(&ch, &q, "same").await;
    let res = ch
        .basic_consume(
            q.as_str().into(),
            "same".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 530);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consuming_a_missing_queue_is_not_found() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let res = ch
        .basic_consume(
            unique("missing").as_str().into(),
            "c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 404);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_of_tag_zero_with_multiple_acks_everything() {
    let t = target();
    let conn = t.connect().await;
    let q = queue_with(&conn, "ackzero", 3).await;
    let ch = channel(&conn).await;
    let mut c = consume(&ch, &q, "c").await;
    for _ in 0..3 {
        next_delivery(&mut c).await;
    }
    ch.basic_ack(0, BasicAckOptions { multiple: true })
        .await
        .expect("ack all");
    ch.close(200, "bye".into()).await.expect("close");
    assert_eq!(
        ready(&conn, &q).await,
        0,
        "nothing was left unacked to requeue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_with_prefetch_size_is_not_implemented() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let err = ch
        .basic_qos(10, BasicQosOptions { global: false })
        .await
        .map(|_| ());
    assert!(err.is_ok());
    // lapin cannot send a prefetch size; the raw client can.
    let mut raw = warren_it::raw::Raw::open(t.addr(), &Default::default());
    raw.open_channel(1);
    let args = warren_it::raw::Args::new().u32(4096).u16(10).bits(&[false]);
    raw.send(&warren_it::raw::method(1, 60, 10, args))
        .expect("qos");
    let close = raw.wait_closed(DEADLINE).close.expect("connection.close");
    assert_eq!(close.reply_code, 540, "{close:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_without_requeue_is_not_implemented() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let err = ch
        .basic_recover(BasicRecoverOptions { requeue: false })
        .await
        .expect_err("recover without requeue");
    assert_eq!(warren_it::reply_code(&err), Some(540), "{err:?}");
}
