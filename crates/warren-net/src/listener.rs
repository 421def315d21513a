//! Listeners: bind, accept, and hand each connection to its own task, which runs the
//! connection's transport (plain, TLS, WebSocket) and then the driver.

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use warren_model::{PeerInfo, SessionFactory};

use crate::serve::{serve, Service};
use crate::shutdown::ShutdownSignal;
use crate::tls::TlsContext;

/// What a listener serves, and how.
pub struct ListenerSpec {
    /// A label for logs, e.g. `amqps`.
    pub name: &'static str,
    /// What runs on each connection.
    pub service: Service,
    /// TLS, or `None` for plaintext.
    pub tls: Option<Arc<TlsContext>>,
}

/// Errors of the network layer.
#[derive(Debug, Error)]
pub enum ListenerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Binds a TCP listener (port 0 picks a free port; read it back with `local_addr`).
pub async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ListenerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenerError::Bind { addr, source })
}

/// Accepts connections until shutdown, running each in its own task. Connection tasks watch
/// the same signal and say goodbye in their protocol before closing.
pub fn spawn_tcp_listener(
    listener: TcpListener,
    protocol: &'static str,
    factory: Arc<dyn SessionFactory>,
    shutdown: ShutdownSignal,
) -> JoinHandle<()> {
    let spec = ListenerSpec {
        name: protocol,
        service: Service::Session(factory),
        tls: None,
    };
    spawn_listener(listener, spec, shutdown)
}

/// Like [`spawn_tcp_listener`], for any transport and service.
pub fn spawn_listener(
    listener: TcpListener,
    spec: ListenerSpec,
    shutdown: ShutdownSignal,
) -> JoinHandle<()> {
    tokio::spawn(accept_loop(listener, Arc::new(spec), shutdown))
}

async fn accept_loop(listener: TcpListener, spec: Arc<ListenerSpec>, mut shutdown: ShutdownSignal) {
    let protocol = spec.name;
    // A tracker rather than a JoinSet: it counts the connections' tasks without keeping an
    // entry (and a handle) per connection, and nothing here needs their results.
    let connections = TaskTracker::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let task = start_connection(stream, remote, &spec, &shutdown);
                    if let Some(task) = task {
                        connections.spawn(task);
                    }
                }
                // Accept errors (e.g. too many open files) are transient: log and go on.
                Err(error) => tracing::warn!(protocol, %error, "accept failed"),
            },
            () = shutdown.triggered() => break,
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

fn start_connection(
    stream: TcpStream,
    remote: SocketAddr,
    spec: &Arc<ListenerSpec>,
    shutdown: &ShutdownSignal,
) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let local = stream.local_addr().ok()?;
    // Small frames (acks, confirms) must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let peer = PeerInfo::new(remote, local);
    tracing::debug!(listener = spec.name, %remote, "connection accepted");
    Some(serve(stream, peer, Arc::clone(spec), shutdown.clone()))
}
