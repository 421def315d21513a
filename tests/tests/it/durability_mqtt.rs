//! MQTT durability across restarts, with rumqttc: a persistent session's subscriptions and the
//! QoS 1 and 2 messages queued for it while its client was away survive a restart of the
//! broker on the same data directory, and so do retained messages; a clean session's do not.

use crate::mqtt;

use mqtt::v4::QoS;
use mqtt::*;
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
