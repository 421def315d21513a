//! RabbitMQ queue arguments apply to every protocol: a queue declared by AMQP with arguments
//! keeps them when STOMP publishes to it or consumes from it, and when it is an MQTT shared
//! subscription's group queue.

use crate::mqtt;
use crate::stomp;

use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use mqtt::v5::QoS;
use mqtt::{name, topic, v5, warren_only, Connect, MqttTarget, Props, Raw, DEADLINE, V5};
use stomp::StompClient;
use warren_testkit::TestBroker;

async fn amqp_channel(broker: &TestBroker) -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(&broker.amqp_url(), Default::default())
        .await
        .expect("amqp connect");
    let channel = conn.create_channel().await.expect("channel");
    (conn, channel)
}

async fn declare(channel: &lapin::Channel, queue: &str, args: &[(&str, AMQPValue)]) {
    let mut table = FieldTable::default();
    for (k, v) in args {
        table.insert((*k).into(), v.clone());
    }
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::default(), table)
        .await
        .expect("declare");
}

/// A queue that takes one message and refuses the next ones (`reject-publish`).
async fn declare_full_after_one(channel: &lapin::Channel, queue: &str) {
    let args = [
        ("x-max-length", AMQPValue::LongInt(1)),
        ("x-overflow", AMQPValue::LongString("reject-publish".into())),
    ];
    declare(channel, queue, &args).await;
}

async fn stomp_client(broker: &TestBroker) -> StompClient {
    let mut c = StompClient::open(broker.stomp_addr()).await;
    let connected = c.connect(&[("accept-version", "1.2"), ("host", "/")]).await;
    assert_eq!(connected.command, "CONNECTED", "{connected:?}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_reads_a_priority_queue_declared_by_amqp_in_priority_order() {
    let Some(t) = warren_only() else { return };
    let MqttTarget::Local(broker) = &t else {
        return;
    };
    let (_conn, channel) = amqp_channel(broker).await;
    let queue = name("prio");
    declare(
        &channel,
        &queue,
        &[("x-max-priority", AMQPValue::ShortShortUInt(9))],
    )
    .await;
    for priority in [1u8, 9, 5] {
        channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                priority.to_string().as_bytes(),
                BasicProperties::default().with_priority(priority),
            )
            .await
            .expect("publish");
    }
    // The broker handles a channel's methods in order: once this redeclare is answered, the
    // three publishes are queued, so the subscriber sees them all ready.
    declare(
        &channel,
        &queue,
        &[("x-max-priority", AMQPValue::ShortShortUInt(9))],
    )
    .await;
    let mut stomp = stomp_client(broker).await;
    stomp.subscribe("s", &format!("/amq/queue/{queue}")).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(stomp.message().await.text());
    }
    assert_eq!(got, ["9", "5", "1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stomp_send_expires_into_the_dead_letter_queue() {
    let Some(t) = warren_only() else { return };
    let MqttTarget::Local(broker) = &t else {
        return;
    };
    let (_conn, channel) = amqp_channel(broker).await;
    let (queue, dlq) = (name("ttl"), name("dlq"));
    declare(&channel, &dlq, &[]).await;
    declare(
        &channel,
        &queue,
        &[
            ("x-message-ttl", AMQPValue::LongInt(20)),
            ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
            (
                "x-dead-letter-routing-key",
                AMQPValue::LongString(dlq.as_str().into()),
            ),
        ],
    )
    .await;
    let mut stomp = stomp_client(broker).await;
    stomp.subscribe("dead", &format!("/amq/queue/{dlq}")).await;
    stomp
        .send_sync(&format!("/amq/queue/{queue}"), &[], "late")
        .await;
    let dead = stomp.message().await;
    assert_eq!(dead.text(), "late");
    // `x-death` is an array of tables, which a STOMP header cannot carry (RabbitMQ drops it
    // too); the `x-first-death-*` strings come through.
    assert_eq!(
        dead.header("x-first-death-reason"),
        Some("expired"),
        "{dead:?}"
    );
    assert_eq!(dead.header("x-first-death-queue"), Some(queue.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_group_queue_declared_by_amqp_keeps_its_length_limit() {
    let Some(t) = warren_only() else { return };
    let MqttTarget::Local(broker) = &t else {
        return;
    };
    let (_conn, channel) = amqp_channel(broker).await;
    let root = topic("lim");
    let group = name("g");
    let queue = format!("mqtt-share/{group}/{}", root.replace('/', "."));
    declare(&channel, &queue, &[("x-max-length", AMQPValue::LongInt(2))]).await;

    // A persistent member joins the group, then goes away.
    let id = name("mem");
    let mut connect = Connect::new(V5, &id);
    connect.clean = false;
    connect.props = Props::new().u32(mqtt::prop::SESSION_EXPIRY, 300);
    let (mut raw, _) = Raw::open(broker.mqtt_addr(), &connect).await;
    let share = format!("$share/{group}/{root}");
    assert_eq!(mqtt::raw_subscribe(&mut raw, 1, &share, 1, true).await, 1);
    raw.send(&mqtt::disconnect(Some((0, &Props::new())))).await;
    raw.expect_close(DEADLINE).await;

    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..5 {
        publ.publish(&root, QoS::AtLeastOnce, false, format!("{i}").as_bytes())
            .await;
    }
    // drop-head: only the newest two are left for the member.
    let (mut raw, _) = Raw::open(broker.mqtt_addr(), &connect).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let p = raw.recv_kind(mqtt::kind::PUBLISH).await.publish(true);
        raw.send(&mqtt::ack(mqtt::kind::PUBACK, p.pkid)).await;
        got.push(p.payload);
    }
    assert_eq!(got, [b"3".to_vec(), b"4".to_vec()]);
    assert!(raw.recv_within(mqtt::QUIET).await.is_err(), "nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_5_publish_refused_by_a_full_queue_gets_quota_exceeded() {
    let Some(t) = warren_only() else { return };
    let MqttTarget::Local(broker) = &t else {
        return;
    };
    let (_conn, channel) = amqp_channel(broker).await;
    let root = topic("full");
    let queue = name("full");
    declare_full_after_one(&channel, &queue).await;
    channel
        .queue_bind(
            queue.as_str().into(),
            "amq.topic".into(),
            root.replace('/', ".").as_str().into(),
            Default::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    let (mut raw, _) = Raw::open(broker.mqtt_addr(), &Connect::new(V5, &name("pub"))).await;
    let mut codes = Vec::new();
    for (pkid, qos) in [(1u16, 1u8), (2, 1), (3, 2)] {
        raw.send(&mqtt::publish(
            &root,
            qos,
            false,
            false,
            pkid,
            b"x",
            Some(&Props::new()),
        ))
        .await;
        let kind = if qos == 1 {
            mqtt::kind::PUBACK
        } else {
            mqtt::kind::PUBREC
        };
        let ack = raw.recv_kind(kind).await;
        assert_eq!(ack.pkid(), pkid);
        codes.push(ack.reason());
    }
    // The first fits; the next ones find the queue full (MQTT 5 0x97 Quota exceeded).
    assert_eq!(codes, [0x00, 0x97, 0x97]);
    // A refused QoS 2 flow is over: the same packet id starts a new one.
    raw.send(&mqtt::publish(
        &root,
        2,
        false,
        false,
        3,
        b"y",
        Some(&Props::new()),
    ))
    .await;
    assert_eq!(raw.recv_kind(mqtt::kind::PUBREC).await.reason(), 0x97);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stomp_send_refused_by_a_full_queue_gets_an_error_instead_of_a_receipt() {
    let Some(t) = warren_only() else { return };
    let MqttTarget::Local(broker) = &t else {
        return;
    };
    let (_conn, channel) = amqp_channel(broker).await;
    let queue = name("sfull");
    declare_full_after_one(&channel, &queue).await;
    let mut stomp = stomp_client(broker).await;
    let destination = format!("/amq/queue/{queue}");
    stomp.send_sync(&destination, &[], "fits").await;
    stomp
        .frame(
            "SEND",
            &[("destination", destination.as_str()), ("receipt", "r2")],
            b"refused",
        )
        .await;
    let error = stomp.error().await;
    assert_eq!(
        error.header("message"),
        Some("Message rejected"),
        "{error:?}"
    );
    assert_eq!(error.header("receipt-id"), Some("r2"));
    assert!(error.text().contains("reject-publish"), "{error:?}");
}
