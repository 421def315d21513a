//! The hand-rolled frames are checked against Warren's STOMP codec, and the parser against
//! frames as brokers send them.

use warren_stomp::codec::{Codec, Limits};
use warren_stomp::Command;

use super::*;

#[test]
fn send_and_subscribe_decode() {
    let mut out = BytesMut::new();
    frame(
        &mut out,
        "SUBSCRIBE",
        &[("id", "0"), ("destination", "/queue/q"), ("ack", "client")],
        b"",
    );
    let prefix = send_prefix("/queue/q", 64, true);
    send(&mut out, &prefix, Some(12), 64, 99);
    let mut codec = Codec::new(Limits::default());
    let sub = codec.decode(&mut out).unwrap().unwrap();
    assert_eq!(
        (sub.command, sub.get("ack")),
        (Command::Subscribe, Some("client"))
    );
    let send = codec.decode(&mut out).unwrap().unwrap();
    assert_eq!(send.command, Command::Send);
    assert_eq!(
        (send.get("receipt"), send.get("persistent")),
        (Some("12"), Some("true"))
    );
    assert_eq!(
        (send.body.len(), crate::payload::stamp(&send.body)),
        (64, Some(99))
    );
    assert!(out.is_empty());
}

#[test]
fn message_with_content_length_may_hold_nul() {
    let raw = b"\n\nMESSAGE\r\nack:a1\r\ncontent-length:3\r\n\r\na\0b\0CONNECTED\n\n\0";
    let (f, used) = parse(raw).unwrap().unwrap();
    assert_eq!(
        (f.command, f.body, f.header("ack")),
        (&b"MESSAGE"[..], &b"a\0b"[..], Some("a1"))
    );
    let (g, _) = parse(&raw[used..]).unwrap().unwrap();
    assert_eq!((g.command, g.body), (&b"CONNECTED"[..], &b""[..]));
}

#[test]
fn partial_frames_wait() {
    let raw = b"RECEIPT\nreceipt-id:7\n\n\0";
    for cut in 0..raw.len() {
        assert_eq!(parse(&raw[..cut]).unwrap(), None, "cut at {cut}");
    }
    assert!(parse(b"MESSAGE\ncontent-length:1\n\nab").is_err());
}
