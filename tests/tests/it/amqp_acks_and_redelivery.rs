//! Acknowledgements and redelivery: ack, nack and reject (single and multiple, with and
//! without requeue), requeued messages back in their place with the redelivered flag,
//! basic.get, and basic.recover.

use crate::amqp_consumer_support::{consume, qos, queue_with, ready};

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicRecoverOptions, BasicRejectOptions,
};
use warren_it::{
    assert_code, body, channel, drain, eventually_async, next_delivery, target, unique, DEADLINE,
};

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
