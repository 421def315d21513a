//! Consumers: round-robin dispatch, prefetch per consumer and per channel (a prefetch size is
//! not implemented), exclusive consumers, consumer tags, and basic.cancel from either side.

use crate::amqp_consumer_support::{consume, consume_with, qos, queue_with, ready};

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use warren_it::{
    assert_code, assert_usable, body, channel, confirm_channel, eventually_async, next_delivery,
    publish, target, unique, DEADLINE,
};

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
