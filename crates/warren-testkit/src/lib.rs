//! Test support: an in-process broker on port 0 that stops when dropped, and polling helpers
//! so tests wait for conditions with a deadline instead of sleeping.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use warren_server::RunningServer;

/// The broker configuration, for [`TestBroker::start_with`].
pub use warren_server::Config;

/// A broker running on its own runtime thread, listening on loopback port 0.
pub struct TestBroker {
    listening: Vec<(&'static str, SocketAddr)>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _data_dir: TempDir,
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
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        config.listeners.amqp = loopback;
        config.listeners.mqtt = loopback;
        config.listeners.stomp = loopback;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::spawn(move || run_broker(&config, ready_tx, stop_rx));
        let listening = ready_rx
            .recv()
            .expect("broker thread died before it was ready");
        Self {
            listening,
            stop: Some(stop_tx),
            thread: Some(thread),
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

fn run_broker(
    config: &Config,
    ready: std::sync::mpsc::Sender<Vec<(&'static str, SocketAddr)>>,
    stop: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    runtime.block_on(async {
        let server = RunningServer::start(config)
            .await
            .expect("test broker failed to start");
        let _ = ready.send(server.listening());
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
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = format!(
            "warren-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self(std::env::temp_dir().join(unique))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
