//! The disk-free limit: while the publish gate is closed, a connection that publishes is no
//! longer read and (having announced the capability) gets `connection.blocked`; consumers keep
//! going; when the gate opens it gets `connection.unblocked` and its held publishes go through.
//! MQTT and STOMP publishers are held back the same way. Nothing is lost.

use crate::mqtt;
use crate::stomp;

use std::time::Duration;

use amq_protocol::protocol::{connection, AMQPClass};
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use mqtt::v4::QoS;
use warren_it::raw::{self, Open, Raw};
use warren_it::{confirm_channel, connect_to, eventually_async, DEADLINE};
use warren_model::Alarm;
use warren_testkit::{Config, TestBroker};

fn gate_driven_by_test() -> Config {
    let mut config = Config::default();
    config.storage.disk_free_limit = 0;
    // No memory monitor either: the test raises the memory alarm itself.
    config.memory.high_watermark = Some(0);
    config
}

async fn count(conn: &Connection, queue: &str) -> u32 {
    let ch = conn.create_channel().await.expect("channel");
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.into(), options, FieldTable::default())
        .await
        .expect("passive declare")
        .message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_publisher_is_blocked_until_the_gate_opens_and_consumers_keep_going() {
    let broker = TestBroker::start_with(gate_driven_by_test());
    let publisher = connect_to(&broker).await;
    let other = connect_to(&broker).await;
    let ch = confirm_channel(&publisher).await;
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare("alarm".into(), options, FieldTable::default())
        .await
        .expect("declare");
    let props = BasicProperties::default().with_delivery_mode(2);
    let publish = |body: &'static [u8]| {
        ch.basic_publish(
            "".into(),
            "alarm".into(),
            BasicPublishOptions::default(),
            body,
            props.clone(),
        )
    };
    publish(b"before")
        .await
        .expect("publish")
        .await
        .expect("confirm");
    broker.publish_gate().set_blocked(true);
    assert!(
        eventually_async(DEADLINE, || async { publisher.status().blocked() }).await,
        "connection.blocked was sent"
    );
    // lapin itself waits to send while blocked; either way nothing may be confirmed.
    let held_ch = ch.clone();
    let held_props = props.clone();
    let held = tokio::spawn(async move {
        held_ch
            .basic_publish(
                "".into(),
                "alarm".into(),
                BasicPublishOptions::default(),
                b"held",
                held_props,
            )
            .await?
            .await
    });
    let early = tokio::time::timeout(Duration::from_millis(300), async {
        while !held.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(early.is_err(), "no confirm while blocked");
    assert_eq!(
        count(&other, "alarm").await,
        1,
        "the held publish was not read"
    );
    // A consumer on another connection still gets and settles messages.
    let consumer = other.create_channel().await.expect("channel");
    let got = consumer
        .basic_get("alarm".into(), BasicGetOptions { no_ack: true })
        .await
        .expect("get")
        .expect("a message");
    assert_eq!(got.delivery.data, b"before");
    broker.publish_gate().set_blocked(false);
    let confirm = tokio::time::timeout(DEADLINE, held)
        .await
        .expect("confirmed once unblocked")
        .expect("task")
        .expect("confirm");
    assert!(confirm.is_ack());
    assert!(
        eventually_async(DEADLINE, || async { !publisher.status().blocked() }).await,
        "connection.unblocked was sent"
    );
    assert_eq!(
        count(&other, "alarm").await,
        1,
        "held went in, before was taken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_publisher_is_not_read_while_the_gate_is_closed() {
    let broker = TestBroker::start_with(gate_driven_by_test());
    let gate = std::sync::Arc::clone(broker.publish_gate());
    let t = mqtt::MqttTarget::Local(broker);
    let (mut sub, _) = mqtt::v4::connect(t.v4("alarm-sub")).await;
    sub.subscribe("alarm/#", QoS::AtLeastOnce).await;
    let (mut publ, _) = mqtt::v4::connect(t.v4("alarm-pub")).await;
    publ.publish("alarm/1", QoS::AtLeastOnce, false, b"one")
        .await;
    assert_eq!(mqtt::v4::text(&sub.next_publish().await), "one");
    gate.set_blocked(true);
    publ.client
        .publish("alarm/2", QoS::AtLeastOnce, false, b"two".to_vec())
        .await
        .expect("queue publish");
    sub.assert_no_publish(Duration::from_millis(400)).await;
    gate.set_blocked(false);
    assert_eq!(mqtt::v4::text(&sub.next_publish().await), "two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_above_the_free_space_closes_the_gate() {
    let mut config = Config::default();
    config.storage.disk_free_limit = u64::MAX;
    let broker = TestBroker::start_with(config);
    assert!(broker.publish_gate().is_blocked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_sender_is_not_read_while_the_gate_is_closed() {
    let broker = TestBroker::start_with(gate_driven_by_test());
    let gate = std::sync::Arc::clone(broker.publish_gate());
    let addr = broker.stomp_addr();
    let mut sub = stomp::StompClient::open(addr).await;
    sub.connect(&[]).await;
    sub.subscribe("s", "/queue/alarm.stomp").await;
    let mut sender = stomp::StompClient::open(addr).await;
    sender.connect(&[]).await;
    sender.send_sync("/queue/alarm.stomp", &[], "one").await;
    assert_eq!(sub.message().await.text(), "one");
    gate.set_blocked(true);
    sender.send("/queue/alarm.stomp", "two").await;
    assert!(sub.recv_within(Duration::from_millis(400)).await.is_none());
    gate.set_blocked(false);
    assert_eq!(sub.message().await.text(), "two");
}

/// The blocked connection's reason names the alarm, as RabbitMQ's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_blocked_names_the_raised_alarm() {
    let broker = TestBroker::start_with(gate_driven_by_test());
    let addr = broker.amqp_addr();
    let gate = std::sync::Arc::clone(broker.publish_gate());
    let reasons = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &Open::default());
        raw.open_channel(1);
        let q = warren_it::unique("alarm");
        raw.send(&raw::queue_declare(1, &q, &raw::table(&[])))
            .expect("declare");
        let _ = raw.read_method(DEADLINE);
        // Only a connection that published is blocked.
        raw.send(&raw::publish(1, "", &q, b"before"))
            .expect("publish");
        raw.send(&raw::queue_declare(1, &q, &raw::table(&[])))
            .expect("declare again");
        let _ = raw.read_method(DEADLINE);
        let mut reasons = Vec::new();
        for alarm in [Alarm::Memory, Alarm::Disk] {
            gate.set_alarm(alarm, true);
            reasons.push(next_connection_method(&mut raw));
            gate.set_alarm(alarm, false);
            reasons.push(next_connection_method(&mut raw));
        }
        reasons
    })
    .await
    .expect("raw client");
    assert_eq!(
        reasons,
        [
            "blocked: low on memory",
            "unblocked",
            "blocked: low on disk",
            "unblocked"
        ]
    );
}

fn next_connection_method(raw: &mut Raw) -> String {
    match raw.read_method(DEADLINE) {
        (0, AMQPClass::Connection(connection::AMQPMethod::Blocked(b))) => {
            format!("blocked: {}", b.reason)
        }
        (0, AMQPClass::Connection(connection::AMQPMethod::Unblocked(_))) => "unblocked".into(),
        other => panic!("expected connection.blocked or unblocked, got {other:?}"),
    }
}
