//! MQTT 5 limits both ways: the client's Receive Maximum and Maximum Packet Size kept by the
//! server, and the server's own enforced with DISCONNECT 0x93 and 0x95.

use crate::mqtt;
use crate::mqtt_v5_support::{expect_refusal, int_prop, raw5};

use mqtt::v5::QoS;
use mqtt::*;

// ----- receive maximum --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_respects_the_clients_receive_maximum() {
    let Some(t) = target() else { return };
    let topic = topic("rmax");
    let (mut raw, _) = raw5(&t, Props::new().u16(prop::RECEIVE_MAXIMUM, 2)).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, true).await, 1);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..5 {
        publ.publish(&topic, QoS::AtLeastOnce, false, format!("{i}").as_bytes())
            .await;
    }
    let a = raw.recv_kind(kind::PUBLISH).await.publish(true);
    let b = raw.recv_kind(kind::PUBLISH).await.publish(true);
    // MQTT-3.3.4-9: no more than 2 unacknowledged QoS 1 PUBLISHes.
    assert!(
        raw.recv_within(QUIET).await.is_err(),
        "a third PUBLISH exceeded the receive maximum"
    );
    let mut seen = vec![a.payload.clone(), b.payload.clone()];
    raw.send(&ack(kind::PUBACK, a.pkid)).await;
    let c = raw.recv_kind(kind::PUBLISH).await.publish(true);
    seen.push(c.payload.clone());
    for p in [&b, &c] {
        raw.send(&ack(kind::PUBACK, p.pkid)).await;
    }
    for _ in 0..2 {
        let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
        seen.push(p.payload.clone());
        raw.send(&ack(kind::PUBACK, p.pkid)).await;
    }
    let expected: Vec<Vec<u8>> = (0..5).map(|i| format!("{i}").into_bytes()).collect();
    assert_eq!(seen, expected, "all five in order once credit returns");
}

/// Mosquitto 2.0.11 answers the extra PUBLISH with PUBREC 0x97 and stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exceeding_the_servers_receive_maximum_gets_disconnect_0x93() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let max = int_prop(&ack.connack_props(), prop::RECEIVE_MAXIMUM).unwrap_or(65535);
    if max > 1000 {
        eprintln!("skipped: receive maximum {max} too large to exceed in a test");
        return;
    }
    let topic = topic("rmaxin");
    // QoS 2 publishes stay unacknowledged until PUBREL, so they count against the maximum.
    let mut bytes = Vec::new();
    for pkid in 1..=u16::try_from(max + 1).expect("u16") {
        bytes.extend(publish(
            &topic,
            2,
            false,
            false,
            pkid,
            b"x",
            Some(&Props::new()),
        ));
    }
    // MQTT-3.3.4-7/8: Receive Maximum exceeded.
    expect_refusal(&t, &mut raw, &bytes, &[0x93]).await;
}

// ----- maximum packet size ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_does_not_send_packets_above_the_clients_maximum() {
    let Some(t) = target() else { return };
    let topic = topic("cmax");
    let (mut raw, _) = raw5(&t, Props::new().u32(prop::MAXIMUM_PACKET_SIZE, 256)).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, true).await, 1);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, false, &[b'x'; 1000])
        .await;
    publ.publish(&topic, QoS::AtLeastOnce, false, b"small")
        .await;
    // MQTT-3.1.2-25: the oversized message is discarded, the next one delivered.
    let p = raw.recv_kind(kind::PUBLISH).await;
    assert!(p.body.len() + 5 <= 256, "packet over the client's maximum");
    assert_eq!(p.publish(true).payload, b"small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_above_the_servers_maximum_is_disconnect_0x95() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let Some(max) = int_prop(&ack.connack_props(), prop::MAXIMUM_PACKET_SIZE) else {
        assert!(!t.is_warren(), "Warren advertises its maximum packet size");
        eprintln!("skipped: no Maximum Packet Size advertised");
        return;
    };
    let body = vec![b'x'; usize::try_from(max).expect("usize") + 1];
    let bytes = publish(
        &topic("big"),
        0,
        false,
        false,
        0,
        &body,
        Some(&Props::new()),
    );
    expect_refusal(&t, &mut raw, &bytes, &[0x95]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_packet_is_refused_from_its_header_without_waiting_for_the_body() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    if int_prop(&ack.connack_props(), prop::MAXIMUM_PACKET_SIZE).is_none() {
        assert!(!t.is_warren(), "Warren advertises its maximum packet size");
        eprintln!("skipped: no Maximum Packet Size advertised");
        return;
    }
    // A PUBLISH header announcing 200 MB, and nothing after it.
    let mut header = vec![kind::PUBLISH << 4];
    header.extend(varint(200_000_000));
    header.extend(lp(b"t"));
    expect_refusal(&t, &mut raw, &header, &[0x95]).await;
}
