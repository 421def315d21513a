//! MQTT 5 properties and AMQP properties on one core: request/response with an AMQP worker
//! (response topic = reply_to, correlation data = correlation_id), user properties = headers,
//! content type and message expiry, both ways.
//!
//! Needs `WARREN_IT_MQTT_ADDR` and `WARREN_IT_AMQP_URL` naming one broker (RabbitMQ: 1884 and
//! 5673), or neither (in-process Warren). MQTT 5 tests are skipped on a broker without MQTT 5
//! (RabbitMQ before 3.13).

use crate::mqtt;
use crate::mqtt_interop_support::*;

use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;
use mqtt::*;

/// Whether the broker speaks MQTT 5; skips the test (false) when it does not.
async fn speaks_v5(t: &MqttTarget) -> bool {
    let mut raw = t.raw().await;
    raw.send(&Connect::new(V5, &name("probe")).encode()).await;
    let ok = matches!(raw.recv_within(DEADLINE).await, Ok(p) if p.kind() == kind::CONNACK && p.connack().1 == 0);
    if !ok {
        assert!(!t.is_warren(), "Warren speaks MQTT 5");
        eprintln!("skipped: broker does not speak MQTT 5");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_request_response_through_an_amqp_worker() {
    let Some(t) = interop_target() else { return };
    if !speaks_v5(&t).await {
        return;
    }
    let (topic, key) = root("rpc");
    let conn = t.amqp().await;
    let (worker_ch, mut requests) = amqp_queue(&conn, &[&format!("{key}.req")]).await;

    let (mut client, _) = v5::connect(t.v5(&name("client"))).await;
    let reply_topic = format!("{topic}/reply");
    client.subscribe(&reply_topic, v5::QoS::AtLeastOnce).await;
    let props = v5::PublishProperties {
        response_topic: Some(reply_topic.clone()),
        correlation_data: Some(bytes::Bytes::from_static(b"req-42")),
        ..Default::default()
    };
    client
        .publish_with(
            &format!("{topic}/req"),
            v5::QoS::AtLeastOnce,
            false,
            b"2+2",
            props,
        )
        .await;

    // The worker sees reply_to as a routing key and correlation_id as the bytes sent.
    let req = delivery_with_key(&mut requests, &format!("{key}.req")).await;
    assert_eq!(req.data, b"2+2");
    let reply_to = req.properties.reply_to().clone().expect("reply_to set");
    assert_eq!(reply_to.as_str(), format!("{key}.reply"));
    let corr = req
        .properties
        .correlation_id()
        .clone()
        .expect("correlation_id set");
    assert_eq!(corr.as_str(), "req-42");
    amqp_publish(
        &worker_ch,
        reply_to.as_str(),
        b"4",
        BasicProperties::default().with_correlation_id(corr),
    )
    .await;

    let answer = client.next_publish().await;
    assert_eq!(v5::topic_of(&answer), reply_topic);
    assert_eq!(v5::text(&answer), "4");
    let p = answer.properties.expect("properties on the reply");
    assert_eq!(p.correlation_data.as_deref(), Some(&b"req-42"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_properties_map_to_amqp_properties_and_headers() {
    let Some(t) = interop_target() else { return };
    if !speaks_v5(&t).await {
        return;
    }
    let (topic, key) = root("props");
    let conn = t.amqp().await;
    let (_ch, mut consumer) = amqp_queue(&conn, &[&format!("{key}.m")]).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let props = v5::PublishProperties {
        content_type: Some("application/json".into()),
        message_expiry_interval: Some(60),
        user_properties: vec![
            ("tenant".into(), "acme".into()),
            ("zone".into(), "eu".into()),
        ],
        ..Default::default()
    };
    publ.publish_with(
        &format!("{topic}/m"),
        v5::QoS::AtLeastOnce,
        false,
        b"{}",
        props,
    )
    .await;
    let d = delivery_with_key(&mut consumer, &format!("{key}.m")).await;
    assert_eq!(
        d.properties
            .content_type()
            .as_ref()
            .map(ShortString::as_str),
        Some("application/json")
    );
    let expiration = d.properties.expiration().clone().expect("expiration set");
    let ms: u64 = expiration.as_str().parse().expect("expiration in ms");
    assert!(ms > 0 && ms <= 60_000, "expiration {ms} ms");
    let headers = d.properties.headers().clone().expect("headers");
    let header = |k: &str| match headers.inner().get(k) {
        Some(AMQPValue::LongString(s)) => Some(s.to_string()),
        other => panic!("header {k}: {other:?}"),
    };
    assert_eq!(header("tenant").as_deref(), Some("acme"));
    assert_eq!(header("zone").as_deref(), Some("eu"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_properties_and_headers_map_to_v5_properties() {
    let Some(t) = interop_target() else { return };
    if !speaks_v5(&t).await {
        return;
    }
    let (topic, key) = root("back");
    let (mut sub, _) = v5::connect(t.v5(&name("sub"))).await;
    sub.subscribe(&format!("{topic}/m"), v5::QoS::AtLeastOnce)
        .await;
    let conn = t.amqp().await;
    let ch = conn.create_channel().await.expect("channel");
    let mut headers = FieldTable::default();
    headers.insert("tenant".into(), AMQPValue::LongString("acme".into()));
    let props = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_expiration("60000".into())
        .with_headers(headers)
        .with_delivery_mode(2);
    amqp_publish(&ch, &format!("{key}.m"), b"hello", props).await;
    let got = sub.next_publish().await;
    assert_eq!(v5::text(&got), "hello");
    let p = got.properties.expect("properties");
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    let expiry = p
        .message_expiry_interval
        .expect("message expiry from expiration");
    assert!(expiry > 0 && expiry <= 60, "expiry {expiry} s");
    assert!(
        p.user_properties
            .contains(&("tenant".to_string(), "acme".to_string())),
        "{:?}",
        p.user_properties
    );
}
