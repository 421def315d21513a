//! The content header of every publish is read, and of every delivery written, by hand
//! ([`warren_amqp::content`]). Written bytes must be amq-protocol's for every combination of
//! properties, strings cut to 255 octets at a character boundary as every other short string
//! Warren sends; reading must give amq-protocol's result on every input: the same properties
//! for a well-formed header, a refusal for anything it refuses.

mod common;

use amq_protocol::frame::parsing::parse_content_header;
use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use bytes::{Bytes, BytesMut};
use common::encode;
use proptest::prelude::*;
use warren_amqp::codec::{self, Frame, FrameWriter};
use warren_amqp::content::{self, ContentHeader};
use warren_amqp::convert::{properties_from_amqp, properties_to_amqp};
use warren_model::{DeliveryMode, FieldTable, FieldValue, Properties, TextProperties};

/// Every property the basic class has, in its order.
const PROPERTY_COUNT: u32 = 14;

/// What amq-protocol writes for the same header.
fn reference(channel: u16, body_size: u64, p: &Properties) -> Vec<u8> {
    let header = AMQPContentHeader {
        class_id: 60,
        body_size,
        properties: properties_to_amqp(p),
    };
    encode(&[AMQPFrame::Header(channel, header)])
}

fn written(channel: u16, body_size: u64, p: &Properties) -> BytesMut {
    let mut out = BytesMut::from(&b"before"[..]);
    let mut scratch = Vec::new();
    content::write_header(&mut out, channel, body_size, p, &mut scratch).unwrap();
    assert_eq!(&out[..6], b"before", "appended, not overwritten");
    out.split_off(6)
}

fn headers() -> FieldTable {
    let mut inner = FieldTable::new();
    inner.insert("n", FieldValue::I32(-5));
    let mut table = FieldTable::new();
    table.insert("x-mqtt-retain", FieldValue::Bool(true));
    table.insert("str", FieldValue::string("r\u{e9}sum\u{e9}"));
    table.insert("bytes", FieldValue::Bytes(Bytes::from_static(b"\x00\x01")));
    table.insert("table", FieldValue::Table(inner));
    table.insert(
        "array",
        FieldValue::Array(vec![FieldValue::U8(1), FieldValue::Void]),
    );
    table
}

/// The properties whose bits are set in `present`, bit 0 for the first; `variant` picks
/// between short, empty and over-long values.
fn properties(present: u32, variant: usize) -> Properties {
    let texts = [
        "text/plain".to_owned(),
        String::new(),
        "k".repeat(300),
        "\u{e9}".repeat(200),
    ];
    let mut field = 0;
    let mut next = |value: &dyn Fn(usize) -> String| {
        let on = present & (1 << field) != 0;
        let text = value(variant + field as usize);
        field += 1;
        on.then_some(text)
    };
    let text = |i: usize| texts[i % texts.len()].clone();
    let content_type = next(&text);
    let content_encoding = next(&text);
    let headers = next(&text).map(|_| headers());
    let delivery_mode = next(&text).map(|_| {
        if variant.is_multiple_of(2) {
            DeliveryMode::Persistent
        } else {
            DeliveryMode::Transient
        }
    });
    let priority = next(&text).map(|_| u8::try_from(variant % 10).unwrap());
    let correlation_id = next(&text);
    let reply_to = next(&text);
    let expiration = next(&|_| "60000".to_owned());
    let message_id = next(&text);
    let timestamp = next(&text).map(|_| 1_700_000_000 + variant as u64);
    let kind = next(&text);
    let user_id = next(&text);
    let app_id = next(&text);
    let cluster_id = next(&text);
    assert_eq!(field, PROPERTY_COUNT);
    Properties {
        headers,
        delivery_mode,
        priority,
        timestamp,
        text: TextProperties {
            content_type,
            content_encoding,
            correlation_id,
            reply_to,
            expiration,
            message_id,
            kind,
            user_id,
            app_id,
            cluster_id,
        }
        .into(),
    }
}

#[test]
fn every_combination_of_properties_is_written_as_amq_protocol_writes_it() {
    for present in 0..(1 << PROPERTY_COUNT) {
        let variant = present as usize % 7;
        let p = properties(present, variant);
        let (channel, body_size) = match variant % 3 {
            0 => (1, 0),
            1 => (65_535, 16),
            _ => (7, u64::MAX),
        };
        assert_eq!(
            &written(channel, body_size, &p)[..],
            &reference(channel, body_size, &p)[..],
            "{p:?}"
        );
    }
}

#[test]
fn a_written_header_reads_back_to_its_properties() {
    let all = (1 << PROPERTY_COUNT) - 1;
    let p = properties(all, 0);
    let mut out = written(3, 42, &p);
    let Ok(Some(Frame::Header { channel, header })) = codec::decode(&mut out, 131_072) else {
        panic!("not a content header frame");
    };
    assert!(out.is_empty(), "one whole frame");
    assert_eq!((channel, header.class_id, header.body_size), (3, 60, 42));
    let mut back = header.properties;
    let table = back.headers.take().expect("headers were sent");
    assert!(table.same_entries(&headers()), "{table:?}");
    assert_eq!(back.text.content_type.as_deref(), Some("text/plain"));
    assert_eq!(back.text.expiration.as_deref(), Some("60000"));
    assert_eq!(back.delivery_mode, Some(DeliveryMode::Persistent));
    assert_eq!(back.timestamp, Some(1_700_000_000));
    assert_eq!(back.text.correlation_id.as_deref(), Some(""));
    // Its text is 300 octets: sent as the first 255.
    assert_eq!(back.text.reply_to.as_deref(), Some(&"k".repeat(255)[..]));
}

#[test]
fn a_content_is_its_header_then_the_body_in_frames() {
    let p = properties(0b1_1001, 1);
    let body = vec![7u8; 300];
    let mut out = BytesMut::new();
    FrameWriter::default()
        .content(&mut out, 5, &p, &body, 136)
        .unwrap();
    let mut expected = reference(5, 300, &p);
    // frame-max 136 leaves 128 octets of body per frame.
    for piece in body.chunks(128) {
        expected.extend_from_slice(&encode(&[AMQPFrame::Body(5, piece.to_vec())]));
    }
    assert_eq!(&out[..], &expected[..]);
}

/// What amq-protocol reads from a content header payload, in the model's form.
fn amq_protocol_reads(payload: &[u8]) -> Option<ContentHeader> {
    match parse_content_header(payload) {
        Ok(([], h)) => Some(ContentHeader {
            class_id: h.class_id,
            body_size: h.body_size,
            properties: properties_from_amqp(&h.properties),
        }),
        _ => None,
    }
}

/// The payload of a written header frame: without type, channel, size and frame end.
fn payload(p: &Properties, body_size: u64) -> Vec<u8> {
    let frame = written(1, body_size, p);
    frame[7..frame.len() - 1].to_vec()
}

#[test]
fn every_combination_of_properties_is_read_as_amq_protocol_reads_it() {
    for present in 0..(1 << PROPERTY_COUNT) {
        let p = properties(present, present as usize % 7);
        let bytes = payload(&p, u64::from(present));
        let read = content::read_header(&bytes);
        assert!(read.is_some(), "{p:?}");
        assert_eq!(read, amq_protocol_reads(&bytes), "{p:?}");
    }
}

#[test]
fn every_cut_short_header_is_refused_by_both() {
    let bytes = payload(&properties((1 << PROPERTY_COUNT) - 1, 3), 9);
    for end in 0..bytes.len() {
        let cut = &bytes[..end];
        assert_eq!(content::read_header(cut), None, "cut at {end}");
        assert_eq!(amq_protocol_reads(cut), None, "cut at {end}");
    }
}

#[test]
fn left_over_octets_and_bad_utf8_are_refused_by_both() {
    let mut long = payload(&properties(1, 0), 0);
    long.push(0);
    let mut bad_text = payload(&properties(1, 0), 0);
    // content-type "text/plain": its first octet made a lone continuation byte.
    bad_text[15] = 0x80;
    for bytes in [long, bad_text] {
        assert_eq!(content::read_header(&bytes), None);
        assert_eq!(amq_protocol_reads(&bytes), None);
    }
}

proptest! {
    #[test]
    fn any_flags_and_octets_are_read_as_amq_protocol_reads_them(
        class_id in any::<u16>(),
        weight in any::<u16>(),
        body_size in any::<u64>(),
        flags in any::<u16>(),
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&class_id.to_be_bytes());
        bytes.extend_from_slice(&weight.to_be_bytes());
        bytes.extend_from_slice(&body_size.to_be_bytes());
        bytes.extend_from_slice(&flags.to_be_bytes());
        bytes.extend_from_slice(&rest);
        prop_assert_eq!(content::read_header(&bytes), amq_protocol_reads(&bytes));
    }

    #[test]
    fn written_headers_with_one_octet_changed_are_read_as_amq_protocol_reads_them(
        present in 0u32..(1 << PROPERTY_COUNT),
        at in any::<prop::sample::Index>(),
        octet in any::<u8>(),
    ) {
        let mut bytes = payload(&properties(present, 1), 5);
        let i = at.index(bytes.len());
        bytes[i] = octet;
        prop_assert_eq!(content::read_header(&bytes), amq_protocol_reads(&bytes));
    }
}
