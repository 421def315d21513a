//! Hostile clients: oversized frames, deeply nested field tables, garbage bytes, and clients
//! that never read. Each must end at most its own connection; the broker keeps serving others.

use std::time::{Duration, Instant};

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, channel as chan, connection, queue, AMQPClass};
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use warren_it::raw::{self, Incoming, Open, Raw};
use warren_it::{
    assert_broker_serves, assert_usable, confirm_channel, declare_queue, eventually_async,
    passive_declare, target, unique, Target, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_larger_than_frame_max_is_a_frame_error() {
    let t = target();
    let bystander = t.connect().await;
    let opts = Open {
        frame_max: 4096,
        ..Open::default()
    };
    let addr = t.addr();
    let ending = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &opts);
        raw.open_channel(1);
        let q = unique("oversized");
        raw.send(&raw::publish(1, "", &q, &vec![0u8; 10_000]))
            .expect("send oversized body frame");
        raw.wait_closed(DEADLINE)
    })
    .await
    .expect("raw client");
    let close = ending
        .close
        .expect("connection.close before the socket closes");
    assert_eq!(close.reply_code, 501, "FRAME_ERROR: {close:?}");
    assert!(ending.eof, "the socket is closed");
    assert_usable(&bystander).await;
    assert_broker_serves(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_size_field_beyond_frame_max_is_a_frame_error_without_the_payload() {
    let t = target();
    let addr = t.addr();
    let ending = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &Open::default());
        // A method frame header announcing 1 GiB; the payload is never sent.
        let mut header = vec![raw::FRAME_METHOD, 0, 1];
        header.extend_from_slice(&(1u32 << 30).to_be_bytes());
        raw.send(&header).expect("send frame header");
        raw.wait_closed(DEADLINE)
    })
    .await
    .expect("raw client");
    assert!(
        ending.eof,
        "a 1 GiB frame announcement ends the connection promptly"
    );
    if let Some(close) = &ending.close {
        assert_eq!(close.reply_code, 501, "{close:?}");
    }
    if t.is_warren() {
        let code = ending.close.map(|c| c.reply_code);
        assert_eq!(code, Some(501), "Warren says why before it closes");
    }
    assert_broker_serves(&t).await;
}

/// What the server answered a hostile method with.
#[derive(Debug)]
enum Answer {
    /// The method succeeded (e.g. declare-ok).
    Accepted(AMQPClass),
    ChannelClosed(u16),
    ConnectionClosed(u16),
}

fn answer(raw: &mut Raw) -> Answer {
    loop {
        match raw.read(DEADLINE) {
            Incoming::Frame(AMQPFrame::Method(
                _,
                AMQPClass::Channel(chan::AMQPMethod::Close(c)),
            )) => return Answer::ChannelClosed(c.reply_code),
            Incoming::Frame(AMQPFrame::Method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Close(c)),
            )) => return Answer::ConnectionClosed(c.reply_code),
            Incoming::Frame(AMQPFrame::Method(_, m)) => return Answer::Accepted(m),
            Incoming::Frame(_) => {}
            other => panic!("no answer to the hostile method: {other:?}"),
        }
    }
}

fn assert_error_or_intact(answer: &Answer, accepted: impl Fn(&AMQPClass) -> bool) {
    match answer {
        Answer::Accepted(m) => assert!(accepted(m), "unexpected reply {m:?}"),
        Answer::ChannelClosed(code) | Answer::ConnectionClosed(code) => {
            assert!(*code >= 400, "closed with a non-error code {code}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_declare_arguments_are_answered_and_harmless() {
    let t = target();
    let addr = t.addr();
    let got = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &Open::default());
        raw.open_channel(1);
        let args = raw::table(&[("x-deep", raw::Value::Table(raw::nested_table(10_000)))]);
        raw.send(&raw::queue_declare(1, &unique("deep"), &args))
            .expect("send deep declare");
        answer(&mut raw)
    })
    .await
    .expect("raw client");
    assert_error_or_intact(&got, |m| {
        matches!(m, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_)))
    });
    if t.is_warren() {
        // Warren refuses tables nested deeper than its limit before parsing them.
        assert!(matches!(got, Answer::ConnectionClosed(502)), "{got:?}");
    }
    assert_broker_serves(&t).await;
}

/// Runs `f` on a thread with a stack large enough to parse (and drop) 10,000-level tables:
/// the test client's parser recurses, the broker's must not.
fn with_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("raw client thread")
}

fn nesting_depth(header: &amq_protocol::frame::AMQPContentHeader) -> usize {
    let mut depth = 0;
    let mut table = header.properties.headers().as_ref().expect("headers kept");
    let mut key = "deep";
    while let Some(lapin::types::AMQPValue::FieldTable(inner)) = table.inner().get(key) {
        depth += 1;
        table = inner;
        key = "n";
    }
    depth
}

fn publish_deep_headers_then_get(addr: std::net::SocketAddr) -> (Answer, Option<usize>) {
    let deep = raw::table(&[("deep", raw::Value::Table(raw::nested_table(10_000)))]);
    let mut raw = Raw::open(addr, &Open::default());
    raw.open_channel(1);
    let q = unique("deephdr");
    raw.send(&raw::queue_declare(1, &q, &raw::table(&[])))
        .expect("declare");
    let _ = raw.read_method(DEADLINE);
    let args = raw::Args::new()
        .u16(0)
        .short("")
        .short(&q)
        .bits(&[false, false]);
    let mut publish = raw::method(1, 60, 40, args);
    publish.extend(raw::content_header(1, 4, Some(&deep)));
    publish.extend(raw::frame(raw::FRAME_BODY, 1, b"deep"));
    raw.send(&publish).expect("send deep headers");
    raw.send(&raw::basic_get(1, &q, true)).expect("get");
    let got = answer(&mut raw);
    let depth = match &got {
        Answer::Accepted(_) => match raw.read(DEADLINE) {
            Incoming::Frame(AMQPFrame::Header(_, h)) => Some(nesting_depth(&h)),
            other => panic!("expected the content header, got {other:?}"),
        },
        _ => None,
    };
    (got, depth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_message_headers_are_rejected_or_delivered_intact() {
    let t = target();
    let addr = t.addr();
    let (got, depth) = tokio::task::spawn_blocking(move || {
        with_big_stack(move || publish_deep_headers_then_get(addr))
    })
    .await
    .expect("raw client");
    assert_error_or_intact(&got, |m| {
        matches!(m, AMQPClass::Basic(basic::AMQPMethod::GetOk(_)))
    });
    if let Some(depth) = depth {
        assert_eq!(depth, 10_001, "nesting delivered intact");
    }
    if t.is_warren() {
        assert!(matches!(got, Answer::ConnectionClosed(502)), "{got:?}");
    }
    assert_broker_serves(&t).await;
}

fn garbage() -> Vec<u8> {
    (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn assert_garbage_ends_connection(t: &Target, after_handshake: bool) {
    let mut raw = if after_handshake {
        Raw::open(t.addr(), &Open::default())
    } else {
        let mut raw = Raw::connect(t.addr());
        raw.hello();
        raw
    };
    // The server may close before it has read everything.
    let _ = raw.send(&garbage());
    let ending = raw.wait_closed(DEADLINE);
    assert!(ending.eof, "garbage must end the connection");
    if let Some(close) = &ending.close {
        assert!(close.reply_code >= 500, "a hard error: {close:?}");
    }
    if t.is_warren() {
        let code = ending.close.map(|c| c.reply_code);
        assert_eq!(code, Some(501), "Warren answers an unknown frame type");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_protocol_header_ends_only_that_connection() {
    let t = target();
    let bystander = t.connect().await;
    let t2 = std::sync::Arc::new(t);
    let t3 = t2.clone();
    tokio::task::spawn_blocking(move || assert_garbage_ends_connection(&t3, false))
        .await
        .expect("raw client");
    assert_usable(&bystander).await;
    assert_broker_serves(&t2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_handshake_ends_only_that_connection() {
    let t = std::sync::Arc::new(target());
    let bystander = t.connect().await;
    let t2 = t.clone();
    tokio::task::spawn_blocking(move || assert_garbage_ends_connection(&t2, true))
        .await
        .expect("raw client");
    assert_usable(&bystander).await;
    assert_broker_serves(&t).await;
}

const BIG_BODY: usize = 100 * 1024;
const BIG_COUNT: usize = 500; // 50 MB in all

/// A raw client consuming `q` (no-ack, no prefetch limit) that then stops reading.
fn non_reading_consumer(t: &Target, q: &str) -> Raw {
    let mut raw = Raw::open(t.addr(), &Open::default());
    raw.open_channel(1);
    raw.send(&raw::queue_declare(1, q, &raw::table(&[])))
        .expect("declare");
    let _ = raw.read_method(DEADLINE);
    raw.send(&raw::basic_consume(1, q, false)).expect("consume");
    match raw.read_method(DEADLINE) {
        (1, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))) => raw,
        other => panic!("expected consume-ok, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_that_never_reads_does_not_stall_publishers_or_others() {
    let t = target();
    let q = unique("nonreader");
    let slow = non_reading_consumer(&t, &q);
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let body = vec![b'x'; BIG_BODY];
    let started = Instant::now();
    let mut confirms = Vec::new();
    for _ in 0..BIG_COUNT {
        let c = ch
            .basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        confirms.push(c);
    }
    for c in confirms {
        let c = tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("50 MB confirmed within 60 s")
            .expect("confirm");
        assert!(c.is_ack());
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_broker_serves(&t).await;

    drop(slow);
    let all_back = eventually_async(Duration::from_secs(30), || async {
        passive_declare(&conn, &q)
            .await
            .is_some_and(|q| q.consumer_count() == 0 && q.message_count() == BIG_COUNT as u32)
    })
    .await;
    assert!(
        all_back,
        "unacked deliveries to the vanished consumer return to the queue"
    );
    let cleanup = confirm_channel(&conn).await;
    cleanup
        .queue_delete(q.as_str().into(), Default::default())
        .await
        .expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_publishing_to_itself_without_reading_is_contained() {
    let t = std::sync::Arc::new(target());
    let q = unique("selfflood");
    let t2 = t.clone();
    let q2 = q.clone();
    let flooder = tokio::task::spawn_blocking(move || {
        let mut raw = non_reading_consumer(&t2, &q2);
        raw.set_write_timeout(Duration::from_secs(2));
        let one = raw::publish(1, "", &q2, &vec![b'y'; BIG_BODY]);
        let mut sent = 0;
        while sent < BIG_COUNT && raw.send(&one).is_ok() {
            sent += 1;
        }
        (raw, sent)
    });
    let (raw, sent) = flooder.await.expect("flooder");
    assert!(sent > 0, "the flooder could not publish at all");
    // Whether the broker buffered all of it or pushed back, everyone else is served.
    assert_broker_serves(&t).await;
    let conn = t.connect().await;
    let other = confirm_channel(&conn).await;
    let mine = unique("neighbour");
    declare_queue(&other, &mine).await;
    warren_it::publish(&other, "", &mine, b"fine").await;
    drop(raw);
    let released = eventually_async(Duration::from_secs(30), || async {
        passive_declare(&conn, &q)
            .await
            .is_some_and(|q| q.consumer_count() == 0)
    })
    .await;
    assert!(
        released,
        "the flooder's consumer is gone once its socket is"
    );
    other
        .queue_delete(q.as_str().into(), Default::default())
        .await
        .expect("delete the flooded queue");
}
