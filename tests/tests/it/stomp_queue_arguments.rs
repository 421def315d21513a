//! `x-*` queue arguments on STOMP SEND and SUBSCRIBE (`/queue`, `/topic`, `/exchange`,
//! `x-queue-name`, booleans and strings), a redeclaration with other arguments refused, and
//! other `x-*` headers kept as message headers.

use crate::stomp;

use stomp::*;

#[tokio::test]
async fn queue_argument_headers_declare_the_queue_with_them() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("args"));
    for body in ["1", "2", "3"] {
        c.send_sync(&q, &[("x-max-length", "1")], body).await;
    }
    c.subscribe_with("s", &q, &[("x-max-length", "1")]).await;
    // The default overflow drops from the head: only the newest is left.
    assert_eq!(c.message().await.text(), "3");
    c.assert_quiet().await;
}

#[tokio::test]
async fn redeclaring_a_queue_with_other_arguments_is_refused() {
    // RabbitMQ 3.10 ignores the difference here (it does refuse another durability).
    let Some(target) = warren_only() else { return };
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("args-differ"));
    c.send_sync(&q, &[("x-max-length", "1")], "x").await;
    c.frame(
        "SUBSCRIBE",
        &[("id", "s"), ("destination", &q), ("x-max-length", "2")],
        b"",
    )
    .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("precondition_failed"));
    assert!(e.text().contains("x-max-length"), "{}", e.text());
}

#[tokio::test]
async fn queue_arguments_shape_the_queue_of_a_topic_or_exchange_subscription() {
    let target = target();
    let key = unique("sub-args").replace('.', "-");
    for dest in [
        format!("/topic/{key}"),
        format!("/exchange/amq.direct/{key}"),
    ] {
        let mut c = target.client().await;
        // One message out unacknowledged, room for one more in the queue.
        c.subscribe_with(
            "s",
            &dest,
            &[
                ("ack", "client-individual"),
                ("prefetch-count", "1"),
                ("x-max-length", "1"),
            ],
        )
        .await;
        let mut publisher = target.client().await;
        for body in ["1", "2", "3"] {
            publisher.send_sync(&dest, &[], body).await;
        }
        let first = c.message().await;
        assert_eq!(first.text(), "1", "{dest}");
        c.with_receipt("ACK", &[("id", first.header("ack").unwrap())], b"")
            .await;
        // "2" was dropped from the head when "3" came: the queue holds one message.
        let next = c.message().await;
        assert_eq!(next.text(), "3", "{dest}");
        c.with_receipt("ACK", &[("id", next.header("ack").unwrap())], b"")
            .await;
        c.assert_quiet().await;
    }
}

#[tokio::test]
async fn x_queue_name_names_the_queue_of_a_topic_subscription() {
    let target = target();
    let key = unique("named").replace('.', "-");
    let name = unique("named-queue");
    let mut c = target.client().await;
    c.subscribe_with("s", &format!("/topic/{key}"), &[("x-queue-name", &name)])
        .await;
    let mut publisher = target.client().await;
    // The default exchange reaches the queue by the name it was given.
    publisher
        .send_sync(&format!("/amq/queue/{name}"), &[], "by name")
        .await;
    publisher
        .send_sync(&format!("/topic/{key}"), &[], "by topic")
        .await;
    assert_eq!(c.message().await.text(), "by name");
    assert_eq!(c.message().await.text(), "by topic");

    // A durable one keeps that name while its subscriber is away.
    let durable_key = unique("named-durable").replace('.', "-");
    let durable_name = unique("named-durable-queue");
    let dest = format!("/topic/{durable_key}");
    let headers = [
        ("durable", "true"),
        ("auto-delete", "false"),
        ("x-queue-name", durable_name.as_str()),
    ];
    let mut c = target.client().await;
    c.subscribe_with("d", &dest, &headers).await;
    c.disconnect().await;
    publisher.send_sync(&dest, &[], "while away").await;
    let mut reader = target.client().await;
    reader
        .subscribe("r", &format!("/amq/queue/{durable_name}"))
        .await;
    assert_eq!(reader.message().await.text(), "while away");
    reader.disconnect().await;
    let mut c = target.client().await;
    c.subscribe_with("d", &dest, &headers).await;
    // RabbitMQ finds the queue to delete by the UNSUBSCRIBE's own `x-queue-name`.
    c.with_receipt(
        "UNSUBSCRIBE",
        &[
            ("id", "d"),
            ("durable", "true"),
            ("x-queue-name", &durable_name),
        ],
        b"",
    )
    .await;
    c.frame(
        "SUBSCRIBE",
        &[
            ("id", "gone"),
            ("destination", &format!("/amq/queue/{durable_name}")),
        ],
        b"",
    )
    .await;
    assert_eq!(c.error().await.header("message"), Some("not_found"));
}

#[tokio::test]
async fn x_single_active_consumer_is_a_boolean_argument() {
    // A Warren extension: RabbitMQ's STOMP plugin takes no `x-single-active-consumer` header.
    let Some(target) = warren_only() else { return };
    let q = format!("/queue/{}", unique("sac"));
    let sac = [("x-single-active-consumer", "true")];
    let mut a = target.client().await;
    let mut b = target.client().await;
    a.subscribe_with("a", &q, &sac).await;
    b.subscribe_with("b", &q, &sac).await;
    let mut publisher = target.client().await;
    for body in ["1", "2", "3", "4"] {
        publisher.send_sync(&q, &sac, body).await;
    }
    // Without the argument these would go round-robin.
    for body in ["1", "2", "3", "4"] {
        assert_eq!(a.message().await.text(), body);
    }
    b.assert_quiet().await;
    // The active consumer goes; the other takes over.
    a.disconnect().await;
    publisher.send_sync(&q, &sac, "5").await;
    assert_eq!(b.message().await.text(), "5");
}

#[tokio::test]
async fn x_overflow_is_a_string_argument() {
    // A Warren extension: RabbitMQ's STOMP plugin takes no `x-overflow` header.
    let Some(target) = warren_only() else { return };
    let mut c = target.client().await;
    // A full queue refuses the newest instead of dropping its oldest.
    let q = format!("/queue/{}", unique("overflow"));
    let args = [("x-max-length", "1"), ("x-overflow", "reject-publish")];
    for body in ["1", "2", "3"] {
        // Without a receipt a refused SEND is dropped without an ERROR.
        c.send_with(&q, &args, body.as_bytes()).await;
    }
    c.subscribe_with("s", &q, &args).await;
    assert_eq!(c.message().await.text(), "1");
    c.assert_quiet().await;
}

#[tokio::test]
async fn dead_letter_arguments_are_strings() {
    let target = target();
    let mut c = target.client().await;
    let dead = unique("dead").replace('.', "-");
    let mut watcher = target.client().await;
    watcher
        .subscribe("w", &format!("/exchange/amq.direct/{dead}"))
        .await;
    let q = format!("/queue/{}", unique("dlx"));
    let args = [
        ("x-dead-letter-exchange", "amq.direct"),
        ("x-dead-letter-routing-key", dead.as_str()),
    ];
    c.send_sync(&q, &args, "rejected").await;
    let mut all = args.to_vec();
    all.push(("ack", "client-individual"));
    c.subscribe_with("d", &q, &all).await;
    let m = c.message().await;
    c.with_receipt(
        "NACK",
        &[("id", m.header("ack").unwrap()), ("requeue", "false")],
        b"",
    )
    .await;
    let dead_lettered = watcher.message().await;
    assert_eq!(dead_lettered.text(), "rejected");
    assert_eq!(
        dead_lettered.header("destination"),
        Some(format!("/exchange/amq.direct/{dead}").as_str())
    );
}

#[tokio::test]
async fn other_x_headers_are_message_headers_not_queue_arguments() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("x-other"));
    c.send_sync(&q, &[("x-custom", "first")], "x").await;
    // Another value on the next declaration is no argument mismatch: it is not an argument.
    c.subscribe_with("s", &q, &[("x-custom", "second")]).await;
    let m = c.message().await;
    assert_eq!(m.header("x-custom"), Some("first"));
    // A listed argument is not kept on the message (RabbitMQ keeps it).
    if !matches!(target, StompTarget::Local(_)) {
        return;
    }
    let q = format!("/queue/{}", unique("x-listed"));
    let args = [("x-max-length", "10")];
    c.send_sync(&q, &args, "y").await;
    c.subscribe_with("t", &q, &args).await;
    let m = c.message().await;
    assert_eq!(m.text(), "y");
    assert_eq!(m.header("x-max-length"), None, "{m:?}");
}
