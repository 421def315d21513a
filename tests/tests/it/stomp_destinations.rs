//! STOMP SEND and SUBSCRIBE on every destination kind: `/queue` (declared), `/topic` with
//! wildcards, `/exchange`, `/amq/queue` (must exist), `/temp-queue` RPC, `%2F` in names, an
//! unknown kind refused; UNSUBSCRIBE; a 1.0 subscription without id; durable topic
//! subscriptions.

use crate::stomp;

use stomp::*;

#[tokio::test]
async fn queue_destination_round_trip_with_message_headers() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("rt"));
    c.subscribe("sub-1", &q).await;
    c.send_sync(
        &q,
        &[
            ("content-type", "text/plain"),
            ("custom", "v1"),
            ("correlation-id", "c-1"),
        ],
        "hello",
    )
    .await;
    let m = c.message().await;
    assert_eq!(m.text(), "hello");
    assert_eq!(m.header("subscription"), Some("sub-1"));
    assert_eq!(m.header("destination"), Some(q.as_str()));
    assert_eq!(m.header("redelivered"), Some("false"));
    assert_eq!(m.header("content-type"), Some("text/plain"));
    assert_eq!(m.header("custom"), Some("v1"));
    assert_eq!(m.header("correlation-id"), Some("c-1"));
    let id = m.header("message-id").expect("message-id");
    assert!(id.starts_with("T_sub-1@@"), "{id}");
    assert_eq!(m.header("ack"), None, "auto mode has no ack header");
}

#[tokio::test]
async fn a_send_to_queue_declares_it_so_messages_wait_for_a_subscriber() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("waits"));
    c.send_sync(&q, &[], "kept").await;
    c.subscribe("s", &q).await;
    assert_eq!(c.message().await.text(), "kept");
}

#[tokio::test]
async fn topic_wildcards_follow_amqp_syntax() {
    let target = target();
    let mut c = target.client().await;
    let base = unique("topic").replace('.', "-");
    c.subscribe("star", &format!("/topic/{base}.*")).await;
    c.subscribe("hash", &format!("/topic/{base}.#")).await;
    c.send_sync(&format!("/topic/{base}.a"), &[], "one").await;
    c.send_sync(&format!("/topic/{base}.a.b"), &[], "two").await;
    let mut got: Vec<(String, String, String)> = Vec::new();
    for _ in 0..3 {
        let m = c.message().await;
        got.push((
            m.header("subscription").unwrap_or_default().to_owned(),
            m.header("destination").unwrap_or_default().to_owned(),
            m.text(),
        ));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("hash".into(), format!("/topic/{base}.a"), "one".into()),
            ("hash".into(), format!("/topic/{base}.a.b"), "two".into()),
            ("star".into(), format!("/topic/{base}.a"), "one".into()),
        ]
    );
    c.assert_quiet().await;
}

#[tokio::test]
async fn exchange_destinations_route_by_key() {
    let target = target();
    let mut c = target.client().await;
    let key = unique("x");
    c.subscribe("s", &format!("/exchange/amq.direct/{key}"))
        .await;
    c.send_sync(&format!("/exchange/amq.direct/{key}"), &[], "direct")
        .await;
    c.send_sync(
        &format!("/exchange/amq.direct/{key}-other"),
        &[],
        "elsewhere",
    )
    .await;
    let m = c.message().await;
    assert_eq!(m.text(), "direct");
    assert_eq!(
        m.header("destination"),
        Some(format!("/exchange/amq.direct/{key}").as_str())
    );
    c.assert_quiet().await;
}

#[tokio::test]
async fn subscribing_to_a_missing_exchange_is_not_found() {
    let target = target();
    let mut c = target.client().await;
    c.frame(
        "SUBSCRIBE",
        &[("id", "s"), ("destination", "/exchange/no-such-exchange/k")],
        b"",
    )
    .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("not_found"));
    assert!(
        e.text().contains("no exchange 'no-such-exchange'"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn amq_queue_must_exist() {
    let target = target();
    let mut c = target.client().await;
    let name = unique("amq-missing");
    c.frame(
        "SUBSCRIBE",
        &[("id", "s"), ("destination", &format!("/amq/queue/{name}"))],
        b"",
    )
    .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("not_found"));
    assert!(
        e.text().contains(&format!("no queue '{name}'")),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn amq_queue_consumes_an_existing_queue() {
    let target = target();
    let mut c = target.client().await;
    let name = unique("amq");
    c.send_sync(&format!("/queue/{name}"), &[], "via queue")
        .await;
    c.subscribe("s", &format!("/amq/queue/{name}")).await;
    let m = c.message().await;
    assert_eq!(m.text(), "via queue");
    c.send_sync(&format!("/amq/queue/{name}"), &[], "via amq")
        .await;
    assert_eq!(c.message().await.text(), "via amq");
}

#[tokio::test]
async fn percent_2f_escapes_a_slash_in_a_name() {
    let target = target();
    let mut c = target.client().await;
    let name = unique("slash");
    let dest = format!("/queue/{name}%2Fpart");
    c.subscribe("s", &dest).await;
    c.send_sync(&dest, &[], "slashed").await;
    let m = c.message().await;
    assert_eq!(m.text(), "slashed");
    assert_eq!(m.header("destination"), Some(dest.as_str()));
}

#[tokio::test]
async fn an_unknown_destination_kind_is_refused() {
    let target = target();
    let mut c = target.client().await;
    c.send("/nowhere/x", "lost").await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("Unknown destination"));
    assert!(
        e.text().contains("'/nowhere/x' is not a valid destination"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn temp_queue_request_reply() {
    let target = target();
    let mut requester = target.client().await;
    let mut worker = target.client().await;
    let service = format!("/queue/{}", unique("service"));
    worker.subscribe("w", &service).await;
    requester
        .send_sync(&service, &[("reply-to", "/temp-queue/answers")], "question")
        .await;
    let request = worker.message().await;
    let reply_to = request.header("reply-to").expect("reply-to").to_owned();
    assert!(reply_to.starts_with("/reply-queue/"), "{reply_to}");
    worker.send_sync(&reply_to, &[], "answer").await;
    let reply = requester.message().await;
    assert_eq!(reply.text(), "answer");
    assert_eq!(reply.header("subscription"), Some("/temp-queue/answers"));
    let queue = reply_to.replace("/reply-queue/", "/queue/");
    assert_eq!(reply.header("destination"), Some(queue.as_str()));
}

#[tokio::test]
async fn subscribing_to_a_temp_queue_is_refused() {
    let target = target();
    let mut c = target.client().await;
    c.frame(
        "SUBSCRIBE",
        &[("id", "s"), ("destination", "/temp-queue/t")],
        b"",
    )
    .await;
    let e = c.error().await;
    assert!(
        e.text()
            .contains("is not a valid destination for 'SUBSCRIBE'"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn unsubscribe_stops_deliveries() {
    let target = target();
    let mut c = target.client().await;
    let key = unique("unsub").replace('.', "-");
    let dest = format!("/topic/{key}");
    c.subscribe("s", &dest).await;
    c.send_sync(&dest, &[], "before").await;
    assert_eq!(c.message().await.text(), "before");
    c.with_receipt("UNSUBSCRIBE", &[("id", "s")], b"").await;
    c.send_sync(&dest, &[], "after").await;
    c.assert_quiet().await;
}

#[tokio::test]
async fn a_1_0_subscription_without_id_is_named_by_its_destination() {
    let target = target();
    let mut c = target.client_version("1.0").await;
    let q = format!("/queue/{}", unique("v10"));
    c.with_receipt("SUBSCRIBE", &[("destination", &q)], b"")
        .await;
    c.send_sync(&q, &[], "old school").await;
    let m = c.message().await;
    assert_eq!(m.text(), "old school");
    assert_eq!(m.header("subscription"), None);
    assert_eq!(m.header("destination"), Some(q.as_str()));
    c.with_receipt("UNSUBSCRIBE", &[("destination", &q)], b"")
        .await;
    c.send_sync(&q, &[], "kept for later").await;
    c.assert_quiet().await;
}

#[tokio::test]
async fn durable_topic_subscriptions_keep_messages_while_away() {
    let target = target();
    let key = unique("durable").replace('.', "-");
    let dest = format!("/topic/{key}");
    let durable = [("durable", "true"), ("auto-delete", "false")];
    let mut c = target.client().await;
    c.subscribe_with("dur-1", &dest, &durable).await;
    c.disconnect().await;
    let mut publisher = target.client().await;
    publisher.send_sync(&dest, &[], "while away").await;
    let mut c = target.client().await;
    c.subscribe_with("dur-1", &dest, &durable).await;
    assert_eq!(c.message().await.text(), "while away");
    c.with_receipt("UNSUBSCRIBE", &[("id", "dur-1"), ("durable", "true")], b"")
        .await;
    c.disconnect().await;
    publisher.send_sync(&dest, &[], "after unsubscribe").await;
    let mut c = target.client().await;
    c.subscribe_with("dur-1", &dest, &durable).await;
    c.assert_quiet().await;
}
