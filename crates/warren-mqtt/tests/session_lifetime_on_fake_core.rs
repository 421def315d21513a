//! Keep alive driven by ticks, takeover of a client id and offline queueing of a persistent
//! session, against the fake core of `warren-fake-core`. Besides what the session writes to
//! the client, each test checks what it asked of the core (the fake's journal): what was
//! published, declared, bound and settled.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::fake_core::*;
use common::packets::{connect3_will, connect5_will, publishes3, will3, will5};
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::Packet;
use rmqtt_codec::v5::{self, DisconnectReasonCode as Dr};
use warren_fake_core::Call;
use warren_model::{QueueHandle, Settlement};
use warren_mqtt::convert::message_qos;

#[test]
fn keep_alive_closes_after_one_and_a_half_intervals_without_input_and_sends_the_will() {
    let b = FakeCoreBroker::new();
    let mut c = b.client();
    let will = will5("wills/ka", "gone", QoS::AtLeastOnce, None);
    c.connect5(connect5_will("ka", true, 0, will)); // keep alive 30 s
    let start = c.now;
    assert_eq!(
        c.session.next_deadline(),
        Some(start + Duration::from_secs(45))
    );

    assert!(c.tick(Duration::from_secs(44)).is_empty());
    assert!(!c.closed());
    assert_eq!(
        c.send5(v5::Packet::PingRequest),
        vec![v5::Packet::PingResponse]
    );
    assert_eq!(
        c.session.next_deadline(),
        Some(start + Duration::from_secs(44 + 45)),
        "input restarts the count"
    );
    assert!(c.tick(Duration::from_secs(44)).is_empty());
    assert!(!c.closed(), "the ping came in time");
    assert!(routed(b.vhost()).is_empty(), "no will while connected");

    let out = c.tick(Duration::from_secs(1));
    assert!(c.closed());
    let out = c.decode5(out);
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::KeepAliveTimeout),
        "{out:?}"
    );
    assert_eq!(
        routed(b.vhost()),
        vec![routed_one(EXCHANGE, "wills.ka", b"gone")]
    );
    let (_, _, will) = &b.vhost().publishes()[0];
    assert_eq!(message_qos(will), QoS::AtLeastOnce);
}

#[test]
fn keep_alive_in_311_is_reset_by_any_packet_and_ends_with_a_bare_close() {
    let b = FakeCoreBroker::new();
    let mut c = b.client();
    c.connect3("ka3", true); // keep alive 30 s
    c.tick(Duration::from_secs(40));
    let out = c.send3(Packet::Publish(Box::new(publish(
        "t",
        QoS::AtMostOnce,
        0,
        b"alive",
    ))));
    assert!(out.is_empty());
    assert!(c.tick(Duration::from_secs(44)).is_empty());
    assert!(!c.closed(), "the PUBLISH reset the keep alive");
    assert!(
        c.tick(Duration::from_secs(1)).is_empty(),
        "3.x has no DISCONNECT"
    );
    assert!(c.closed());
    let conn = b.vhost().calls().into_iter().find_map(|c| match c {
        Call::ConnectionClosed(conn) => Some(conn),
        _ => None,
    });
    assert!(conn.is_some(), "the core is told the connection ended");
}

#[test]
fn takeover_closes_the_first_connection_and_publishes_its_will() {
    let b = FakeCoreBroker::new();
    let mut old = b.client();
    let will = will5("wills/dup", "taken", QoS::AtLeastOnce, None);
    old.connect5(connect5_will("dup", true, 0, will));
    old.send5(sub5(1, &[("t", opts(QoS::AtLeastOnce))]));
    let queue = session_queue("dup");
    let old_conn = declared_by(b.vhost(), &queue);
    b.vhost().clear_calls();

    let mut new = b.client();
    let ack = new.connect5(connect5("dup", true, 0));
    assert!(!ack.session_present);
    assert!(
        old.waker.0.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the first connection is woken to go"
    );
    assert!(
        b.vhost().calls().contains(&Call::DeleteQueue {
            name: queue.clone(),
            owner: old_conn,
        }),
        "a clean start drops the old session's queue: {:?}",
        b.vhost().calls()
    );
    assert!(routed(b.vhost()).is_empty(), "the will goes when it closes");

    let out = old.wake5();
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::SessionTakenOver),
        "{out:?}"
    );
    assert!(old.closed());
    old.close();
    assert_eq!(
        routed(b.vhost()),
        vec![routed_one(EXCHANGE, "wills.dup", b"taken")]
    );
    assert!(b
        .vhost()
        .calls()
        .contains(&Call::ConnectionClosed(old_conn)));

    // The client id now belongs to the new connection alone.
    new.send5(sub5(1, &[("t", opts(QoS::AtMostOnce))]));
    assert_ne!(declared_by(b.vhost(), &queue), old_conn);
    assert_eq!(core_publish(b.vhost(), "t", 0, b"for the new one"), 1);
    let out = new.wake5();
    assert!(
        matches!(out.as_slice(), [v5::Packet::Publish(p)] if &p.payload[..] == b"for the new one"),
        "{out:?}"
    );
    assert!(old.wake5().is_empty());
}

#[test]
fn takeover_of_a_persistent_session_moves_its_subscriptions_and_unacked_messages() {
    let b = FakeCoreBroker::new();
    let mut old = b.client();
    let will = will3("wills/keep", "moved", QoS::AtMostOnce);
    let with_will = connect3_will("keep", false, 30, will);
    assert!(matches!(
        old.send3(with_will).as_slice(),
        [Packet::ConnectAck(_)]
    ));
    old.send3(sub3(1, &[("p/#", QoS::AtLeastOnce)]));
    core_publish(b.vhost(), "p.1", 1, b"in flight");
    let got = publishes3(&old.wake3());
    let id = got[0].packet_id;

    let mut new = b.client();
    assert!(new.connect3("keep", false), "session present");
    assert!(old.wake3().is_empty(), "3.x is closed without DISCONNECT");
    assert!(old.closed());
    old.close();
    assert_eq!(
        routed(b.vhost()),
        vec![
            routed_one(EXCHANGE, "p.1", b"in flight"),
            routed_one(EXCHANGE, "wills.keep", b"moved")
        ]
    );
    let got = publishes3(&new.wake3());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].dup, "resent with DUP");
    assert_eq!(got[0].packet_id, id, "under its original packet id");
    assert!(new
        .send3(Packet::PublishAck {
            packet_id: id.unwrap()
        })
        .is_empty());
    let q = b.vhost().queue(&session_queue("keep")).unwrap();
    assert_eq!((q.acked(), q.message_count()), (1, 0));
    // The subscription came along: the binding stays and serves the new connection.
    core_publish(b.vhost(), "p.2", 1, b"after");
    let got = publishes3(&new.wake3());
    assert!(matches!(got.as_slice(), [p] if &p.payload[..] == b"after" && !p.dup));
}

#[test]
fn a_persistent_session_keeps_messages_while_offline_and_resends_unacked_with_dup() {
    let b = FakeCoreBroker::new();
    let queue = session_queue("keeper");
    let mut s = b.client();
    assert!(!s.connect3("keeper", false));
    s.send3(sub3(1, &[("k/#", QoS::AtLeastOnce)]));
    let declared = b.vhost().calls().into_iter().find(|c| {
        matches!(c, Call::DeclareQueue { name, durable: true, exclusive: false, .. } if *name == queue)
    });
    assert!(
        declared.is_some(),
        "a persistent session's queue is durable and shared"
    );

    let mut p = b.client();
    p.connect3("pub", true);
    p.send3(Packet::Publish(Box::new(publish(
        "k/1",
        QoS::AtLeastOnce,
        1,
        b"one",
    ))));
    let got = publishes3(&s.wake3());
    assert_eq!(got.len(), 1, "{got:?}");
    let first_id = got[0].packet_id;
    s.close(); // never acknowledged
    let q = b
        .vhost()
        .queue(&queue)
        .expect("the queue outlives the connection");
    assert_eq!(q.consumer_count(), 0);
    assert!(
        settles(b.vhost())
            .iter()
            .any(|(_, _, how)| *how == Settlement::Requeue),
        "the unacknowledged message went back to the queue"
    );

    // Published while the client is away: QoS 2 (capped to the subscription's 1) and QoS 0.
    assert_eq!(
        p.send3(Packet::Publish(Box::new(publish(
            "k/2",
            QoS::ExactlyOnce,
            2,
            b"two",
        )))),
        vec![Packet::PublishReceived { packet_id: pid(2) }]
    );
    p.send3(Packet::PublishRelease { packet_id: pid(2) });
    p.send3(Packet::Publish(Box::new(publish(
        "k/3",
        QoS::AtMostOnce,
        0,
        b"three",
    ))));
    let waiting: Vec<(bool, Bytes)> = q
        .ready()
        .into_iter()
        .map(|m| (m.redelivered, m.message.body.clone()))
        .collect();
    assert_eq!(
        waiting,
        vec![
            (true, Bytes::from_static(b"one")),
            (false, Bytes::from_static(b"two")),
            (false, Bytes::from_static(b"three"))
        ],
        "the core holds them for the session, in order"
    );

    b.vhost().clear_calls();
    let mut back = b.client();
    assert!(back.connect3("keeper", false), "session present");
    assert!(
        !b.vhost()
            .calls()
            .iter()
            .any(|c| matches!(c, Call::DeleteQueue { .. } | Call::Bind { .. })),
        "resuming neither drops the queue nor binds again: {:?}",
        b.vhost().calls()
    );
    let got = publishes3(&back.wake3());
    let seen: Vec<(&[u8], QoS, bool)> =
        got.iter().map(|p| (&p.payload[..], p.qos, p.dup)).collect();
    assert_eq!(
        seen,
        vec![
            (&b"one"[..], QoS::AtLeastOnce, true),
            (&b"two"[..], QoS::AtLeastOnce, false),
            (&b"three"[..], QoS::AtMostOnce, false)
        ]
    );
    assert_eq!(got[0].packet_id, first_id, "resent under its original id");
    assert_eq!(got[2].packet_id, None);
    for p in &got[..2] {
        let id = p.packet_id.unwrap();
        assert!(back.send3(Packet::PublishAck { packet_id: id }).is_empty());
    }
    assert_eq!((q.acked(), q.message_count(), q.unacked().len()), (3, 0, 0));

    // A clean session with the same id discards it all.
    back.close();
    let mut clean = b.client();
    assert!(!clean.connect3("keeper", true));
    assert!(b.vhost().queue(&queue).is_none());
}
