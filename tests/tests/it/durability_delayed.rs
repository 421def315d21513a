//! Persistent delayed messages survive a restart: a message held by a durable
//! `x-delayed-message` exchange comes back after a restart and is routed once, when its delay
//! ends; a transient one does not come back. (Crashes: `tests/python/test_crash_delayed.py`.)

use std::time::{Duration, Instant};

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use warren_it::{confirm_channel, connect_to, declare_durable_exchange, publish_acked, DEADLINE};
use warren_testkit::{Config, DataDir, TestBroker};

/// A durable delayed exchange `x` bound with `k` to the durable queue `q`.
async fn topology(ch: &Channel) {
    let mut args = FieldTable::default();
    args.insert(
        "x-delayed-type".into(),
        AMQPValue::LongString("direct".into()),
    );
    let kind = ExchangeKind::Custom("x-delayed-message".into());
    declare_durable_exchange(ch, "x", kind, args)
        .await
        .expect("exchange");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare("q".into(), durable, FieldTable::default())
        .await
        .expect("queue");
    ch.queue_bind(
        "q".into(),
        "x".into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
}

async fn publish_delayed(ch: &Channel, body: &str, delay_ms: i32, persistent: bool) {
    let mut headers = FieldTable::default();
    headers.insert("x-delay".into(), AMQPValue::LongInt(delay_ms));
    let mut props = BasicProperties::default().with_headers(headers);
    if persistent {
        props = props.with_delivery_mode(2);
    }
    publish_acked(ch, "x", "k", body.as_bytes(), props).await;
}

/// Polls `q` until it holds something (within the deadline), then takes all of it.
async fn bodies_after_delay(conn: &Connection) -> Vec<String> {
    let ch = conn.create_channel().await.expect("channel");
    let until = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    loop {
        while let Some(m) = ch
            .basic_get("q".into(), BasicGetOptions::default())
            .await
            .expect("get")
        {
            got.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
            m.delivery
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
        }
        if !got.is_empty() {
            return got;
        }
        assert!(Instant::now() < until, "nothing was routed after the delay");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_delayed_message_survives_a_clean_restart() {
    let dir = DataDir::new();
    let published = Instant::now();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        topology(&ch).await;
        publish_delayed(&ch, "kept", 600, true).await;
        publish_delayed(&ch, "transient", 600, false).await;
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let got = bodies_after_delay(&conn).await;
    assert!(
        published.elapsed() >= Duration::from_millis(600),
        "routed before its delay ended"
    );
    assert_eq!(got, ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routed_delayed_message_is_not_routed_again_after_a_restart() {
    let dir = DataDir::new();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        topology(&ch).await;
        publish_delayed(&ch, "once", 100, true).await;
        assert_eq!(bodies_after_delay(&conn).await, ["once"]);
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = conn.create_channel().await.expect("channel");
    // A stored entry left behind would be due already and routed at once after the restart.
    let quiet_until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet_until {
        let again = ch
            .basic_get("q".into(), BasicGetOptions::default())
            .await
            .expect("get");
        assert!(again.is_none(), "the delayed message was routed twice");
        tokio::task::yield_now().await;
    }
}
