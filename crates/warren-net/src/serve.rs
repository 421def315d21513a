//! One accepted connection, from the socket to the session: check the opening bytes against
//! the listener's transport, run the TLS handshake, the WebSocket upgrade, then the driver.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use warren_model::{PeerInfo, SessionFactory};

use crate::driver::{drive_connection, Driver};
use crate::identity;
use crate::listener::ListenerSpec;
use crate::shutdown::ShutdownSignal;
use crate::sniff::{self, Opening};
use crate::tls::TlsContext;
use crate::ws::{self, WsService};

/// How long a client may take to open: its first bytes, a TLS handshake, a WebSocket upgrade.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What runs on a listener's connections once the transport is up.
#[derive(Clone)]
pub enum Service {
    /// One protocol, spoken directly on the stream.
    Session(Arc<dyn SessionFactory>),
    /// A WebSocket upgrade, then the protocol its path or subprotocol picks.
    WebSocket(Arc<WsService>),
}

/// A connection's task. Its opening (first bytes, TLS handshake, WebSocket upgrade) is
/// boxed, needed for a moment; the task then holds only what runs for the connection's life,
/// and an idle connection's task is only that.
pub(crate) fn serve(
    stream: TcpStream,
    peer: PeerInfo,
    spec: Arc<ListenerSpec>,
    shutdown: ShutdownSignal,
) -> impl Future<Output = ()> + Send {
    Box::pin(open(stream, peer, spec, shutdown)).flatten()
}

async fn open(
    stream: TcpStream,
    peer: PeerInfo,
    spec: Arc<ListenerSpec>,
    shutdown: ShutdownSignal,
) -> Running<TcpStream> {
    match &spec.tls {
        None if plain_opening(&stream, &peer, &spec).await => {
            serve_stream(stream, peer, &spec.service, shutdown)
        }
        None => Running::Closed,
        // Boxed whole: the TLS stream is larger than a plain one, and plain connections are
        // the many.
        Some(tls) => {
            let tls = Arc::clone(tls);
            Running::Boxed(Box::pin(async move {
                serve_tls(stream, peer, &tls, &spec, shutdown).await;
            }))
        }
    }
}

/// What runs on a connection once its transport is up.
pub(crate) enum Running<S> {
    /// A session driven directly on the stream.
    Direct(Driver<S>),
    /// Anything else (a WebSocket, a TLS connection), boxed.
    Boxed(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// Nothing: the connection was refused while opening.
    Closed,
}

impl<S> Future for Running<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut() {
            Running::Direct(driver) => Pin::new(driver).poll(cx),
            Running::Boxed(future) => future.as_mut().poll(cx),
            Running::Closed => Poll::Ready(()),
        }
    }
}

/// Whether a plaintext listener's connection opened as plaintext.
async fn plain_opening(stream: &TcpStream, peer: &PeerInfo, spec: &ListenerSpec) -> bool {
    // Every protocol here has the client speak first, so a client silent for the whole
    // opening deadline is closed here rather than handed to a session whose own handshake
    // timeout would only start now.
    match sniff::opening(stream, HANDSHAKE_TIMEOUT).await {
        Opening::Plain => true,
        Opening::Tls => {
            tracing::warn!(listener = spec.name, remote = %peer.remote,
                "TLS handshake on a plaintext port: closing (is the client using the TLS port?)");
            false
        }
        Opening::Nothing => {
            tracing::debug!(listener = spec.name, remote = %peer.remote,
                "no bytes before the opening deadline: closing");
            false
        }
    }
}

async fn serve_tls(
    stream: TcpStream,
    mut peer: PeerInfo,
    tls: &TlsContext,
    spec: &ListenerSpec,
    mut shutdown: ShutdownSignal,
) {
    match sniff::opening(&stream, HANDSHAKE_TIMEOUT).await {
        Opening::Tls => {}
        Opening::Plain => {
            tracing::warn!(listener = spec.name, remote = %peer.remote,
                "plaintext on a TLS port: closing (is the client using TLS?)");
            return;
        }
        Opening::Nothing => return,
    }
    let handshake = tls.acceptor().accept(stream);
    let stream = match bounded(handshake, &mut shutdown).await {
        Some(Ok(stream)) => stream,
        Some(Err(error)) => {
            tracing::info!(listener = spec.name, remote = %peer.remote, %error, "TLS handshake failed");
            return;
        }
        None => return,
    };
    let chain = stream.get_ref().1.peer_certificates();
    peer.certificate_login = identity::login_name(chain, tls.settings().cert_login);
    serve_stream(stream, peer, &spec.service, shutdown).await;
}

/// The service on a stream whose transport is up.
fn serve_stream<S>(
    stream: S,
    peer: PeerInfo,
    service: &Service,
    shutdown: ShutdownSignal,
) -> Running<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match service {
        Service::Session(factory) => Running::Direct(drive_connection(
            stream,
            peer,
            Arc::clone(factory),
            shutdown,
        )),
        Service::WebSocket(ws) => {
            let ws = Arc::clone(ws);
            Running::Boxed(Box::pin(async move {
                ws::serve(stream, peer, &ws, shutdown).await;
            }))
        }
    }
}

/// Runs a handshake step within [`HANDSHAKE_TIMEOUT`]; `None` on timeout or shutdown.
pub(crate) async fn bounded<F: Future>(
    step: F,
    shutdown: &mut ShutdownSignal,
) -> Option<F::Output> {
    tokio::select! {
        result = tokio::time::timeout(HANDSHAKE_TIMEOUT, step) => result.ok(),
        () = shutdown.triggered() => None,
    }
}
