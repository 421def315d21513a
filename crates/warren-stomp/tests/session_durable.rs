//! RECEIPTs of persistent SENDs against the real core on a store in the in-memory file system:
//! a persistent SEND into a durable queue gets its RECEIPT once written, and when the disk
//! refuses the write (a failed fsync, a full disk) the client gets an ERROR instead, never the
//! RECEIPT, and the connection closes.

use std::path::Path;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use warren_core::{Core, CoreConfig, ExchangeRegistry};
use warren_model::{PeerInfo, Session, SessionFactory, SessionStatus, Wake};
use warren_stomp::codec::{Codec, Limits};
use warren_stomp::{Command, Frame, StompConfig, StompSessionFactory, Version};
use warren_store::mem::MemFs;
use warren_store::{Store, StoreConfig};

const DEADLINE: Duration = Duration::from_secs(10);

/// Tells the test when the core has something for the session.
struct ChannelWake(Mutex<Sender<()>>);

impl Wake for ChannelWake {
    fn wake(&self) {
        let _ = self.0.lock().unwrap_or_else(|e| e.into_inner()).send(());
    }
}

struct Client {
    session: Box<dyn Session>,
    wakes: Receiver<()>,
    out: BytesMut,
    reader: Codec,
    status: SessionStatus,
}

impl Client {
    /// A session on a durable core whose store lives in `fs`, connected in 1.2.
    fn connect(fs: &MemFs) -> Self {
        let (store, recovered) = Store::open_with(
            Arc::new(fs.clone()),
            Path::new("/d"),
            StoreConfig::default(),
        )
        .unwrap();
        let core = Core::build_durable(
            CoreConfig::default(),
            ExchangeRegistry::standard(),
            None,
            store,
            &recovered,
            1 << 20,
        );
        let factory = StompSessionFactory::new(core, StompConfig::default());
        let (tx, wakes) = channel();
        let peer = PeerInfo::new(
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:61613".parse().unwrap(),
        );
        let session = factory.new_session(peer, Arc::new(ChannelWake(Mutex::new(tx))));
        let mut reader = Codec::new(Limits::default());
        reader.set_version(Version::V1_2);
        let mut c = Self {
            session,
            wakes,
            out: BytesMut::new(),
            reader,
            status: SessionStatus::Continue,
        };
        c.input("CONNECT\naccept-version:1.2\nhost:/\n\n\0");
        let connected = c.next_frame();
        assert_eq!(connected.command, Command::Connected, "{connected:?}");
        c
    }

    fn input(&mut self, bytes: &str) {
        let mut input = BytesMut::from(bytes.as_bytes());
        self.status = self
            .session
            .on_input(&mut input, &mut self.out, Instant::now());
    }

    /// The next frame the session writes, waking it whenever the core says so.
    fn next_frame(&mut self) -> Frame {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(frame) = self
                .reader
                .decode(&mut self.out)
                .expect("a well-formed frame")
            {
                return frame;
            }
            assert_eq!(
                self.status,
                SessionStatus::Continue,
                "closed without a frame"
            );
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                self.wakes.recv_timeout(left).is_ok(),
                "no frame within {DEADLINE:?}"
            );
            self.status = self.session.on_wake(&mut self.out, Instant::now());
        }
    }
}

fn persistent_send(receipt: &str, body: &str) -> String {
    format!("SEND\ndestination:/queue/q\npersistent:true\nreceipt:{receipt}\n\n{body}\0")
}

#[test]
fn a_persistent_send_gets_its_receipt_once_written() {
    let fs = MemFs::new();
    let mut c = Client::connect(&fs);
    c.input(&persistent_send("r1", "kept"));
    let receipt = c.next_frame();
    assert_eq!(receipt.command, Command::Receipt, "{receipt:?}");
    assert_eq!(receipt.get("receipt-id"), Some("r1"));
    assert_eq!(c.status, SessionStatus::Continue);
}

#[test]
fn a_persistent_send_the_disk_refuses_gets_an_error_instead_of_its_receipt() {
    for what in ["failed fsync", "full disk"] {
        let fs = MemFs::new();
        let mut c = Client::connect(&fs);
        // The queue is declared and a first message stored before the disk goes bad.
        c.input(&persistent_send("r1", "kept"));
        assert_eq!(c.next_frame().get("receipt-id"), Some("r1"), "{what}");
        match what {
            "failed fsync" => fs.fail_syncs(true),
            _ => fs.fail_writes(true),
        }
        c.input(&persistent_send("r2", "lost"));
        let error = c.next_frame();
        assert_eq!(error.command, Command::Error, "{what}: {error:?}");
        assert_eq!(error.get("message"), Some("internal_error"), "{what}");
        let body = String::from_utf8_lossy(&error.body);
        assert!(body.contains("could not be stored"), "{what}: {body}");
        assert_eq!(
            c.status,
            SessionStatus::Close,
            "{what}: closed after the ERROR"
        );
        assert!(c.out.is_empty(), "{what}: nothing after the ERROR");
        c.session.on_close();
    }
}
