use super::*;

fn sample() -> Message {
    let mut headers = FieldTable::new();
    headers.insert("a", FieldValue::I64(-3));
    headers.insert(
        "nested",
        FieldValue::Array(vec![FieldValue::string("x"), FieldValue::Void]),
    );
    headers.insert("t", FieldValue::Table(headers.clone()));
    Message {
        annotations: Annotations {
            exchange: ExchangeName::try_from("amq.topic").unwrap(),
            routing_key: RoutingKey::try_from("a.b").unwrap(),
            publisher: None,
        },
        properties: Properties {
            headers: Some(headers),
            delivery_mode: Some(DeliveryMode::Persistent),
            priority: Some(7),
            timestamp: Some(42),
            text: TextProperties {
                content_type: Some("text/plain".into()),
                expiration: Some("1000".into()),
                app_id: Some("app".into()),
                ..Default::default()
            }
            .into(),
        },
        body: Bytes::from_static(b"hello"),
    }
}

#[test]
fn message_round_trips() {
    let m = sample();
    let stored = encode_message(&m);
    assert_eq!(decode_message(&stored, m.body.clone()), Some(m));
}

#[test]
fn every_truncation_is_refused_without_panic() {
    let stored = encode_message(&sample());
    for cut in 0..stored.len() {
        assert_eq!(
            decode_message(&stored[..cut], Bytes::new()),
            None,
            "cut {cut}"
        );
    }
}

#[test]
fn deep_nesting_is_refused() {
    let mut w = Writer::default();
    w.u32(1);
    w.str("k");
    for _ in 0..100 {
        w.u8(b'A');
        w.u32(1);
    }
    w.u8(b'V');
    assert!(Reader::new(&w.out).table(0).is_none());
}

#[test]
fn arrival_time_round_trips() {
    let m = sample();
    let stored = encode_arrived_message(&m, 1_700_000_000_123);
    let decoded = decode_arrived_message(&stored, m.body.clone());
    assert_eq!(decoded, Some((m.clone(), Some(1_700_000_000_123))));
    assert_eq!(decode_message(&stored, m.body.clone()), Some(m));
}

/// A record written before arrival times were kept, byte for byte: it must keep decoding.
#[test]
fn a_version_1_record_has_no_arrival_time() {
    let mut old = vec![1];
    old.extend_from_slice(&[10, 0, 0, 0]);
    old.extend_from_slice(b"amq.direct");
    old.extend_from_slice(&[1, 0, 0, 0, b'k']);
    // No content type, encoding or headers; persistent; no priority, correlation id,
    // reply to, expiration, message id, timestamp, type, user id, app id, cluster id.
    old.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let (message, arrived) = decode_arrived_message(&old, Bytes::new()).expect("decodes");
    assert_eq!(arrived, None);
    assert_eq!(message.annotations.exchange.as_str(), "amq.direct");
    assert_eq!(message.annotations.routing_key.as_str(), "k");
    assert!(message.is_persistent());
    assert_eq!(
        encode_message(&message),
        old,
        "version 1 is still written as before"
    );
}

#[test]
fn every_truncation_of_an_arrived_record_is_refused() {
    let stored = encode_arrived_message(&sample(), 42);
    for cut in 0..stored.len() {
        let decoded = decode_arrived_message(&stored[..cut], Bytes::new());
        assert_eq!(decoded, None, "cut {cut}");
    }
}

#[test]
fn an_unknown_version_is_refused() {
    for version in [0, 3, 255] {
        let mut stored = encode_arrived_message(&sample(), 42);
        stored[0] = version;
        assert_eq!(decode_message(&stored, Bytes::new()), None, "{version}");
    }
}

/// Any bytes give a message or nothing: every one-byte corruption and a stream of
/// pseudo-random buffers, without a panic.
#[test]
fn garbage_never_panics() {
    let stored = encode_arrived_message(&sample(), 42);
    for at in 0..stored.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = stored.clone();
            bad[at] ^= flip;
            let _ = decode_arrived_message(&bad, Bytes::new());
            let _ = decode_whole_message(&bad);
        }
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..2000 {
        let noise: Vec<u8> = (0..len % 97)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8 % 4
            })
            .collect();
        let _ = decode_arrived_message(&noise, Bytes::new());
    }
}
