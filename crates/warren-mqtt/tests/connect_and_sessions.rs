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

fn connack5(c: &mut Client, conn: v5::Connect) -> v5::ConnectAck {
    match c.send5(v5::Packet::Connect(Box::new(conn))).as_slice() {
        [v5::Packet::ConnectAck(a)] => (**a).clone(),
        other => panic!("{other:?}"),
    }
}

/// `max_session_expiry_secs` caps what a 5.0 client asks for (CONNACK tells it the cap) and
/// is the expiry of a persistent 3.x session; expiry counts from the driver's time of the
/// close (here a keep alive timeout, well ahead of the wall clock).
#[test]
fn session_expiry_is_capped_and_the_cap_is_told_in_connack() {
    let b = TestBroker::with_config(MqttConfig {
        max_session_expiry_secs: 100,
        ..MqttConfig::default()
    });
    let mut below = b.client();
    let ack = below.connect5(connect5("below", true, 50));
    assert_eq!(
        ack.session_expiry_interval_secs, None,
        "not capped: not told"
    );

    let mut c = b.client();
    let ack = c.connect5(connect5("capped", true, 3600));
    assert_eq!(ack.session_expiry_interval_secs, Some(100));
    c.send5(sub5(1, &[("e", opts(QoS::AtLeastOnce))]));
    let mut c3 = b.client();
    c3.now = c.now;
    assert!(!c3.connect3("capped3", false));
    c3.send3(sub3(1, &[("e", QoS::AtLeastOnce)]));

    // keep alive 30: both close at 45 s of the session's clock
    c.tick(Duration::from_secs(46));
    c3.tick(Duration::from_secs(46));
    assert!(c.closed() && c3.closed());
    let closed_at = c.now;
    assert_eq!(
        b.scheduler.run_until(closed_at + Duration::from_secs(99)),
        0,
        "nothing ends before the cap"
    );
    assert_eq!(
        b.scheduler.run_until(closed_at + Duration::from_secs(100)),
        2,
        "both sessions end at the cap"
    );
    let mut again = b.client();
    assert!(
        !again
            .connect5(connect5("capped", false, 60))
            .session_present
    );
    let mut again3 = b.client();
    assert!(!again3.connect3("capped3", false));
}

/// The Will Delay Interval counts from the driver's time of the close.
#[test]
fn will_delay_counts_from_the_time_the_connection_ended() {
    let b = TestBroker::new();
    let mut watcher = b.client();
    watcher.connect3("watcher", true);
    watcher.send3(sub3(1, &[("w", QoS::AtMostOnce)]));
    let mut c = b.client();
    let mut conn = connect5("late", true, 100);
    conn.last_will = Some(will5("w", "late", Some(5)));
    c.connect5(conn);
    c.tick(Duration::from_secs(46)); // keep alive timeout
    assert!(c.closed());
    let closed_at = c.now;
    b.scheduler
        .run_until(closed_at + Duration::from_millis(4900));
    assert!(watcher.wake3().is_empty(), "not before the delay");
    b.scheduler.run_until(closed_at + Duration::from_secs(5));
    let got = watcher.wake3();
    assert!(matches!(got.as_slice(), [Packet::Publish(p)] if &p.payload[..] == b"late"));
}

fn will5(topic: &str, message: &'static str, delay: Option<u32>) -> v5::LastWill {
    v5::LastWill {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: topic.into(),
        message: message.into(),
        will_delay_interval_sec: delay,
        correlation_data: None,
        message_expiry_interval: None,
        content_type: None,
        user_properties: vec![],
        is_utf8_payload: None,
        response_topic: None,
    }
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

/// A will topic with a wildcard is no topic name: 3.x closes without CONNACK
/// (MQTT-3.1.4-1), 5.0 answers CONNACK 0x90 Topic Name invalid.
#[test]
fn will_topic_with_a_wildcard_is_refused() {
    let b = TestBroker::new();
    for topic in ["w/+", "w/#"] {
        let mut c = b.client();
        let conn = v3::Packet::Connect(Box::new(v3::Connect {
            clean_session: true,
            keep_alive: 10,
            client_id: "wild3".into(),
            last_will: Some(v3::LastWill {
                qos: QoS::AtMostOnce,
                retain: false,
                topic: topic.into(),
                message: "bye".into(),
            }),
            ..v3::Connect::default()
        }));
        assert_eq!(c.send3(conn), vec![], "{topic}: closed without CONNACK");
        assert!(c.closed());

        let mut c = b.client();
        let mut conn = connect5("wild5", true, 0);
        conn.last_will = Some(will5(topic, "bye", None));
        assert_eq!(
            connack5(&mut c, conn).reason_code,
            v5::ConnectAckReason::TopicNameInvalid
        );
        assert!(c.closed());
    }
}

/// On broker shutdown the server closes the connection without a DISCONNECT from the
/// client: its will is published (MQTT 5 section 3.1.2.5), at once even with a delay, as
/// Mosquitto does. 5.0 clients are told DISCONNECT 0x8B.
#[test]
fn broker_shutdown_publishes_the_wills_of_connected_clients() {
    let b = TestBroker::new();
    let mut watcher = b.client();
    watcher.connect3("watcher", true);
    watcher.send3(sub3(1, &[("w/+", QoS::AtMostOnce)]));

    let mut c3 = b.client();
    let conn = v3::Packet::Connect(Box::new(v3::Connect {
        clean_session: false,
        keep_alive: 10,
        client_id: "will3".into(),
        last_will: Some(v3::LastWill {
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "w/3".into(),
            message: "three".into(),
        }),
        ..v3::Connect::default()
    }));
    connack3(&mut c3, conn);
    let mut c5 = b.client();
    let mut conn = connect5("will5", false, 3600);
    conn.last_will = Some(will5("w/5", "five", Some(600)));
    c5.connect5(conn);
    let mut polite = b.client();
    let mut conn = connect5("polite", true, 0);
    conn.last_will = Some(will5("w/p", "polite", None));
    polite.connect5(conn);
    polite.send5(v5::Packet::Disconnect(v5::Disconnect {
        reason_code: v5::DisconnectReasonCode::NormalDisconnection,
        session_expiry_interval_secs: None,
        server_reference: None,
        reason_string: None,
        user_properties: vec![],
    }));

    assert!(c3.shutdown().is_empty(), "3.x: no DISCONNECT from a server");
    let out = c5.shutdown();
    let out = c5.decode5(out);
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == v5::DisconnectReasonCode::ServerShuttingDown),
        "{out:?}"
    );
    assert!(c3.closed() && c5.closed());
    let got: Vec<_> = watcher
        .wake3()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.topic.to_string(), p.payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            ("w/3".to_string(), bytes::Bytes::from_static(b"three")),
            ("w/5".to_string(), bytes::Bytes::from_static(b"five")),
        ]
    );
    assert_eq!(b.scheduler.run_until(std::time::Instant::now()), 0);
}

/// CONNACK is written before the session's queues are consumed: a failure there (here the
/// session queue is another connection's exclusive queue) is a DISCONNECT, not a second
/// CONNACK.
#[test]
fn a_failure_after_connack_is_a_disconnect() {
    use warren_model::{ConnectionId, FieldTable, QueueName, QueueSpec, VHostName};
    let b = TestBroker::new();
    let mut c = b.client();
    c.connect5(connect5("locked", true, 600));
    c.send5(sub5(1, &[("l", opts(QoS::AtLeastOnce))]));
    c.close();
    let vhost = b
        .core
        .vhost_by_name(&VHostName::try_from("/").unwrap())
        .unwrap();
    let queue = QueueName::try_from("mqtt-subscription-locked").unwrap();
    vhost
        .delete_queue(&queue, false, false, ConnectionId(0))
        .unwrap();
    let spec = QueueSpec {
        name: Some(queue),
        durable: false,
        exclusive: true,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    vhost
        .declare_queue(spec, false, ConnectionId(999_999))
        .unwrap();

    let mut again = b.client();
    let out = again.raw(&enc5(v5::Packet::Connect(Box::new(connect5(
        "locked", false, 600,
    )))));
    let out = again.decode5(out);
    assert!(
        matches!(out.as_slice(), [v5::Packet::ConnectAck(a), v5::Packet::Disconnect(d)]
            if a.reason_code == v5::ConnectAckReason::Success
                && d.reason_code == v5::DisconnectReasonCode::ImplementationSpecificError),
        "{out:?}"
    );
    assert!(again.closed());
}
