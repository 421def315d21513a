//! Random publish/ack/compact/crash sequences on the crash-modelling file system: after every
//! crash the store must recover every pair whose publish was durable and whose ack was not
//! issued, and none whose ack was durable.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{body, pairs, small, Env};
use proptest::prelude::*;
use warren_store::mem::MemFs;
use warren_store::{MessageId, QueueId, Store, Ticket};

#[derive(Clone, Debug)]
enum Op {
    Publish(u8),
    Ack(usize),
    Deliver(usize),
    Sync,
    Compact,
    Crash(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..8).prop_map(Op::Publish),
        5 => any::<usize>().prop_map(Op::Ack),
        1 => any::<usize>().prop_map(Op::Deliver),
        1 => Just(Op::Sync),
        1 => Just(Op::Compact),
        1 => any::<u64>().prop_map(Op::Crash),
    ]
}

/// What the test knows about one (queue, message) pair.
struct Pair {
    published: Ticket,
    acked: Option<Ticket>,
}

struct Model {
    pairs: BTreeMap<(QueueId, MessageId), Pair>,
    bodies: BTreeMap<MessageId, Vec<u8>>,
}

impl Model {
    fn unacked(&self) -> Vec<(QueueId, MessageId)> {
        self.pairs
            .iter()
            .filter(|(_, p)| p.acked.is_none())
            .map(|(k, _)| *k)
            .collect()
    }

    /// Checks a recovery against what was durable before the crash, then adopts it.
    fn check(
        &mut self,
        must: &BTreeSet<(QueueId, MessageId)>,
        gone: &BTreeSet<(QueueId, MessageId)>,
        got: &BTreeSet<(QueueId, MessageId)>,
        store: &Store,
    ) {
        for pair in must {
            assert!(got.contains(pair), "durable unacked {pair:?} was lost");
        }
        for pair in got {
            assert!(!gone.contains(pair), "durably acked {pair:?} came back");
            assert!(
                self.pairs.contains_key(pair),
                "{pair:?} was never published"
            );
            assert_eq!(store.read(pair.1).unwrap().body, self.bodies[&pair.1]);
        }
        self.pairs.retain(|k, _| got.contains(k));
        for pair in self.pairs.values_mut() {
            pair.acked = None;
        }
    }
}

fn run(ops: Vec<Op>) {
    let mut fs = MemFs::new();
    let mut env = Env::mem(fs.clone());
    let config = small(512);
    let (mut store, _) = env.open(config.clone());
    let mut model = Model {
        pairs: BTreeMap::new(),
        bodies: BTreeMap::new(),
    };
    let mut n = 0u64;
    for op in ops {
        match op {
            Op::Publish(mask) => {
                let queues: Vec<QueueId> = (0..3)
                    .filter(|b| mask & (1 << b) != 0)
                    .map(|b| QueueId(b + 1))
                    .collect();
                n += 1;
                let (id, ticket) = store.publish(&queues, b"p", &body(n)).unwrap();
                model.bodies.insert(id, body(n));
                for q in queues {
                    model.pairs.insert(
                        (q, id),
                        Pair {
                            published: ticket.clone(),
                            acked: None,
                        },
                    );
                }
            }
            Op::Ack(pick) => {
                let open = model.unacked();
                if let Some(pair) = open.get(pick % open.len().max(1)) {
                    let ticket = store.ack(pair.0, pair.1).unwrap();
                    model.pairs.get_mut(pair).unwrap().acked = Some(ticket);
                }
            }
            Op::Deliver(pick) => {
                let open = model.unacked();
                if let Some(pair) = open.get(pick % open.len().max(1)) {
                    store.mark_delivered(pair.0, pair.1).unwrap();
                }
            }
            Op::Sync => store.sync().unwrap(),
            Op::Compact => {
                store.compact().unwrap();
            }
            Op::Crash(seed) => {
                let must: BTreeSet<_> = model
                    .pairs
                    .iter()
                    .filter(|(_, p)| p.acked.is_none() && p.published.is_durable())
                    .map(|(k, _)| *k)
                    .collect();
                let gone: BTreeSet<_> = model
                    .pairs
                    .iter()
                    .filter(|(_, p)| p.acked.as_ref().is_some_and(Ticket::is_durable))
                    .map(|(k, _)| *k)
                    .collect();
                let mut rng = seed;
                fs = fs.crash(&mut |unsynced| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (rng >> 33) as usize % (unsynced + 1)
                });
                drop(store);
                env = Env::mem(fs.clone());
                let (s, rec) = env.open(config.clone());
                store = s;
                let got = pairs(&rec);
                model.check(&must, &gone, &got, &store);
                // Recovered pairs are durable now: their publish tickets may be replaced.
                let (_, fresh) = store.publish(&[], b"", b"").unwrap();
                fresh.wait().unwrap();
                for p in model.pairs.values_mut() {
                    p.published = fresh.clone();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn crashes_keep_exactly_the_durable_state(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops);
    }
}

#[test]
fn a_long_run_with_many_crashes() {
    let mut ops = Vec::new();
    for i in 0..3000u64 {
        ops.push(match i % 11 {
            0..=4 => Op::Publish((i % 7 + 1) as u8),
            5..=8 => Op::Ack((i * 31) as usize),
            9 if i % 4 == 1 => Op::Compact,
            9 => Op::Deliver(i as usize),
            _ if i % 200 == 10 => Op::Crash(i),
            _ => Op::Sync,
        });
    }
    run(ops);
}
