//! STOMP connection set-up: version negotiation for 1.0, 1.1 and 1.2, CONNECT and STOMP frames,
//! login and vhost checks, CONNECTED headers, heart-beats both ways with a dead client
//! disconnected, DISCONNECT with receipt, and frames before CONNECT.

use crate::stomp;

use std::time::Duration;

use stomp::*;

async fn connect_reply(target: &StompTarget, headers: &[(&str, &str)]) -> (StompClient, Frame) {
    let mut c = StompClient::open(target.addr()).await;
    let reply = c.connect(headers).await;
    (c, reply)
}

#[tokio::test]
async fn each_version_is_negotiated_to_the_highest_common_one() {
    let target = target();
    for (offered, agreed) in [
        ("1.0", "1.0"),
        ("1.1", "1.1"),
        ("1.2", "1.2"),
        ("1.0,1.1,1.2", "1.2"),
        ("1.0,1.1", "1.1"),
    ] {
        let (c, reply) =
            connect_reply(&target, &[("accept-version", offered), ("host", "/")]).await;
        assert_eq!(reply.command, "CONNECTED");
        assert_eq!(reply.header("version"), Some(agreed), "offered {offered}");
        assert!(reply.header("session").is_some());
        assert!(reply.header("server").is_some());
        c.disconnect().await;
    }
}

#[tokio::test]
async fn a_connect_without_accept_version_is_1_0() {
    let target = target();
    let (_c, reply) = connect_reply(&target, &[("host", "/")]).await;
    assert_eq!(reply.command, "CONNECTED");
    assert!(
        matches!(reply.header("version"), None | Some("1.0")),
        "{reply:?}"
    );
}

#[tokio::test]
async fn the_stomp_frame_connects_too() {
    let target = target();
    let mut c = StompClient::open(target.addr()).await;
    c.frame(
        "STOMP",
        &[
            ("accept-version", "1.1,1.2"),
            ("host", "/"),
            ("login", "guest"),
            ("passcode", "guest"),
        ],
        b"",
    )
    .await;
    let reply = c.recv().await;
    assert_eq!(reply.command, "CONNECTED");
    assert_eq!(reply.header("version"), Some("1.2"));
}

#[tokio::test]
async fn an_unsupported_version_is_refused_with_the_supported_ones() {
    let target = target();
    let (mut c, first) =
        connect_reply(&target, &[("accept-version", "2.0,3.1"), ("host", "/")]).await;
    assert_eq!(first.command, "ERROR");
    assert_eq!(first.header("message"), Some("Version mismatch"));
    assert!(
        first.header("version").unwrap_or_default().contains("1.2"),
        "{first:?}"
    );
    // The spec says the server closes after ERROR; RabbitMQ 3.10 leaves this one open.
    if matches!(target, StompTarget::Local(_)) {
        c.until_closed().await;
    }
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let target = target();
    let (mut c, first) = connect_reply(
        &target,
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("login", "guest"),
            ("passcode", "wrong"),
        ],
    )
    .await;
    assert_eq!(first.command, "ERROR");
    assert_eq!(first.header("message"), Some("Bad CONNECT"));
    assert!(
        first.text().contains("Access refused for user 'guest'"),
        "{}",
        first.text()
    );
    c.until_closed().await;
}

#[tokio::test]
async fn host_names_the_vhost_and_an_unknown_one_is_refused() {
    let target = target();
    let (mut c, first) = connect_reply(
        &target,
        &[("accept-version", "1.2"), ("host", "no-such-vhost")],
    )
    .await;
    assert_eq!(first.command, "ERROR");
    assert_eq!(first.header("message"), Some("Bad CONNECT"));
    assert!(
        first
            .text()
            .contains("Virtual host 'no-such-vhost' access denied"),
        "{}",
        first.text()
    );
    c.until_closed().await;
}

#[tokio::test]
async fn a_frame_before_connect_is_an_error() {
    let target = target();
    let mut c = StompClient::open(target.addr()).await;
    c.frame("SEND", &[("destination", "/queue/x")], b"early")
        .await;
    let error = c.error().await;
    assert_eq!(error.header("message"), Some("Illegal command"));
    assert!(error.text().contains("You must log in using CONNECT first"));
}

#[tokio::test]
async fn a_second_connect_is_an_error() {
    let Some(target) = warren_only() else { return };
    let mut c = target.client().await;
    c.frame("CONNECT", &[("accept-version", "1.2"), ("host", "/")], b"")
        .await;
    let error = c.error().await;
    assert_eq!(error.header("message"), Some("Illegal command"));
}

#[tokio::test]
async fn disconnect_gets_its_receipt_then_the_connection_closes() {
    let target = target();
    let c = target.client().await;
    c.disconnect().await;
}

#[tokio::test]
async fn heart_beats_are_negotiated_as_the_larger_interval() {
    let target = target();
    let (_c, reply) = connect_reply(
        &target,
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("heart-beat", "1000,2000"),
        ],
    )
    .await;
    // The server sends every max(cy, sx) and expects every max(cx, sy).
    assert_eq!(reply.header("heart-beat"), Some("2000,1000"));
    let (_c, reply) = connect_reply(
        &target,
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("heart-beat", "0,0"),
        ],
    )
    .await;
    assert_eq!(reply.header("heart-beat"), Some("0,0"));
}

#[tokio::test]
async fn the_server_sends_heart_beats_when_idle() {
    let Some(target) = warren_only() else { return };
    let (mut c, reply) = connect_reply(
        &target,
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("heart-beat", "0,150"),
        ],
    )
    .await;
    assert_eq!(reply.header("heart-beat"), Some("150,0"));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while c.heartbeats < 3 && tokio::time::Instant::now() < deadline {
        assert!(c.recv_within(Duration::from_millis(100)).await.is_none());
    }
    assert!(c.heartbeats >= 3, "got {} heart-beats", c.heartbeats);
}

#[tokio::test]
async fn a_silent_client_is_disconnected_and_a_beating_one_is_not() {
    let Some(target) = warren_only() else { return };
    // The broker counts silence from the last byte it read, the CONNECT: start the clock
    // before sending it, so the measured time cannot be shorter than the broker's.
    let started = tokio::time::Instant::now();
    let (mut silent, reply) = connect_reply(
        &target,
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("heart-beat", "200,0"),
        ],
    )
    .await;
    assert_eq!(reply.header("heart-beat"), Some("0,200"));
    let (mut beating, _) = connect_reply(
        &target,
        &[
            ("accept-version", "1.2"),
            ("host", "/"),
            ("heart-beat", "200,0"),
        ],
    )
    .await;
    let closed = tokio::spawn(async move {
        silent.until_closed().await;
        started.elapsed()
    });
    for _ in 0..8 {
        beating.raw(b"\n").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = closed.await.expect("silent client task");
    assert!(
        elapsed >= Duration::from_millis(400),
        "closed too early: {elapsed:?}"
    );
    // Still alive after 800 ms of beats: a round trip works.
    let q = format!("/queue/{}", unique("beats"));
    beating.subscribe("s", &q).await;
    beating.send(&q, "still here").await;
    assert_eq!(beating.message().await.text(), "still here");
}
