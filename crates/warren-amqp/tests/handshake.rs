//! The connection handshake: protocol header, authentication, tuning, vhost.

mod common;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{connection, AMQPClass};
use amq_protocol::types::AMQPValue;
use common::*;
use warren_model::SessionStatus;

#[test]
fn a_wrong_protocol_header_is_answered_with_ours_and_closed() {
    let mut c = Client::new();
    let mut input = bytes::BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    let status = c.session.on_input(&mut input, &mut c.output, c.now);
    assert_eq!(status, SessionStatus::Close);
    assert_eq!(&c.output[..], b"AMQP\x00\x00\x09\x01");
}

#[test]
fn start_announces_rabbitmq_capabilities_and_mechanisms() {
    let mut c = Client::new();
    let frames = c.send_raw(b"AMQP\x00\x00\x09\x01");
    let [AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Start(start)))] =
        frames.as_slice()
    else {
        panic!("{frames:?}");
    };
    assert_eq!(start.mechanisms.to_string(), "PLAIN AMQPLAIN");
    assert_eq!(start.locales.to_string(), "en_US");
    let Some(AMQPValue::FieldTable(caps)) = start.server_properties.inner().get("capabilities")
    else {
        panic!("no capabilities");
    };
    for cap in [
        "publisher_confirms",
        "basic.nack",
        "consumer_cancel_notify",
        "per_consumer_qos",
        "authentication_failure_close",
        "exchange_exchange_bindings",
        "connection.blocked",
        "consumer_priorities",
    ] {
        assert_eq!(
            caps.inner().get(cap),
            Some(&AMQPValue::Boolean(true)),
            "{cap}"
        );
    }
    // Announced only once implemented: clients act on it.
    assert_eq!(caps.inner().get("direct_reply_to"), None);
    assert!(
        matches!(start.server_properties.inner().get("product"), Some(AMQPValue::LongString(p)) if p.to_string() == "Warren")
    );
}

#[test]
fn plain_login_tunes_and_opens() {
    let mut c = Client::new();
    c.connect();
}

#[test]
fn amqplain_login_works() {
    let mut c = Client::new();
    // LOGIN and PASSWORD as long strings, without the table's length prefix.
    let mut resp = Vec::new();
    for (k, v) in [("LOGIN", "guest"), ("PASSWORD", "guest")] {
        resp.push(k.len() as u8);
        resp.extend_from_slice(k.as_bytes());
        resp.push(b'S');
        resp.extend_from_slice(&(v.len() as u32).to_be_bytes());
        resp.extend_from_slice(v.as_bytes());
    }
    let frames = c.handshake_frames("AMQPLAIN", resp, "/");
    assert!(
        matches!(
            frames.as_slice(),
            [AMQPFrame::Method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))
            )]
        ),
        "{frames:?}"
    );
}

#[test]
fn a_bad_password_is_refused_with_403() {
    let mut c = Client::new();
    let frames = c.handshake_frames("PLAIN", b"\0guest\0nope".to_vec(), "/");
    let (code, text) = close_code(&frames).expect("connection.close");
    assert_eq!(code, 403);
    assert!(
        text.starts_with("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"),
        "{text}"
    );
    assert_eq!(c.status, SessionStatus::Close);
}

#[test]
fn an_unknown_vhost_is_refused_with_530() {
    let mut c = Client::new();
    let frames = c.handshake_frames("PLAIN", b"\0guest\0guest".to_vec(), "nope");
    assert!(is_connection_close(&frames));
    assert_eq!(close_code(&frames).map(|c| c.0), Some(530));
}

#[test]
fn a_frame_max_above_the_server_s_is_refused() {
    let mut c = Client::new();
    c.send_raw(b"AMQP\x00\x00\x09\x01");
    let start_ok = connection::StartOk {
        client_properties: Default::default(),
        mechanism: s("PLAIN"),
        response: b"\0guest\0guest".to_vec().into(),
        locale: s("en_US"),
    };
    c.send(&[method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)),
    )]);
    let tune_ok = connection::TuneOk {
        channel_max: 0,
        frame_max: 1 << 30,
        heartbeat: 0,
    };
    let frames = c.send(&[method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
    )]);
    assert_eq!(close_code(&frames).map(|c| c.0), Some(530));
}
