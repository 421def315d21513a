use super::*;
use crate::ids::SegmentId;

fn loc(segment: u32, offset: u32) -> Location {
    Location {
        segment: SegmentId(segment),
        offset,
        len: 10,
    }
}

fn index_with(segments: &[u32]) -> Index {
    let mut index = Index::default();
    for s in segments {
        index.add_segment(*s, 100);
    }
    index
}

fn one(q: u64) -> QueueSet {
    QueueSet::from_ids([QueueId(q)].into_iter()).unwrap()
}

#[test]
fn a_segment_with_a_live_message_is_kept() {
    let mut index = index_with(&[1, 2]);
    index.add_message(MessageId(1), loc(1, 28), one(5), 1);
    assert_eq!(index.deletable(3, 10), vec![2]);
}

#[test]
fn an_ack_in_a_later_segment_pins_it_until_the_message_segment_goes() {
    let mut index = index_with(&[1, 2, 3]);
    index.add_message(MessageId(1), loc(1, 28), one(5), 1);
    index.add_message(MessageId(2), loc(1, 38), one(5), 2);
    index.ack(QueueId(5), MessageId(1), 2, 3);
    // Segment 1 still holds message 2, so segment 2 (whose ack cancels message 1) must stay.
    assert_eq!(index.deletable(3, 10), Vec::<u32>::new());
    index.ack(QueueId(5), MessageId(2), 2, 4);
    assert_eq!(index.deletable(3, 10), vec![1]);
    index.remove_segment(1);
    assert_eq!(index.deletable(3, 10), vec![2]);
}

#[test]
fn a_dead_segment_waits_until_the_killing_record_is_durable() {
    let mut index = index_with(&[1, 2]);
    index.add_message(MessageId(1), loc(1, 28), one(5), 1);
    index.ack(QueueId(5), MessageId(1), 2, 7);
    assert_eq!(index.deletable(3, 6), Vec::<u32>::new());
    assert_eq!(index.deletable(3, 7), vec![1]);
}

#[test]
fn a_message_in_two_queues_lives_until_both_ack() {
    let mut index = index_with(&[1, 2]);
    let both = QueueSet::from_ids([QueueId(1), QueueId(2)].into_iter()).unwrap();
    index.add_message(MessageId(1), loc(1, 28), both, 1);
    index.ack(QueueId(1), MessageId(1), 1, 2);
    assert!(index.check_held(QueueId(1), MessageId(1)).is_err());
    assert!(index.check_held(QueueId(2), MessageId(1)).is_ok());
    index.ack(QueueId(2), MessageId(1), 1, 3);
    assert_eq!(index.messages.len(), 0);
}

#[test]
fn a_superseded_meta_value_pins_the_newer_segment() {
    let mut index = index_with(&[1, 2, 3]);
    let key = || (Keyspace(1), Box::from(&b"k"[..]));
    index.meta_put(key(), loc(1, 28), 1);
    index.add_message(MessageId(1), loc(1, 38), one(5), 2);
    index.meta_put(key(), loc(2, 28), 3);
    index.meta_delete(Keyspace(1), b"k", 2, 4);
    // Segment 2 holds the delete that hides segment 1's put; segment 1 is still live.
    assert_eq!(index.deletable(3, 10), Vec::<u32>::new());
    index.ack(QueueId(5), MessageId(1), 2, 5);
    assert_eq!(index.deletable(3, 10), vec![1]);
}

#[test]
fn drop_queue_drops_only_older_messages_of_that_queue() {
    let mut index = index_with(&[1]);
    index.add_message(MessageId(1), loc(1, 28), one(5), 1);
    index.add_message(MessageId(2), loc(1, 38), one(6), 2);
    index.add_message(MessageId(3), loc(1, 48), one(5), 3);
    assert_eq!(index.drop_queue(QueueId(5), MessageId(3), 1, 4), 1);
    assert_eq!(index.messages.len(), 2);
}

#[test]
fn sparse_unpinned_segments_are_compaction_candidates() {
    let mut index = index_with(&[1, 2]);
    index.add_message(MessageId(1), loc(1, 28), one(5), 1);
    assert_eq!(index.compact_candidates(2, 0.5, None), vec![1]);
    assert_eq!(index.compact_candidates(2, 0.05, None), Vec::<u32>::new());
}

#[test]
fn a_segment_losing_messages_just_now_is_left_to_drain() {
    let mut index = index_with(&[1, 2]);
    index.add_message(MessageId(1), loc(1, 28), one(5), 1);
    index.add_message(MessageId(2), loc(1, 38), one(5), 2);
    let before_ack = std::time::Instant::now();
    index.ack(QueueId(5), MessageId(1), 2, 3);
    assert_eq!(
        index.compact_candidates(2, 0.5, Some(before_ack)),
        Vec::<u32>::new()
    );
    let later = std::time::Instant::now();
    assert_eq!(index.compact_candidates(2, 0.5, Some(later)), vec![1]);
    assert_eq!(index.compact_candidates(2, 0.5, None), vec![1]);
}
