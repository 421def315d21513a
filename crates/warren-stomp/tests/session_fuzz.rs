//! Whole-session fuzzing on stable: sequences of frames built from the grammar with random
//! commands, headers and bodies (and raw garbage) go through a session on a real core. The
//! session must never panic, must answer in well-formed frames, and must be closed after any
//! ERROR it sends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::prelude::*;
use warren_core::{Core, CoreConfig};
use warren_model::{Broker, PeerInfo, SessionFactory, SessionStatus, Wake};
use warren_stomp::codec::{Codec, Limits};
use warren_stomp::{Command, StompConfig, StompSessionFactory, Version};

struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

const COMMANDS: [&str; 14] = [
    "SEND",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "BEGIN",
    "COMMIT",
    "ABORT",
    "ACK",
    "NACK",
    "DISCONNECT",
    "CONNECT",
    "MESSAGE",
    "STOMP",
    "ERROR",
    "BOGUS",
];
const NAMES: [&str; 14] = [
    "destination",
    "id",
    "ack",
    "receipt",
    "transaction",
    "content-length",
    "persistent",
    "priority",
    "reply-to",
    "durable",
    "prefetch-count",
    "x-max-length",
    "expiration",
    "requeue",
];
const VALUES: [&str; 14] = [
    "/queue/f",
    "/topic/a.*",
    "/exchange/amq.direct/k",
    "/amq/queue/f",
    "/temp-queue/t",
    "/reply-queue/x",
    "client",
    "client-individual",
    "t1",
    "true",
    "3",
    "-1",
    "T_s@@x@@1",
    "",
];

fn frame() -> impl Strategy<Value = Vec<u8>> {
    let header = (0..NAMES.len(), 0..VALUES.len());
    (
        0..COMMANDS.len(),
        proptest::collection::vec(header, 0..6),
        proptest::collection::vec(any::<u8>(), 0..16),
        any::<bool>(),
    )
        .prop_map(|(c, headers, body, crlf)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut out = format!("{}{eol}", COMMANDS[c]).into_bytes();
            for (n, v) in headers {
                out.extend_from_slice(format!("{}:{}{eol}", NAMES[n], VALUES[v]).as_bytes());
            }
            out.extend_from_slice(eol.as_bytes());
            out.extend(body.into_iter().filter(|b| *b != 0));
            out.push(0);
            out
        })
}

fn input() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let chunk = prop_oneof![
        8 => frame(),
        1 => proptest::collection::vec(any::<u8>(), 0..32),
        1 => Just(b"\n".to_vec()),
    ];
    proptest::collection::vec(chunk, 0..12)
}

fn run(chunks: Vec<Vec<u8>>) -> Result<(), TestCaseError> {
    let broker: Arc<dyn Broker> = Core::new(CoreConfig::default());
    let factory = StompSessionFactory::new(broker, StompConfig::default());
    let peer = PeerInfo::new(
        "127.0.0.1:5000".parse().unwrap(),
        "127.0.0.1:61613".parse().unwrap(),
    );
    let mut session = factory.new_session(peer, Arc::new(NoWake));
    let now = Instant::now();
    let mut inp = BytesMut::from(&b"CONNECT\naccept-version:1.2\nhost:/\n\n\0"[..]);
    let mut out = BytesMut::new();
    let mut status = session.on_input(&mut inp, &mut out, now);
    for chunk in chunks {
        if status == SessionStatus::Close {
            break;
        }
        inp.extend_from_slice(&chunk);
        status = session.on_input(&mut inp, &mut out, now);
        if status == SessionStatus::Continue {
            status = session.on_wake(&mut out, now);
        }
    }
    let _ = session.on_tick(&mut out, now + Duration::from_secs(60));
    session.on_close();
    let mut reader = Codec::new(Limits::default());
    reader.set_version(Version::V1_2);
    while let Some(frame) = reader
        .decode(&mut out)
        .map_err(|e| TestCaseError::fail(format!("server sent a bad frame: {e}")))?
    {
        if frame.command == Command::Error {
            prop_assert_eq!(status, SessionStatus::Close, "ERROR without close");
            prop_assert!(frame.get("message").is_some());
        }
    }
    prop_assert!(out.is_empty(), "a partial frame at the end of the output");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_frame_sequence_is_handled_without_panic(chunks in input()) {
        run(chunks)?;
    }
}
