//! Methods and content errors few clients send, with a raw client: a body longer than its
//! header declared (501), a header declaring more than the largest message (406 on the
//! channel), `channel.flow`, `access.request`, `connection.update-secret` and
//! `basic.recover-async`. Each checked against RabbitMQ as well when `WARREN_IT_AMQP_URL` is set.

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{access, basic, channel as chan, connection, AMQPClass};
use warren_it::raw::{self, Args, Incoming, Open, Raw};
use warren_it::{assert_broker_serves, target, unique, DEADLINE};

fn publish_method(channel: u16, key: &str) -> Vec<u8> {
    let args = Args::new()
        .u16(0)
        .short("")
        .short(key)
        .bits(&[false, false]);
    raw::method(channel, 60, 40, args)
}

/// Opens a connection with channel 1 and a fresh queue on it.
fn open_with_queue(addr: std::net::SocketAddr) -> (Raw, String) {
    let mut raw = Raw::open(addr, &Open::default());
    raw.open_channel(1);
    let q = unique("rare");
    raw.send(&raw::queue_declare(1, &q, &raw::table(&[])))
        .expect("declare");
    let (_, ok) = raw.read_method(DEADLINE);
    assert!(matches!(ok, AMQPClass::Queue(_)), "{ok:?}");
    (raw, q)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_longer_than_its_header_declared_is_a_frame_error() {
    let t = target();
    let addr = t.addr();
    let ending = tokio::task::spawn_blocking(move || {
        let (mut raw, q) = open_with_queue(addr);
        let mut bytes = publish_method(1, &q);
        bytes.extend(raw::content_header(1, 4, None));
        bytes.extend(raw::frame(raw::FRAME_BODY, 1, b"longer than four"));
        let _ = raw.send(&bytes);
        raw.wait_closed(DEADLINE)
    })
    .await
    .expect("raw client");
    // RabbitMQ 3.10 closes without saying why; Warren says FRAME_ERROR first.
    if t.is_warren() {
        let close = ending.close.expect("connection.close");
        assert_eq!(close.reply_code, 501, "{close:?}");
        assert!(ending.eof, "the connection is closed");
    }
    assert_broker_serves(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_declaring_more_than_the_largest_message_closes_the_channel() {
    let t = target();
    if !t.is_warren() {
        // RabbitMQ 3.10 waits for the body and checks its size then.
        return;
    }
    let addr = t.addr();
    let code = tokio::task::spawn_blocking(move || {
        let (mut raw, q) = open_with_queue(addr);
        let mut bytes = publish_method(1, &q);
        bytes.extend(raw::content_header(1, 1 << 40, None));
        raw.send(&bytes).expect("send");
        raw.read_channel_close(1).reply_code
    })
    .await
    .expect("raw client");
    assert_eq!(code, 406, "PRECONDITION_FAILED");
    assert_broker_serves(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_flow_resumes_but_may_not_stop_deliveries() {
    let t = target();
    let addr = t.addr();
    let (resumed, stopped) = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &Open::default());
        raw.open_channel(1);
        raw.send(&raw::method(1, 20, 20, Args::new().bits(&[true])))
            .expect("channel.flow active");
        let resumed = raw.read_method(DEADLINE);
        raw.send(&raw::method(1, 20, 20, Args::new().bits(&[false])))
            .expect("channel.flow inactive");
        (resumed, raw.wait_closed(DEADLINE))
    })
    .await
    .expect("raw client");
    assert!(
        matches!(
            resumed,
            (
                1,
                AMQPClass::Channel(chan::AMQPMethod::FlowOk(chan::FlowOk { active: true }))
            )
        ),
        "{resumed:?}"
    );
    let close = stopped.close.expect("connection.close");
    assert_eq!(
        close.reply_code, 540,
        "NOT_IMPLEMENTED, as RabbitMQ: {close:?}"
    );
    assert_broker_serves(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_request_is_granted_as_a_no_op() {
    let t = target();
    let addr = t.addr();
    let reply = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &Open::default());
        raw.open_channel(1);
        let args = Args::new()
            .short("/data")
            .bits(&[false, true, true, true, true]);
        raw.send(&raw::method(1, 30, 10, args))
            .expect("access.request");
        raw.read_method(DEADLINE)
    })
    .await
    .expect("raw client");
    assert!(
        matches!(
            reply,
            (1, AMQPClass::Access(access::AMQPMethod::RequestOk(_)))
        ),
        "{reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_secret_is_answered_with_update_secret_ok() {
    let t = target();
    let addr = t.addr();
    let reply = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &Open::default());
        let args = Args::new().long(b"new secret").short("token refresh");
        raw.send(&raw::method(0, 10, 70, args))
            .expect("update-secret");
        raw.read_method(DEADLINE)
    })
    .await
    .expect("raw client");
    assert!(
        matches!(
            reply,
            (
                0,
                AMQPClass::Connection(connection::AMQPMethod::UpdateSecretOk(_))
            )
        ),
        "{reply:?}"
    );
}

/// The next basic.deliver's redelivered flag, skipping its header and body frames.
fn next_deliver_redelivered(raw: &mut Raw) -> bool {
    loop {
        match raw.read(DEADLINE) {
            Incoming::Frame(AMQPFrame::Method(
                1,
                AMQPClass::Basic(basic::AMQPMethod::Deliver(d)),
            )) => return d.redelivered,
            Incoming::Frame(AMQPFrame::Method(_, m)) => panic!("unexpected method {m:?}"),
            Incoming::Frame(_) => {}
            other => panic!("no delivery: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_async_redelivers_without_a_reply() {
    let t = target();
    let addr = t.addr();
    let flags = tokio::task::spawn_blocking(move || {
        let (mut raw, q) = open_with_queue(addr);
        raw.send(&raw::publish(1, "", &q, b"once"))
            .expect("publish");
        raw.send(&raw::basic_consume(1, &q, false))
            .expect("consume");
        match raw.read_method(DEADLINE) {
            (1, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))) => {}
            other => panic!("expected consume-ok, got {other:?}"),
        }
        let first = next_deliver_redelivered(&mut raw);
        // basic.recover-async (requeue): deprecated, no recover-ok, the message comes again.
        raw.send(&raw::method(1, 60, 100, Args::new().bits(&[true])))
            .expect("recover-async");
        let second = next_deliver_redelivered(&mut raw);
        (first, second)
    })
    .await
    .expect("raw client");
    assert_eq!(flags, (false, true));
}
