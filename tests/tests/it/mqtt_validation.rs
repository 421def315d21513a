//! Topic names and filters per spec: wildcard placement (`a/#/b`, `a+`, `a/b#`), wildcards in
//! a PUBLISH topic, NUL and invalid UTF-8, empty topics, malformed fixed-header flags and QoS 3;
//! what a valid filter matches (empty levels, parent of `#`, leading `/`, case) and that `$`
//! topics are not matched by a wildcard in the first level.

use crate::mqtt;

use mqtt::v4::QoS;
use mqtt::*;

async fn raw(t: &MqttTarget, level: u8) -> Raw {
    let (raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(level, &name("val"))).await;
    assert_eq!(ack.connack().1, 0);
    raw
}

/// The server refuses `filter`: a SUBACK failure code, or it closes the connection (both are
/// the spec's reactions; Warren's is whichever its docs say, and it must be one of them).
async fn assert_filter_refused(t: &MqttTarget, level: u8, filter: &[u8]) {
    let mut raw = raw(t, level).await;
    raw.send(&subscribe_bytes(1, filter, 0, level == V5)).await;
    match raw.recv_within(DEADLINE).await {
        Ok(p) if p.kind() == kind::SUBACK => {
            let codes = p.suback_codes(level == V5);
            assert!(
                codes.len() == 1 && codes[0] >= 0x80,
                "filter {:?} accepted at level {level}: {codes:?}",
                String::from_utf8_lossy(filter)
            );
        }
        Ok(p) if p.kind() == kind::DISCONNECT => {
            assert!(p.reason() >= 0x80);
            raw.expect_close(DEADLINE).await;
        }
        Ok(p) => panic!("unexpected {p:?}"),
        Err(RawEnd::Closed) => {}
        Err(RawEnd::Timeout) => panic!("no reaction to filter {filter:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misplaced_wildcards_in_filters_are_refused() {
    let Some(t) = target() else { return };
    let root = topic("badf");
    for level in [V311, V5] {
        for filter in [
            format!("{root}/#/b"),
            format!("{root}/a+"),
            format!("{root}/+a/b"),
            format!("{root}/b#"),
            format!("{root}/##"),
        ] {
            assert_filter_refused(&t, level, filter.as_bytes()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_filter_nul_and_invalid_utf8_are_refused() {
    let Some(t) = target() else { return };
    let root = topic("badb");
    for level in [V311, V5] {
        assert_filter_refused(&t, level, b"").await;
        assert_filter_refused(&t, level, format!("{root}/a\0b").as_bytes()).await;
        let mut bad = root.clone().into_bytes();
        bad.extend([b'/', 0xC3, 0x28]);
        assert_filter_refused(&t, level, &bad).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_filter_shapes_are_granted() {
    let Some(t) = target() else { return };
    let root = topic("goodf");
    let mut raw = raw(&t, V311).await;
    for (i, filter) in [
        format!("{root}/#"),
        format!("{root}/+"),
        format!("{root}/+/x/#"),
        format!("+/{root}"),
        format!("{root}//x"),
        format!("{root}/"),
        format!("{root}/ünïcödé"),
    ]
    .iter()
    .enumerate()
    {
        let pkid = u16::try_from(i + 1).expect("small");
        assert_eq!(
            raw_subscribe(&mut raw, pkid, filter, 1, false).await,
            1,
            "{filter}"
        );
    }
}

/// Publishes `topic` on a fresh connection; the server must close it without routing.
async fn assert_publish_refused(t: &MqttTarget, level: u8, topic: &[u8], watch: &mut v4::Client) {
    let mut raw = raw(t, level).await;
    let props = Props::new();
    raw.send_lossy(&publish_bytes(
        topic,
        1,
        false,
        false,
        1,
        b"x",
        (level == V5).then_some(&props),
    ))
    .await;
    let got = raw.expect_close(DEADLINE).await;
    assert!(
        got.iter().all(|p| p.kind() != kind::PUBACK),
        "topic {:?} acknowledged: {got:?}",
        String::from_utf8_lossy(topic)
    );
    if let Some(d) = got.iter().find(|p| p.kind() == kind::DISCONNECT) {
        // Topic Name invalid, Malformed Packet or Protocol Error.
        assert!(
            [0x90, 0x81, 0x82].contains(&d.reason()),
            "reason {:#x}",
            d.reason()
        );
    }
    watch.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_nul_and_invalid_utf8_in_publish_topics_close_the_connection() {
    let Some(t) = target() else { return };
    let root = topic("badt");
    let (mut watch, _) = v4::connect(t.v4(&name("watch"))).await;
    watch
        .subscribe(&format!("{root}/#"), QoS::AtLeastOnce)
        .await;
    for level in [V311, V5] {
        // MQTT-3.3.2-2, MQTT-4.7.3-1 and MQTT-1.5.3-1/2.
        for topic in [
            format!("{root}/+"),
            format!("{root}/#"),
            format!("{root}/a+b"),
            format!("{root}/a\0b"),
        ] {
            assert_publish_refused(&t, level, topic.as_bytes(), &mut watch).await;
        }
        let mut bad = root.clone().into_bytes();
        bad.extend([b'/', 0xFF]);
        assert_publish_refused(&t, level, &bad, &mut watch).await;
    }
    // 3.1.1 has no topic aliases, so an empty topic is invalid there (MQTT-4.7.3-1).
    assert_publish_refused(&t, V311, b"", &mut watch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_3_publish_closes_the_connection() {
    let Some(t) = target() else { return };
    let mut raw = raw(&t, V311).await;
    let mut p = publish(&topic("q3"), 2, false, false, 1, b"x", None);
    p[0] |= 0x06;
    raw.send_lossy(&p).await;
    // MQTT-3.3.1-4.
    let got = raw.expect_close(DEADLINE).await;
    assert!(got.iter().all(|p| p.kind() != kind::PUBREC));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_with_wrong_header_flags_or_qos_3_closes_the_connection() {
    let Some(t) = target() else { return };
    let filter = topic("flags");
    let mut raw1 = raw(&t, V311).await;
    let mut s = subscribe(1, &[(&filter, 0)], None);
    s[0] = kind::SUBSCRIBE << 4; // flags must be 0b0010 (MQTT-3.8.1-1)
    raw1.send_lossy(&s).await;
    let got = raw1.expect_close(DEADLINE).await;
    assert!(got.iter().all(|p| p.kind() != kind::SUBACK), "{got:?}");

    let mut raw2 = raw(&t, V311).await;
    raw2.send_lossy(&subscribe(1, &[(&filter, 3)], None)).await;
    // MQTT-3-8.3-4: requested QoS 3 is malformed.
    let got = raw2.expect_close(DEADLINE).await;
    assert!(
        got.iter()
            .all(|p| p.kind() != kind::SUBACK || p.suback_codes(false)[0] >= 0x80),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_without_filters_closes_the_connection() {
    let Some(t) = target() else { return };
    let mut raw = raw(&t, V311).await;
    raw.send_lossy(&packet((kind::SUBSCRIBE << 4) | 2, &[0, 1]))
        .await;
    // MQTT-3.8.3-3.
    let got = raw.expect_close(DEADLINE).await;
    assert!(got.iter().all(|p| p.kind() != kind::SUBACK), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_follows_the_spec_for_edge_topics() {
    let Some(t) = target() else { return };
    let root = topic("match");
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    // (filter, topics it must match, topics it must not)
    let cases: Vec<(String, Vec<String>, Vec<String>)> = vec![
        // `+` matches an empty level (4.7.1.3).
        (
            format!("{root}/+/x"),
            vec![format!("{root}//x")],
            vec![format!("{root}/x")],
        ),
        // `#` matches its parent level (4.7.1.2).
        (
            format!("{root}/a/#"),
            vec![format!("{root}/a"), format!("{root}/a/b/c")],
            vec![format!("{root}/ab")],
        ),
        // A trailing `/` is an empty level of its own.
        (
            format!("{root}/t/"),
            vec![format!("{root}/t/")],
            vec![format!("{root}/t")],
        ),
        // Case sensitive (4.7.3).
        (
            format!("{root}/Case"),
            vec![format!("{root}/Case")],
            vec![format!("{root}/case")],
        ),
        // `+` is exactly one level.
        (
            format!("{root}/p/+"),
            vec![format!("{root}/p/1")],
            vec![format!("{root}/p/1/2"), format!("{root}/p")],
        ),
        // A leading `/` makes an empty first level.
        (
            format!("+/{root}/l"),
            vec![format!("/{root}/l")],
            vec![format!("{root}/l")],
        ),
    ];
    for (filter, yes, no) in cases {
        let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
        sub.subscribe(&filter, QoS::AtLeastOnce).await;
        for tp in no.iter().chain(yes.iter()) {
            publ.publish(tp, QoS::AtLeastOnce, false, tp.as_bytes())
                .await;
        }
        for tp in &yes {
            let got = sub.next_publish().await;
            assert_eq!(&got.topic, tp, "filter {filter}");
        }
        sub.assert_no_publish(QUIET).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dollar_topics_are_not_matched_by_hash_or_plus_at_the_first_level() {
    let Some(t) = target() else { return };
    let leaf = name("leaf");
    let dollar_root = format!("${}", name("d"));
    let dollar = format!("{dollar_root}/{leaf}");
    let (mut hash, _) = v4::connect(t.v4(&name("hash"))).await;
    hash.subscribe("#", QoS::AtMostOnce).await;
    let (mut plus, _) = v4::connect(t.v4(&name("plus"))).await;
    plus.subscribe(&format!("+/{leaf}"), QoS::AtMostOnce).await;
    let (mut exact, _) = v4::connect(t.v4(&name("exact"))).await;
    exact
        .subscribe(&format!("{dollar_root}/+"), QoS::AtMostOnce)
        .await;

    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&dollar, QoS::AtLeastOnce, false, b"x").await;
    // MQTT-4.7.2-1.
    assert_eq!(exact.next_publish().await.topic, dollar);
    plus.assert_no_publish(QUIET).await;
    // `#` sees every other test's traffic on a shared broker: only our topic matters.
    let seen = hash
        .events
        .try_wait_for(QUIET, |e| match e {
            v4::Event::Incoming(v4::Packet::Publish(p)) if p.topic == dollar => Some(()),
            _ => None,
        })
        .await;
    assert!(seen.is_none(), "`#` matched a `$` topic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_unsubscribe_of_an_unknown_filter_reports_no_subscription() {
    let Some(t) = target() else { return };
    let mut raw = raw(&t, V5).await;
    let mut body = 7u16.to_be_bytes().to_vec();
    body.push(0);
    body.extend(lp(topic("none").as_bytes()));
    raw.send(&packet((kind::UNSUBSCRIBE << 4) | 2, &body)).await;
    let ack = raw.recv_kind(kind::UNSUBACK).await;
    assert_eq!(ack.pkid(), 7);
    let (_, used) = parse_props(&ack.body[2..]);
    // 0x11 No subscription existed.
    assert_eq!(ack.body[2 + used..], [0x11]);
}

/// Warren's maximum packet size holds for 3.1.1 too, which has no way to advertise it:
/// a header announcing more is refused at once, before any of the body is buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_oversized_packet_header_is_refused_without_waiting_for_the_body() {
    let Some(t) = warren_only() else { return };
    let mut raw = raw(&t, V311).await;
    let mut header = vec![kind::PUBLISH << 4];
    header.extend(varint(268_435_455));
    header.extend(lp(b"t"));
    raw.send(&header).await;
    let got = raw.expect_close(DEADLINE).await;
    assert!(got.is_empty(), "{got:?}");
}
