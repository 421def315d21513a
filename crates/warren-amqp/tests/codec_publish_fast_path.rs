//! `basic.publish` is decoded by hand on the publish path; amq-protocol decodes every other
//! method. Both must agree on every input: the same arguments for a well-formed publish, an
//! error for anything amq-protocol refuses.

use amq_protocol::protocol::{basic, parse_class, AMQPClass};
use bytes::BytesMut;
use warren_amqp::codec::{self, Frame, PublishMethod};

const FRAME_MAX: u32 = 131_072;

/// A method frame on channel 1 around `args`.
fn method_frame(args: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    out.extend_from_slice(&[1, 0, 1]);
    out.extend_from_slice(&u32::try_from(args.len()).unwrap().to_be_bytes());
    out.extend_from_slice(args);
    out.extend_from_slice(&[0xCE]);
    out
}

/// What Warren decodes `args` to: the publish, or `None` for an error.
fn warren(args: &[u8]) -> Option<PublishMethod> {
    match codec::decode(&mut method_frame(args), FRAME_MAX) {
        Ok(Some(Frame::Publish { channel, publish })) => {
            assert_eq!(channel, 1);
            Some(publish)
        }
        Ok(other) => panic!("not a publish frame: {other:?}"),
        Err(_) => None,
    }
}

/// What amq-protocol decodes `args` to, whole.
fn reference(args: &[u8]) -> Option<PublishMethod> {
    match parse_class(args) {
        Ok(([], AMQPClass::Basic(basic::AMQPMethod::Publish(publish)))) => {
            Some(PublishMethod::try_from(publish).expect("a short string is a valid name"))
        }
        Ok(([], other)) => panic!("amq-protocol read another method: {other:?}"),
        _ => None,
    }
}

fn short_string(out: &mut Vec<u8>, text: &[u8]) {
    out.push(u8::try_from(text.len()).unwrap());
    out.extend_from_slice(text);
}

fn publish_args(exchange: &[u8], key: &[u8], bits: u8) -> Vec<u8> {
    let mut args = vec![0, 60, 0, 40, 0, 0];
    short_string(&mut args, exchange);
    short_string(&mut args, key);
    args.push(bits);
    args
}

#[test]
fn well_formed_publishes_decode_as_amq_protocol_decodes_them() {
    let names: [&[u8]; 5] = [
        b"",
        b"amq.topic",
        b"x",
        "r\u{e9}sum\u{e9}".as_bytes(),
        &[b'k'; 255],
    ];
    for exchange in names {
        for key in names {
            for bits in 0..=u8::MAX {
                let args = publish_args(exchange, key, bits);
                let ours = warren(&args);
                assert!(ours.is_some(), "a well-formed publish decodes");
                assert_eq!(ours, reference(&args), "bits {bits:#04x}");
            }
        }
    }
}

#[test]
fn the_flags_are_read_from_their_bits() {
    let p = warren(&publish_args(b"ex", b"key", 0b11)).unwrap();
    assert_eq!((p.exchange.as_str(), p.routing_key.as_str()), ("ex", "key"));
    assert!(p.mandatory && p.immediate);
}

#[test]
fn malformed_publishes_are_refused_as_amq_protocol_refuses_them() {
    let good = publish_args(b"amq.direct", b"key", 1);
    // Every truncation, and one octet too many.
    let mut cases: Vec<Vec<u8>> = (4..good.len()).map(|n| good[..n].to_vec()).collect();
    cases.push([good.as_slice(), &[0]].concat());
    // Lengths running past the end, and names that are not UTF-8.
    cases.push(vec![0, 60, 0, 40, 0, 0, 200, b'a', 0, 0]);
    cases.push(publish_args(&[0xff, 0xfe], b"key", 0));
    cases.push(publish_args(b"ex", &[0xc3], 0));
    for args in cases {
        assert_eq!(warren(&args), None, "{args:?} is refused");
        assert_eq!(reference(&args), None, "amq-protocol refuses {args:?} too");
    }
}
