//! STOMP acknowledgement: auto, client (cumulative) and client-individual modes, the `ack`
//! header of 1.2 and `message-id` of 1.0/1.1, NACK with and without requeue (in 1.0 too, an
//! extension), `prefetch-count`, unknown ids, and unacknowledged messages requeued when the
//! connection goes.

use crate::stomp;

use stomp::*;

async fn fill(c: &mut StompClient, q: &str, bodies: &[&str]) {
    for body in bodies {
        c.send_sync(q, &[], body).await;
    }
}

fn ack_id(m: &Frame, version: &str) -> String {
    let name = if version == "1.2" {
        "ack"
    } else {
        "message-id"
    };
    m.header(name)
        .unwrap_or_else(|| panic!("no {name} in {m:?}"))
        .to_owned()
}

#[tokio::test]
async fn client_individual_ack_in_each_version() {
    let target = target();
    for version in ["1.0", "1.1", "1.2"] {
        let mut c = target.client_version(version).await;
        let q = format!("/queue/{}", unique("indiv"));
        fill(&mut c, &q, &["a", "b"]).await;
        c.subscribe_with("s", &q, &[("ack", "client-individual")])
            .await;
        let a = c.message().await;
        let b = c.message().await;
        let id_header = if version == "1.2" { "id" } else { "message-id" };
        c.with_receipt(
            "ACK",
            &[(id_header, &ack_id(&b, version)), ("subscription", "s")],
            b"",
        )
        .await;
        c.disconnect().await;
        // Only "a" was left unacknowledged: it comes back, redelivered.
        let mut c = target.client_version(version).await;
        c.subscribe_with("s", &q, &[("ack", "client-individual")])
            .await;
        let again = c.message().await;
        assert_eq!(again.text(), a.text(), "{version}");
        assert_eq!(again.header("redelivered"), Some("true"), "{version}");
        c.assert_quiet().await;
    }
}

#[tokio::test]
async fn client_mode_ack_is_cumulative() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("cumul"));
    fill(&mut c, &q, &["1", "2", "3"]).await;
    c.subscribe_with("s", &q, &[("ack", "client")]).await;
    let _one = c.message().await;
    let two = c.message().await;
    let _three = c.message().await;
    c.with_receipt("ACK", &[("id", &ack_id(&two, "1.2"))], b"")
        .await;
    c.disconnect().await;
    let mut c = target.client().await;
    c.subscribe_with("s", &q, &[("ack", "client")]).await;
    assert_eq!(c.message().await.text(), "3");
    c.assert_quiet().await;
}

#[tokio::test]
async fn auto_mode_messages_are_gone_once_sent() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("auto"));
    fill(&mut c, &q, &["x"]).await;
    c.subscribe("s", &q).await;
    let m = c.message().await;
    assert_eq!(m.header("ack"), None);
    c.disconnect().await;
    let mut c = target.client().await;
    c.subscribe("s", &q).await;
    c.assert_quiet().await;
}

#[tokio::test]
async fn nack_requeues_by_default() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("nack"));
    fill(&mut c, &q, &["retry me"]).await;
    c.subscribe_with("s", &q, &[("ack", "client-individual")])
        .await;
    let first = c.message().await;
    c.frame("NACK", &[("id", &ack_id(&first, "1.2"))], b"")
        .await;
    let again = c.message().await;
    assert_eq!(again.text(), "retry me");
    assert_eq!(again.header("redelivered"), Some("true"));
    c.with_receipt("ACK", &[("id", &ack_id(&again, "1.2"))], b"")
        .await;
}

#[tokio::test]
async fn nack_with_requeue_false_drops_the_message() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("drop"));
    fill(&mut c, &q, &["unwanted", "next"]).await;
    c.subscribe_with(
        "s",
        &q,
        &[("ack", "client-individual"), ("prefetch-count", "1")],
    )
    .await;
    let first = c.message().await;
    assert_eq!(first.text(), "unwanted");
    c.with_receipt(
        "NACK",
        &[("id", &ack_id(&first, "1.2")), ("requeue", "false")],
        b"",
    )
    .await;
    let next = c.message().await;
    assert_eq!(next.text(), "next");
    c.with_receipt("ACK", &[("id", &ack_id(&next, "1.2"))], b"")
        .await;
    c.assert_quiet().await;
}

#[tokio::test]
async fn nack_is_accepted_in_1_0_as_an_extension() {
    // NACK is a 1.1 frame; like RabbitMQ, Warren takes it in 1.0 too, by `message-id`.
    let target = target();
    let mut c = target.client_version("1.0").await;
    assert_eq!(c.version(), "1.0");
    let q = format!("/queue/{}", unique("nack-1-0"));
    fill(&mut c, &q, &["a", "b"]).await;
    c.subscribe_with("s", &q, &[("ack", "client"), ("prefetch-count", "1")])
        .await;
    let first = c.message().await;
    assert_eq!(first.text(), "a");
    assert_eq!(first.header("ack"), None, "no ack header before 1.2");
    c.with_receipt("NACK", &[("message-id", &ack_id(&first, "1.0"))], b"")
        .await;
    let again = c.message().await;
    assert_eq!(again.text(), "a", "requeued by default");
    assert_eq!(again.header("redelivered"), Some("true"));
    c.with_receipt(
        "NACK",
        &[("message-id", &ack_id(&again, "1.0")), ("requeue", "false")],
        b"",
    )
    .await;
    let next = c.message().await;
    assert_eq!(next.text(), "b", "requeue:false dropped it");
    c.with_receipt("ACK", &[("message-id", &ack_id(&next, "1.0"))], b"")
        .await;
    c.assert_quiet().await;
    c.disconnect().await;
    let mut c = target.client_version("1.0").await;
    c.subscribe("s", &q).await;
    c.assert_quiet().await;
}

#[tokio::test]
async fn prefetch_count_bounds_unacknowledged_messages() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("prefetch"));
    fill(&mut c, &q, &["1", "2", "3", "4"]).await;
    c.subscribe_with(
        "s",
        &q,
        &[("ack", "client-individual"), ("prefetch-count", "2")],
    )
    .await;
    let one = c.message().await;
    let _two = c.message().await;
    c.assert_quiet().await;
    c.frame("ACK", &[("id", &ack_id(&one, "1.2"))], b"").await;
    assert_eq!(c.message().await.text(), "3");
    c.assert_quiet().await;
}

#[tokio::test]
async fn an_ack_for_an_unknown_message_is_an_error() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("unknown-ack"));
    c.subscribe_with("s", &q, &[("ack", "client")]).await;
    c.frame("ACK", &[("id", "T_s@@session-nope@@999")], b"")
        .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("precondition_failed"));
    assert!(
        e.text().contains("unknown delivery tag 999"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn an_ack_without_id_is_an_error() {
    let target = target();
    let mut c = target.client().await;
    c.frame("ACK", &[("id", "garbage")], b"").await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("Invalid header"));
    assert!(
        e.text()
            .contains("\"ACK\" must include a valid \"id\" header"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn messages_are_shared_round_robin_between_subscribers() {
    let target = target();
    let q = format!("/queue/{}", unique("rr"));
    let mut a = target.client().await;
    let mut b = target.client().await;
    a.subscribe("a", &q).await;
    b.subscribe("b", &q).await;
    let mut sender = target.client().await;
    fill(&mut sender, &q, &["1", "2", "3", "4"]).await;
    let got_a = [a.message().await.text(), a.message().await.text()];
    let got_b = [b.message().await.text(), b.message().await.text()];
    assert_eq!(got_a, ["1", "3"]);
    assert_eq!(got_b, ["2", "4"]);
}
