//! Connection handshake: protocol header negotiation, SASL (PLAIN, AMQPLAIN), vhost access,
//! connection.start contents, tune values and heartbeats.

use std::time::{Duration, Instant};

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{connection, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use warren_it::raw::{self, Incoming, Open, Raw, Value};
use warren_it::{assert_usable, reply_code, target, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_login_opens_a_usable_connection() {
    let t = target();
    let conn = t.connect().await;
    assert!(conn.status().connected());
    assert_usable(&conn).await;
    conn.close(200, "bye".into())
        .await
        .expect("connection.close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_with_access_refused() {
    let t = target();
    let url = t.url_for("guest", "not-the-password", "%2f");
    let err = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect_err("a wrong password must not log in");
    assert_eq!(reply_code(&err), Some(403), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_refused_with_access_refused() {
    let t = target();
    let url = t.url_for("nobody-by-this-name", "guest", "%2f");
    let err = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect_err("an unknown user must not log in");
    assert_eq!(reply_code(&err), Some(403), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_vhost_is_refused_with_not_allowed() {
    let t = target();
    let url = t.url_for("guest", "guest", "no-such-vhost");
    let err = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect_err("an unknown vhost must not open");
    assert_eq!(reply_code(&err), Some(530), "{err:?}");
}

#[test]
fn raw_wrong_password_gets_connection_close_403() {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.hello();
    raw.start_ok("PLAIN", &raw::plain("guest", "wrong"));
    let ending = raw.wait_closed(DEADLINE);
    let close = ending
        .close
        .expect("connection.close before the socket closes");
    assert_eq!(close.reply_code, 403);
    assert!(ending.eof, "socket closed after connection.close");
}

#[test]
fn raw_unknown_vhost_gets_connection_close_530() {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.hello();
    raw.start_ok("PLAIN", &raw::plain("guest", "guest"));
    let tune = raw.read_tune();
    raw.tune_ok_and_open(tune.channel_max, tune.frame_max, 0, "no-such-vhost");
    let close = raw.wait_closed(DEADLINE).close.expect("connection.close");
    assert_eq!(close.reply_code, 530);
    assert_eq!(
        (close.class_id, close.method_id),
        (10, 40),
        "blames connection.open"
    );
}

#[test]
fn amqplain_login_is_accepted() {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.hello();
    let response = raw::table_body(&[
        ("LOGIN", Value::LongStr("guest".into())),
        ("PASSWORD", Value::LongStr("guest".into())),
    ]);
    raw.start_ok("AMQPLAIN", &response);
    let tune = raw.read_tune();
    raw.tune_ok_and_open(tune.channel_max, tune.frame_max, 0, "/");
    match raw.read_method(DEADLINE) {
        (0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))) => {}
        other => panic!("expected connection.open-ok, got {other:?}"),
    }
    raw.open_channel(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapin_logs_in_with_amqplain() {
    let t = target();
    let url = format!("{}?auth_mechanism=amqplain", t.url());
    let conn = tokio::time::timeout(
        DEADLINE,
        Connection::connect(&url, ConnectionProperties::default()),
    )
    .await
    .expect("in time")
    .expect("AMQPLAIN login");
    assert_usable(&conn).await;
    let wrong = url.replacen("guest:guest", "guest:wrong", 1);
    let refused = Connection::connect(&wrong, ConnectionProperties::default()).await;
    assert_eq!(refused.err().as_ref().and_then(reply_code), Some(403));
}

#[test]
fn amqplain_with_wrong_password_is_refused() {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.hello();
    let response = raw::table_body(&[
        ("LOGIN", Value::LongStr("guest".into())),
        ("PASSWORD", Value::LongStr("nope".into())),
    ]);
    raw.start_ok("AMQPLAIN", &response);
    let close = raw.wait_closed(DEADLINE).close.expect("connection.close");
    assert_eq!(close.reply_code, 403);
}

fn assert_header_refused(header: &[u8]) {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.send(header).expect("send header");
    let reply = raw.read_bytes(8, DEADLINE);
    assert_eq!(
        reply,
        raw::PROTOCOL_HEADER,
        "server names the version it speaks"
    );
    let ending = raw.wait_closed(DEADLINE);
    assert!(ending.eof, "server closes after refusing the header");
    assert!(
        ending.close.is_none(),
        "no connection.close before a handshake"
    );
}

#[test]
fn amqp_0_10_header_is_answered_with_0_9_1_and_closed() {
    assert_header_refused(b"AMQP\x01\x01\x00\x0a");
}

#[test]
fn non_amqp_header_is_answered_with_0_9_1_and_closed() {
    assert_header_refused(b"GET / HTTP/1.1\r\n\r\n");
}

fn capability(caps: &FieldTable, name: &str) -> Option<bool> {
    match caps.inner().get(name) {
        Some(AMQPValue::Boolean(b)) => Some(*b),
        _ => None,
    }
}

#[test]
fn connection_start_advertises_version_mechanisms_and_capabilities() {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    let start = raw.hello();
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    let mechanisms = start.mechanisms.to_string();
    let mechanisms: Vec<&str> = mechanisms.split(' ').collect();
    assert!(mechanisms.contains(&"PLAIN"), "{mechanisms:?}");
    assert!(mechanisms.contains(&"AMQPLAIN"), "{mechanisms:?}");
    assert!(start.locales.to_string().split(' ').any(|l| l == "en_US"));
    let props = start.server_properties.inner();
    for key in ["product", "version", "platform"] {
        assert!(props.contains_key(key), "server property {key} missing");
    }
    let caps = match props.get("capabilities") {
        Some(AMQPValue::FieldTable(caps)) => caps.clone(),
        other => panic!("capabilities table missing: {other:?}"),
    };
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
    ] {
        assert_eq!(capability(&caps, cap), Some(true), "capability {cap}");
    }
}

#[test]
fn connection_tune_offers_rabbitmq_defaults() {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.hello();
    raw.start_ok("PLAIN", &raw::plain("guest", "guest"));
    let tune = raw.read_tune();
    assert_eq!(tune.channel_max, 2047);
    assert_eq!(tune.frame_max, 131_072);
    assert_eq!(tune.heartbeat, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapin_negotiates_the_servers_tune_values() {
    let t = target();
    let conn = t.connect().await;
    let config = conn.configuration();
    assert_eq!(config.channel_max(), 2047);
    assert_eq!(config.frame_max(), 131_072);
    assert_eq!(config.heartbeat(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_may_lower_frame_max_and_heartbeat() {
    let t = target();
    let url = format!("{}?frame_max=8192&heartbeat=5", t.url());
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("connect with lower tune values");
    assert_eq!(conn.configuration().frame_max(), 8192);
    assert_eq!(conn.configuration().heartbeat(), 5);
    // A message larger than the frame size is split into several body frames.
    let ch = warren_it::confirm_channel(&conn).await;
    let queue = warren_it::unique("frames");
    warren_it::declare_queue(&ch, &queue).await;
    let big = vec![7u8; 50_000];
    warren_it::publish(&ch, "", &queue, &big).await;
    let got = warren_it::get(&ch, &queue).await.expect("the big message");
    assert_eq!(got.delivery.data, big);
}

#[test]
fn silent_client_is_disconnected_after_missed_heartbeats() {
    let t = target();
    let opts = Open {
        heartbeat: 1,
        ..Open::default()
    };
    let mut raw = Raw::open(t.addr(), &opts);
    let started = Instant::now();
    let ending = raw.wait_closed(DEADLINE);
    assert!(
        ending.eof,
        "a client silent for {DEADLINE:?} with heartbeat=1 stays connected"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "disconnected before a single heartbeat interval passed"
    );
}

#[test]
fn client_sending_heartbeats_stays_connected_and_receives_heartbeats() {
    let t = target();
    let opts = Open {
        heartbeat: 1,
        ..Open::default()
    };
    let mut raw = Raw::open(t.addr(), &opts);
    let watch_until = Instant::now() + Duration::from_secs(4);
    let mut last_sent = Instant::now();
    let mut received = 0;
    while Instant::now() < watch_until {
        match raw.read(Duration::from_millis(250)) {
            Incoming::Frame(AMQPFrame::Heartbeat) => received += 1,
            Incoming::Frame(other) => panic!("unexpected frame {other:?}"),
            Incoming::Eof => panic!("disconnected although the client sent heartbeats"),
            Incoming::Timeout => {}
        }
        if last_sent.elapsed() >= Duration::from_millis(400) {
            raw.send(&raw::heartbeat()).expect("send heartbeat");
            last_sent = Instant::now();
        }
    }
    assert!(
        received >= 2,
        "server sent {received} heartbeats in 4 s at heartbeat=1"
    );
    raw.open_channel(1);
}

fn tune_ok_then_open(frame_max: u32, channel_max: u16) -> warren_it::raw::Ending {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.hello();
    raw.start_ok("PLAIN", &raw::plain("guest", "guest"));
    raw.read_tune();
    raw.tune_ok_and_open(channel_max, frame_max, 0, "/");
    raw.wait_closed(DEADLINE)
}

/// The connection must not open; a close frame, if any, says 530 NOT_ALLOWED.
fn assert_refused(ending: warren_it::raw::Ending) {
    assert!(ending.eof, "the connection ends: {ending:?}");
    if let Some(close) = ending.close {
        assert_eq!(close.reply_code, 530, "{close:?}");
    }
}

#[test]
fn frame_max_below_the_minimum_is_refused() {
    assert_refused(tune_ok_then_open(1024, 2047));
}

#[test]
fn frame_max_above_the_servers_is_refused() {
    assert_refused(tune_ok_then_open(1 << 20, 2047));
}

#[test]
fn channels_beyond_the_negotiated_channel_max_are_not_allowed() {
    let t = target();
    let mut raw = Raw::connect(t.addr());
    raw.hello();
    raw.start_ok("PLAIN", &raw::plain("guest", "guest"));
    raw.read_tune();
    raw.tune_ok_and_open(5, 131_072, 0, "/");
    match raw.read_method(DEADLINE) {
        (0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))) => {}
        other => panic!("expected connection.open-ok, got {other:?}"),
    }
    for id in 1..=5 {
        raw.open_channel(id);
    }
    raw.send(&raw::method(6, 20, 10, raw::Args::new().short("")))
        .expect("channel.open 6");
    let ending = raw.wait_closed(DEADLINE);
    let close = ending
        .close
        .clone()
        .unwrap_or_else(|| panic!("no connection.close: {ending:?}"));
    assert_eq!(close.reply_code, 530, "{close:?}");
}
