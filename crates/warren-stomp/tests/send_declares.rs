//! A SEND to `/queue/x` declares the queue once per connection (as RabbitMQ's STOMP adapter
//! does): later plain SENDs skip the declaration, so a queue deleted meanwhile is not made
//! again; a SEND with queue-shaping headers always declares.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use warren_core::{Core, CoreConfig};
use warren_model::{
    Broker, ConnectionId, FieldTable, PeerInfo, QueueName, QueueSpec, Session, SessionFactory,
    VHost, Wake,
};
use warren_stomp::{StompConfig, StompSessionFactory};

struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

fn send(session: &mut Box<dyn Session>, frame: &str) -> String {
    let mut input = BytesMut::from(frame.as_bytes());
    let mut out = BytesMut::new();
    session.on_input(&mut input, &mut out, Instant::now());
    String::from_utf8_lossy(&out).into_owned()
}

fn count(vhost: &Arc<dyn VHost>, queue: &str) -> Option<u32> {
    let spec = QueueSpec {
        name: Some(QueueName::try_from(queue).unwrap()),
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    let ok = vhost.declare_queue(spec, true, ConnectionId(0)).ok()?;
    Some(ok.message_count)
}

#[test]
fn a_queue_is_declared_by_the_first_send_only() {
    let core = Core::new(CoreConfig::default());
    let broker: Arc<dyn Broker> = core.clone();
    let factory = StompSessionFactory::new(broker, StompConfig::default());
    let peer = PeerInfo::new(
        "127.0.0.1:5000".parse().unwrap(),
        "127.0.0.1:61613".parse().unwrap(),
    );
    let mut s = factory.new_session(peer, Arc::new(NoWake));
    let connected = send(&mut s, "CONNECT\naccept-version:1.2\nhost:/\n\n\0");
    assert!(connected.starts_with("CONNECTED"), "{connected}");
    let vhost = core
        .vhost_by_name(&warren_model::VHostName::try_from("/").unwrap())
        .unwrap();
    send(&mut s, "SEND\ndestination:/queue/once\n\none\0");
    send(&mut s, "SEND\ndestination:/queue/once\n\ntwo\0");
    assert_eq!(count(&vhost, "once"), Some(2));
    let name = QueueName::try_from("once").unwrap();
    vhost
        .delete_queue(&name, false, false, ConnectionId(0))
        .unwrap();
    let out = send(&mut s, "SEND\ndestination:/queue/once\n\nlost\0");
    assert!(out.is_empty(), "unroutable, dropped without error: {out}");
    assert_eq!(count(&vhost, "once"), None, "not declared again");
    send(
        &mut s,
        "SEND\ndestination:/queue/once\nx-max-length:5\n\nshaped\0",
    );
    assert_eq!(count(&vhost, "once"), Some(1), "shaping headers declare");
}
