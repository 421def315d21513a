//! Helpers for the MQTT 5 suites: a raw 5.0 connection, an integer property of a packet, a
//! 5.0 subscriber, and the check that a packet ends the connection with one of the expected
//! DISCONNECT reason codes.

use crate::mqtt;

use mqtt::v5::QoS;
use mqtt::*;

pub async fn raw5(t: &MqttTarget, props: Props) -> (Raw, RawPacket) {
    let mut connect = Connect::new(V5, &name("raw5"));
    connect.props = props;
    let (raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack().1, 0, "connected");
    (raw, ack)
}

pub fn int_prop(props: &[(u8, PropValue)], id: u8) -> Option<u64> {
    match find_prop(props, id) {
        Some(PropValue::Int(n)) => Some(*n),
        _ => None,
    }
}

pub async fn sub5(t: &MqttTarget, filter: &str, qos: QoS) -> v5::Client {
    let (mut c, _) = v5::connect(t.v5(&name("sub"))).await;
    c.subscribe(filter, qos).await;
    c
}

/// Sends a packet that must end the connection and checks the server's reaction: the
/// connection closes, and a DISCONNECT sent before it carries one of `reasons`. Sending that
/// DISCONNECT is optional in the spec (section 4.13) but Warren always does.
pub async fn expect_refusal(t: &MqttTarget, raw: &mut Raw, bytes: &[u8], reasons: &[u8]) {
    raw.send_lossy(bytes).await;
    let got = raw.expect_close(DEADLINE).await;
    match got.iter().find(|p| p.kind() == kind::DISCONNECT) {
        Some(d) => assert!(
            reasons.contains(&d.reason()),
            "DISCONNECT reason {:#x}, expected one of {reasons:x?}",
            d.reason()
        ),
        None => assert!(
            !t.is_warren(),
            "Warren closes with a DISCONNECT reason code"
        ),
    }
}
