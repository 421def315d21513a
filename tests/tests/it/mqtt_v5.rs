//! MQTT 5 features: topic aliases both ways, receive maximum both ways, maximum packet size
//! both ways, subscription identifiers, no-local, retain-as-published, retain handling, user
//! properties, content type, payload format indicator, response topic and correlation data,
//! message expiry, reason strings, server DISCONNECT reason codes, server keep alive and AUTH.

use crate::mqtt;

use std::time::Duration;

use bytes::Bytes;
use mqtt::v5::{Filter, PublishProperties, QoS, RetainForwardRule, SubscribeProperties};
use mqtt::*;

async fn raw5(t: &MqttTarget, props: Props) -> (Raw, RawPacket) {
    let mut connect = Connect::new(V5, &name("raw5"));
    connect.props = props;
    let (raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack().1, 0, "connected");
    (raw, ack)
}

fn int_prop(props: &[(u8, PropValue)], id: u8) -> Option<u64> {
    match find_prop(props, id) {
        Some(PropValue::Int(n)) => Some(*n),
        _ => None,
    }
}

async fn sub5(t: &MqttTarget, filter: &str, qos: QoS) -> v5::Client {
    let (mut c, _) = v5::connect(t.v5(&name("sub"))).await;
    c.subscribe(filter, qos).await;
    c
}

/// Sends a packet that must end the connection and checks the server's reaction: the
/// connection closes, and a DISCONNECT sent before it carries one of `reasons`. Sending that
/// DISCONNECT is optional in the spec (section 4.13) but Warren always does.
async fn expect_refusal(t: &MqttTarget, raw: &mut Raw, bytes: &[u8], reasons: &[u8]) {
    raw.send_lossy(bytes).await;
    let got = raw.expect_close(DEADLINE).await;
    match got.iter().find(|p| p.kind() == kind::DISCONNECT) {
        Some(d) => assert!(
            reasons.contains(&d.reason()),
            "DISCONNECT reason {:#x}, expected one of {reasons:x?}",
            d.reason()
        ),
        None => assert!(
            !t.is_warren(),
            "Warren closes with a DISCONNECT reason code"
        ),
    }
}

// ----- topic aliases ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_topic_alias_is_set_then_used_with_an_empty_topic() {
    let Some(t) = target() else { return };
    let topic = topic("alias");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let max = int_prop(&ack.connack_props(), prop::TOPIC_ALIAS_MAXIMUM).unwrap_or(0);
    assert!(
        max >= 1,
        "the server accepts topic aliases (advertised maximum {max})"
    );
    let set = Props::new().u16(prop::TOPIC_ALIAS, 1);
    raw.send(&publish(&topic, 1, false, false, 1, b"first", Some(&set)))
        .await;
    assert_eq!(raw.recv_kind(kind::PUBACK).await.pkid(), 1);
    raw.send(&publish("", 1, false, false, 2, b"second", Some(&set)))
        .await;
    assert_eq!(raw.recv_kind(kind::PUBACK).await.pkid(), 2);
    for body in ["first", "second"] {
        let p = sub.next_publish().await;
        assert_eq!(
            (v5::topic_of(&p), v5::text(&p)),
            (topic.clone(), body.to_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_topic_alias_above_the_maximum_is_disconnect_0x94() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let max = int_prop(&ack.connack_props(), prop::TOPIC_ALIAS_MAXIMUM).unwrap_or(0);
    let p = Props::new().u16(prop::TOPIC_ALIAS, u16::try_from(max + 1).expect("u16"));
    // MQTT-3.3.2-10: Topic Alias invalid.
    let bytes = publish(&topic("bad"), 0, false, false, 0, b"x", Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x94]).await;
}

/// Mosquitto 2.0.11 calls this a Malformed Packet (0x81).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_topic_alias_zero_is_disconnect_0x94_or_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().u16(prop::TOPIC_ALIAS, 0);
    // MQTT-3.3.2-8.
    let bytes = publish(&topic("bad"), 0, false, false, 0, b"x", Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x94, 0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_topic_with_an_unknown_alias_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().u16(prop::TOPIC_ALIAS, 1);
    let bytes = publish("", 0, false, false, 0, b"x", Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_topic_aliases_respect_the_clients_maximum() {
    let Some(t) = target() else { return };
    let topic = topic("oalias");
    for client_max in [0u16, 2] {
        let props = if client_max > 0 {
            Props::new().u16(prop::TOPIC_ALIAS_MAXIMUM, client_max)
        } else {
            Props::new()
        };
        let (mut raw, _) = raw5(&t, props).await;
        assert_eq!(
            raw_subscribe(&mut raw, 1, &format!("{topic}/+"), 0, true).await,
            0
        );
        let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
        let topics: Vec<String> = (0..6).map(|i| format!("{topic}/{}", i % 3)).collect();
        for tp in &topics {
            publ.publish(tp, QoS::AtMostOnce, false, tp.as_bytes())
                .await;
        }
        let mut aliases = std::collections::HashMap::new();
        let mut used_alias = false;
        for tp in &topics {
            let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
            let alias = match p.prop(prop::TOPIC_ALIAS) {
                Some(PropValue::Int(a)) => Some(*a),
                _ => None,
            };
            let resolved = match alias {
                None => p.topic.clone(),
                Some(a) => {
                    // MQTT-3.3.2-9 / 3.3.2-10: only aliases 1..=client maximum.
                    assert!(
                        a >= 1 && a <= u64::from(client_max),
                        "alias {a} > {client_max}"
                    );
                    used_alias |= p.topic.is_empty();
                    if p.topic.is_empty() {
                        aliases.get(&a).cloned().expect("alias was set before use")
                    } else {
                        aliases.insert(a, p.topic.clone());
                        p.topic.clone()
                    }
                }
            };
            assert_eq!(&resolved, tp);
            assert_eq!(p.payload, tp.as_bytes());
        }
        if client_max == 0 {
            assert!(!used_alias);
        }
    }
}

/// The issue asks for topic aliases in both directions: with the client's permission, Warren
/// replaces a repeated topic by an alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warren_uses_outbound_topic_aliases_when_the_client_allows() {
    let Some(t) = warren_only() else { return };
    let topic = topic("walias");
    let (mut raw, _) = raw5(&t, Props::new().u16(prop::TOPIC_ALIAS_MAXIMUM, 4)).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 0, true).await, 0);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for _ in 0..3 {
        publ.publish(&topic, QoS::AtMostOnce, false, b"x").await;
    }
    let mut empty_topics = 0;
    for _ in 0..3 {
        let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
        empty_topics += usize::from(p.topic.is_empty());
    }
    assert!(empty_topics > 0, "a repeated topic is sent as an alias");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_publishing_with_a_topic_alias_is_understood() {
    let Some(t) = target() else { return };
    let topic = topic("ralias");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let alias = PublishProperties {
        topic_alias: Some(3),
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, b"1", alias.clone())
        .await;
    publ.publish_with("", QoS::AtLeastOnce, false, b"2", alias)
        .await;
    assert_eq!(v5::topic_of(&sub.next_publish().await), topic);
    assert_eq!(v5::topic_of(&sub.next_publish().await), topic);
}

// ----- receive maximum --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_respects_the_clients_receive_maximum() {
    let Some(t) = target() else { return };
    let topic = topic("rmax");
    let (mut raw, _) = raw5(&t, Props::new().u16(prop::RECEIVE_MAXIMUM, 2)).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, true).await, 1);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..5 {
        publ.publish(&topic, QoS::AtLeastOnce, false, format!("{i}").as_bytes())
            .await;
    }
    let a = raw.recv_kind(kind::PUBLISH).await.publish(true);
    let b = raw.recv_kind(kind::PUBLISH).await.publish(true);
    // MQTT-3.3.4-9: no more than 2 unacknowledged QoS 1 PUBLISHes.
    assert!(
        raw.recv_within(QUIET).await.is_err(),
        "a third PUBLISH exceeded the receive maximum"
    );
    let mut seen = vec![a.payload.clone(), b.payload.clone()];
    raw.send(&ack(kind::PUBACK, a.pkid)).await;
    let c = raw.recv_kind(kind::PUBLISH).await.publish(true);
    seen.push(c.payload.clone());
    for p in [&b, &c] {
        raw.send(&ack(kind::PUBACK, p.pkid)).await;
    }
    for _ in 0..2 {
        let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
        seen.push(p.payload.clone());
        raw.send(&ack(kind::PUBACK, p.pkid)).await;
    }
    let expected: Vec<Vec<u8>> = (0..5).map(|i| format!("{i}").into_bytes()).collect();
    assert_eq!(seen, expected, "all five in order once credit returns");
}

/// Mosquitto 2.0.11 answers the extra PUBLISH with PUBREC 0x97 and stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exceeding_the_servers_receive_maximum_gets_disconnect_0x93() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let max = int_prop(&ack.connack_props(), prop::RECEIVE_MAXIMUM).unwrap_or(65535);
    if max > 1000 {
        eprintln!("skipped: receive maximum {max} too large to exceed in a test");
        return;
    }
    let topic = topic("rmaxin");
    // QoS 2 publishes stay unacknowledged until PUBREL, so they count against the maximum.
    let mut bytes = Vec::new();
    for pkid in 1..=u16::try_from(max + 1).expect("u16") {
        bytes.extend(publish(
            &topic,
            2,
            false,
            false,
            pkid,
            b"x",
            Some(&Props::new()),
        ));
    }
    // MQTT-3.3.4-7/8: Receive Maximum exceeded.
    expect_refusal(&t, &mut raw, &bytes, &[0x93]).await;
}

// ----- maximum packet size ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_does_not_send_packets_above_the_clients_maximum() {
    let Some(t) = target() else { return };
    let topic = topic("cmax");
    let (mut raw, _) = raw5(&t, Props::new().u32(prop::MAXIMUM_PACKET_SIZE, 256)).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, true).await, 1);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, false, &[b'x'; 1000])
        .await;
    publ.publish(&topic, QoS::AtLeastOnce, false, b"small")
        .await;
    // MQTT-3.1.2-25: the oversized message is discarded, the next one delivered.
    let p = raw.recv_kind(kind::PUBLISH).await;
    assert!(p.body.len() + 5 <= 256, "packet over the client's maximum");
    assert_eq!(p.publish(true).payload, b"small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_above_the_servers_maximum_is_disconnect_0x95() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let Some(max) = int_prop(&ack.connack_props(), prop::MAXIMUM_PACKET_SIZE) else {
        assert!(!t.is_warren(), "Warren advertises its maximum packet size");
        eprintln!("skipped: no Maximum Packet Size advertised");
        return;
    };
    let body = vec![b'x'; usize::try_from(max).expect("usize") + 1];
    let bytes = publish(
        &topic("big"),
        0,
        false,
        false,
        0,
        &body,
        Some(&Props::new()),
    );
    expect_refusal(&t, &mut raw, &bytes, &[0x95]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_packet_is_refused_from_its_header_without_waiting_for_the_body() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    if int_prop(&ack.connack_props(), prop::MAXIMUM_PACKET_SIZE).is_none() {
        assert!(!t.is_warren(), "Warren advertises its maximum packet size");
        eprintln!("skipped: no Maximum Packet Size advertised");
        return;
    }
    // A PUBLISH header announcing 200 MB, and nothing after it.
    let mut header = vec![kind::PUBLISH << 4];
    header.extend(varint(200_000_000));
    header.extend(lp(b"t"));
    expect_refusal(&t, &mut raw, &header, &[0x95]).await;
}

// ----- subscription options ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifiers_come_back_on_matching_messages() {
    let Some(t) = target() else { return };
    let root = topic("subid");
    let (mut c, _) = v5::connect(t.v5(&name("sub"))).await;
    let with_id = |id| SubscribeProperties {
        id: Some(id),
        user_properties: vec![],
    };
    c.subscribe_filter(
        Filter::new(format!("{root}/a/+"), QoS::AtMostOnce),
        Some(with_id(7)),
    )
    .await;
    c.subscribe_filter(
        Filter::new(format!("{root}/#"), QoS::AtMostOnce),
        Some(with_id(300)),
    )
    .await;
    c.subscribe_filter(Filter::new(format!("{root}/plain"), QoS::AtMostOnce), None)
        .await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;

    publ.publish(&format!("{root}/a/x"), QoS::AtMostOnce, false, b"both")
        .await;
    // Overlapping subscriptions: one message with both ids, or one copy per subscription
    // (MQTT-3.3.4-3..5); either way every id is present.
    let mut ids = Vec::new();
    let first = c.next_publish().await;
    ids.extend(
        first
            .properties
            .clone()
            .unwrap_or_default()
            .subscription_identifiers,
    );
    if ids.len() < 2 {
        let second = c.next_publish().await;
        ids.extend(
            second
                .properties
                .unwrap_or_default()
                .subscription_identifiers,
        );
    }
    ids.sort_unstable();
    assert_eq!(ids, vec![7, 300]);

    publ.publish(&format!("{root}/plain"), QoS::AtMostOnce, false, b"plain")
        .await;
    // `plain` matches the id-less subscription and `#` (300); never 7. A single copy carries
    // 300 (Warren); a copy per subscription carries 300 on one of the two (Mosquitto).
    let mut plain_ids = Vec::new();
    for _ in 0..2 {
        let p = c.next_publish().await;
        plain_ids.extend(p.properties.unwrap_or_default().subscription_identifiers);
        if plain_ids.contains(&300) {
            break;
        }
    }
    assert_eq!(plain_ids, vec![300]);
}

/// Mosquitto 2.0.11 calls this a Malformed Packet (0x81).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifier_zero_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().varint(prop::SUBSCRIPTION_ID, 0);
    // Section 3.8.2.1.2: a Protocol Error.
    let bytes = subscribe(1, &[(&topic("z"), 0)], Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_suppresses_the_subscribers_own_messages() {
    let Some(t) = target() else { return };
    let topic = topic("nolocal");
    let (mut c, _) = v5::connect(t.v5(&name("nl"))).await;
    let mut f = Filter::new(&topic, QoS::AtLeastOnce);
    f.nolocal = true;
    c.subscribe_filter(f, None).await;
    c.publish(&topic, QoS::AtLeastOnce, false, b"mine").await;
    let (mut other, _) = v5::connect(t.v5(&name("other"))).await;
    other
        .publish(&topic, QoS::AtLeastOnce, false, b"theirs")
        .await;
    // MQTT-3.8.3-3.
    assert_eq!(v5::text(&c.next_publish().await), "theirs");
    c.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_no_local_the_subscriber_gets_its_own_messages() {
    let Some(t) = target() else { return };
    let topic = topic("local");
    let (mut c, _) = v5::connect(t.v5(&name("l"))).await;
    c.subscribe(&topic, QoS::AtLeastOnce).await;
    c.publish(&topic, QoS::AtLeastOnce, false, b"mine").await;
    assert_eq!(v5::text(&c.next_publish().await), "mine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_as_published_keeps_the_retain_flag_on_live_forwards() {
    let Some(t) = target() else { return };
    let topic = topic("rap");
    let (mut rap, _) = v5::connect(t.v5(&name("rap"))).await;
    let mut f = Filter::new(&topic, QoS::AtLeastOnce);
    f.preserve_retain = true;
    rap.subscribe_filter(f, None).await;
    let mut plain = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"r").await;
    // MQTT-3.3.1-12 / 3.3.1-13.
    assert!(rap.next_publish().await.retain, "retain-as-published");
    assert!(
        !plain.next_publish().await.retain,
        "default: RETAIN cleared"
    );
    publ.publish(&topic, QoS::AtLeastOnce, true, b"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_handling_controls_delivery_of_retained_messages_on_subscribe() {
    let Some(t) = target() else { return };
    let topic = topic("rh");
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"kept").await;
    let filter = |rule| {
        let mut f = Filter::new(&topic, QoS::AtLeastOnce);
        f.retain_forward_rule = rule;
        f
    };

    // 0: on every subscribe, including a repeated one.
    let (mut c, _) = v5::connect(t.v5(&name("rh0"))).await;
    for _ in 0..2 {
        c.subscribe_filter(filter(RetainForwardRule::OnEverySubscribe), None)
            .await;
        assert_eq!(v5::text(&c.next_publish().await), "kept");
    }
    // 1: only when the subscription is new.
    let (mut c, _) = v5::connect(t.v5(&name("rh1"))).await;
    c.subscribe_filter(filter(RetainForwardRule::OnNewSubscribe), None)
        .await;
    assert_eq!(v5::text(&c.next_publish().await), "kept");
    c.subscribe_filter(filter(RetainForwardRule::OnNewSubscribe), None)
        .await;
    c.assert_no_publish(QUIET).await;
    // 2: never.
    let (mut c, _) = v5::connect(t.v5(&name("rh2"))).await;
    c.subscribe_filter(filter(RetainForwardRule::Never), None)
        .await;
    c.assert_no_publish(QUIET).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"").await;
}

// ----- message properties ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_properties_pass_through_unchanged() {
    let Some(t) = target() else { return };
    let topic = topic("props");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let sent = PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json; charset=utf-8".into()),
        response_topic: Some(format!("{topic}/reply")),
        correlation_data: Some(Bytes::from_static(&[0, 1, 2, 255])),
        // Order kept and duplicate keys allowed (MQTT-3.3.2-17/18).
        user_properties: vec![
            ("b".into(), "1".into()),
            ("a".into(), "2".into()),
            ("b".into(), "3".into()),
            ("ünï".into(), "cödé ✓".into()),
        ],
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, br#"{"k":1}"#, sent.clone())
        .await;
    let got = sub.next_publish().await;
    assert_eq!(v5::text(&got), r#"{"k":1}"#);
    let p = got.properties.expect("properties");
    assert_eq!(p.payload_format_indicator, sent.payload_format_indicator);
    assert_eq!(p.content_type, sent.content_type);
    assert_eq!(p.response_topic, sent.response_topic);
    assert_eq!(p.correlation_data, sent.correlation_data);
    assert_eq!(p.user_properties, sent.user_properties);
    assert_eq!(p.topic_alias, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_expiry_is_forwarded_as_the_remaining_interval() {
    let Some(t) = target() else { return };
    let topic = topic("mexp");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let props = PublishProperties {
        message_expiry_interval: Some(120),
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, b"x", props)
        .await;
    let got = sub.next_publish().await;
    let left = got
        .properties
        .and_then(|p| p.message_expiry_interval)
        .expect("expiry forwarded (MQTT-3.3.2-6)");
    assert!(left > 0 && left <= 120, "remaining {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_message_is_not_delivered_to_a_returning_session() {
    let Some(t) = target() else { return };
    let id = name("mexpoff");
    let topic = topic("mexpoff");
    let mut opts = t.v5(&id);
    opts.set_clean_start(false)
        .set_session_expiry_interval(Some(60));
    let (mut c, _) = v5::connect(opts.clone()).await;
    c.subscribe(&topic, QoS::AtLeastOnce).await;
    c.disconnect().await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let short = PublishProperties {
        message_expiry_interval: Some(1),
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, b"stale", short)
        .await;
    publ.publish(&topic, QoS::AtLeastOnce, false, b"fresh")
        .await;
    // The interval itself is the behaviour under test: let it pass.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (mut c, ack) = v5::connect(opts).await;
    assert!(ack.session_present);
    assert_eq!(v5::text(&c.next_publish().await), "fresh");
    c.assert_no_publish(QUIET).await;
    Raw::open(t.mqtt_addr(), &Connect::new(V5, &id)).await;
}

// ----- reason strings, server DISCONNECT, AUTH, keep alive ---------------------------------

/// How the server refused a subscription to an invalid filter.
enum Refusal {
    SubAck(RawPacket),
    Disconnect(Option<RawPacket>),
}

/// Subscribes to `a/#/b`: the spec allows a SUBACK failure or closing the connection.
async fn subscribe_invalid(raw: &mut Raw) -> Refusal {
    let filter = format!("{}/#/x", topic("bad"));
    raw.send(&subscribe(1, &[(&filter, 0)], Some(&Props::new())))
        .await;
    match raw.recv_within(DEADLINE).await {
        Ok(p) if p.kind() == kind::SUBACK => Refusal::SubAck(p),
        Ok(p) if p.kind() == kind::DISCONNECT => {
            raw.expect_close(DEADLINE).await;
            Refusal::Disconnect(Some(p))
        }
        Ok(p) => panic!("unexpected {p:?}"),
        Err(RawEnd::Closed) => Refusal::Disconnect(None),
        Err(RawEnd::Timeout) => panic!("no reaction to an invalid filter"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_filter_is_refused_with_0x8f_or_a_disconnect() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    match subscribe_invalid(&mut raw).await {
        Refusal::SubAck(ack) => assert_eq!(ack.suback_codes(true), vec![0x8F]),
        Refusal::Disconnect(Some(d)) => assert!([0x81, 0x82, 0x8F].contains(&d.reason())),
        Refusal::Disconnect(None) => assert!(!t.is_warren(), "Warren explains with DISCONNECT"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reason_string_is_withheld_when_problem_information_is_not_requested() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new().byte(0x17, 0)).await;
    if let Refusal::SubAck(ack) = subscribe_invalid(&mut raw).await {
        // MQTT-3.1.2-29: no Reason String outside PUBLISH, CONNACK and DISCONNECT.
        assert!(
            find_prop(&parse_props(&ack.body[2..]).0, prop::REASON_STRING).is_none(),
            "reason string sent although Request Problem Information is 0"
        );
    }
    // The same holds for a PUBACK.
    let (mut raw, _) = raw5(&t, Props::new().byte(0x17, 0)).await;
    raw.send(&publish(
        &topic("rpi"),
        1,
        false,
        false,
        1,
        b"x",
        Some(&Props::new()),
    ))
    .await;
    let ack = raw.recv_kind(kind::PUBACK).await;
    if ack.body.len() > 3 {
        assert!(find_prop(&parse_props(&ack.body[3..]).0, prop::REASON_STRING).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warren_explains_refusals_with_a_reason_string() {
    let Some(t) = warren_only() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let props = match subscribe_invalid(&mut raw).await {
        Refusal::SubAck(ack) => parse_props(&ack.body[2..]).0,
        Refusal::Disconnect(Some(d)) => d.reason_props(),
        Refusal::Disconnect(None) => panic!("closed without DISCONNECT"),
    };
    match find_prop(&props, prop::REASON_STRING) {
        Some(PropValue::Bytes(b)) => assert!(!b.is_empty()),
        other => panic!("no reason string on a refused subscription: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packet_is_answered_with_disconnect_0x81_or_0x82() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    // Reserved packet type 0.
    expect_refusal(&t, &mut raw, &[0x00, 0x00], &[0x81, 0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_authentication_method_is_connack_0x8c() {
    let Some(t) = target() else { return };
    let mut connect = Connect::new(V5, &name("auth"));
    connect.props = Props::new().str(prop::AUTH_METHOD, "X-WARREN-UNKNOWN");
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    // MQTT 5 section 4.12: Bad authentication method, then close.
    assert_eq!(ack.connack().1, 0x8C);
    raw.expect_close(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_packet_without_an_authentication_method_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().str(prop::AUTH_METHOD, "SCRAM-SHA-1");
    // Section 4.12: AUTH without CONNECT's method is a Protocol Error.
    expect_refusal(&t, &mut raw, &auth(0x19, &p), &[0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keep_alive_when_sent_is_enforced() {
    let Some(t) = target() else { return };
    let mut connect = Connect::new(V5, &name("ska"));
    connect.keep_alive = 1;
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    let Some(effective) = int_prop(&ack.connack_props(), prop::SERVER_KEEP_ALIVE) else {
        eprintln!("skipped: no Server Keep Alive (the client's value is covered elsewhere)");
        return;
    };
    if effective == 0 || effective > 5 {
        eprintln!("skipped: server keep alive {effective}s is not testable quickly");
        return;
    }
    let since = std::time::Instant::now();
    let got = raw
        .expect_close(Duration::from_secs(effective * 3 + 10))
        .await;
    let waited = since.elapsed();
    // MQTT-3.1.2-22/24 with the server's value: gone by 1.5x (plus scheduling slack).
    assert!(
        waited >= Duration::from_secs(effective)
            && waited <= Duration::from_millis(effective * 1500 + 1500),
        "closed after {waited:?} with keep alive {effective}s"
    );
    if let Some(d) = got.iter().find(|p| p.kind() == kind::DISCONNECT) {
        assert_eq!(d.reason(), 0x8D, "Keep Alive timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puback_reports_no_matching_subscribers_or_success() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    raw.send(&publish(
        &topic("nosub"),
        1,
        false,
        false,
        1,
        b"x",
        Some(&Props::new()),
    ))
    .await;
    let ack = raw.recv_kind(kind::PUBACK).await;
    assert_eq!(ack.pkid(), 1);
    // 0x10 No matching subscribers is optional; anything else would be a failure.
    assert!(
        [0x00, 0x10].contains(&ack.reason()),
        "reason {:#x}",
        ack.reason()
    );
}
