//! STOMP SEND and SUBSCRIBE on every destination kind: `/queue` (declared), `/topic` with
//! wildcards, `/exchange`, `/amq/queue` (must exist), `/temp-queue` RPC, `%2F` in names;
//! MESSAGE headers (subscription, destination, message-id, redelivered, properties and custom
//! headers); bodies with NUL bytes; receipts; UNSUBSCRIBE; durable topic subscriptions; `x-*`
//! queue arguments on SEND and SUBSCRIBE (`/queue`, `/topic`, `/exchange`, `x-queue-name`,
//! booleans and strings) and other `x-*` headers kept as message headers.

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
async fn all_property_headers_survive() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("props"));
    c.subscribe("s", &q).await;
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("persistent", "true"),
        ("priority", "4"),
        ("correlation-id", "corr"),
        ("reply-to", "/queue/replies"),
        ("expiration", "60000"),
        ("timestamp", "1700000000"),
        ("type", "kind"),
        ("user-id", "guest"),
        ("app-id", "app"),
        ("amqp-message-id", "mid-1"),
        ("x-custom", "xv"),
    ];
    c.send_sync(&q, &headers, "{}").await;
    let m = c.message().await;
    for (name, value) in headers {
        assert_eq!(m.header(name), Some(value), "{name} in {m:?}");
    }
}

#[tokio::test]
async fn header_values_with_escaped_characters_survive_in_1_1_and_1_2() {
    let target = target();
    for version in ["1.1", "1.2"] {
        let mut c = target.client_version(version).await;
        let q = format!("/queue/{}", unique("escape"));
        c.subscribe("s", &q).await;
        c.send_sync(&q, &[("key:with:colons", "line1\nline2\\back")], "x")
            .await;
        let m = c.message().await;
        assert_eq!(
            m.header("key:with:colons"),
            Some("line1\nline2\\back"),
            "{version}: {m:?}"
        );
    }
}

#[tokio::test]
async fn repeated_headers_first_one_wins() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("repeat"));
    c.subscribe("s", &q).await;
    c.send_sync(&q, &[("foo", "first"), ("foo", "second")], "x")
        .await;
    assert_eq!(c.message().await.header("foo"), Some("first"));
}

#[tokio::test]
async fn bodies_with_nul_bytes_need_content_length() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("binary"));
    c.subscribe("s", &q).await;
    let body = b"a\0b\0\0c";
    c.with_receipt(
        "SEND",
        &[("destination", &q), ("content-length", "6")],
        body,
    )
    .await;
    let m = c.message().await;
    assert_eq!(m.body, body);
    assert_eq!(m.header("content-length"), Some("6"));
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
