//! Recovery cuts a torn or corrupt tail at every byte of the last record, never panics, and
//! keeps every record before it.

mod common;

use std::path::Path;

use common::{body, small, Env};
use warren_store::format::HEADER_LEN;
use warren_store::mem::MemFs;
use warren_store::{MessageId, QueueId, StoreConfig};

const Q: QueueId = QueueId(1);

/// A log whose first segment holds four messages; returns the segment and where the last
/// record starts.
fn four_messages() -> (MemFs, String, Vec<u8>, usize) {
    let fs = MemFs::new();
    let env = Env::mem(fs.clone());
    let (store, _) = env.open(StoreConfig::default());
    let mut last = None;
    for n in 0..4 {
        let (id, ticket) = store.publish(&[Q], b"p", &body(n)).unwrap();
        ticket.wait().unwrap();
        last = Some(id);
    }
    let loc = store.location(last.unwrap()).unwrap();
    drop(store);
    let name = loc.segment.file_name();
    let bytes = fs.read_file(&env.dir.join(&name)).unwrap();
    assert_eq!(bytes.len(), loc.offset as usize + loc.len as usize);
    (fs, name, bytes, loc.offset as usize)
}

fn recover_from(name: &str, bytes: Vec<u8>) -> (Vec<MessageId>, usize) {
    let fs = MemFs::new();
    fs.put_file(&Path::new("/data").join(name), bytes);
    let env = Env::mem(fs);
    let (store, rec) = env.open(StoreConfig::default());
    let ids: Vec<MessageId> = rec
        .queues
        .get(&Q)
        .map(|b| b.iter().map(|m| m.id).collect())
        .unwrap_or_default();
    for id in &ids {
        store.read(*id).unwrap();
    }
    // The store keeps working after a cut.
    store
        .publish(&[Q], b"", b"after")
        .unwrap()
        .1
        .wait()
        .unwrap();
    (ids, rec.report.cut.len())
}

#[test]
fn a_tail_torn_at_any_byte_loses_only_the_last_record() {
    let (_fs, name, bytes, last) = four_messages();
    let (whole, cuts) = recover_from(&name, bytes.clone());
    assert_eq!((whole.len(), cuts), (4, 0));
    for len in last..bytes.len() {
        let (ids, cuts) = recover_from(&name, bytes[..len].to_vec());
        assert_eq!(ids, whole[..3], "torn at {len}");
        assert_eq!(cuts, usize::from(len > last), "torn at {len}");
    }
}

#[test]
fn a_corrupt_byte_anywhere_in_the_last_record_loses_only_that_record() {
    let (_fs, name, bytes, last) = four_messages();
    let (whole, _) = recover_from(&name, bytes.clone());
    for i in last..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x5a;
        let (ids, cuts) = recover_from(&name, bad);
        assert_eq!((ids.as_slice(), cuts), (&whole[..3], 1), "byte {i} damaged");
    }
}

#[test]
fn garbage_after_the_last_record_is_cut() {
    let (_fs, name, mut bytes, _) = four_messages();
    bytes.extend_from_slice(&[0xAB; 100]);
    let (ids, cuts) = recover_from(&name, bytes);
    assert_eq!((ids.len(), cuts), (4, 1));
}

#[test]
fn a_corrupt_sealed_segment_keeps_later_segments() {
    let fs = MemFs::new();
    let env = Env::mem(fs.clone());
    let (store, _) = env.open(small(1024));
    let ids: Vec<MessageId> = (0..100)
        .map(|n| store.publish(&[Q], b"", &body(n)).unwrap().0)
        .collect();
    store.close().unwrap();
    let names = fs.names(&env.dir);
    let victim = env.dir.join(&names[1]);
    let mut bytes = fs.read_file(&victim).unwrap();
    bytes[HEADER_LEN + 20] ^= 0xff;
    fs.write_file(&victim, bytes);
    let (_store, rec) = env.open(small(1024));
    let back: Vec<MessageId> = rec.queues[&Q].iter().map(|m| m.id).collect();
    assert_eq!(rec.report.cut.len(), 1);
    assert!(
        back.len() < ids.len() && back.len() > ids.len() / 2,
        "{} of {}",
        back.len(),
        ids.len()
    );
    assert_eq!(
        back.last(),
        ids.last(),
        "segments after the damage are still read"
    );
}

#[test]
fn a_segment_with_a_torn_header_is_removed() {
    let (_fs, name, bytes, _) = four_messages();
    let fs = MemFs::new();
    fs.put_file(&Path::new("/data").join(&name), bytes);
    fs.put_file(
        &Path::new("/data").join("0000000099.wseg"),
        vec![b'W', b'R'],
    );
    let (_store, rec) = Env::mem(fs.clone()).open(StoreConfig::default());
    assert_eq!(rec.queues[&Q].len(), 4);
    assert!(!fs
        .names(Path::new("/data"))
        .contains(&"0000000099.wseg".to_owned()));
}

#[test]
fn random_bytes_never_crash_recovery() {
    let mut seed = 0x1234_5678_u64;
    for round in 0..200 {
        let mut bytes =
            warren_store::format::encode_header(warren_store::SegmentId(1), MessageId(1)).to_vec();
        for _ in 0..(round * 7) {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            bytes.push((seed >> 56) as u8);
        }
        recover_from("0000000001.wseg", bytes);
    }
}
