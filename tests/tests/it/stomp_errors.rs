//! STOMP errors: every limit (frame size, header count, header line, subscriptions,
//! transactions), malformed frames and escapes, missing headers, server frames from a client,
//! the connect timeout and anonymous logins. Each gets one ERROR frame with a `message` header
//! and an explaining body, then the connection closes; other connections carry on.

use crate::stomp;

use stomp::*;

use warren_testkit::{Config, TestBroker};

/// A frame's command and headers, the ERROR's `message` summary and a piece of its body.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);

fn small_limits() -> StompTarget {
    let mut config = Config::default();
    config.stomp.max_frame_size = 4096;
    config.stomp.max_headers = 16;
    config.stomp.max_header_line = 512;
    config.stomp.max_subscriptions = 2;
    config.stomp.max_transactions = 1;
    config.stomp.max_transaction_bytes = 2048;
    config.stomp.connect_timeout = 1;
    StompTarget::Local(TestBroker::start_with(config))
}

async fn assert_still_serves(target: &StompTarget) {
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("alive"));
    c.subscribe("s", &q).await;
    c.send(&q, "alive").await;
    assert_eq!(c.message().await.text(), "alive");
}

#[tokio::test]
async fn a_content_length_above_the_limit_is_refused_before_the_body() {
    let target = small_limits();
    let mut c = target.client().await;
    // Only the head is sent: the refusal cannot have waited for the body.
    c.raw(b"SEND\ndestination:/queue/big\ncontent-length:100000\n\n")
        .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("Bad frame"));
    // 51 bytes of head, the body, the NUL.
    assert_eq!(
        e.text(),
        "frame of at least 100052 bytes exceeds the maximum of 4096\n"
    );
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn a_whole_oversized_frame_in_one_write_is_refused() {
    let target = small_limits();
    let q = format!("/queue/{}", unique("whole-big"));
    let body_only = format!("SEND\ndestination:{q}\n\n");
    let with_length = format!("SEND\ndestination:{q}\ncontent-length:4100\n\n");
    // Without content-length the frame is known to be above the limit; with it, its size is.
    let declared = with_length.len() + 4100 + 1;
    for (head, size) in [(body_only, 4097), (with_length, declared)] {
        let mut frame = head.into_bytes();
        frame.extend_from_slice(&[b'x'; 4100]);
        frame.push(0);
        let mut c = target.client().await;
        // Head, body and NUL in one write: the frame is complete in the first read.
        c.raw(&frame).await;
        let e = c.error().await;
        assert_eq!(e.header("message"), Some("Bad frame"));
        assert_eq!(
            e.text(),
            format!("frame of at least {size} bytes exceeds the maximum of 4096\n")
        );
    }
    // Neither reached the queue.
    let mut c = target.client().await;
    c.subscribe("s", &q).await;
    c.assert_quiet().await;
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn a_body_without_content_length_above_the_limit_is_refused() {
    let target = small_limits();
    let mut c = target.client().await;
    let mut frame = b"SEND\ndestination:/queue/big\n\n".to_vec();
    frame.extend_from_slice(&[b'x'; 5000]);
    c.raw(&frame).await;
    let e = c.error().await;
    assert!(e.text().contains("exceeds the maximum"), "{}", e.text());
}

#[tokio::test]
async fn too_many_headers_are_refused() {
    let target = small_limits();
    let mut c = target.client().await;
    let headers: Vec<(String, String)> = (0..20).map(|i| (format!("h{i}"), "v".into())).collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    c.send_with("/queue/x", &refs, b"x").await;
    let e = c.error().await;
    assert!(e.text().contains("more than 16 headers"), "{}", e.text());
}

#[tokio::test]
async fn a_header_line_above_the_limit_is_refused() {
    let target = small_limits();
    let mut c = target.client().await;
    let long = "v".repeat(600);
    c.send_with("/queue/x", &[("long", &long)], b"x").await;
    let e = c.error().await;
    assert!(
        e.text().contains("header line longer than 512 bytes"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn subscriptions_per_connection_are_limited() {
    let target = small_limits();
    let mut c = target.client().await;
    c.subscribe("a", "/topic/a").await;
    c.subscribe("b", "/topic/b").await;
    c.frame(
        "SUBSCRIBE",
        &[("id", "c"), ("destination", "/topic/c")],
        b"",
    )
    .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("Limit exceeded"));
}

#[tokio::test]
async fn transactions_are_limited_in_number_and_bytes() {
    let target = small_limits();
    let mut c = target.client().await;
    c.with_receipt("BEGIN", &[("transaction", "a")], b"").await;
    c.frame("BEGIN", &[("transaction", "b")], b"").await;
    assert_eq!(c.error().await.header("message"), Some("Limit exceeded"));
    let mut c = target.client().await;
    c.with_receipt("BEGIN", &[("transaction", "a")], b"").await;
    for _ in 0..3 {
        c.send_with("/queue/x", &[("transaction", "a")], &[b'x'; 1000])
            .await;
    }
    let e = c.error().await;
    assert!(
        e.text().contains("transactions hold more than 2048 bytes"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn no_connect_within_the_timeout_closes_the_connection() {
    let target = small_limits();
    let mut c = StompClient::open(target.addr()).await;
    // A heart-beat EOL is traffic but not a CONNECT. (A client that sends nothing at all is
    // held by the network layer's own opening timeout before a session exists.)
    c.raw(b"\n").await;
    assert!(c.until_closed().await.is_empty());
}

#[tokio::test]
async fn anonymous_logins_can_be_refused() {
    let mut config = Config::default();
    config.stomp.allow_anonymous = false;
    let target = StompTarget::Local(TestBroker::start_with(config));
    let mut c = StompClient::open(target.addr()).await;
    c.frame("CONNECT", &[("accept-version", "1.2"), ("host", "/")], b"")
        .await;
    let e = c.error().await;
    assert_eq!(e.header("message"), Some("Bad CONNECT"));
    let mut config = Config::default();
    config.stomp.allow_anonymous = true;
    let target = StompTarget::Local(TestBroker::start_with(config));
    let mut c = StompClient::open(target.addr()).await;
    c.frame("CONNECT", &[("accept-version", "1.2"), ("host", "/")], b"")
        .await;
    assert_eq!(c.recv().await.command, "CONNECTED");
}

#[tokio::test]
async fn malformed_frames_are_refused_and_others_carry_on() {
    let Some(target) = warren_only() else { return };
    let cases: [(&[u8], &str); 5] = [
        (b"SEND\nno colon here\n\n\0", "malformed frame"),
        (b"SEND\nk:bad\\tescape\n\n\0", "undefined escape"),
        (b"SEND\ncontent-length:2\n\nabc\0", "not terminated by NUL"),
        (
            b"SEND\ncontent-length:two\n\nab\0",
            "invalid content-length",
        ),
        (b"BOGUS\n\n\0", "unknown command 'BOGUS'"),
    ];
    let mut bystander = target.client().await;
    let q = format!("/queue/{}", unique("bystander"));
    bystander.subscribe("s", &q).await;
    for (bytes, text) in cases {
        let mut c = target.client().await;
        c.raw(bytes).await;
        let e = c.error().await;
        assert!(e.text().contains(text), "{text}: {}", e.text());
    }
    bystander.send(&q, "unaffected").await;
    assert_eq!(bystander.message().await.text(), "unaffected");
}

#[tokio::test]
async fn server_frames_from_a_client_are_refused() {
    let Some(target) = warren_only() else { return };
    for command in ["MESSAGE", "RECEIPT", "ERROR", "CONNECTED"] {
        let mut c = target.client().await;
        c.frame(command, &[], b"").await;
        let e = c.error().await;
        assert_eq!(e.header("message"), Some("Illegal command"), "{command}");
    }
}

#[tokio::test]
async fn missing_and_invalid_headers_are_named() {
    let target = target();
    // Each with RabbitMQ's `message` summary and body.
    let cases: [Case; 6] = [
        (
            "SEND",
            &[],
            "Missing destination",
            "\"SEND\" must include a 'destination' header",
        ),
        (
            "SUBSCRIBE",
            &[("id", "s")],
            "Missing destination",
            "\"SUBSCRIBE\" must include a 'destination' header",
        ),
        (
            "BEGIN",
            &[],
            "Missing transaction",
            "\"BEGIN\" must include a 'transaction' header",
        ),
        (
            "UNSUBSCRIBE",
            &[],
            "Missing destination or id",
            "UNSUBSCRIBE must include a 'destination' or 'id' header",
        ),
        (
            "SUBSCRIBE",
            &[("destination", "/topic/durable"), ("durable", "true")],
            "Missing Header",
            "Header 'id' is required for durable subscriptions",
        ),
        (
            "SEND",
            &[("destination", "/queue/x"), ("message-id", "m")],
            "Invalid header",
            "'message-id' is not allowed on 'SEND'.",
        ),
    ];
    for (command, headers, summary, text) in cases {
        let mut c = target.client().await;
        c.frame(command, headers, b"").await;
        let e = c.error().await;
        assert!(e.text().contains(text), "{command}: {}", e.text());
        let rabbitmq_says_otherwise = summary == "Invalid header";
        if matches!(target, StompTarget::Local(_)) || !rabbitmq_says_otherwise {
            assert_eq!(e.header("message"), Some(summary), "{command}");
        }
    }
}

#[tokio::test]
async fn subscription_ids_must_be_unique_and_known() {
    let Some(target) = warren_only() else { return };
    let mut c = target.client().await;
    c.subscribe("s", "/topic/a").await;
    c.frame(
        "SUBSCRIBE",
        &[("id", "s"), ("destination", "/topic/b")],
        b"",
    )
    .await;
    let e = c.error().await;
    assert_eq!(
        e.header("message"),
        Some("Duplicated subscription identifier")
    );
    assert!(e
        .text()
        .contains("A subscription identified by 's' already exists."));
    let mut c = target.client().await;
    c.frame("UNSUBSCRIBE", &[("id", "never")], b"").await;
    assert!(c
        .error()
        .await
        .text()
        .contains("Subscription to 'never' not found"));
    let mut c = target.client().await;
    c.frame(
        "SUBSCRIBE",
        &[
            ("id", "s"),
            ("destination", "/topic/b"),
            ("ack", "sometimes"),
        ],
        b"",
    )
    .await;
    assert_eq!(c.error().await.header("message"), Some("Invalid header"));
}

#[tokio::test]
async fn an_error_echoes_the_receipt_of_the_frame_that_caused_it() {
    let Some(target) = warren_only() else { return };
    let mut c = target.client().await;
    c.frame(
        "SUBSCRIBE",
        &[
            ("id", "s"),
            ("destination", "/nowhere"),
            ("receipt", "r-bad"),
        ],
        b"",
    )
    .await;
    let e = c.error().await;
    assert_eq!(e.header("receipt-id"), Some("r-bad"));
}

#[tokio::test]
async fn a_user_id_other_than_the_login_is_refused() {
    let target = target();
    let mut c = target.client().await;
    c.send_with("/queue/x", &[("user-id", "someone-else")], b"x")
        .await;
    let e = c.error().await;
    assert!(
        e.text().contains("user_id property set to 'someone-else'"),
        "{}",
        e.text()
    );
}

#[tokio::test]
async fn deleting_a_subscribed_queue_ends_the_subscription_with_an_error() {
    let Some(target) = warren_only() else { return };
    let mut c = target.client().await;
    let name = unique("deleted");
    c.subscribe("s", &format!("/queue/{name}")).await;
    let conn = lapin::Connection::connect(&target.amqp_url().unwrap(), Default::default())
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    ch.queue_delete(name.as_str().into(), Default::default())
        .await
        .expect("delete");
    let e = c.error().await;
    assert!(
        e.text().contains("Subscription 's' was cancelled"),
        "{}",
        e.text()
    );
}
