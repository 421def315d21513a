//! STOMP transactions: SEND, ACK and NACK naming a transaction take effect on COMMIT, in order,
//! and never on ABORT; unknown and repeated transaction names are errors; a connection that
//! closes aborts its transactions.

use crate::stomp;

use stomp::*;

#[tokio::test]
async fn sends_wait_for_commit() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("tx-send"));
    c.subscribe("s", &q).await;
    c.with_receipt("BEGIN", &[("transaction", "t1")], b"").await;
    c.send_with(&q, &[("transaction", "t1")], b"one").await;
    c.send_with(&q, &[("transaction", "t1")], b"two").await;
    c.assert_quiet().await;
    c.with_receipt("COMMIT", &[("transaction", "t1")], b"")
        .await;
    assert_eq!(c.message().await.text(), "one");
    assert_eq!(c.message().await.text(), "two");
}

#[tokio::test]
async fn abort_discards_sends() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("tx-abort"));
    c.subscribe("s", &q).await;
    c.with_receipt("BEGIN", &[("transaction", "t")], b"").await;
    c.send_with(&q, &[("transaction", "t")], b"never").await;
    c.with_receipt("ABORT", &[("transaction", "t")], b"").await;
    c.send_sync(&q, &[], "plain").await;
    assert_eq!(c.message().await.text(), "plain");
    c.assert_quiet().await;
}

#[tokio::test]
async fn acks_and_nacks_wait_for_commit() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("tx-ack"));
    c.send_sync(&q, &[], "acked").await;
    c.send_sync(&q, &[], "nacked").await;
    c.subscribe_with("s", &q, &[("ack", "client-individual")])
        .await;
    let acked = c.message().await;
    let nacked = c.message().await;
    c.with_receipt("BEGIN", &[("transaction", "t")], b"").await;
    c.frame(
        "ACK",
        &[("id", acked.header("ack").unwrap()), ("transaction", "t")],
        b"",
    )
    .await;
    c.frame(
        "NACK",
        &[("id", nacked.header("ack").unwrap()), ("transaction", "t")],
        b"",
    )
    .await;
    c.assert_quiet().await;
    c.with_receipt("COMMIT", &[("transaction", "t")], b"").await;
    let again = c.message().await;
    assert_eq!(again.text(), "nacked");
    assert_eq!(again.header("redelivered"), Some("true"));
}

#[tokio::test]
async fn an_aborted_ack_leaves_the_message_unacknowledged() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("tx-ack-abort"));
    c.send_sync(&q, &[], "m").await;
    c.subscribe_with("s", &q, &[("ack", "client-individual")])
        .await;
    let m = c.message().await;
    c.with_receipt("BEGIN", &[("transaction", "t")], b"").await;
    c.frame(
        "ACK",
        &[("id", m.header("ack").unwrap()), ("transaction", "t")],
        b"",
    )
    .await;
    c.with_receipt("ABORT", &[("transaction", "t")], b"").await;
    c.disconnect().await;
    let mut c = target.client().await;
    c.subscribe("s", &q).await;
    let again = c.message().await;
    assert_eq!(again.text(), "m");
    assert_eq!(again.header("redelivered"), Some("true"));
}

#[tokio::test]
async fn a_transaction_left_open_is_aborted_on_disconnect() {
    let target = target();
    let q = format!("/queue/{}", unique("tx-open"));
    let mut c = target.client().await;
    c.with_receipt("BEGIN", &[("transaction", "t")], b"").await;
    c.send_with(&q, &[("transaction", "t")], b"lost").await;
    c.disconnect().await;
    let mut c = target.client().await;
    c.send_sync(&q, &[], "kept").await;
    c.subscribe("s", &q).await;
    assert_eq!(c.message().await.text(), "kept");
    c.assert_quiet().await;
}

#[tokio::test]
async fn commit_of_an_unknown_transaction_is_an_error() {
    let target = target();
    let mut c = target.client().await;
    c.with_receipt("BEGIN", &[("transaction", "t1")], b"").await;
    c.frame("COMMIT", &[("transaction", "t2")], b"").await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("Bad transaction"));
    assert!(
        e.text().contains("Invalid transaction identifier: \"t2\""),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn a_send_in_an_unknown_transaction_is_an_error() {
    let target = target();
    let mut c = target.client().await;
    c.send_with("/queue/x", &[("transaction", "nope")], b"x")
        .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("Bad transaction"));
}

#[tokio::test]
async fn begin_twice_is_an_error() {
    let Some(target) = warren_only() else { return };
    let mut c = target.client().await;
    c.with_receipt("BEGIN", &[("transaction", "t")], b"").await;
    c.frame("BEGIN", &[("transaction", "t")], b"").await;
    assert_eq!(c.error().await.header("message"), Some("Bad transaction"));
}

#[tokio::test]
async fn receipts_of_transactional_frames_follow_the_commit() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("tx-receipt"));
    c.with_receipt("BEGIN", &[("transaction", "t")], b"").await;
    c.send_with(&q, &[("transaction", "t"), ("receipt", "in-tx")], b"m")
        .await;
    c.assert_quiet().await;
    c.frame(
        "COMMIT",
        &[("transaction", "t"), ("receipt", "commit")],
        b"",
    )
    .await;
    let mut ids = vec![
        c.recv().await.header("receipt-id").map(str::to_owned),
        c.recv().await.header("receipt-id").map(str::to_owned),
    ];
    ids.sort();
    assert_eq!(ids, [Some("commit".to_owned()), Some("in-tx".to_owned())]);
}

#[tokio::test]
async fn receipts_of_aborted_frames_never_come() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("tx-receipt-abort"));
    c.with_receipt("BEGIN", &[("transaction", "t")], b"").await;
    c.send_with(&q, &[("transaction", "t"), ("receipt", "in-tx")], b"m")
        .await;
    c.with_receipt("ABORT", &[("transaction", "t")], b"").await;
    c.assert_quiet().await;
}
