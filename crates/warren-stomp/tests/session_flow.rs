//! Flow control without sockets: a session whose client does not read stops taking deliveries
//! at `max_outbox_bytes` and stops reading input, and resumes when the driver has drained.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use warren_core::{Core, CoreConfig};
use warren_model::{
    Annotations, Broker, ExchangeName, Message, PeerInfo, Properties, RoutingKey, SessionFactory,
    Wake,
};
use warren_stomp::{StompConfig, StompSessionFactory};

#[derive(Default)]
struct CountingWake(AtomicUsize);

impl Wake for CountingWake {
    fn wake(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn message(queue: &str, body: usize) -> Arc<Message> {
    Arc::new(Message {
        annotations: Annotations {
            exchange: ExchangeName::default_exchange(),
            routing_key: RoutingKey::try_from(queue).unwrap(),
            publisher: None,
        },
        properties: Properties::default(),
        body: Bytes::from(vec![b'x'; body]),
    })
}

fn count_messages(out: &[u8]) -> usize {
    out.windows(8).filter(|w| w == b"MESSAGE\n").count()
}

#[test]
fn a_full_outbox_holds_deliveries_and_input_until_drained() {
    let core = Core::new(CoreConfig::default());
    let broker: Arc<dyn Broker> = core.clone();
    let config = StompConfig {
        max_outbox_bytes: 8 * 1024,
        ..StompConfig::default()
    };
    let factory = StompSessionFactory::new(broker, config);
    let waker = Arc::new(CountingWake::default());
    let peer = PeerInfo::new(
        "127.0.0.1:5000".parse().unwrap(),
        "127.0.0.1:61613".parse().unwrap(),
    );
    let mut s = factory.new_session(peer, waker.clone());
    let now = Instant::now();
    let mut inp = BytesMut::from(
        &b"CONNECT\naccept-version:1.2\nhost:/\n\n\0SUBSCRIBE\nid:s\ndestination:/queue/flow\n\n\0"
            [..],
    );
    let mut out = BytesMut::new();
    s.on_input(&mut inp, &mut out, now);
    out.clear();
    let vhost = core
        .vhost_by_name(&warren_model::VHostName::try_from("/").unwrap())
        .unwrap();
    for _ in 0..100 {
        vhost
            .publish(&ExchangeName::default_exchange(), message("flow", 3000))
            .unwrap();
    }
    assert!(waker.0.load(Ordering::Relaxed) > 0, "the session was woken");
    s.on_wake(&mut out, now);
    let first = count_messages(&out);
    assert!(
        first > 0 && first < 30,
        "{first} messages before backpressure"
    );
    assert!(!s.wants_input(), "a full outbox stops reading");
    // The driver writes everything out, then tells the session.
    let mut total = first;
    for _ in 0..100 {
        if total == 100 {
            break;
        }
        out.clear();
        s.on_drained();
        s.on_wake(&mut out, now);
        total += count_messages(&out);
    }
    assert_eq!(total, 100, "every message arrives once the client reads");
    out.clear();
    s.on_drained();
    assert!(s.wants_input());
}
