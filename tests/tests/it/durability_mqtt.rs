//! MQTT durability across restarts, with rumqttc and the raw packet client: a persistent
//! session's subscriptions (shared ones too) and the QoS 1 and 2 messages queued for it while
//! its client was away survive a restart of the broker on the same data directory, and so do
//! retained messages, inbound QoS 2 ids and outbound QoS 2 ids awaiting PUBCOMP; a clean
//! session's state does not. A persistent member's group queue keeps its QoS 1 and 2
//! messages too, and goes once no session holds it, also across a restart.

use crate::mqtt;

use mqtt::v4::QoS;
use mqtt::*;
use warren_it::eventually_async;
use warren_testkit::{Config, DataDir, TestBroker};

fn start(dir: &DataDir) -> MqttTarget {
    MqttTarget::Local(TestBroker::start_in(Config::default(), dir))
}

fn persistent(t: &MqttTarget, id: &str) -> v4::MqttOptions {
    let mut o = t.v4(id);
    o.set_clean_session(false);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_and_its_queued_messages_survive_a_restart() {
    let dir = DataDir::new();
    {
        let t = start(&dir);
        let (mut sub, ack) = v4::connect(persistent(&t, "keeper")).await;
        assert!(!ack.session_present);
        sub.subscribe("dur/#", QoS::ExactlyOnce).await;
        sub.disconnect().await;
        let (mut clean, _) = v4::connect(t.v4("forgetful")).await;
        clean.subscribe("dur/#", QoS::AtLeastOnce).await;
        clean.disconnect().await;
        let (mut publ, _) = v4::connect(t.v4("publisher")).await;
        publ.publish("dur/1", QoS::AtLeastOnce, false, b"one").await;
        publ.publish("dur/2", QoS::ExactlyOnce, false, b"two").await;
        publ.publish("dur/3", QoS::AtMostOnce, false, b"lost").await;
        publ.publish("ret/a", QoS::AtLeastOnce, true, b"kept").await;
        publ.publish("ret/b", QoS::AtLeastOnce, true, b"cleared")
            .await;
        publ.publish("ret/b", QoS::AtLeastOnce, true, b"").await;
        publ.disconnect().await;
    }
    let t = start(&dir);
    let (mut sub, ack) = v4::connect(persistent(&t, "keeper")).await;
    assert!(ack.session_present, "the session survived the restart");
    let first = sub.next_publish().await;
    let second = sub.next_publish().await;
    assert_eq!(
        (v4::text(&first), v4::text(&second)),
        ("one".to_owned(), "two".to_owned())
    );
    assert_eq!(second.qos, QoS::ExactlyOnce);
    sub.assert_no_publish(std::time::Duration::from_millis(300))
        .await;
    // The subscription itself came back: a new publish reaches it.
    let (mut publ, _) = v4::connect(t.v4("publisher2")).await;
    publ.publish("dur/4", QoS::AtLeastOnce, false, b"four")
        .await;
    assert_eq!(v4::text(&sub.next_publish().await), "four");
    // Retained: the kept one is there, the cleared one is not.
    let (mut late, _) = v4::connect(t.v4("late")).await;
    late.subscribe("ret/#", QoS::AtLeastOnce).await;
    let retained = late.next_publish().await;
    assert_eq!(
        (retained.topic.as_str(), v4::text(&retained)),
        ("ret/a", "kept".to_owned())
    );
    assert!(retained.retain);
    late.assert_no_publish(std::time::Duration::from_millis(300))
        .await;
    // The clean session left nothing behind.
    let (_c, ack) = v4::connect(persistent(&t, "forgetful")).await;
    assert!(!ack.session_present);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_session_with_an_expiry_survives_a_restart() {
    let dir = DataDir::new();
    let keep = |t: &MqttTarget, id: &str| {
        let mut opts = t.v5(id);
        opts.set_clean_start(false)
            .set_session_expiry_interval(Some(300));
        opts
    };
    {
        let t = start(&dir);
        let (mut c, _) = v5::connect(keep(&t, "v5-kept")).await;
        c.subscribe("v5dur/#", v5::QoS::AtLeastOnce).await;
        c.disconnect().await;
        let (mut publ, _) = v5::connect(t.v5("v5-pub")).await;
        publ.publish("v5dur/x", v5::QoS::AtLeastOnce, false, b"kept")
            .await;
    }
    let t = start(&dir);
    let (mut c, ack) = v5::connect(keep(&t, "v5-kept")).await;
    assert!(
        ack.session_present,
        "a v5 session with an expiry survived the restart"
    );
    assert_eq!(v5::text(&c.next_publish().await), "kept");
}

/// The inbound QoS 2 state of a persistent session survives a restart: a PUBLISH sent again
/// (DUP) after the broker restarted, with the id it acknowledged with PUBREC before, is not
/// routed a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_packet_ids_survive_a_restart_so_a_resent_publish_is_not_routed_twice() {
    let dir = DataDir::new();
    let persistent_raw = || {
        let mut c = Connect::new(V311, "qos2-sender");
        c.clean = false;
        c
    };
    {
        let t = start(&dir);
        let (mut sub, _) = v4::connect(persistent(&t, "qos2-receiver")).await;
        sub.subscribe("q2/#", QoS::ExactlyOnce).await;
        sub.disconnect().await;
        let (mut raw, _) = Raw::open(t.mqtt_addr(), &persistent_raw()).await;
        raw.send(&publish("q2/a", 2, false, false, 9, b"once", None))
            .await;
        assert_eq!(raw.recv_kind(kind::PUBREC).await.pkid(), 9);
    }
    let t = start(&dir);
    let (mut raw, connack) = Raw::open(t.mqtt_addr(), &persistent_raw()).await;
    assert!(connack.connack().0, "the sender's session survived");
    raw.send(&publish("q2/a", 2, false, true, 9, b"once", None))
        .await;
    assert_eq!(raw.recv_kind(kind::PUBREC).await.pkid(), 9);
    raw.send(&ack(kind::PUBREL, 9)).await;
    assert_eq!(raw.recv_kind(kind::PUBCOMP).await.pkid(), 9);
    let (mut sub, _) = v4::connect(persistent(&t, "qos2-receiver")).await;
    assert_eq!(v4::text(&sub.next_publish().await), "once");
    sub.assert_no_publish(QUIET).await;
}

/// Receives from both members until `want` messages arrived; returns the payloads each got.
async fn collect_two(m4: &mut v4::Client, m5: &mut v5::Client, want: usize) -> [Vec<String>; 2] {
    let mut got: [Vec<String>; 2] = Default::default();
    let until = tokio::time::Instant::now() + DEADLINE;
    let short = std::time::Duration::from_millis(20);
    while got[0].len() + got[1].len() < want {
        assert!(tokio::time::Instant::now() < until, "only {got:?} arrived");
        if let Some(p) = m4.try_next_publish(short).await {
            got[0].push(v4::text(&p));
        }
        if let Some(p) = m5.try_next_publish(short).await {
            got[1].push(v5::text(&p));
        }
    }
    got
}

/// A persistent MQTT 5 and a persistent 3.1.1 session in the group `$share/g/t/#` are members
/// again after a restart: the group collects messages before they return, and shares the
/// ones published after they did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscriptions_of_persistent_sessions_survive_a_restart() {
    let dir = DataDir::new();
    let keep5 = |t: &MqttTarget| {
        let mut opts = t.v5("share-v5");
        opts.set_clean_start(false)
            .set_session_expiry_interval(Some(300));
        opts
    };
    let share = "$share/g/t/#";
    {
        let t = start(&dir);
        let (mut m5, _) = v5::connect(keep5(&t)).await;
        let code = m5.subscribe(share, v5::QoS::AtLeastOnce).await;
        assert_eq!(code, v5::SubscribeReasonCode::Success(v5::QoS::AtLeastOnce));
        m5.disconnect().await;
        let (mut m4, _) = v4::connect(persistent(&t, "share-v4")).await;
        let code = m4.subscribe(share, QoS::AtLeastOnce).await;
        assert_eq!(code, v4::SubscribeReasonCode::Success(QoS::AtLeastOnce));
        m4.disconnect().await;
    }
    let t = start(&dir);
    let (mut publ, _) = v4::connect(t.v4("share-pub")).await;
    publ.publish("t/early", QoS::AtLeastOnce, false, b"early")
        .await;
    let (mut m5, ack) = v5::connect(keep5(&t)).await;
    assert!(ack.session_present);
    assert_eq!(v5::text(&m5.next_publish().await), "early");
    let (mut m4, ack) = v4::connect(persistent(&t, "share-v4")).await;
    assert!(ack.session_present);
    for i in 0..10 {
        let body = format!("m{i}");
        publ.publish(&format!("t/{i}"), QoS::AtLeastOnce, false, body.as_bytes())
            .await;
    }
    let [from4, from5] = collect_two(&mut m4, &mut m5, 10).await;
    assert!(
        !from4.is_empty() && !from5.is_empty(),
        "both members get a share: {from4:?} / {from5:?}"
    );
    let mut all: Vec<_> = from4.into_iter().chain(from5).collect();
    all.sort();
    let mut expected: Vec<_> = (0..10).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "each message to one member, once");
}

fn raw_keeper(level: u8, id: &str) -> Connect {
    let mut c = Connect::new(level, id);
    c.clean = false;
    if level == V5 {
        c.props = Props::new().u32(prop::SESSION_EXPIRY, 300);
    }
    c
}

/// MQTT-4.4.0-1 across a restart: a QoS 2 delivery the client answered with PUBREC, whose
/// PUBREL it got but never completed, is resumed with PUBREL (same packet id), not PUBLISH;
/// once PUBCOMP arrives, a further restart resends nothing.
async fn pubrel_survives_restarts(level: u8, id: &str) {
    let dir = DataDir::new();
    let v5 = level == V5;
    let topic = format!("rel/{id}");
    let pkid = {
        let t = start(&dir);
        let (mut raw, _) = Raw::open(t.mqtt_addr(), &raw_keeper(level, id)).await;
        assert_eq!(raw_subscribe(&mut raw, 1, &topic, 2, v5).await, 2);
        let (mut publ, _) = v4::connect(t.v4("rel-pub")).await;
        publ.publish(&topic, QoS::ExactlyOnce, false, b"once").await;
        let delivery = raw.recv_kind(kind::PUBLISH).await.publish(v5);
        assert_eq!(
            (delivery.qos, delivery.payload.as_slice()),
            (2, &b"once"[..])
        );
        raw.send(&ack(kind::PUBREC, delivery.pkid)).await;
        assert_eq!(raw.recv_kind(kind::PUBREL).await.pkid(), delivery.pkid);
        delivery.pkid // no PUBCOMP
    };
    {
        let t = start(&dir);
        let (mut raw, connack) = Raw::open(t.mqtt_addr(), &raw_keeper(level, id)).await;
        assert!(connack.connack().0, "the session survived");
        let next = raw.recv().await;
        assert_eq!(
            (next.kind(), next.pkid()),
            (kind::PUBREL, pkid),
            "got {next:?}"
        );
        assert!(
            raw.recv_within(QUIET).await.is_err(),
            "nothing else, above all not the PUBLISH again"
        );
        raw.send(&ack(kind::PUBCOMP, pkid)).await;
        // PINGRESP comes after the broker has handled the PUBCOMP.
        raw.send(&pingreq()).await;
        raw.recv_kind(kind::PINGRESP).await;
    }
    let t = start(&dir);
    let (mut raw, connack) = Raw::open(t.mqtt_addr(), &raw_keeper(level, id)).await;
    assert!(connack.connack().0, "the session survived again");
    assert_eq!(
        raw.recv_within(QUIET).await.err(),
        Some(RawEnd::Timeout),
        "PUBCOMP ended the exchange for good"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_outbound_qos2_awaiting_pubcomp_resumes_with_pubrel_after_a_restart() {
    pubrel_survives_restarts(V311, "rel-v311").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_outbound_qos2_awaiting_pubcomp_resumes_with_pubrel_after_a_restart() {
    pubrel_survives_restarts(V5, "rel-v5").await;
}

/// A QoS 2 message leaves its queue at PUBREC (so that only its packet id has to survive a
/// restart), but until PUBCOMP it still counts against the client's Receive Maximum (MQTT 5
/// section 4.9): with a maximum of 1, the next PUBLISH waits for the PUBCOMP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos2_id_awaiting_pubcomp_still_counts_against_the_receive_maximum() {
    let dir = DataDir::new();
    let t = start(&dir);
    let mut c = raw_keeper(V5, "rmax-rel");
    c.props = Props::new()
        .u32(prop::SESSION_EXPIRY, 300)
        .u16(prop::RECEIVE_MAXIMUM, 1);
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &c).await;
    assert_eq!(raw_subscribe(&mut raw, 1, "rmax/#", 2, true).await, 2);
    let (mut publ, _) = v4::connect(t.v4("rmax-pub")).await;
    publ.publish("rmax/a", QoS::ExactlyOnce, false, b"1").await;
    publ.publish("rmax/a", QoS::ExactlyOnce, false, b"2").await;
    let first = raw.recv_kind(kind::PUBLISH).await.publish(true);
    raw.send(&ack(kind::PUBREC, first.pkid)).await;
    assert_eq!(raw.recv_kind(kind::PUBREL).await.pkid(), first.pkid);
    assert!(
        raw.recv_within(QUIET).await.is_err(),
        "a second PUBLISH before PUBCOMP exceeds the receive maximum"
    );
    raw.send(&ack(kind::PUBCOMP, first.pkid)).await;
    let second = raw.recv_kind(kind::PUBLISH).await.publish(true);
    assert_eq!(second.payload, b"2");
}

/// The group queue of `$share/{group}/t/#` (the lossless mapping makes `t/#` the key `t.#`).
fn group_queue(group: &str) -> String {
    format!("mqtt-share/{group}/t.#")
}

/// The group queue as an AMQP passive declare sees it: `None` is a 404.
async fn group(t: &MqttTarget, group: &str) -> Option<lapin::Queue> {
    warren_it::passive_declare(&t.amqp().await, &group_queue(group)).await
}

/// A persistent member's group queue is durable: QoS 1 messages published while the member
/// was away reach it after a restart, each once and not flagged DUP (none was sent before);
/// a QoS 0 message, not persistent, is not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_for_an_offline_shared_group_survive_a_restart() {
    let dir = DataDir::new();
    let bodies: Vec<String> = (0..5).map(|i| format!("held{i}")).collect();
    {
        let t = start(&dir);
        let (mut m, _) = v4::connect(persistent(&t, "away-member")).await;
        m.subscribe("$share/g/t/#", QoS::AtLeastOnce).await;
        m.disconnect().await;
        // Publish only once the member's consumer is gone, so nothing was ever delivered.
        let idle = eventually_async(DEADLINE, || async {
            group(&t, "g")
                .await
                .is_some_and(|q| q.consumer_count() == 0)
        });
        assert!(idle.await, "the member left the group queue's consumers");
        let (mut publ, _) = v4::connect(t.v4("away-pub")).await;
        for body in &bodies {
            publ.publish("t/x", QoS::AtLeastOnce, false, body.as_bytes())
                .await;
        }
        publ.publish("t/x", QoS::AtMostOnce, false, b"transient")
            .await;
        publ.disconnect().await;
    }
    let t = start(&dir);
    let (mut m, ack) = v4::connect(persistent(&t, "away-member")).await;
    assert!(ack.session_present);
    for body in &bodies {
        let p = m.next_publish().await;
        assert_eq!(
            (v4::text(&p), p.qos, p.dup),
            (body.clone(), QoS::AtLeastOnce, false)
        );
    }
    m.assert_no_publish(QUIET).await;
}

/// The last session holding a group ends it: by UNSUBSCRIBE before a restart, by a clean
/// start after one (the member counts are rebuilt from the restored sessions). A kept group
/// queue that no restored session holds (here one declared over AMQP, as an old data
/// directory could hold) is deleted at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_queue_ends_with_its_last_session_also_across_restarts() {
    let dir = DataDir::new();
    {
        let t = start(&dir);
        let (mut gone, _) = v4::connect(persistent(&t, "unsubscriber")).await;
        gone.subscribe("$share/u/t/#", QoS::AtLeastOnce).await;
        gone.unsubscribe("$share/u/t/#").await;
        gone.disconnect().await;
        let (mut kept, _) = v4::connect(persistent(&t, "keeper")).await;
        kept.subscribe("$share/k/t/#", QoS::AtLeastOnce).await;
        kept.disconnect().await;
        let amqp = t.amqp().await;
        let ch = amqp.create_channel().await.expect("channel");
        let durable = lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare(
            group_queue("stale").as_str().into(),
            durable,
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("declare");
    }
    let t = start(&dir);
    assert!(group(&t, "u").await.is_none(), "unsubscribed: gone");
    assert!(group(&t, "stale").await.is_none(), "no member: swept");
    assert!(group(&t, "k").await.is_some(), "the keeper's group is kept");
    let mut clean = t.v4("keeper");
    clean.set_clean_session(true);
    let (keeper, ack) = v4::connect(clean).await;
    assert!(!ack.session_present);
    keeper.disconnect().await;
    let ended = eventually_async(DEADLINE, || async { group(&t, "k").await.is_none() });
    assert!(
        ended.await,
        "the keeper's session ended, and its group with it"
    );
}
