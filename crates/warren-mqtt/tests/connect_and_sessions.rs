//! CONNECT variants and return codes, keep alive, takeover, persistent sessions, wills.

mod common;

use std::time::Duration;

use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, ConnectAckReason, Packet};
use rmqtt_codec::v5;
use warren_mqtt::MqttConfig;

fn connack3(c: &mut Client, p: v3::Packet) -> v3::ConnectAck {
    match c.send3(p).as_slice() {
        [Packet::ConnectAck(a)] => *a,
        other => panic!("{other:?}"),
    }
}

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

#[test]
fn keep_alive_is_enforced_at_one_and_a_half_times() {
    let b = TestBroker::new();
    let mut c = b.client();
    c.connect5(connect5("ka", true, 0)); // keep alive 30
    assert!(c.tick(Duration::from_secs(44)).is_empty());
    assert!(!c.closed());
    assert!(c.send5(v5::Packet::PingRequest) == vec![v5::Packet::PingResponse]);
    c.tick(Duration::from_secs(44));
    assert!(!c.closed(), "the ping reset the timer");
    let out = c.tick(Duration::from_secs(2));
    assert!(c.closed());
    let out = c.decode5(out);
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == v5::DisconnectReasonCode::KeepAliveTimeout)
    );
}

#[test]
fn takeover_disconnects_the_old_connection_and_sends_its_will() {
    let b = TestBroker::new();
    let mut watcher = b.client();
    watcher.connect3("watcher", true);
    watcher.send3(sub3(1, &[("wills/#", QoS::AtMostOnce)]));

    let mut old = b.client();
    let mut conn = connect5("dup", true, 0);
    conn.last_will = Some(v5::LastWill {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "wills/dup".into(),
        message: "gone".into(),
        will_delay_interval_sec: None,
        correlation_data: None,
        message_expiry_interval: None,
        content_type: None,
        user_properties: vec![],
        is_utf8_payload: None,
        response_topic: None,
    });
    old.connect5(conn);
    let mut new = b.client();
    new.connect5(connect5("dup", true, 0));
    let out = old.wake5();
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == v5::DisconnectReasonCode::SessionTakenOver)
    );
    assert!(old.closed());
    let got = watcher.wake3();
    assert!(matches!(got.as_slice(), [Packet::Publish(p)] if &p.payload[..] == b"gone"));
    // the new connection works
    assert_eq!(
        new.send5(v5::Packet::PingRequest),
        vec![v5::Packet::PingResponse]
    );
}

#[test]
fn will_on_abnormal_close_but_not_after_disconnect() {
    let b = TestBroker::new();
    let mut watcher = b.client();
    watcher.connect3("watcher", true);
    watcher.send3(sub3(1, &[("w/+", QoS::AtLeastOnce)]));
    let with_will = |id: &str| {
        v3::Packet::Connect(Box::new(v3::Connect {
            clean_session: true,
            keep_alive: 10,
            client_id: id.into(),
            last_will: Some(v3::LastWill {
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: format!("w/{id}").into(),
                message: "bye".into(),
            }),
            ..v3::Connect::default()
        }))
    };
    let mut polite = b.client();
    connack3(&mut polite, with_will("polite"));
    polite.send3(Packet::Disconnect);
    polite.close();
    assert!(watcher.wake3().is_empty());

    let mut rude = b.client();
    connack3(&mut rude, with_will("rude"));
    rude.close();
    let got = watcher.wake3();
    assert!(
        matches!(got.as_slice(), [Packet::Publish(p)] if p.topic == "w/rude" && p.qos == QoS::AtLeastOnce)
    );
}

#[test]
fn will_delay_runs_on_the_scheduler_unless_the_client_returns() {
    let b = TestBroker::new();
    let mut watcher = b.client();
    watcher.connect3("watcher", true);
    watcher.send3(sub3(1, &[("w", QoS::AtMostOnce)]));
    let delayed = |c: &mut Client| {
        let mut conn = connect5("late", false, 100);
        conn.last_will = Some(v5::LastWill {
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "w".into(),
            message: "late".into(),
            will_delay_interval_sec: Some(5),
            correlation_data: None,
            message_expiry_interval: None,
            content_type: None,
            user_properties: vec![],
            is_utf8_payload: None,
            response_topic: None,
        });
        c.connect5(conn);
    };
    let mut c = b.client();
    delayed(&mut c);
    c.close();
    assert!(watcher.wake3().is_empty(), "not before the delay");
    let mut again = b.client();
    delayed(&mut again);
    b.scheduler
        .run_until(std::time::Instant::now() + Duration::from_secs(6));
    assert!(watcher.wake3().is_empty(), "the client came back in time");
    again.close();
    b.scheduler
        .run_until(std::time::Instant::now() + Duration::from_secs(6));
    let got = watcher.wake3();
    assert!(matches!(got.as_slice(), [Packet::Publish(p)] if &p.payload[..] == b"late"));
}

#[test]
fn persistent_session_queues_offline_messages_and_resends_unacked_with_dup() {
    let b = TestBroker::new();
    let mut s = b.client();
    assert!(!s.connect3("keeper", false));
    s.send3(sub3(1, &[("k/#", QoS::AtLeastOnce)]));
    let mut p = b.client();
    p.connect3("pub", true);
    p.send3(Packet::Publish(Box::new(publish(
        "k/1",
        QoS::AtLeastOnce,
        1,
        b"one",
    ))));
    let got = s.wake3();
    let [Packet::Publish(first)] = got.as_slice() else {
        panic!("{got:?}")
    };
    let first_id = first.packet_id;
    s.close(); // never acknowledged

    p.send3(Packet::Publish(Box::new(publish(
        "k/2",
        QoS::AtLeastOnce,
        2,
        b"two",
    ))));
    p.send3(Packet::Publish(Box::new(publish(
        "k/3",
        QoS::AtMostOnce,
        0,
        b"three",
    ))));

    let mut back = b.client();
    assert!(back.connect3("keeper", false), "session present");
    let got = back.wake3();
    let publishes: Vec<_> = got
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(publishes.len(), 3, "{got:?}");
    assert!(publishes[0].dup && &publishes[0].payload[..] == b"one");
    assert_eq!(
        publishes[0].packet_id, first_id,
        "resent with its original packet id"
    );
    assert!(!publishes[1].dup && &publishes[1].payload[..] == b"two");
    assert_eq!(publishes[2].qos, QoS::AtMostOnce);

    // a clean session discards it
    back.close();
    let mut clean = b.client();
    assert!(!clean.connect3("keeper", true));
}

#[test]
fn session_expiry_deletes_the_session_via_the_scheduler() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect5(connect5("exp", true, 60));
    s.send5(sub5(1, &[("e", opts(QoS::AtLeastOnce))]));
    s.close();
    assert_eq!(
        b.scheduler
            .run_until(std::time::Instant::now() + Duration::from_secs(61)),
        1
    );
    let mut again = b.client();
    let ack = again.connect5(connect5("exp", false, 60));
    assert!(!ack.session_present);
}
