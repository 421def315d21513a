//! Wills: sent on takeover, on an abnormal close and on broker shutdown, not after DISCONNECT;
//! the Will Delay Interval on the scheduler; will topics with wildcards refused.

mod common;

use std::time::Duration;

use common::packets::{connack3, connack5, connect3_will, connect5_will, will3, will5};
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::Packet;
use rmqtt_codec::v5;

#[test]
fn takeover_disconnects_the_old_connection_and_sends_its_will() {
    let b = TestBroker::new();
    let mut watcher = watcher(&b, "wills/#", QoS::AtMostOnce);

    let mut old = b.client();
    let will = will5("wills/dup", "gone", QoS::AtMostOnce, None);
    old.connect5(connect5_will("dup", true, 0, will));
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
    let mut watcher = watcher(&b, "w/+", QoS::AtLeastOnce);
    let with_will = |id: &str| {
        connect3_will(
            id,
            true,
            10,
            will3(&format!("w/{id}"), "bye", QoS::AtLeastOnce),
        )
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
    let mut watcher = watcher(&b, "w", QoS::AtMostOnce);
    let delayed = |c: &mut Client| {
        let will = will5("w", "late", QoS::AtMostOnce, Some(5));
        c.connect5(connect5_will("late", false, 100, will));
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
    let mut watcher = watcher(&b, "w", QoS::AtMostOnce);
    let mut c = b.client();
    let will = will5("w", "late", QoS::AtMostOnce, Some(5));
    c.connect5(connect5_will("late", true, 100, will));
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

/// A will topic with a wildcard is no topic name: 3.x closes without CONNACK
/// (MQTT-3.1.4-1), 5.0 answers CONNACK 0x90 Topic Name invalid.
#[test]
fn will_topic_with_a_wildcard_is_refused() {
    let b = TestBroker::new();
    for topic in ["w/+", "w/#"] {
        let mut c = b.client();
        let conn = connect3_will("wild3", true, 10, will3(topic, "bye", QoS::AtMostOnce));
        assert_eq!(c.send3(conn), vec![], "{topic}: closed without CONNACK");
        assert!(c.closed());

        let mut c = b.client();
        let conn = connect5_will("wild5", true, 0, will5(topic, "bye", QoS::AtMostOnce, None));
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
    let mut watcher = watcher(&b, "w/+", QoS::AtMostOnce);

    let mut c3 = b.client();
    let conn = connect3_will("will3", false, 10, will3("w/3", "three", QoS::AtMostOnce));
    connack3(&mut c3, conn);
    let mut c5 = b.client();
    let will = will5("w/5", "five", QoS::AtMostOnce, Some(600));
    c5.connect5(connect5_will("will5", false, 3600, will));
    let mut polite = b.client();
    let will = will5("w/p", "polite", QoS::AtMostOnce, None);
    polite.connect5(connect5_will("polite", true, 0, will));
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

/// A 3.1.1 client subscribed to `filter`, to see the wills published there.
fn watcher(b: &TestBroker, filter: &str, qos: QoS) -> Client {
    let mut watcher = b.client();
    watcher.connect3("watcher", true);
    watcher.send3(sub3(1, &[(filter, qos)]));
    watcher
}
