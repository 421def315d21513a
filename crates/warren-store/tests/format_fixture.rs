//! The first on-disk format stays readable: a store written by format v1 is committed under
//! `tests/fixtures/v1` and must load with the same content. Regenerate (only when the fixture
//! itself must change, never to hide a format change) with
//! `cargo test -p warren-store --test format_fixture -- --ignored`.

mod common;

use std::path::{Path, PathBuf};

use common::Env;
use warren_store::mem::MemFs;
use warren_store::{Keyspace, MessageId, QueueId, Store, StoreConfig};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// Loads the committed files into an in-memory file system, so the test never writes them.
fn load_fixture() -> Env {
    let fs = MemFs::new();
    let mut names: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "fixture missing");
    for path in names {
        fs.put_file(
            &Path::new("/data").join(path.file_name().unwrap()),
            std::fs::read(&path).unwrap(),
        );
    }
    Env::mem(fs)
}

#[test]
fn format_v1_fixture_loads() {
    let env = load_fixture();
    let (store, rec) = env.open(StoreConfig::default());
    assert!(rec.report.clean_shutdown);
    assert!(rec.report.cut.is_empty());
    let q1: Vec<(u64, bool)> = rec.queues[&QueueId(1)]
        .iter()
        .map(|m| (m.id.0, m.redelivered))
        .collect();
    assert_eq!(q1, vec![(2, true), (3, false)]);
    let q2: Vec<u64> = rec.queues[&QueueId(2)].iter().map(|m| m.id.0).collect();
    assert_eq!(q2, vec![3]);
    let m3 = store.read(MessageId(3)).unwrap();
    assert_eq!(
        (&m3.properties[..], &m3.body[..]),
        (&b"content-type=text/plain"[..], &b"hello, both queues"[..])
    );
    assert_eq!(rec.metadata.len(), 2);
    assert_eq!(
        &rec.metadata[&(Keyspace(1), b"vhost:/".to_vec())][..],
        b"{}"
    );
    assert_eq!(
        &rec.metadata[&(Keyspace(2), b"queue:/:orders".to_vec())][..],
        b"durable=true"
    );
    let (next, _) = store.publish(&[QueueId(1)], b"", b"new").unwrap();
    assert!(next.0 > 4, "ids continue after the fixture's");
}

#[test]
#[ignore = "writes the committed fixture"]
fn write_format_v1_fixture() {
    let dir = fixture_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let config = StoreConfig {
        background_compaction: false,
        ..StoreConfig::default()
    };
    let (store, _) = Store::open(&dir, config).unwrap();
    let (m1, _) = store.publish(&[QueueId(1)], b"", b"acked").unwrap();
    let (m2, _) = store.publish(&[QueueId(1)], b"", b"delivered").unwrap();
    let (m3, _) = store
        .publish(
            &[QueueId(1), QueueId(2)],
            b"content-type=text/plain",
            b"hello, both queues",
        )
        .unwrap();
    let (m4, _) = store.publish(&[QueueId(3)], b"", b"purged").unwrap();
    assert_eq!((m1.0, m2.0, m3.0, m4.0), (1, 2, 3, 4));
    store.ack(QueueId(1), m1).unwrap();
    store.mark_delivered(QueueId(1), m2).unwrap();
    store.drop_queue(QueueId(3)).unwrap();
    store.put_meta(Keyspace(1), b"vhost:/", b"{}").unwrap();
    store
        .put_meta(Keyspace(2), b"queue:/:orders", b"durable=false")
        .unwrap();
    store
        .put_meta(Keyspace(2), b"queue:/:orders", b"durable=true")
        .unwrap();
    store.put_meta(Keyspace(2), b"queue:/:gone", b"x").unwrap();
    store.delete_meta(Keyspace(2), b"queue:/:gone").unwrap();
    store.close().unwrap();
}
