//! How long a connection and its session live: keep alive, persistent sessions queueing while
//! offline, session expiry and its cap, and the session queue failing under a session.

mod common;

use std::time::Duration;

use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::Packet;
use rmqtt_codec::v5::{self, DisconnectReasonCode as Dr};
use warren_mqtt::MqttConfig;

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

/// A persistent session's queue (not exclusive) deleted under it, over AMQP say:
/// DISCONNECT 0x83.
#[test]
fn deleting_the_session_queue_is_disconnect_0x83() {
    use warren_model::{ConnectionId, QueueName, VHostName};
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect5(connect5("gone", true, 600));
    s.send5(sub5(1, &[("t", opts(QoS::AtLeastOnce))]));
    let vhost = b
        .core
        .vhost_by_name(&VHostName::try_from("/").unwrap())
        .unwrap();
    let queue = QueueName::try_from("mqtt-subscription-gone").unwrap();
    vhost
        .delete_queue(&queue, false, false, ConnectionId(0))
        .unwrap();
    let out = s.wake5();
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)]
            if d.reason_code == Dr::ImplementationSpecificError
                && d.reason_string.as_ref().is_some_and(|r| r.contains("session queue deleted"))),
        "{out:?}"
    );
    assert!(s.closed());
}
