//! Outbound QoS 1 and 2 messages awaiting their acknowledgement, by packet id.
//!
//! A QoS 2 message leaves its queue at PUBREC: from then on the client owns it, and what the
//! broker must remember (across a restart too, see `persist`) is only that its packet id
//! awaits PUBCOMP. Such an id still counts against the client's Receive Maximum (MQTT 5
//! section 4.9), so it keeps one credit of the session's pool held until PUBCOMP.
//!
//! Invariants: a packet id is in at most one of `entries` and `pubrel` (MQTT-2.2.1-3 of
//! 3.1.1: ids are unique among a session's unacknowledged packets); entries plus PUBREL ids
//! are bounded by the session's credit pool, because every entry holds one credit until it is
//! settled and every PUBREL id one held credit until PUBCOMP.

use std::collections::BTreeSet;
use std::sync::Arc;

use warren_model::{QueueHandle, QueueSeq, Settlement};

/// Where a delivery came from, to settle it.
#[derive(Clone)]
pub struct Origin {
    /// The queue.
    pub queue: Arc<dyn QueueHandle>,
    /// The message's position.
    pub seq: QueueSeq,
}

impl Origin {
    /// Settles the message in its queue.
    pub fn settle(&self, how: Settlement) {
        self.queue.settle(&[self.seq], how);
    }
}

/// What the client still owes us for a packet id (the acknowledgement awaited).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    /// QoS 1: PUBACK.
    Ack,
    /// QoS 2: PUBREC.
    Rec,
}

/// What a PUBREC meant.
pub enum Received {
    /// The first for a delivery: its origin, to settle; the id now awaits PUBCOMP.
    First(Origin),
    /// The id already awaits PUBCOMP (a repeated PUBREC).
    Again,
    /// No QoS 2 delivery has the id.
    Unknown,
}

/// One message in flight.
pub struct Pending {
    /// Its queue position.
    pub origin: Origin,
    /// Its stage.
    pub stage: Stage,
}

/// The session's outbound window, in slots indexed by packet id: the entry with id `id` is in
/// slot `id mod slots.len()` (a power of two). Ids are handed out in turn, skipping one whose
/// slot is taken, so a window's entries sit side by side and a PUBACK, which comes in order
/// (MQTT-4.6.0-2), finds its entry next to the last one's. A hash map spread them over its
/// buckets: the miss on each bucket was 4% of the broker's samples in QoS 1 fan-out. The
/// slots double while half of them are taken, or when an id given back by the client (a
/// resent message keeps its id) finds its slot taken; at 65,536 no two ids share a slot.
#[derive(Default)]
pub struct Inflight {
    next: u16,
    slots: Vec<Option<(u16, Pending)>>,
    taken: usize,
    /// PUBREL sent, PUBCOMP still due (the message is settled).
    pub pubrel: BTreeSet<u16>,
}

impl Inflight {
    /// `wanted` when free (a resent message keeps its id), else the next free id.
    pub fn allocate(&mut self, wanted: Option<u16>) -> Option<u16> {
        if let Some(id) = wanted.filter(|id| *id != 0 && !self.in_use(*id)) {
            return Some(id);
        }
        if self.taken * 2 >= self.slots.len() {
            self.grow();
        }
        // At most half the slots are taken: one of the next few ids has a free slot.
        let mut fallback = None;
        for _ in 0..=u16::MAX {
            self.next = self.next.wrapping_add(1).max(1);
            if self.in_use(self.next) {
                continue;
            }
            if self.slot_of(self.next).is_none() {
                return Some(self.next);
            }
            fallback.get_or_insert(self.next);
        }
        fallback
    }

    /// Whether packet id `id` is taken (awaiting an acknowledgement or a PUBCOMP).
    pub fn in_use(&self, id: u16) -> bool {
        self.slot_of(id).is_some_and(|(k, _)| *k == id) || self.pubrel.contains(&id)
    }

    /// Records a sent message.
    pub fn insert(&mut self, id: u16, pending: Pending) {
        // Grows until the id's slot is free or its own (at 65,536 slots it always is).
        while self.slots.is_empty() || self.slot_of(id).is_some_and(|(k, _)| *k != id) {
            self.grow();
        }
        let index = self.index(id);
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.replace((id, pending)).is_none() {
                self.taken += 1;
            }
        }
    }

    /// PUBACK: the settled origin, when `id` awaited one.
    pub fn acked(&mut self, id: u16) -> Option<Origin> {
        self.take_if(id, Stage::Ack)
    }

    /// PUBREC: a delivery awaiting one moves to the PUBREL ids.
    pub fn received(&mut self, id: u16) -> Received {
        if self.pubrel.contains(&id) {
            return Received::Again;
        }
        match self.take_if(id, Stage::Rec) {
            Some(origin) => {
                self.pubrel.insert(id);
                Received::First(origin)
            }
            None => Received::Unknown,
        }
    }

    /// PUBCOMP: true when `id` awaited one (it is free again).
    pub fn completed(&mut self, id: u16) -> bool {
        self.pubrel.remove(&id)
    }

    /// Everything in flight, by packet id, emptying the window.
    pub fn drain(&mut self) -> Vec<(u16, Pending)> {
        let mut all: Vec<(u16, Pending)> = std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect();
        self.taken = 0;
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }

    fn take_if(&mut self, id: u16, stage: Stage) -> Option<Origin> {
        let index = self.index(id);
        let slot = self.slots.get_mut(index)?;
        if !slot
            .as_ref()
            .is_some_and(|(k, p)| *k == id && p.stage == stage)
        {
            return None;
        }
        self.taken -= 1;
        slot.take().map(|(_, p)| p.origin)
    }

    fn index(&self, id: u16) -> usize {
        usize::from(id) & self.slots.len().saturating_sub(1)
    }

    fn slot_of(&self, id: u16) -> Option<&(u16, Pending)> {
        self.slots.get(self.index(id))?.as_ref()
    }

    /// Doubles the slots (at least 8), each entry moving to its slot in the new size.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).clamp(8, 1 << 16);
        if size == self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, (0..size).map(|_| None).collect());
        for (id, pending) in old.into_iter().flatten() {
            let index = self.index(id);
            if let Some(slot) = self.slots.get_mut(index) {
                *slot = Some((id, pending));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_model::QueueName;

    struct NoQueue(QueueName);

    impl QueueHandle for NoQueue {
        fn name(&self) -> &QueueName {
            &self.0
        }
        fn settle(&self, _: &[QueueSeq], _: Settlement) {}
        fn cancel(&self, _: warren_model::ConsumerId) {}
        fn kick(&self) {}
        fn message_count(&self) -> u32 {
            0
        }
    }

    fn pending(stage: Stage) -> Pending {
        let queue = QueueName::try_from("q").unwrap_or_else(|_| unreachable!());
        Pending {
            origin: Origin {
                queue: Arc::new(NoQueue(queue)),
                seq: QueueSeq(1),
            },
            stage,
        }
    }

    #[test]
    fn pubrec_hands_the_message_over_and_keeps_the_id_until_pubcomp() {
        let mut window = Inflight::default();
        window.insert(5, pending(Stage::Rec));
        window.insert(6, pending(Stage::Ack));
        assert!(window.acked(5).is_none(), "a QoS 2 id is not PUBACKed");
        assert!(matches!(window.received(6), Received::Unknown));
        assert!(matches!(window.received(5), Received::First(_)));
        assert!(matches!(window.received(5), Received::Again));
        assert!(window.pubrel.contains(&5) && window.in_use(5));
        assert_eq!(window.allocate(Some(5)), Some(1), "the id is still taken");
        assert!(window.completed(5));
        assert!(!window.completed(5), "a second PUBCOMP finds nothing");
        assert!(!window.in_use(5));
        assert_eq!(window.drain().len(), 1, "only the QoS 1 delivery is left");
    }

    #[test]
    fn a_window_takes_ids_in_turn_and_grows_when_half_full() {
        let mut window = Inflight::default();
        let ids: Vec<u16> = (0..100)
            .map(|_| {
                let id = window.allocate(None).unwrap();
                window.insert(id, pending(Stage::Ack));
                id
            })
            .collect();
        assert_eq!(ids, (1..=100).collect::<Vec<_>>());
        assert_eq!(window.slots.len(), 256);
        for id in 1..=100 {
            assert!(window.acked(id).is_some(), "{id}");
        }
        assert!(window.acked(1).is_none(), "a second PUBACK finds nothing");
        assert_eq!(window.taken, 0);
        // The ids go on from where they were; slots are reused.
        assert_eq!(window.allocate(None), Some(101));
        assert_eq!(window.slots.len(), 256);
    }

    #[test]
    fn a_resent_id_whose_slot_is_taken_grows_the_window() {
        let mut window = Inflight::default();
        window.insert(3, pending(Stage::Ack));
        assert_eq!(window.slots.len(), 8);
        assert_eq!(
            window.allocate(Some(3 + 8)),
            Some(11),
            "free, though its slot is not"
        );
        window.insert(11, pending(Stage::Ack));
        assert_eq!(window.slots.len(), 16);
        assert!(window.in_use(3) && window.in_use(11));
        // Ids that differ only in the top bit share a slot until the window is 65,536 long.
        window.insert(1, pending(Stage::Ack));
        window.insert(1 + 0x8000, pending(Stage::Rec));
        assert_eq!(window.slots.len(), 1 << 16);
        assert!(window.acked(1 + 0x8000).is_none(), "it awaits PUBREC");
        assert!(matches!(window.received(1 + 0x8000), Received::First(_)));
        let left: Vec<u16> = window.drain().into_iter().map(|(id, _)| id).collect();
        assert_eq!(left, [1, 3, 11]);
        assert!(window.slots.is_empty(), "drained, the slots are let go");
    }

    /// One step of a session's outbound traffic, for the model test below.
    #[derive(Clone, Debug)]
    enum Step {
        Send { wanted: Option<u16>, qos2: bool },
        Ack(u16),
        Rec(u16),
        Comp(u16),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        let id = prop_oneof![1u16..40, any::<u16>()];
        prop_oneof![
            4 => (proptest::option::of(id.clone()), any::<bool>())
                .prop_map(|(wanted, qos2)| Step::Send { wanted, qos2 }),
            3 => id.clone().prop_map(Step::Ack),
            1 => id.clone().prop_map(Step::Rec),
            1 => id.prop_map(Step::Comp),
        ]
    }

    proptest::proptest! {
        /// The window answers as a map from id to stage does, whatever the traffic.
        #[test]
        fn the_window_answers_as_a_map_of_ids_does(steps in proptest::collection::vec(step(), 0..400)) {
            use std::collections::BTreeMap;
            let mut window = Inflight::default();
            let mut entries: BTreeMap<u16, Stage> = BTreeMap::new();
            let mut pubrel: BTreeSet<u16> = BTreeSet::new();
            for step in steps {
                match step {
                    Step::Send { wanted, qos2 } => {
                        let id = window.allocate(wanted).unwrap();
                        assert!(id != 0 && !entries.contains_key(&id) && !pubrel.contains(&id));
                        if let Some(w) = wanted.filter(|w| *w != 0) {
                            let free = !entries.contains_key(&w) && !pubrel.contains(&w);
                            assert_eq!(id == w, free, "a free wanted id is given");
                        }
                        let stage = if qos2 { Stage::Rec } else { Stage::Ack };
                        window.insert(id, pending(stage));
                        entries.insert(id, stage);
                    }
                    Step::Ack(id) => {
                        let expected = entries.get(&id) == Some(&Stage::Ack);
                        assert_eq!(window.acked(id).is_some(), expected);
                        if expected {
                            entries.remove(&id);
                        }
                    }
                    Step::Rec(id) => {
                        let got = window.received(id);
                        if pubrel.contains(&id) {
                            assert!(matches!(got, Received::Again));
                        } else if entries.get(&id) == Some(&Stage::Rec) {
                            assert!(matches!(got, Received::First(_)));
                            entries.remove(&id);
                            pubrel.insert(id);
                        } else {
                            assert!(matches!(got, Received::Unknown));
                        }
                    }
                    Step::Comp(id) => assert_eq!(window.completed(id), pubrel.remove(&id)),
                }
                assert_eq!(window.taken, entries.len());
                assert!(window.slots.len() <= 1 << 16);
            }
            for id in (0..64).chain([u16::MAX, 0x8001]) {
                let expected = entries.contains_key(&id) || pubrel.contains(&id);
                assert_eq!(window.in_use(id), expected, "{id}");
            }
            let left: Vec<(u16, Stage)> =
                window.drain().into_iter().map(|(id, p)| (id, p.stage)).collect();
            assert_eq!(left, entries.into_iter().collect::<Vec<_>>());
        }
    }
}
