//! Test support: an in-process broker on port 0 that stops when dropped, and polling helpers
//! so tests wait for conditions with a deadline instead of sleeping.

mod certs;

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use warren_server::RunningServer;

/// The broker configuration, for [`TestBroker::start_with`].
pub use certs::TestCerts;
pub use warren_server::Config;

/// A broker running on its own runtime thread, listening on loopback port 0.
pub struct TestBroker {
    listening: Vec<(&'static str, SocketAddr)>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _data_dir: Option<TempDir>,
    gate: std::sync::Arc<warren_model::PublishGate>,
}

/// A data directory that outlives the brokers started on it (with [`TestBroker::start_in`]),
/// so a test can stop a broker and start another on the same state. Removed on drop.
pub struct DataDir(TempDir);

impl DataDir {
    /// A fresh, empty directory under the temporary directory.
    pub fn new() -> Self {
        Self(TempDir::new())
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0 .0
    }
}

impl Default for DataDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBroker {
    /// Starts a broker with the default configuration on loopback port 0.
    pub fn start() -> Self {
        Self::start_with(Config::default())
    }

    /// Starts a broker with `config`, its listeners moved to loopback port 0.
    pub fn start_with(mut config: Config) -> Self {
        let data_dir = TempDir::new();
        config.data_dir = data_dir.0.clone();
        Self::run(config, Some(data_dir))
    }

    /// Starts a broker with `config` on `dir`, which it leaves in place when stopped.
    pub fn start_in(mut config: Config, dir: &DataDir) -> Self {
        config.data_dir = dir.path().to_path_buf();
        Self::run(config, None)
    }

    fn run(mut config: Config, data_dir: Option<TempDir>) -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        // A plain listener the test turned off stays off.
        for plain in [
            &mut config.listeners.amqp,
            &mut config.listeners.mqtt,
            &mut config.listeners.stomp,
        ] {
            if plain.address().is_some() {
                *plain = loopback.into();
            }
        }
        // The TLS and WebSocket listeners stay off unless the test turned them on.
        config.listeners.amqps.address = loopback;
        config.listeners.mqtts.address = loopback;
        config.listeners.stomps.address = loopback;
        config.listeners.ws.address = loopback;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::spawn(move || run_broker(&config, ready_tx, stop_rx));
        let (listening, gate) = ready_rx
            .recv()
            .expect("broker thread died before it was ready");
        Self {
            listening,
            stop: Some(stop_tx),
            thread: Some(thread),
            gate,
            _data_dir: data_dir,
        }
    }

    /// The address of `protocol`'s listener ("amqp", "mqtt", ...).
    ///
    /// # Panics
    /// If the broker runs no such listener.
    pub fn addr(&self, protocol: &str) -> SocketAddr {
        self.listening
            .iter()
            .find(|(name, _)| *name == protocol)
            .map(|(_, addr)| *addr)
            .unwrap_or_else(|| panic!("the test broker has no {protocol} listener"))
    }

    /// The protocols the broker listens for ("amqp", "amqps", "ws", ...).
    pub fn protocols(&self) -> Vec<&'static str> {
        self.listening.iter().map(|(name, _)| *name).collect()
    }

    /// The AMQP listener's address.
    pub fn amqp_addr(&self) -> SocketAddr {
        self.addr("amqp")
    }

    /// The MQTT listener's address.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.addr("mqtt")
    }

    /// The STOMP listener's address.
    pub fn stomp_addr(&self) -> SocketAddr {
        self.addr("stomp")
    }

    /// The AMQPS listener's address (the test must have enabled it).
    pub fn amqps_addr(&self) -> SocketAddr {
        self.addr("amqps")
    }

    /// The MQTTS listener's address (the test must have enabled it).
    pub fn mqtts_addr(&self) -> SocketAddr {
        self.addr("mqtts")
    }

    /// The STOMPS listener's address (the test must have enabled it).
    pub fn stomps_addr(&self) -> SocketAddr {
        self.addr("stomps")
    }

    /// The WebSocket listener's address (the test must have enabled it).
    pub fn ws_addr(&self) -> SocketAddr {
        self.addr("ws")
    }

    /// The broker's publish gate: closing it is what the disk alarm does (with
    /// `storage.disk_free_limit = 0` the test alone drives it).
    pub fn publish_gate(&self) -> &std::sync::Arc<warren_model::PublishGate> {
        &self.gate
    }

    /// An AMQP URL for guest on vhost `/`.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.amqp_addr())
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the broker thread reports once it listens.
type Ready = (
    Vec<(&'static str, SocketAddr)>,
    std::sync::Arc<warren_model::PublishGate>,
);

fn run_broker(config: &Config, ready: std::sync::mpsc::Sender<Ready>, stop: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    runtime.block_on(async {
        let server = RunningServer::start(config)
            .await
            .expect("test broker failed to start");
        let _ = ready.send((server.listening(), server.publish_gate()));
        let _ = stop.await;
        server.shutdown().await;
    });
}

/// Polls `condition` until it holds or `deadline` passes; true if it held.
pub fn eventually(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(5));
    }
}

/// Polls an async `condition` until it holds or `deadline` passes; true if it held.
pub async fn eventually_async<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(unique_temp_dir("warren-test"))
    }
}

/// A path under the temporary directory that no other test of this process uses.
fn unique_temp_dir(prefix: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
