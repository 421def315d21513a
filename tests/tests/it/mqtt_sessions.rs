//! Persistent sessions: subscriptions and QoS 1/2 messages queued while the client is away are
//! delivered when it returns, unacknowledged messages come back with DUP set, a clean session
//! discards everything, and MQTT 5 session expiry decides how long a session outlives its
//! connection.

use crate::mqtt;

use mqtt::v4::QoS;
use mqtt::*;

fn persistent(t: &MqttTarget, id: &str) -> v4::MqttOptions {
    let mut o = t.v4(id);
    o.set_clean_session(false);
    o
}

/// Ends a session a test left on a shared broker.
async fn discard(t: &MqttTarget, id: &str) {
    let (c, _) = v4::connect(t.v4(id)).await;
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_keeps_subscriptions_and_queues_qos1_and_qos2_offline() {
    let Some(t) = target() else { return };
    let id = name("pers");
    let root = topic("pers");
    let (mut c, ack) = v4::connect(persistent(&t, &id)).await;
    assert!(!ack.session_present);
    c.subscribe(&format!("{root}/#"), QoS::ExactlyOnce).await;
    c.disconnect().await;

    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&format!("{root}/1"), QoS::AtLeastOnce, false, b"one")
        .await;
    publ.publish(&format!("{root}/2"), QoS::ExactlyOnce, false, b"two")
        .await;

    let (mut c, ack) = v4::connect(persistent(&t, &id)).await;
    assert!(ack.session_present, "the session survived (MQTT-3.2.2-2)");
    let a = c.next_publish().await;
    let b = c.next_publish().await;
    assert_eq!(
        [(v4::text(&a), a.qos), (v4::text(&b), b.qos)],
        [
            ("one".to_string(), QoS::AtLeastOnce),
            ("two".to_string(), QoS::ExactlyOnce)
        ]
    );
    // The subscription is still live for new messages.
    publ.publish(&format!("{root}/3"), QoS::AtLeastOnce, false, b"three")
        .await;
    assert_eq!(v4::text(&c.next_publish().await), "three");
    c.disconnect().await;
    discard(&t, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_session_discards_the_stored_session() {
    let Some(t) = target() else { return };
    let id = name("clean");
    let root = topic("clean");
    let (mut c, _) = v4::connect(persistent(&t, &id)).await;
    c.subscribe(&format!("{root}/#"), QoS::AtLeastOnce).await;
    c.disconnect().await;

    let (c, ack) = v4::connect(t.v4(&id)).await;
    assert!(
        !ack.session_present,
        "clean session starts afresh (MQTT-3.2.2-1)"
    );
    c.disconnect().await;

    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&format!("{root}/x"), QoS::AtLeastOnce, false, b"lost")
        .await;
    let (mut c, ack) = v4::connect(persistent(&t, &id)).await;
    assert!(
        !ack.session_present,
        "the old session and its subscription are gone"
    );
    c.assert_no_publish(QUIET).await;
    c.disconnect().await;
    discard(&t, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_is_part_of_the_stored_session() {
    let Some(t) = target() else { return };
    let id = name("unsub");
    let root = topic("unsub");
    let (mut c, _) = v4::connect(persistent(&t, &id)).await;
    c.subscribe(&format!("{root}/a"), QoS::AtLeastOnce).await;
    c.subscribe(&format!("{root}/b"), QoS::AtLeastOnce).await;
    c.unsubscribe(&format!("{root}/a")).await;
    c.disconnect().await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&format!("{root}/a"), QoS::AtLeastOnce, false, b"a")
        .await;
    publ.publish(&format!("{root}/b"), QoS::AtLeastOnce, false, b"b")
        .await;
    let (mut c, _) = v4::connect(persistent(&t, &id)).await;
    assert_eq!(v4::text(&c.next_publish().await), "b");
    c.assert_no_publish(QUIET).await;
    c.disconnect().await;
    discard(&t, &id).await;
}

async fn raw_persistent(t: &MqttTarget, id: &str, level: u8) -> (Raw, bool) {
    let mut connect = Connect::new(level, id);
    connect.clean = false;
    if level == V5 {
        connect.props = Props::new().u32(prop::SESSION_EXPIRY, 300);
    }
    let (raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    let (present, code) = ack.connack();
    assert_eq!(code, 0);
    (raw, present)
}

async fn raw_discard(t: &MqttTarget, id: &str, level: u8) {
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &Connect::new(level, id)).await;
    raw.send(&disconnect(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_qos1_is_redelivered_with_dup_and_the_same_packet_id() {
    for level in [V311, V5] {
        let Some(t) = target() else { return };
        let v5 = level == V5;
        let id = name("dup1");
        let topic = topic("dup1");
        let (mut raw, _) = raw_persistent(&t, &id, level).await;
        assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, v5).await, 1);
        let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
        publ.publish(&topic, QoS::AtLeastOnce, false, b"again")
            .await;
        let first = raw.recv_kind(kind::PUBLISH).await.publish(v5);
        assert!(!first.dup);
        drop(raw); // no PUBACK, no DISCONNECT

        let (mut raw, present) = raw_persistent(&t, &id, level).await;
        assert!(present);
        let again = raw.recv_kind(kind::PUBLISH).await.publish(v5);
        assert_eq!(again.payload, b"again");
        assert!(
            again.dup,
            "redelivery sets DUP (MQTT-3.3.1-1), level {level}"
        );
        assert_eq!(again.pkid, first.pkid, "same packet id (MQTT-4.4.0-1)");
        raw.send(&ack(kind::PUBACK, again.pkid)).await;
        drop(raw);
        raw_discard(&t, &id, level).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_qos2_publish_is_redelivered_with_dup() {
    let Some(t) = target() else { return };
    let id = name("dup2");
    let topic = topic("dup2");
    let (mut raw, _) = raw_persistent(&t, &id, V311).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 2, false).await, 2);
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, QoS::ExactlyOnce, false, b"q2").await;
    let first = raw.recv_kind(kind::PUBLISH).await.publish(false);
    assert_eq!(first.qos, 2);
    drop(raw); // no PUBREC

    let (mut raw, _) = raw_persistent(&t, &id, V311).await;
    let again = raw.recv_kind(kind::PUBLISH).await.publish(false);
    assert!(again.dup);
    assert_eq!(
        (again.pkid, again.qos, again.payload.as_slice()),
        (first.pkid, 2, &b"q2"[..])
    );
    raw.send(&ack(kind::PUBREC, again.pkid)).await;
    assert_eq!(raw.recv_kind(kind::PUBREL).await.pkid(), again.pkid);
    raw.send(&ack(kind::PUBCOMP, again.pkid)).await;
    drop(raw);
    raw_discard(&t, &id, V311).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_received_but_not_completed_resumes_with_pubrel_not_publish() {
    let Some(t) = target() else { return };
    let id = name("rel2");
    let topic = topic("rel2");
    let (mut raw, _) = raw_persistent(&t, &id, V311).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 2, false).await, 2);
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, QoS::ExactlyOnce, false, b"q2").await;
    let first = raw.recv_kind(kind::PUBLISH).await.publish(false);
    raw.send(&ack(kind::PUBREC, first.pkid)).await;
    assert_eq!(raw.recv_kind(kind::PUBREL).await.pkid(), first.pkid);
    drop(raw); // no PUBCOMP

    let (mut raw, _) = raw_persistent(&t, &id, V311).await;
    let next = raw.recv().await;
    // MQTT-4.4.0-1: the server resends the PUBREL; the message is not delivered again.
    assert_eq!(next.kind(), kind::PUBREL, "got {next:?}");
    assert_eq!(next.pkid(), first.pkid);
    raw.send(&ack(kind::PUBCOMP, first.pkid)).await;
    assert!(
        raw.recv_within(QUIET).await.is_err(),
        "nothing else is pending"
    );
    drop(raw);
    raw_discard(&t, &id, V311).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_session_without_expiry_ends_with_the_connection() {
    let Some(t) = target() else { return };
    let id = name("exp0");
    let mut connect = Connect::new(V5, &id);
    connect.clean = false;
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic("exp0"), 1, true).await, 1);
    raw.send(&disconnect(Some((0, &Props::new())))).await;
    raw.expect_close(DEADLINE).await;
    // Session Expiry Interval absent = 0: nothing to resume (MQTT 5 section 3.1.2.11.2).
    let (_raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack(), (false, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_session_with_expiry_keeps_queued_messages() {
    let Some(t) = target() else { return };
    let id = name("exp");
    let topic = topic("exp");
    let mut opts = t.v5(&id);
    opts.set_clean_start(false)
        .set_session_expiry_interval(Some(300));
    let (mut c, ack) = v5::connect(opts.clone()).await;
    assert!(!ack.session_present);
    c.subscribe(&topic, v5::QoS::AtLeastOnce).await;
    c.disconnect().await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&topic, v5::QoS::AtLeastOnce, false, b"waiting")
        .await;
    let (mut c, ack) = v5::connect(opts).await;
    assert!(ack.session_present);
    assert_eq!(v5::text(&c.next_publish().await), "waiting");
    c.disconnect().await;
    raw_discard(&t, &id, V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_clean_start_discards_a_session_that_has_not_expired() {
    let Some(t) = target() else { return };
    let id = name("cs");
    let (raw, _) = raw_persistent(&t, &id, V5).await;
    drop(raw);
    let (_raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &id)).await;
    assert_eq!(ack.connack(), (false, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_disconnect_can_shorten_session_expiry_to_zero() {
    let Some(t) = target() else { return };
    let id = name("dexp");
    let (mut raw, _) = raw_persistent(&t, &id, V5).await;
    let props = Props::new().u32(prop::SESSION_EXPIRY, 0);
    raw.send(&disconnect(Some((0, &props)))).await;
    raw.expect_close(DEADLINE).await;
    let (_raw, present) = raw_persistent(&t, &id, V5).await;
    assert!(!present, "the session ended at DISCONNECT");
    raw_discard(&t, &id, V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_disconnect_raising_expiry_from_zero_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &name("raise"))).await;
    let props = Props::new().u32(prop::SESSION_EXPIRY, 60);
    raw.send(&disconnect(Some((0, &props)))).await;
    // MQTT-3.14.2-2: the server answers with DISCONNECT 0x82 Protocol Error (or just closes).
    let got = raw.expect_close(DEADLINE).await;
    if let Some(d) = got.iter().find(|p| p.kind() == kind::DISCONNECT) {
        assert_eq!(d.reason(), 0x82);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_session_expires_after_its_interval() {
    let Some(t) = target() else { return };
    let id = name("expire");
    let will_topic = topic("expire");
    let (mut watcher, _) = v5::connect(t.v5(&name("watch"))).await;
    watcher.subscribe(&will_topic, v5::QoS::AtLeastOnce).await;
    // A will delayed beyond the session's life is published when the session ends
    // (MQTT-3.1.3-9), which tells the test the session has expired without sleeping.
    let mut connect = Connect::new(V5, &id);
    connect.clean = false;
    connect.props = Props::new().u32(prop::SESSION_EXPIRY, 1);
    connect.will = Some(Will {
        topic: will_topic.clone(),
        payload: b"expired".to_vec(),
        qos: 1,
        retain: false,
        props: Props::new().u32(prop::WILL_DELAY, 3600),
    });
    let (raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    drop(raw);
    assert_eq!(v5::text(&watcher.next_publish().await), "expired");
    connect.will = None;
    let (_raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack(), (false, 0), "the expired session is gone");
}

/// `mqtt.max_session_expiry` caps a 5.0 client's Session Expiry Interval (CONNACK tells it
/// the cap) and is the expiry of a persistent 3.1.1 session: both session queues outlive the
/// connection, then go at the cap, not after the hour the 5.0 client asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_is_capped_by_max_session_expiry() {
    let mut config = warren_testkit::Config::default();
    config.mqtt.max_session_expiry = 3;
    let Some(t) = warren_with(config) else { return };
    let id5 = name("cap5");
    let mut connect = Connect::new(V5, &id5);
    connect.props = Props::new().u32(prop::SESSION_EXPIRY, 3600);
    let (mut raw5, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack().1, 0);
    assert_eq!(
        find_prop(&ack.connack_props(), prop::SESSION_EXPIRY),
        Some(&PropValue::Int(3)),
        "CONNACK tells the cap"
    );
    raw_subscribe(&mut raw5, 1, "cap/5", 1, true).await;
    let id3 = name("cap3");
    let mut connect = Connect::new(V311, &id3);
    connect.clean = false;
    let (mut raw3, _) = Raw::open(t.mqtt_addr(), &connect).await;
    raw_subscribe(&mut raw3, 1, "cap/3", 1, false).await;
    raw5.send(&disconnect(Some((0, &Props::new())))).await;
    raw3.send(&disconnect(None)).await;

    let conn = t.amqp().await;
    let queues = [
        format!("mqtt-subscription-{id5}"),
        format!("mqtt-subscription-{id3}"),
    ];
    for q in &queues {
        assert!(
            warren_it::passive_declare(&conn, q).await.is_some(),
            "{q} kept after the disconnect"
        );
    }
    let conn = &conn;
    for q in &queues {
        let q = q.as_str();
        let gone = warren_it::eventually_async(DEADLINE, move || async move {
            warren_it::passive_declare(conn, q).await.is_none()
        })
        .await;
        assert!(gone, "{q} deleted at the cap");
    }
}

/// `r/+` and a literal `r/*` are both the binding key `r.*` in Warren: unsubscribing `r/*`
/// keeps the binding `r/+` needs. Mosquitto passes (the two are unrelated filters there);
/// RabbitMQ has the same collision and drops the binding, so `r/+` stops receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_one_filter_keeps_another_with_the_same_binding() {
    let Some(t) = warren_only() else { return };
    let root = topic("same");
    let (mut c, _) = v4::connect(t.v4(&name("same"))).await;
    c.subscribe(&format!("{root}/+"), QoS::AtLeastOnce).await;
    c.subscribe(&format!("{root}/*"), QoS::AtLeastOnce).await;
    c.unsubscribe(&format!("{root}/*")).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&format!("{root}/x"), QoS::AtLeastOnce, false, b"x")
        .await;
    let got = c.next_publish().await;
    assert_eq!(
        (got.topic.clone(), v4::text(&got)),
        (format!("{root}/x"), "x".into())
    );
    c.unsubscribe(&format!("{root}/+")).await;
    publ.publish(&format!("{root}/y"), QoS::AtLeastOnce, false, b"y")
        .await;
    c.assert_no_publish(QUIET).await;
}
