//! Confirms and transactions that wait for the disk, against the real core on a store in the
//! in-memory file system: a persistent message in a durable queue is acked once written, and
//! when the fsync fails it is nacked (confirms) or the channel is closed (transactions), never
//! confirmed.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{basic, confirm, queue, tx, AMQPClass};
use common::*;
use warren_amqp::AmqpConfig;
use warren_core::{Core, CoreConfig, ExchangeRegistry};
use warren_store::mem::MemFs;
use warren_store::{Store, StoreConfig};

fn client(fs: &MemFs) -> Client {
    let (store, recovered) = Store::open_with(
        Arc::new(fs.clone()),
        Path::new("/d"),
        StoreConfig::default(),
    )
    .unwrap();
    let core = Core::build_durable(
        CoreConfig::default(),
        ExchangeRegistry::standard(),
        None,
        store,
        &recovered,
        1 << 20,
    );
    let mut c = Client::with_broker(core, Arc::new(FakeBroker::default()), AmqpConfig::default());
    c.connect();
    let d = queue::Declare {
        queue: s("q"),
        durable: true,
        ..Default::default()
    };
    c.send(&[method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(d)))]);
    c
}

fn persistent(body: &[u8]) -> Vec<AMQPFrame> {
    let props = basic::AMQPProperties::default().with_delivery_mode(2);
    publish_frames(1, "", "q", body, props, false)
}

/// Wakes the session until a frame `pick` accepts appears, collecting everything seen.
fn until(
    c: &mut Client,
    mut seen: Vec<AMQPFrame>,
    pick: impl Fn(&AMQPFrame) -> bool,
) -> Vec<AMQPFrame> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(&pick) {
        assert!(Instant::now() < deadline, "not seen in time: {seen:?}");
        std::thread::sleep(Duration::from_millis(1));
        seen.extend(c.wake());
    }
    seen
}

fn is_basic(f: &AMQPFrame, want: fn(&basic::AMQPMethod) -> bool) -> bool {
    matches!(f, AMQPFrame::Method(1, AMQPClass::Basic(m)) if want(m))
}

fn select_confirms(c: &mut Client) {
    let sel = confirm::Select { nowait: false };
    c.send(&[method(
        1,
        AMQPClass::Confirm(confirm::AMQPMethod::Select(sel)),
    )]);
}

#[test]
fn a_persistent_publish_is_acked_once_written() {
    let fs = MemFs::new();
    let mut c = client(&fs);
    select_confirms(&mut c);
    let seen = c.send(&persistent(b"kept"));
    let seen = until(&mut c, seen, |f| {
        is_basic(f, |m| matches!(m, basic::AMQPMethod::Ack(_)))
    });
    assert!(!seen
        .iter()
        .any(|f| is_basic(f, |m| matches!(m, basic::AMQPMethod::Nack(_)))));
}

#[test]
fn a_failed_fsync_nacks_instead_of_acking() {
    let fs = MemFs::new();
    let mut c = client(&fs);
    select_confirms(&mut c);
    fs.fail_syncs(true);
    let seen = c.send(&persistent(b"lost"));
    let seen = until(&mut c, seen, |f| {
        is_basic(f, |m| matches!(m, basic::AMQPMethod::Nack(_)))
    });
    assert!(
        !seen
            .iter()
            .any(|f| is_basic(f, |m| matches!(m, basic::AMQPMethod::Ack(_)))),
        "{seen:?}"
    );
}

#[test]
fn a_transaction_is_committed_only_once_written_and_never_after_a_failed_fsync() {
    let fs = MemFs::new();
    let mut c = client(&fs);
    let commit = || method(1, AMQPClass::Tx(tx::AMQPMethod::Commit(tx::Commit {})));
    let is_commit_ok = |f: &AMQPFrame| {
        matches!(
            f,
            AMQPFrame::Method(1, AMQPClass::Tx(tx::AMQPMethod::CommitOk(_)))
        )
    };
    c.send(&[method(
        1,
        AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})),
    )]);
    c.send(&persistent(b"one"));
    let seen = c.send(&[commit()]);
    until(&mut c, seen, is_commit_ok);
    fs.fail_syncs(true);
    c.send(&persistent(b"two"));
    let seen = c.send(&[commit()]);
    let seen = until(&mut c, seen, |f| is_channel_close(std::slice::from_ref(f)));
    assert!(!seen.iter().any(is_commit_ok), "{seen:?}");
    assert_eq!(close_code(&seen).map(|(code, _)| code), Some(541));
}
