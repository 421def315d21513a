//! MQTT 5 reason codes and reason strings: a refused subscription, reason strings withheld
//! unless problem information is requested, malformed packets, authentication methods and
//! AUTH, the server keep alive's DISCONNECT 0x8D, and PUBACK codes.

use crate::mqtt;
use crate::mqtt_v5_support::{expect_refusal, int_prop, raw5};

use std::time::Duration;

use mqtt::*;

/// How the server refused a subscription to an invalid filter.
enum Refusal {
    SubAck(RawPacket),
    Disconnect(Option<RawPacket>),
}

/// Subscribes to `a/#/b`: the spec allows a SUBACK failure or closing the connection.
async fn subscribe_invalid(raw: &mut Raw) -> Refusal {
    let filter = format!("{}/#/x", topic("bad"));
    raw.send(&subscribe(1, &[(&filter, 0)], Some(&Props::new())))
        .await;
    match raw.recv_within(DEADLINE).await {
        Ok(p) if p.kind() == kind::SUBACK => Refusal::SubAck(p),
        Ok(p) if p.kind() == kind::DISCONNECT => {
            raw.expect_close(DEADLINE).await;
            Refusal::Disconnect(Some(p))
        }
        Ok(p) => panic!("unexpected {p:?}"),
        Err(RawEnd::Closed) => Refusal::Disconnect(None),
        Err(RawEnd::Timeout) => panic!("no reaction to an invalid filter"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_filter_is_refused_with_0x8f_or_a_disconnect() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    match subscribe_invalid(&mut raw).await {
        Refusal::SubAck(ack) => assert_eq!(ack.suback_codes(true), vec![0x8F]),
        Refusal::Disconnect(Some(d)) => assert!([0x81, 0x82, 0x8F].contains(&d.reason())),
        Refusal::Disconnect(None) => assert!(!t.is_warren(), "Warren explains with DISCONNECT"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reason_string_is_withheld_when_problem_information_is_not_requested() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new().byte(0x17, 0)).await;
    if let Refusal::SubAck(ack) = subscribe_invalid(&mut raw).await {
        // MQTT-3.1.2-29: no Reason String outside PUBLISH, CONNACK and DISCONNECT.
        assert!(
            find_prop(&parse_props(&ack.body[2..]).0, prop::REASON_STRING).is_none(),
            "reason string sent although Request Problem Information is 0"
        );
    }
    // The same holds for a PUBACK.
    let (mut raw, _) = raw5(&t, Props::new().byte(0x17, 0)).await;
    raw.send(&publish(
        &topic("rpi"),
        1,
        false,
        false,
        1,
        b"x",
        Some(&Props::new()),
    ))
    .await;
    let ack = raw.recv_kind(kind::PUBACK).await;
    if ack.body.len() > 3 {
        assert!(find_prop(&parse_props(&ack.body[3..]).0, prop::REASON_STRING).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warren_explains_refusals_with_a_reason_string() {
    let Some(t) = warren_only() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let props = match subscribe_invalid(&mut raw).await {
        Refusal::SubAck(ack) => parse_props(&ack.body[2..]).0,
        Refusal::Disconnect(Some(d)) => d.reason_props(),
        Refusal::Disconnect(None) => panic!("closed without DISCONNECT"),
    };
    match find_prop(&props, prop::REASON_STRING) {
        Some(PropValue::Bytes(b)) => assert!(!b.is_empty()),
        other => panic!("no reason string on a refused subscription: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packet_is_answered_with_disconnect_0x81_or_0x82() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    // Reserved packet type 0.
    expect_refusal(&t, &mut raw, &[0x00, 0x00], &[0x81, 0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_authentication_method_is_connack_0x8c() {
    let Some(t) = target() else { return };
    let mut connect = Connect::new(V5, &name("auth"));
    connect.props = Props::new().str(prop::AUTH_METHOD, "X-WARREN-UNKNOWN");
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    // MQTT 5 section 4.12: Bad authentication method, then close.
    assert_eq!(ack.connack().1, 0x8C);
    raw.expect_close(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_packet_without_an_authentication_method_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().str(prop::AUTH_METHOD, "SCRAM-SHA-1");
    // Section 4.12: AUTH without CONNECT's method is a Protocol Error.
    expect_refusal(&t, &mut raw, &auth(0x19, &p), &[0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keep_alive_when_sent_is_enforced() {
    let Some(t) = target() else { return };
    let mut connect = Connect::new(V5, &name("ska"));
    connect.keep_alive = 1;
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    let Some(effective) = int_prop(&ack.connack_props(), prop::SERVER_KEEP_ALIVE) else {
        eprintln!("skipped: no Server Keep Alive (the client's value is covered elsewhere)");
        return;
    };
    if effective == 0 || effective > 5 {
        eprintln!("skipped: server keep alive {effective}s is not testable quickly");
        return;
    }
    let since = std::time::Instant::now();
    let got = raw
        .expect_close(Duration::from_secs(effective * 3 + 10))
        .await;
    let waited = since.elapsed();
    // MQTT-3.1.2-22/24 with the server's value: gone by 1.5x (plus scheduling slack).
    assert!(
        waited >= Duration::from_secs(effective)
            && waited <= Duration::from_millis(effective * 1500 + 1500),
        "closed after {waited:?} with keep alive {effective}s"
    );
    if let Some(d) = got.iter().find(|p| p.kind() == kind::DISCONNECT) {
        assert_eq!(d.reason(), 0x8D, "Keep Alive timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puback_reports_no_matching_subscribers_or_success() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    raw.send(&publish(
        &topic("nosub"),
        1,
        false,
        false,
        1,
        b"x",
        Some(&Props::new()),
    ))
    .await;
    let ack = raw.recv_kind(kind::PUBACK).await;
    assert_eq!(ack.pkid(), 1);
    // 0x10 No matching subscribers is optional; anything else would be a failure.
    assert!(
        [0x00, 0x10].contains(&ack.reason()),
        "reason {:#x}",
        ack.reason()
    );
}
