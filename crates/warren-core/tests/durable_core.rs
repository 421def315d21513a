//! The core on a store in the in-memory file system (power loss and fsync failure injected):
//! which publishes wait for the disk, that a failed fsync is never confirmed, and that after
//! power loss every confirmed message is back, flagged redelivered.

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use warren_core::{Core, CoreConfig, ExchangeRegistry};
use warren_model::{
    Annotations, ConnectionId, CoreError, DeliveryMode, ExchangeName, FieldTable, Message,
    Properties, PublishOutcome, QueueName, QueueSpec, RoutingKey, VHost, VHostName,
};
use warren_store::mem::MemFs;
use warren_store::{Store, StoreConfig};

const OWNER: ConnectionId = ConnectionId(1);

fn open(fs: &MemFs) -> Arc<Core> {
    let (store, recovered) = Store::open_with(
        Arc::new(fs.clone()),
        Path::new("/data"),
        StoreConfig::default(),
    )
    .expect("open store");
    let registry = ExchangeRegistry::standard();
    Core::build_durable(
        CoreConfig::default(),
        registry,
        None,
        store,
        &recovered,
        16 << 20,
    )
}

fn vhost(core: &Core) -> Arc<dyn VHost> {
    core.vhost_by_name(&VHostName::try_from("/").unwrap())
        .unwrap()
}

fn declare(v: &dyn VHost, name: &str, durable: bool) {
    let spec = QueueSpec {
        name: Some(QueueName::try_from(name).unwrap()),
        durable,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    v.declare_queue(spec, false, OWNER).unwrap();
}

fn message(queue: &str, body: &str, persistent: bool) -> Arc<Message> {
    Arc::new(Message {
        annotations: Annotations {
            exchange: ExchangeName::default_exchange(),
            routing_key: RoutingKey::try_from(queue).unwrap(),
            publisher: None,
        },
        properties: Properties {
            delivery_mode: persistent.then_some(DeliveryMode::Persistent),
            ..Properties::default()
        },
        body: Bytes::from(body.to_owned()),
    })
}

fn publish(v: &dyn VHost, queue: &str, body: &str, persistent: bool) -> PublishOutcome {
    v.publish(
        &ExchangeName::default_exchange(),
        message(queue, body, persistent),
    )
    .unwrap()
}

/// Waits for the outcome's write; `None` when there was none to wait for.
fn written(outcome: PublishOutcome) -> Option<Result<(), CoreError>> {
    let write = outcome.durable?;
    let (tx, rx) = mpsc::channel();
    write.on_durable(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    Some(
        rx.recv_timeout(Duration::from_secs(10))
            .expect("write completes"),
    )
}

#[test]
fn only_persistent_messages_in_durable_queues_wait_for_the_disk() {
    let fs = MemFs::new();
    let core = open(&fs);
    let v = vhost(&core);
    declare(&*v, "kept", true);
    declare(&*v, "mem", false);
    assert_eq!(written(publish(&*v, "kept", "p", true)), Some(Ok(())));
    assert_eq!(written(publish(&*v, "kept", "t", false)), None);
    assert_eq!(written(publish(&*v, "mem", "p", true)), None);
    core.close_store();
}

#[test]
fn a_failed_fsync_is_never_confirmed() {
    let fs = MemFs::new();
    let core = open(&fs);
    let v = vhost(&core);
    declare(&*v, "kept", true);
    assert_eq!(written(publish(&*v, "kept", "before", true)), Some(Ok(())));
    fs.fail_syncs(true);
    assert!(matches!(
        written(publish(&*v, "kept", "lost", true)),
        Some(Err(_))
    ));
    fs.fail_syncs(false);
    assert!(
        matches!(written(publish(&*v, "kept", "later", true)), Some(Err(_))),
        "a poisoned store confirms nothing more"
    );
}

#[test]
fn after_power_loss_every_confirmed_message_is_back_redelivered() {
    let fs = MemFs::new();
    let core = open(&fs);
    let v = vhost(&core);
    declare(&*v, "kept", true);
    for i in 0..20 {
        let body = format!("m{i}");
        assert_eq!(written(publish(&*v, "kept", &body, true)), Some(Ok(())));
    }
    // Take five with acks (settled below) and two without settling.
    let queue = QueueName::try_from("kept").unwrap();
    for _ in 0..5 {
        let (d, _) = v.get(&queue, false, OWNER).unwrap().unwrap();
        d.queue.settle(&[d.seq], warren_model::Settlement::Ack);
    }
    let _held = v.get(&queue, false, OWNER).unwrap().unwrap();
    // A later confirmed publish proves the acks before it are on disk.
    assert_eq!(written(publish(&*v, "kept", "fence", true)), Some(Ok(())));
    let rebooted = fs.crash(&mut |_| 0);
    drop((v, core));
    let core = open(&rebooted);
    let v = vhost(&core);
    let mut bodies = Vec::new();
    while let Some((d, _)) = v.get(&queue, true, OWNER).unwrap() {
        assert!(
            d.redelivered,
            "after a crash every recovered message is redelivered"
        );
        bodies.push(String::from_utf8(d.message.body.to_vec()).unwrap());
    }
    let mut want: Vec<String> = (5..20).map(|i| format!("m{i}")).collect();
    want.push("fence".into());
    assert_eq!(bodies, want);
}
