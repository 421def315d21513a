use super::*;

fn sample_records(out: &mut Vec<u8>) -> Vec<usize> {
    let mut lens = vec![encode_message(
        out,
        MessageId(7),
        &[QueueId(1), QueueId(9)],
        b"props",
        b"body",
    )
    .unwrap()];
    let records = [
        Record::Ack {
            queue: QueueId(1),
            message: MessageId(7),
        },
        Record::Delivered {
            queue: QueueId(9),
            message: MessageId(7),
        },
        Record::DropQueue {
            queue: QueueId(9),
            below: MessageId(8),
        },
        Record::MetaPut {
            keyspace: Keyspace(3),
            key: b"k",
            value: b"v",
        },
        Record::MetaDelete {
            keyspace: Keyspace(3),
            key: b"k",
        },
        Record::Shutdown,
    ];
    for r in &records {
        lens.push(encode(out, r).unwrap());
    }
    lens
}

#[test]
fn every_record_type_round_trips() {
    let mut buf = Vec::new();
    let lens = sample_records(&mut buf);
    let mut pos = 0;
    let mut kinds = Vec::new();
    for len in lens {
        let Decoded::Record(record, n) = decode(&buf[pos..]) else {
            panic!("record at {pos} did not decode")
        };
        assert_eq!(n, len);
        kinds.push(record);
        pos += n;
    }
    let Record::Message {
        id,
        queues,
        properties,
        body,
    } = kinds[0]
    else {
        panic!("not a message")
    };
    assert_eq!(
        (id, properties, body),
        (MessageId(7), &b"props"[..], &b"body"[..])
    );
    assert_eq!(
        queues.iter().collect::<Vec<_>>(),
        vec![QueueId(1), QueueId(9)]
    );
    assert_eq!(
        kinds[4],
        Record::MetaPut {
            keyspace: Keyspace(3),
            key: b"k",
            value: b"v"
        }
    );
    assert_eq!(kinds[6], Record::Shutdown);
}

#[test]
fn every_prefix_of_a_record_is_incomplete() {
    let mut buf = Vec::new();
    sample_records(&mut buf);
    let Decoded::Record(_, first) = decode(&buf) else {
        panic!()
    };
    for cut in 0..first {
        assert_eq!(decode(&buf[..cut]), Decoded::Incomplete, "cut at {cut}");
    }
}

#[test]
fn every_flipped_byte_is_detected() {
    let mut buf = Vec::new();
    encode_message(&mut buf, MessageId(1), &[QueueId(2)], b"p", b"hello").unwrap();
    for i in 0..buf.len() {
        for bit in 0..8 {
            let mut bad = buf.clone();
            bad[i] ^= 1 << bit;
            assert!(
                !matches!(decode(&bad), Decoded::Record(..)),
                "flip {i}:{bit} went unnoticed"
            );
        }
    }
}

#[test]
fn a_huge_length_is_corrupt_not_an_allocation() {
    let mut buf = vec![0xff; FRAME_LEN];
    buf.extend_from_slice(&[0; 16]);
    assert!(matches!(decode(&buf), Decoded::Corrupt(_)));
}

#[test]
fn an_unknown_type_with_a_valid_checksum_is_corrupt() {
    let mut buf = Vec::new();
    frame(&mut buf, 99, 3, |out| out.extend_from_slice(b"abc")).unwrap();
    assert!(matches!(decode(&buf), Decoded::Corrupt(_)));
}

#[test]
fn trailing_bytes_in_a_fixed_record_are_corrupt() {
    let mut buf = Vec::new();
    frame(&mut buf, T_ACK, 17, |out| out.extend_from_slice(&[0; 17])).unwrap();
    assert!(matches!(decode(&buf), Decoded::Corrupt(_)));
}

#[test]
fn header_round_trips_and_rejects_damage() {
    let h = encode_header(SegmentId(42), MessageId(1000));
    assert_eq!(check_header(&h, SegmentId(42)), Ok(MessageId(1000)));
    assert!(check_header(&h, SegmentId(43)).is_err());
    assert!(check_header(&h[..HEADER_LEN - 1], SegmentId(42)).is_err());
    for i in 0..HEADER_LEN {
        let mut bad = h;
        bad[i] ^= 0x10;
        assert!(check_header(&bad, SegmentId(42)).is_err(), "byte {i}");
    }
}

#[test]
fn another_format_version_is_refused() {
    let mut h = encode_header(SegmentId(1), MessageId(1));
    h[8] = 2;
    let crc = crc32c::crc32c(&h[..24]);
    h[24..].copy_from_slice(&crc.to_le_bytes());
    assert!(check_header(&h, SegmentId(1))
        .unwrap_err()
        .contains("version 2"));
}

proptest::proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn messages_round_trip(id: u64, queues in proptest::collection::vec(proptest::num::u64::ANY, 0..5),
                           props in proptest::collection::vec(proptest::num::u8::ANY, 0..32),
                           body in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let queues: Vec<QueueId> = queues.into_iter().map(QueueId).collect();
        let mut buf = Vec::new();
        let n = encode_message(&mut buf, MessageId(id), &queues, &props, &body).unwrap();
        let Decoded::Record(Record::Message { id: got, queues: q, properties, body: b }, m) = decode(&buf) else {
            panic!("did not decode");
        };
        proptest::prop_assert_eq!((got, m, n), (MessageId(id), buf.len(), buf.len()));
        proptest::prop_assert_eq!(q.iter().collect::<Vec<_>>(), queues);
        proptest::prop_assert_eq!((properties, b), (&props[..], &body[..]));
    }
}
