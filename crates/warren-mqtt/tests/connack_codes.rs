//! CONNECT variants answered by CONNACK return codes (3.x) and reason codes (5.0): refused
//! credentials, identifiers and authentication methods, and the properties of a 5.0 CONNACK.

mod common;

use common::packets::{connack3, connack5};
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, ConnectAckReason};
use rmqtt_codec::v5;
use warren_mqtt::MqttConfig;

#[test]
fn v311_return_codes() {
    let b = TestBroker::new();
    let mut c = b.client();
    // empty id with clean session 0: identifier rejected (MQTT-3.1.3-8)
    let ack = connack3(&mut c, connect3("", false));
    assert_eq!(ack.return_code, ConnectAckReason::IdentifierRejected);
    assert!(c.closed());

    let mut c = b.client();
    let bad = v3::Packet::Connect(Box::new(v3::Connect {
        clean_session: true,
        client_id: "x".into(),
        username: Some("guest".into()),
        password: Some("wrong".into()),
        ..v3::Connect::default()
    }));
    assert_eq!(
        connack3(&mut c, bad).return_code,
        ConnectAckReason::BadUserNameOrPassword
    );
    assert!(c.closed());

    let b2 = TestBroker::with_config(MqttConfig {
        allow_anonymous: false,
        ..MqttConfig::default()
    });
    let mut c = b2.client();
    assert_eq!(
        connack3(&mut c, connect3("x", true)).return_code,
        ConnectAckReason::NotAuthorized
    );

    let mut c = b.client();
    let out = c.raw(b"\x10\x10\x00\x04MQTT\x09\x02\x00\x3c\x00\x04abcd");
    assert_eq!(&out[..], b"\x20\x02\x00\x01");
    assert!(c.closed());
}

#[test]
fn v31_ids_are_limited_to_23_characters() {
    let b = TestBroker::new();
    let mut c = b.client();
    // MQIsdp, level 3, clean, id of 24 characters
    let mut p = b"\x10\x26\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x18".to_vec();
    p.extend_from_slice(b"abcdefghijklmnopqrstuvwx");
    let out = c.raw(&p);
    assert_eq!(&out[..], b"\x20\x02\x00\x02");
    let mut c = b.client();
    let out = c.raw(b"\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x04abcd");
    assert_eq!(&out[..], b"\x20\x02\x00\x00");
}

#[test]
fn v5_assigned_id_and_connack_properties() {
    let b = TestBroker::new();
    let mut c = b.client();
    let ack = c.connect5(connect5("", true, 0));
    let id = ack.assigned_client_id.expect("an assigned id");
    assert!(!id.is_empty());
    assert_eq!(ack.receive_max.get(), 1024);
    assert_eq!(ack.max_qos, QoS::ExactlyOnce);
    assert_eq!(ack.max_packet_size, Some(16 * 1024 * 1024));
    assert_eq!(ack.topic_alias_max, 64);
    assert!(ack.retain_available && ack.wildcard_subscription_available);
    assert!(ack.shared_subscription_available && ack.subscription_identifiers_available);
}

#[test]
fn v5_refusals() {
    let b = TestBroker::new();
    let mut c = b.client();
    let mut conn = connect5("a", true, 0);
    conn.auth_method = Some("SCRAM-SHA-1".into());
    let out = c.send5(v5::Packet::Connect(Box::new(conn)));
    assert!(
        matches!(out.as_slice(), [v5::Packet::ConnectAck(a)] if a.reason_code == v5::ConnectAckReason::BadAuthenticationMethod)
    );
    assert!(c.closed());

    let mut c = b.client();
    let mut conn = connect5("a", true, 0);
    conn.username = Some("guest".into());
    conn.password = Some("nope".into());
    let out = c.send5(v5::Packet::Connect(Box::new(conn)));
    assert!(
        matches!(out.as_slice(), [v5::Packet::ConnectAck(a)] if a.reason_code == v5::ConnectAckReason::BadUserNameOrPassword)
    );

    // a stray AUTH after CONNECT is a protocol error
    let mut c = b.client();
    c.connect5(connect5("a", true, 0));
    let out = c.raw(b"\xf0\x02\x18\x00");
    let out = c.decode5(out);
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == v5::DisconnectReasonCode::ProtocolError)
    );
    assert!(c.closed());
}

/// Client ids become queue names (`mqtt-subscription-<id>`, at most 255 bytes): 237 bytes
/// is the longest accepted; longer is "identifier rejected" (3.1.1 code 2, 5.0 0x85).
#[test]
fn client_ids_longer_than_237_bytes_are_refused() {
    let b = TestBroker::new();
    let longest = "i".repeat(237);
    let too_long = "i".repeat(238);
    let mut c = b.client();
    c.connect3(&longest, true);
    let mut c = b.client();
    assert_eq!(
        connack3(&mut c, connect3(&too_long, true)).return_code,
        ConnectAckReason::IdentifierRejected
    );
    assert!(c.closed());
    let mut c = b.client();
    c.connect5(connect5(&longest, true, 0));
    let mut c = b.client();
    assert_eq!(
        connack5(&mut c, connect5(&too_long, true, 0)).reason_code,
        v5::ConnectAckReason::ClientIdentifierNotValid
    );
    assert!(c.closed());
}

/// 5.0 with an empty client id and Clean Start 0: 0x85 (MQTT-3.1.3-8 lets the server refuse
/// it; see the ADR on the codec).
#[test]
fn v5_empty_client_id_without_clean_start_is_0x85() {
    let b = TestBroker::new();
    let mut c = b.client();
    assert_eq!(
        connack5(&mut c, connect5("", false, 60)).reason_code,
        v5::ConnectAckReason::ClientIdentifierNotValid
    );
    assert!(c.closed());
}

/// Anonymous access disabled: 5.0 0x87 Not authorized (3.1.1 code 5 is tested above).
#[test]
fn v5_anonymous_refused_is_0x87() {
    let b = TestBroker::with_config(MqttConfig {
        allow_anonymous: false,
        ..MqttConfig::default()
    });
    let mut c = b.client();
    let ack = connack5(&mut c, connect5("anon", true, 0));
    assert_eq!(ack.reason_code, v5::ConnectAckReason::NotAuthorized);
    assert!(ack.reason_string.is_some_and(|r| r.contains("anonymous")));
    assert!(c.closed());
}
