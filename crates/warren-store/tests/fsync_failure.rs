//! A failed fsync or write poisons the store: nothing pending or later is confirmed.

mod common;

use std::sync::mpsc;

use common::{body, Env};
use warren_store::mem::MemFs;
use warren_store::{QueueId, StoreConfig, StoreError};

const Q: QueueId = QueueId(1);

#[test]
fn a_failed_fsync_fails_every_pending_and_later_ticket() {
    let fs = MemFs::new();
    let env = Env::mem(fs.clone());
    let (store, _) = env.open(StoreConfig::default());
    let (before, ticket) = store.publish(&[Q], b"", &body(0)).unwrap();
    ticket.wait().unwrap();
    fs.fail_syncs(true);
    let (tx, rx) = mpsc::channel();
    let (_, pending) = store.publish(&[Q], b"", &body(1)).unwrap();
    pending.clone().on_durable(move |r| tx.send(r).unwrap());
    assert!(matches!(pending.wait(), Err(StoreError::Poisoned(_))));
    assert!(matches!(rx.recv().unwrap(), Err(StoreError::Poisoned(_))));
    assert!(!pending.is_durable());
    fs.fail_syncs(false);
    assert!(matches!(
        store.publish(&[Q], b"", b"later"),
        Err(StoreError::Poisoned(_))
    ));
    assert!(matches!(store.ack(Q, before), Err(StoreError::Poisoned(_))));
    assert!(store.stats().poisoned.is_some());
    let (tx, rx) = mpsc::channel();
    pending.on_durable(move |r| tx.send(r).unwrap());
    assert!(
        rx.recv().unwrap().is_err(),
        "a callback registered after the poison fails at once"
    );
    assert!(store.close().is_err());
    let (_store, rec) = env.open(StoreConfig::default());
    assert!(
        rec.queues[&Q].iter().any(|m| m.id == before),
        "what was confirmed survives"
    );
}

#[test]
fn a_failed_write_poisons_the_store() {
    let fs = MemFs::new();
    let env = Env::mem(fs.clone());
    let (store, _) = env.open(StoreConfig::default());
    fs.fail_writes(true);
    let (_, ticket) = store.publish(&[Q], b"", b"disk full").unwrap();
    assert!(matches!(ticket.wait(), Err(StoreError::Poisoned(msg)) if msg.contains("write")));
    assert!(store
        .put_meta(warren_store::Keyspace(1), b"k", b"v")
        .is_err());
}
