//! Acknowledgement flows and their limits: QoS 2 both ways (and PUBREL resent after a
//! reconnect), Receive Maximum with PUBACKs that wait for the disk, a failed disk write, and
//! a packet above the client's Maximum Packet Size.

mod common;

use common::packets::{pub5, publishes3, publishes5};
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::Packet;
use rmqtt_codec::v5::{self, DisconnectReasonCode as Dr};

fn ack2(id: u16) -> v5::PublishAck2 {
    v5::PublishAck2 {
        packet_id: pid(id),
        reason_code: v5::PublishAck2Reason::Success,
        properties: vec![],
        reason_string: None,
    }
}

#[test]
fn qos2_inbound_is_routed_once_and_outbound_completes() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect3("s", true);
    s.send3(sub3(1, &[("q2", QoS::ExactlyOnce)]));
    let mut p = b.client();
    p.connect3("p", true);
    let rec = p.send3(Packet::Publish(Box::new(publish(
        "q2",
        QoS::ExactlyOnce,
        3,
        b"x",
    ))));
    assert_eq!(rec, vec![Packet::PublishReceived { packet_id: pid(3) }]);
    let mut dup = publish("q2", QoS::ExactlyOnce, 3, b"x");
    dup.dup = true;
    let rec = p.send3(Packet::Publish(Box::new(dup)));
    assert_eq!(rec, vec![Packet::PublishReceived { packet_id: pid(3) }]);
    assert_eq!(
        p.send3(Packet::PublishRelease { packet_id: pid(3) }),
        vec![Packet::PublishComplete { packet_id: pid(3) }]
    );

    let got = publishes3(&s.wake3());
    assert_eq!(got.len(), 1, "the duplicate was not routed again");
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
    let id = got[0].packet_id.unwrap();
    assert_eq!(
        s.send3(Packet::PublishReceived { packet_id: id }),
        vec![Packet::PublishRelease { packet_id: id }]
    );
    assert!(s
        .send3(Packet::PublishComplete { packet_id: id })
        .is_empty());
    // after PUBREL the same id is a new message
    p.send3(Packet::Publish(Box::new(publish(
        "q2",
        QoS::ExactlyOnce,
        3,
        b"y",
    ))));
    assert_eq!(publishes3(&s.wake3()).len(), 1);
}

#[test]
fn receive_maximum_exceeded_is_disconnect_0x93() {
    let b = TestBroker::with_config(warren_mqtt::MqttConfig {
        receive_maximum: 2,
        ..Default::default()
    });
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));
    p.send5(pub5("t", QoS::ExactlyOnce, 1, b"a"));
    p.send5(pub5("t", QoS::ExactlyOnce, 2, b"a"));
    let out = p.send5(pub5("t", QoS::ExactlyOnce, 3, b"a"));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::ReceiveMaximumExceeded)
    );
}

/// MQTT 5 section 3.3.4: Receive Maximum bounds the QoS 1 and 2 PUBLISHes not yet
/// acknowledged, so a QoS 1 one whose PUBACK waits for the disk counts, as a QoS 2 one does
/// until PUBREL.
#[test]
fn qos1_publishes_awaiting_the_disk_count_against_receive_maximum() {
    let config = warren_mqtt::MqttConfig {
        receive_maximum: 2,
        ..Default::default()
    };
    let (b, disk) = TestBroker::with_held_writes(config);
    let mut s = b.client();
    s.connect5(connect5("s", true, 0));
    s.send5(sub5(1, &[("t", opts(QoS::AtLeastOnce))]));
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));

    // one QoS 1 held at the disk and one QoS 2 held: two unacknowledged
    assert!(p.send5(pub5("t", QoS::AtLeastOnce, 1, b"a")).is_empty());
    assert!(p.send5(pub5("t", QoS::ExactlyOnce, 2, b"b")).is_empty());
    assert_eq!(disk.complete_all(), 2);
    let acks = p.wake5();
    assert!(
        matches!(acks.as_slice(), [v5::Packet::PublishAck(a), v5::Packet::PublishReceived(r)]
            if a.packet_id == pid(1) && r.packet_id == pid(2)),
        "{acks:?}"
    );
    // the QoS 2 one still counts until PUBREL: one QoS 1 more is allowed, not two
    assert!(p.send5(pub5("t", QoS::AtLeastOnce, 3, b"c")).is_empty());
    let out = p.send5(pub5("t", QoS::AtLeastOnce, 4, b"d"));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::ReceiveMaximumExceeded),
        "{out:?}"
    );
    assert!(p.closed());

    // two QoS 1 held are the maximum too; once written the window opens again
    let mut q = b.client();
    q.connect5(connect5("q", true, 0));
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 1, b"e")).is_empty());
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 2, b"f")).is_empty());
    disk.complete_all();
    assert_eq!(q.wake5().len(), 2, "both PUBACKs once written");
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 3, b"g")).is_empty());
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 4, b"h")).is_empty());
    let out = q.send5(pub5("t", QoS::ExactlyOnce, 5, b"i"));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::ReceiveMaximumExceeded),
        "{out:?}"
    );
}

/// A publish whose disk write failed is never acknowledged: 5.0 DISCONNECT 0x80, 3.x close,
/// so the client sends it again elsewhere.
#[test]
fn a_failed_disk_write_is_disconnect_0x80_without_an_ack() {
    let (b, disk) = TestBroker::with_held_writes(warren_mqtt::MqttConfig::default());
    let mut s = b.client();
    s.connect5(connect5("s", true, 0));
    s.send5(sub5(1, &[("t", opts(QoS::AtLeastOnce))]));
    let mut p5 = b.client();
    p5.connect5(connect5("p5", true, 0));
    assert!(p5.send5(pub5("t", QoS::AtLeastOnce, 1, b"a")).is_empty());
    let mut p3 = b.client();
    p3.connect3("p3", true);
    let held = p3.send3(Packet::Publish(Box::new(publish(
        "t",
        QoS::AtLeastOnce,
        1,
        b"b",
    ))));
    assert!(held.is_empty());
    assert_eq!(disk.fail_all(), 2);
    let out = p5.wake5();
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::UnspecifiedError),
        "{out:?}"
    );
    assert!(p5.closed());
    assert_eq!(p3.wake3(), vec![], "no PUBACK");
    assert!(p3.closed());
}

/// 3.x clients are never told a Receive Maximum: a QoS 1 publisher is not cut off because
/// its PUBACKs wait for the disk; they go out in order once written.
#[test]
fn v3_qos1_publishes_awaiting_the_disk_are_not_limited() {
    let config = warren_mqtt::MqttConfig {
        receive_maximum: 2,
        ..Default::default()
    };
    let (b, disk) = TestBroker::with_held_writes(config);
    let mut s = b.client();
    s.connect3("s", true);
    s.send3(sub3(1, &[("t", QoS::AtLeastOnce)]));
    let mut p = b.client();
    p.connect3("p", true);
    for id in 1..=4 {
        let out = p.send3(Packet::Publish(Box::new(publish(
            "t",
            QoS::AtLeastOnce,
            id,
            b"x",
        ))));
        assert!(out.is_empty(), "{out:?}");
    }
    assert!(!p.closed());
    assert_eq!(disk.complete_all(), 4);
    let acks: Vec<_> = (1..=4)
        .map(|id| Packet::PublishAck { packet_id: pid(id) })
        .collect();
    assert_eq!(p.wake3(), acks);
}

#[test]
fn qos2_outbound_in_v5_and_pubrel_resent_after_reconnect() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect5(connect5("q2s", false, 100));
    s.send5(sub5(1, &[("z", opts(QoS::ExactlyOnce))]));
    let mut p = b.client();
    p.connect5(connect5("q2p", true, 0));
    p.send5(pub5("z", QoS::ExactlyOnce, 1, b"once"));
    let got = publishes5(&s.wake5());
    let id = got[0].packet_id.unwrap().get();
    let rec = v5::PublishAck {
        packet_id: pid(id),
        reason_code: v5::PublishAckReason::Success,
        properties: vec![],
        reason_string: None,
    };
    let out = s.send5(v5::Packet::PublishReceived(rec));
    assert_eq!(out, vec![v5::Packet::PublishRelease(ack2(id))]);
    s.close();
    let mut back = b.client();
    let out = back.input_only(&enc5(v5::Packet::Connect(Box::new(connect5(
        "q2s", false, 100,
    )))));
    let out = back.decode5(out);
    assert!(matches!(&out[0], v5::Packet::ConnectAck(a) if a.session_present));
    assert_eq!(
        out[1..],
        [v5::Packet::PublishRelease(ack2(id))],
        "PUBREL resent"
    );
    assert!(
        publishes5(&back.wake5()).is_empty(),
        "the message is not sent again after PUBREC"
    );
    let comp = v5::Packet::PublishComplete(ack2(id));
    assert!(back.send5(comp).is_empty());
}

#[test]
fn a_packet_above_the_client_maximum_is_dropped() {
    let b = TestBroker::new();
    let mut s = b.client();
    let mut conn = connect5("small", true, 0);
    conn.max_packet_size = std::num::NonZeroU32::new(64);
    s.connect5(conn);
    s.send5(sub5(1, &[("big", opts(QoS::AtLeastOnce))]));
    let mut p = b.client();
    p.connect5(connect5("bp", true, 0));
    p.send5(pub5("big", QoS::AtLeastOnce, 1, &[b'x'; 100]));
    p.send5(pub5("big", QoS::AtLeastOnce, 2, b"small"));
    let got = publishes5(&s.wake5());
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"small");
}
