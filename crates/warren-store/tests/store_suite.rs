//! One behaviour suite, run against every file system the store runs on (real and in-memory).

mod common;

use common::{body, pairs, segment_files, small, Env};
use std::sync::mpsc;
use warren_store::mem::MemFs;
use warren_store::{Keyspace, MessageId, QueueId, ReadCache, StoreConfig, StoreError};

const Q1: QueueId = QueueId(1);
const Q2: QueueId = QueueId(2);

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod std_fs { $( #[test] fn $name() { super::$name(&super::Env::std()) } )* }
        mod mem_fs { $( #[test] fn $name() { super::$name(&super::Env::mem(super::MemFs::new())) } )* }
    };
}

suite!(
    unacked_messages_come_back_in_order_and_acked_ones_do_not,
    a_clean_close_keeps_delivered_flags_exact,
    an_unclean_stop_marks_every_recovered_message_redelivered,
    a_run_that_wrote_nothing_and_crashed_is_not_clean,
    a_message_in_two_queues_survives_until_both_ack,
    bodies_are_read_back_from_disk,
    cached_reads_in_order_match_single_reads,
    metadata_survives_with_last_write_wins,
    dropping_a_queue_drops_its_backlog_only,
    tickets_complete_by_wait_and_by_callback,
    bad_acks_are_refused,
    disk_use_follows_the_live_backlog,
    compaction_keeps_every_live_message,
    message_ids_are_never_reused,
);

fn unacked_messages_come_back_in_order_and_acked_ones_do_not(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    let ids: Vec<MessageId> = (0..10)
        .map(|n| store.publish(&[Q1], b"", &body(n)).unwrap().0)
        .collect();
    for id in ids.iter().step_by(2) {
        store.ack(Q1, *id).unwrap();
    }
    store.close().unwrap();
    let (_store, rec) = env.open(StoreConfig::default());
    let back: Vec<MessageId> = rec.queues[&Q1].iter().map(|m| m.id).collect();
    let want: Vec<MessageId> = ids.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(back, want);
    assert!(rec.report.clean_shutdown);
    assert_eq!(rec.report.messages, 5);
}

fn a_clean_close_keeps_delivered_flags_exact(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    let (a, _) = store.publish(&[Q1], b"", b"a").unwrap();
    let (b, _) = store.publish(&[Q1], b"", b"b").unwrap();
    store.mark_delivered(Q1, a).unwrap();
    store.close().unwrap();
    let (_store, rec) = env.open(StoreConfig::default());
    let flags: Vec<(MessageId, bool)> = rec.queues[&Q1]
        .iter()
        .map(|m| (m.id, m.redelivered))
        .collect();
    assert_eq!(flags, vec![(a, true), (b, false)]);
}

fn an_unclean_stop_marks_every_recovered_message_redelivered(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    store.publish(&[Q1], b"", b"a").unwrap();
    store.sync().unwrap();
    drop(store);
    let (_store, rec) = env.open(StoreConfig::default());
    assert!(!rec.report.clean_shutdown);
    assert!(rec.queues[&Q1].iter().all(|m| m.redelivered));
}

/// A run can deliver messages and crash before any delivery mark is written: its (empty)
/// segment after the previous run's shutdown record must still make the stop unclean.
fn a_run_that_wrote_nothing_and_crashed_is_not_clean(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    store.publish(&[Q1], b"", b"a").unwrap();
    store.close().unwrap();
    let (store, rec) = env.open(StoreConfig::default());
    assert!(rec.report.clean_shutdown);
    drop(store);
    let (_store, rec) = env.open(StoreConfig::default());
    assert!(!rec.report.clean_shutdown);
    assert!(rec.queues[&Q1].iter().all(|m| m.redelivered));
}

fn a_message_in_two_queues_survives_until_both_ack(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    let (id, _) = store.publish(&[Q1, Q2], b"", b"x").unwrap();
    store.ack(Q1, id).unwrap();
    store.close().unwrap();
    let (store, rec) = env.open(StoreConfig::default());
    assert!(!rec.queues.contains_key(&Q1));
    assert_eq!(rec.queues[&Q2].len(), 1);
    store.ack(Q2, id).unwrap();
    store.close().unwrap();
    let (_store, rec) = env.open(StoreConfig::default());
    assert!(rec.queues.is_empty());
}

fn bodies_are_read_back_from_disk(env: &Env) {
    let (store, _) = env.open(small(4096));
    let ids: Vec<MessageId> = (0..200)
        .map(|n| store.publish(&[Q1], b"props", &body(n)).unwrap().0)
        .collect();
    let back = store.read(ids[150]).unwrap();
    assert_eq!(
        (&back.properties[..], &back.body[..]),
        (&b"props"[..], &body(150)[..])
    );
    store.close().unwrap();
    let (store, rec) = env.open(small(4096));
    for (n, m) in rec.queues[&Q1].iter().enumerate() {
        assert_eq!(store.read(m.id).unwrap().body, body(n as u64));
    }
    assert!(matches!(
        store.read(MessageId(9999)),
        Err(StoreError::UnknownMessage(_))
    ));
}

fn cached_reads_in_order_match_single_reads(env: &Env) {
    // Small segments so the reads cross files; other queues' messages, a fan-out message and
    // acks sit between Q1's records.
    let (store, _) = env.open(small(16 * 1024));
    let mut mine = Vec::new();
    for n in 0..600u64 {
        let queues: &[QueueId] = match n % 7 {
            0 => &[Q2],
            3 => &[Q1, Q2],
            _ => &[Q1],
        };
        let (id, ticket) = store.publish(queues, b"p", &body(n)).unwrap();
        if n % 11 == 0 {
            ticket.wait().unwrap();
            store.ack(Q2, id).ok();
        }
        if queues.contains(&Q1) {
            mine.push((id, n));
        }
    }
    // Some reads wait for the writer: nothing was waited for since the last publishes.
    let mut cache = ReadCache::default();
    for (id, n) in &mine {
        let cached = store.read_cached(*id, &mut cache).unwrap();
        assert_eq!(cached, store.read(*id).unwrap());
        assert_eq!(cached.body, body(*n));
    }
    store.close().unwrap();
    let (store, rec) = env.open(small(16 * 1024));
    let mut cache = ReadCache::default();
    let back: Vec<bytes::Bytes> = rec.queues[&Q1]
        .iter()
        .map(|m| store.read_cached(m.id, &mut cache).unwrap().body)
        .collect();
    let expected: Vec<bytes::Bytes> = mine.iter().map(|(_, n)| body(*n).into()).collect();
    assert_eq!(back, expected);
}

fn metadata_survives_with_last_write_wins(env: &Env) {
    let ks = Keyspace(7);
    let (store, _) = env.open(small(1024));
    for round in 0..50u32 {
        store
            .put_meta(ks, b"queue/a", &round.to_le_bytes())
            .unwrap();
        store.put_meta(ks, b"queue/b", b"b").unwrap();
        store.delete_meta(ks, b"queue/b").unwrap();
    }
    store
        .put_meta(Keyspace(8), b"queue/a", b"other keyspace")
        .unwrap();
    store.close().unwrap();
    let (_store, rec) = env.open(small(1024));
    assert_eq!(rec.metadata.len(), 2);
    assert_eq!(
        &rec.metadata[&(ks, b"queue/a".to_vec())][..],
        &49u32.to_le_bytes()
    );
    assert_eq!(
        &rec.metadata[&(Keyspace(8), b"queue/a".to_vec())][..],
        b"other keyspace"
    );
}

fn dropping_a_queue_drops_its_backlog_only(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    for n in 0..5 {
        store.publish(&[Q1], b"", &body(n)).unwrap();
        store.publish(&[Q2], b"", &body(n)).unwrap();
    }
    store.drop_queue(Q1).unwrap();
    let (later, _) = store.publish(&[Q1], b"", b"after the purge").unwrap();
    store.close().unwrap();
    let (_store, rec) = env.open(StoreConfig::default());
    assert_eq!(
        rec.queues[&Q1].iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![later]
    );
    assert_eq!(rec.queues[&Q2].len(), 5);
}

fn tickets_complete_by_wait_and_by_callback(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    let (tx, rx) = mpsc::channel();
    for n in 0..100 {
        let (_, ticket) = store.publish(&[Q1], b"", &body(n)).unwrap();
        let tx = tx.clone();
        ticket.on_durable(move |r| tx.send(r).unwrap());
    }
    let (_, last) = store.publish(&[Q1], b"", b"last").unwrap();
    last.wait().unwrap();
    assert!(last.is_durable());
    let results: Vec<_> = (0..100).map(|_| rx.recv().unwrap()).collect();
    assert!(results.iter().all(Result::is_ok));
}

fn bad_acks_are_refused(env: &Env) {
    let (store, _) = env.open(StoreConfig::default());
    let (id, _) = store.publish(&[Q1], b"", b"x").unwrap();
    assert!(matches!(
        store.ack(Q2, id),
        Err(StoreError::NotEnqueued { .. })
    ));
    store.ack(Q1, id).unwrap();
    assert!(matches!(
        store.ack(Q1, id),
        Err(StoreError::NotEnqueued { .. })
    ));
    assert!(store.mark_delivered(Q1, id).is_err());
}

fn disk_use_follows_the_live_backlog(env: &Env) {
    let (store, _) = env.open(small(8 << 10));
    for round in 0..20 {
        let ids: Vec<MessageId> = (0..100)
            .map(|n| {
                store
                    .publish(&[Q1], b"", &[round as u8; 100][..n % 100 + 1])
                    .unwrap()
                    .0
            })
            .collect();
        for id in ids {
            store.ack(Q1, id).unwrap();
        }
    }
    store.sync().unwrap();
    store
        .publish(&[Q1], b"", b"roll")
        .unwrap()
        .1
        .wait()
        .unwrap();
    store.delete_dead_segments().unwrap();
    let stats = store.stats();
    assert!(
        stats.disk_bytes < 40 << 10,
        "{} bytes left for an empty backlog",
        stats.disk_bytes
    );
    assert!(
        segment_files(&env.dir, &*env.fs).len() <= 4,
        "{:?}",
        segment_files(&env.dir, &*env.fs)
    );
}

fn compaction_keeps_every_live_message(env: &Env) {
    let (store, _) = env.open(small(4 << 10));
    let mut keep = Vec::new();
    for n in 0..2000u64 {
        let (id, _) = store.publish(&[Q1, Q2], b"p", &body(n)).unwrap();
        if n % 97 == 0 {
            keep.push(id);
            store.ack(Q2, id).unwrap();
            store.mark_delivered(Q1, id).unwrap();
        } else {
            store.ack(Q1, id).unwrap();
            store.ack(Q2, id).unwrap();
        }
    }
    store.sync().unwrap();
    let before = store.stats().disk_bytes;
    let report = store.compact().unwrap();
    store.delete_dead_segments().unwrap();
    let after = store.stats().disk_bytes;
    assert!(
        report.segments > 0 && after < before / 4,
        "{before} -> {after} after {report:?}"
    );
    for id in &keep {
        assert!(store.read(*id).is_ok());
    }
    store.close().unwrap();
    let (_store, rec) = env.open(small(4 << 10));
    assert_eq!(
        rec.queues[&Q1].iter().map(|m| m.id).collect::<Vec<_>>(),
        keep
    );
    assert!(rec.queues[&Q1].iter().all(|m| m.redelivered));
    assert!(!rec.queues.contains_key(&Q2));
    assert_eq!(pairs(&rec).len(), keep.len());
}

fn message_ids_are_never_reused(env: &Env) {
    let (store, _) = env.open(small(1024));
    let mut last = MessageId(0);
    for n in 0..100 {
        let (id, _) = store.publish(&[Q1], b"", &body(n)).unwrap();
        store.ack(Q1, id).unwrap();
        last = id;
    }
    store.close().unwrap();
    let (store, rec) = env.open(small(1024));
    assert!(rec.queues.is_empty());
    let (id, _) = store.publish(&[Q1], b"", b"new").unwrap();
    assert!(id > last, "{id:?} after {last:?}");
}
