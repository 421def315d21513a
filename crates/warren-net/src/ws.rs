//! The WebSocket listener's upgrade: one port carries every protocol. A route's own path
//! (e.g. `/mqtt`) picks it outright; the shared path (`/ws`) picks the route whose
//! subprotocol the client offers first (`Sec-WebSocket-Protocol`, RFC 6455 section 1.9).
//! A request for an unknown path, without a supported subprotocol on the shared path, or from
//! an Origin not on the allow list gets an HTTP error instead of an upgrade.
//!
//! After the upgrade the WebSocket is a byte stream (see `ws_stream`) and the route's
//! session runs on it through the ordinary driver, so protocol frames may span or share
//! WebSocket messages.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use warren_model::{PeerInfo, SessionFactory};

use crate::driver::drive_connection;
use crate::serve::bounded;
use crate::shutdown::ShutdownSignal;
use crate::ws_stream::WsByteStream;

/// How a route's output goes into WebSocket messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFrames {
    /// Always binary messages (MQTT requires them, MQTT-6.0.0-1).
    Binary,
    /// Text messages when the bytes are UTF-8, binary otherwise (STOMP: browsers' clients
    /// read text; a binary body still arrives intact).
    TextWhenUtf8,
}

/// One protocol on the WebSocket listener.
pub struct WsRoute {
    /// A label for logs, e.g. `mqtt`.
    pub name: &'static str,
    /// Its own path, e.g. `/mqtt`.
    pub path: String,
    /// The subprotocols that pick it, in order of preference.
    pub subprotocols: Vec<String>,
    /// How output is framed.
    pub frames: OutFrames,
    /// Makes the sessions.
    pub factory: Arc<dyn SessionFactory>,
}

/// The WebSocket listener's routes and checks.
pub struct WsService {
    /// The routes.
    pub routes: Vec<WsRoute>,
    /// The path where the subprotocol picks the route, e.g. `/ws`.
    pub shared_path: String,
    /// Origins allowed to connect; empty allows every origin. Requests without an Origin
    /// header (non-browser clients) are always allowed: the check protects browsers' users.
    pub allowed_origins: Vec<String>,
    /// The largest WebSocket message (and frame) accepted, in bytes.
    pub max_message_size: usize,
}

/// The route and the subprotocol to answer with.
#[derive(Debug, PartialEq, Eq)]
struct Choice {
    route: usize,
    subprotocol: Option<String>,
}

/// Why an upgrade is refused.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    reason: String,
}

impl WsService {
    fn choose(
        &self,
        path: &str,
        offered: &[&str],
        origin: Option<&str>,
    ) -> Result<Choice, Refusal> {
        self.check_origin(origin)?;
        if path == self.shared_path {
            return self.by_subprotocol(offered);
        }
        let route = self
            .routes
            .iter()
            .position(|r| r.path == path)
            .ok_or_else(|| {
                refusal(
                    StatusCode::NOT_FOUND,
                    format!("no WebSocket endpoint at {path}"),
                )
            })?;
        let subprotocol = self
            .routes
            .get(route)
            .and_then(|r| first_supported(r, offered));
        // A client that offers subprotocols fails a handshake that echoes none; say why here
        // instead of letting it fail without a reason. Offering none is fine on these paths.
        if subprotocol.is_none() && !offered.is_empty() {
            let supported = self
                .routes
                .get(route)
                .map(|r| r.subprotocols.join(", "))
                .unwrap_or_default();
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                format!(
                    "no supported WebSocket subprotocol offered on {path} (supported: {supported})"
                ),
            ));
        }
        Ok(Choice { route, subprotocol })
    }

    fn by_subprotocol(&self, offered: &[&str]) -> Result<Choice, Refusal> {
        for wanted in offered {
            let found = self.routes.iter().position(|r| {
                r.subprotocols
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(wanted))
            });
            if let Some(route) = found {
                let subprotocol = Some((*wanted).to_owned());
                return Ok(Choice { route, subprotocol });
            }
        }
        let supported: Vec<&str> = self
            .routes
            .iter()
            .flat_map(|r| r.subprotocols.iter().map(String::as_str))
            .collect();
        Err(refusal(
            StatusCode::BAD_REQUEST,
            format!(
                "no supported WebSocket subprotocol offered (supported: {})",
                supported.join(", ")
            ),
        ))
    }

    fn check_origin(&self, origin: Option<&str>) -> Result<(), Refusal> {
        match origin {
            Some(origin) if !self.allowed_origins.is_empty() => {
                let allowed = self
                    .allowed_origins
                    .iter()
                    .any(|o| o.eq_ignore_ascii_case(origin));
                match allowed {
                    true => Ok(()),
                    false => Err(refusal(
                        StatusCode::FORBIDDEN,
                        format!("origin {origin} is not allowed"),
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    fn config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

fn first_supported(route: &WsRoute, offered: &[&str]) -> Option<String> {
    offered
        .iter()
        .find(|o| route.subprotocols.iter().any(|s| s.eq_ignore_ascii_case(o)))
        .map(|o| (*o).to_owned())
}

fn refusal(status: StatusCode, reason: String) -> Refusal {
    Refusal { status, reason }
}

/// The subprotocols a request offers, in its order (the header may repeat, comma-separated).
fn offered(request: &Request) -> Vec<&str> {
    request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// Decides a request; on success records the route in `chosen`.
#[expect(
    clippy::result_large_err,
    reason = "the signature of tungstenite's callback"
)]
fn on_request(
    service: &WsService,
    request: &Request,
    mut response: Response,
    chosen: &mut Option<usize>,
) -> Result<Response, ErrorResponse> {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    match service.choose(request.uri().path(), &offered(request), origin) {
        Ok(choice) => {
            if let Some(value) = choice
                .subprotocol
                .and_then(|s| HeaderValue::from_str(&s).ok())
            {
                response
                    .headers_mut()
                    .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
            }
            *chosen = Some(choice.route);
            Ok(response)
        }
        Err(refused) => {
            tracing::info!(
                path = request.uri().path(),
                status = refused.status.as_u16(),
                "WebSocket upgrade refused: {}",
                refused.reason
            );
            let mut error = ErrorResponse::new(Some(refused.reason));
            *error.status_mut() = refused.status;
            Err(error)
        }
    }
}

pub(crate) async fn serve<S>(
    stream: S,
    peer: PeerInfo,
    service: &WsService,
    mut shutdown: ShutdownSignal,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut chosen = None;
    #[expect(
        clippy::result_large_err,
        reason = "the signature of tungstenite's callback"
    )]
    let callback =
        |request: &Request, response: Response| on_request(service, request, response, &mut chosen);
    let upgrade =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(service.config()));
    let ws = match bounded(upgrade, &mut shutdown).await {
        Some(Ok(ws)) => ws,
        Some(Err(error)) => {
            tracing::debug!(remote = %peer.remote, %error, "WebSocket upgrade failed");
            return;
        }
        None => return,
    };
    let Some(route) = chosen.and_then(|i| service.routes.get(i)) else {
        return;
    };
    tracing::debug!(remote = %peer.remote, route = route.name, "WebSocket connection");
    let stream = WsByteStream::new(ws, route.frames);
    drive_connection(stream, peer, Arc::clone(&route.factory), shutdown).await;
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
