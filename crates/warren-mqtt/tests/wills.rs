//! Wills: sent on takeover, on an abnormal close and on broker shutdown, not after DISCONNECT;
//! the Will Delay Interval on the scheduler; will topics with wildcards refused.

mod common;

use std::time::Duration;

use common::packets::{connack3, connack5};
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, Packet};
use rmqtt_codec::v5;

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
