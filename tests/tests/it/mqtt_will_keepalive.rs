//! Last will: published when a connection ends abnormally (close, protocol error, keepalive
//! timeout, takeover), not after a clean DISCONNECT; MQTT 5 will delay, will properties and
//! DISCONNECT 0x04. Keepalive: a silent client is disconnected at 1.5 times its interval.

use crate::mqtt;

use std::time::{Duration, Instant};

use mqtt::v4::QoS;
use mqtt::*;

async fn watcher(t: &MqttTarget, topic: &str) -> v4::Client {
    let (mut w, _) = v4::connect(t.v4(&name("watch"))).await;
    w.subscribe(topic, QoS::AtLeastOnce).await;
    w
}

fn with_will(t: &MqttTarget, topic: &str, retain: bool) -> v4::MqttOptions {
    let mut o = t.v4(&name("will"));
    o.set_last_will(v4::LastWill::new(topic, "bye", QoS::AtLeastOnce, retain));
    o
}

fn raw_will(topic: &str) -> Will {
    Will {
        topic: topic.to_owned(),
        payload: b"bye".to_vec(),
        qos: 1,
        retain: false,
        props: Props::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_connection_drops() {
    let Some(t) = target() else { return };
    let topic = topic("drop");
    let mut w = watcher(&t, &topic).await;
    let (c, _) = v4::connect(with_will(&t, &topic, false)).await;
    c.events.kill();
    let got = w.next_publish().await;
    assert_eq!(
        (got.topic.as_str(), v4::text(&got)),
        (topic.as_str(), "bye".into())
    );
    assert_eq!(got.qos, QoS::AtLeastOnce);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_will_is_kept_for_later_subscribers() {
    let Some(t) = target() else { return };
    let topic = topic("rwill");
    let (c, _) = v4::connect(with_will(&t, &topic, true)).await;
    let mut w = watcher(&t, &topic).await;
    c.events.kill();
    assert_eq!(v4::text(&w.next_publish().await), "bye");
    let mut late = watcher(&t, &topic).await;
    let got = late.next_publish().await;
    assert!(got.retain);
    assert_eq!(v4::text(&got), "bye");
    w.publish(&topic, QoS::AtLeastOnce, true, b"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_not_published_after_a_clean_disconnect() {
    let Some(t) = target() else { return };
    let topic = topic("clean");
    let mut w = watcher(&t, &topic).await;
    let (c, _) = v4::connect(with_will(&t, &topic, false)).await;
    c.disconnect().await;
    // MQTT-3.1.2-10: DISCONNECT discards the will.
    w.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_server_closes_for_a_protocol_error() {
    let Some(t) = target() else { return };
    let topic = topic("perr");
    let mut w = watcher(&t, &topic).await;
    let mut connect = Connect::new(V311, &name("perr"));
    connect.will = Some(raw_will(&topic));
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    // Packet type 0 is reserved (MQTT-2.2.1): a protocol violation.
    raw.send(&[0x00, 0x00]).await;
    raw.expect_close(DEADLINE).await;
    assert_eq!(v4::text(&w.next_publish().await), "bye");
}

/// Mosquitto 2.0.11 checks keepalives coarsely (it closes after about 7 s here), so this pins the
/// spec rather than Mosquitto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_disconnected_at_one_and_a_half_keepalives_and_its_will_sent() {
    let Some(t) = target() else { return };
    let topic = topic("ka");
    let mut w = watcher(&t, &topic).await;
    let mut connect = Connect::new(V311, &name("ka"));
    connect.keep_alive = 1;
    connect.will = Some(raw_will(&topic));
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    let since = Instant::now();
    let got = raw.expect_close(Duration::from_secs(30)).await;
    let waited = since.elapsed();
    assert!(got.is_empty(), "no packets to a silent client: {got:?}");
    // MQTT-3.1.2-24: disconnect after 1.5 x keepalive; never before the keepalive itself.
    assert!(
        waited >= Duration::from_millis(1000) && waited <= Duration::from_millis(3000),
        "closed after {waited:?}"
    );
    assert_eq!(v4::text(&w.next_publish().await), "bye");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingreq_keeps_a_connection_alive_past_its_keepalive() {
    let Some(t) = target() else { return };
    let mut connect = Connect::new(V311, &name("ping"));
    connect.keep_alive = 1;
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    let mut ticks = tokio::time::interval(Duration::from_millis(400));
    let since = Instant::now();
    while since.elapsed() < Duration::from_millis(3000) {
        ticks.tick().await;
        raw.send(&pingreq()).await;
        let resp = raw.recv().await;
        assert_eq!(resp.kind(), kind::PINGRESP);
        assert_eq!(resp.body.len(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_will_delay_postpones_the_will() {
    let Some(t) = target() else { return };
    let topic = topic("delay");
    let mut w = watcher(&t, &topic).await;
    let mut connect = Connect::new(V5, &name("delay"));
    connect.props = Props::new().u32(prop::SESSION_EXPIRY, 30);
    let mut will = raw_will(&topic);
    will.props = Props::new().u32(prop::WILL_DELAY, 2);
    connect.will = Some(will);
    let (raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    drop(raw);
    let since = Instant::now();
    assert_eq!(v4::text(&w.next_publish().await), "bye");
    assert!(
        since.elapsed() >= Duration::from_millis(1500),
        "will sent after {:?}, before its 2 s delay",
        since.elapsed()
    );
    Raw::open(t.mqtt_addr(), &Connect::new(V5, &connect.client_id)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_reconnect_within_the_will_delay_cancels_the_will() {
    let Some(t) = target() else { return };
    let topic = topic("cancel");
    let mut w = watcher(&t, &topic).await;
    let mut connect = Connect::new(V5, &name("cancel"));
    connect.clean = false;
    connect.props = Props::new().u32(prop::SESSION_EXPIRY, 30);
    let mut will = raw_will(&topic);
    will.props = Props::new().u32(prop::WILL_DELAY, 1);
    connect.will = Some(will);
    let (raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    drop(raw);
    connect.will = None;
    let (mut back, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack(), (true, 0));
    // MQTT-3.1.3-9: the session resumed before the delay elapsed, so no will; wait out the delay.
    w.assert_no_publish(Duration::from_millis(2000)).await;
    back.send(&disconnect(Some((
        0,
        &Props::new().u32(prop::SESSION_EXPIRY, 0),
    ))))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_will_properties_travel_with_the_will() {
    let Some(t) = target() else { return };
    let topic = topic("wprops");
    let (mut w, _) = v5::connect(t.v5(&name("watch"))).await;
    w.subscribe(&topic, v5::QoS::AtLeastOnce).await;
    let mut opts = t.v5(&name("wprops"));
    opts.set_last_will(v5::LastWill::new(
        &topic,
        "bye",
        v5::QoS::AtLeastOnce,
        false,
        Some(v5::LastWillProperties {
            delay_interval: None,
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(600),
            content_type: Some("text/plain".into()),
            response_topic: Some(format!("{topic}/reply")),
            correlation_data: Some(bytes::Bytes::from_static(b"corr")),
            user_properties: vec![("who".into(), "me".into())],
        }),
    ));
    let (c, _) = v5::connect(opts).await;
    c.events.kill();
    let got = w.next_publish().await;
    assert_eq!(v5::text(&got), "bye");
    let p = got.properties.expect("will properties");
    assert_eq!(p.payload_format_indicator, Some(1));
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.response_topic, Some(format!("{topic}/reply")));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"corr"[..]));
    assert_eq!(
        p.user_properties,
        vec![("who".to_string(), "me".to_string())]
    );
    let expiry = p.message_expiry_interval.expect("message expiry kept");
    assert!(expiry > 0 && expiry <= 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_disconnect_with_will_message_publishes_the_will() {
    let Some(t) = target() else { return };
    let topic = topic("dw");
    let mut w = watcher(&t, &topic).await;
    let mut connect = Connect::new(V5, &name("dw"));
    connect.will = Some(raw_will(&topic));
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    // Reason 0x04: Disconnect with Will Message.
    raw.send(&disconnect(Some((0x04, &Props::new())))).await;
    raw.expect_close(DEADLINE).await;
    assert_eq!(v4::text(&w.next_publish().await), "bye");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_normal_disconnect_discards_the_will() {
    let Some(t) = target() else { return };
    let topic = topic("dn");
    let mut w = watcher(&t, &topic).await;
    let mut connect = Connect::new(V5, &name("dn"));
    connect.will = Some(raw_will(&topic));
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    raw.send(&disconnect(Some((0x00, &Props::new())))).await;
    raw.expect_close(DEADLINE).await;
    w.assert_no_publish(QUIET).await;
}

/// A will topic with a wildcard is no topic name. 3.1.1: the CONNECT breaks section 3.1, so
/// the connection closes without CONNACK (MQTT-3.1.4-1); 5.0: CONNACK 0x90 Topic Name
/// invalid, then close. Mosquitto 2.0 also closes 3.1.1 without CONNACK (and 5.0 too, which
/// the spec allows); RabbitMQ accepts such a will.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_topic_with_a_wildcard_is_refused() {
    let Some(t) = warren_only() else { return };
    for wild in ["w/+", "w/#"] {
        let mut connect = Connect::new(V311, &name("wild"));
        connect.will = Some(raw_will(wild));
        let mut raw = t.raw().await;
        raw.send(&connect.encode()).await;
        let got = raw.expect_close(DEADLINE).await;
        assert!(got.is_empty(), "3.1.1 {wild}: no CONNACK, got {got:?}");

        let mut connect = Connect::new(V5, &name("wild"));
        connect.will = Some(raw_will(wild));
        let mut raw = t.raw().await;
        raw.send(&connect.encode()).await;
        let got = raw.expect_close(DEADLINE).await;
        let codes: Vec<_> = got.iter().map(RawPacket::connack).collect();
        assert_eq!(codes, [(false, 0x90)], "5.0 {wild}");
    }
}

/// A broker that shuts down closes its connections without a DISCONNECT from the clients,
/// so their wills are published (MQTT 5 section 3.1.2.5), at once even when they have a
/// delay (the delay cannot outlive the broker; Mosquitto does the same). Seen here in a
/// durable AMQP queue after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_shutdown_publishes_the_wills_of_connected_clients() {
    use warren_testkit::{Config, DataDir, TestBroker};
    if external_broker() {
        eprintln!("skipped: restarts an in-process Warren");
        return;
    }
    let dir = DataDir::new();
    let queue = name("wills");
    let root = name("w");
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = warren_it::connect_to(&broker).await;
        let ch = warren_it::channel(&conn).await;
        let durable = lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare(queue.as_str().into(), durable, Default::default())
            .await
            .expect("queue.declare");
        ch.queue_bind(
            queue.as_str().into(),
            "amq.topic".into(),
            format!("{root}.#").as_str().into(),
            Default::default(),
            Default::default(),
        )
        .await
        .expect("queue.bind");
        conn.close(200, "done".into()).await.expect("close");

        let mut connect = Connect::new(V311, &name("w3"));
        connect.will = Some(Will {
            payload: b"three".to_vec(),
            ..raw_will(&format!("{root}/3"))
        });
        let (_raw3, _) = Raw::open(broker.mqtt_addr(), &connect).await;
        let mut connect = Connect::new(V5, &name("w5"));
        connect.clean = false;
        connect.props = Props::new().u32(prop::SESSION_EXPIRY, 3600);
        connect.will = Some(Will {
            payload: b"five".to_vec(),
            props: Props::new().u32(prop::WILL_DELAY, 600),
            ..raw_will(&format!("{root}/5"))
        });
        let (mut raw5, _) = Raw::open(broker.mqtt_addr(), &connect).await;
        tokio::task::spawn_blocking(move || drop(broker))
            .await
            .expect("broker stopped");
        let got = raw5.expect_close(DEADLINE).await;
        assert!(
            got.iter()
                .any(|p| p.kind() == kind::DISCONNECT && p.reason() == 0x8B),
            "{got:?}"
        );
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = warren_it::connect_to(&broker).await;
    let ch = warren_it::channel(&conn).await;
    let mut wills = warren_it::drain(&ch, &queue).await;
    wills.sort();
    assert_eq!(wills, ["five", "three"]);
}
