//! The WebSocket listener: routing by path and subprotocol, HTTP errors, Origin checks, byte
//! streams across message boundaries, text and binary output, and WSS.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Certs, EchoFactory, Running};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use warren_net::{OutFrames, Service, TlsContext, TlsSettings, WsRoute, WsService};

const WAIT: Duration = Duration::from_secs(5);

struct Fixture {
    running: Running,
    mqtt: Arc<EchoFactory>,
    stomp: Arc<EchoFactory>,
}

fn route(
    name: &'static str,
    subprotocols: &[&str],
    frames: OutFrames,
    f: &Arc<EchoFactory>,
) -> WsRoute {
    WsRoute {
        name,
        path: format!("/{name}"),
        subprotocols: subprotocols.iter().map(|s| (*s).to_owned()).collect(),
        frames,
        factory: f.clone(),
    }
}

async fn start(origins: &[&str], tls: Option<Arc<TlsContext>>) -> Fixture {
    let mqtt = Arc::new(EchoFactory::default());
    let stomp = Arc::new(EchoFactory::default());
    let service = WsService {
        routes: vec![
            route("mqtt", &["mqtt", "mqttv3.1"], OutFrames::Binary, &mqtt),
            route(
                "stomp",
                &["v12.stomp", "v11.stomp", "v10.stomp"],
                OutFrames::TextWhenUtf8,
                &stomp,
            ),
        ],
        shared_path: "/ws".into(),
        allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
        max_message_size: 1 << 20,
    };
    let running = Running::start(Service::WebSocket(Arc::new(service)), tls).await;
    Fixture {
        running,
        mqtt,
        stomp,
    }
}

async fn open<S>(
    stream: S,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<WebSocketStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = format!("ws://localhost{path}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await?;
    Ok(ws)
}

async fn connect(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<WebSocketStream<TcpStream>, WsError> {
    open(TcpStream::connect(addr).await.unwrap(), path, headers).await
}

/// Reads messages until their payloads, concatenated, end with `end`.
async fn read_until<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    end: &[u8],
) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut bytes = Vec::new();
    while !bytes.ends_with(end) {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        bytes.extend_from_slice(&message.clone().into_data());
        messages.push(message);
    }
    messages
}

fn http_status(error: WsError) -> u16 {
    match error {
        WsError::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

#[tokio::test]
async fn the_shared_path_routes_by_subprotocol() {
    let f = start(&[], None).await;
    let mut mqtt = connect(f.running.addr, "/ws", &[("sec-websocket-protocol", "mqtt")])
        .await
        .unwrap();
    mqtt.send(Message::binary(b"hello\n".to_vec()))
        .await
        .unwrap();
    read_until(&mut mqtt, b"hello\n").await;
    let offer = "v10.stomp, v11.stomp, v12.stomp";
    let mut stomp = connect(f.running.addr, "/ws", &[("sec-websocket-protocol", offer)])
        .await
        .unwrap();
    stomp.send(Message::text("hello\n")).await.unwrap();
    read_until(&mut stomp, b"hello\n").await;
    assert_eq!(f.mqtt.logins.lock().unwrap().len(), 1);
    assert_eq!(f.stomp.logins.lock().unwrap().len(), 1);
    drop((mqtt, stomp));
    f.running.stop().await;
}

#[tokio::test]
async fn no_supported_subprotocol_or_unknown_path_is_an_http_error() {
    let f = start(&[], None).await;
    assert_eq!(
        http_status(connect(f.running.addr, "/ws", &[]).await.unwrap_err()),
        400
    );
    let wamp = [("sec-websocket-protocol", "wamp")];
    assert_eq!(
        http_status(connect(f.running.addr, "/ws", &wamp).await.unwrap_err()),
        400
    );
    assert_eq!(
        http_status(connect(f.running.addr, "/amqp", &[]).await.unwrap_err()),
        404
    );
    assert!(f.mqtt.logins.lock().unwrap().is_empty());
    f.running.stop().await;
}

#[tokio::test]
async fn origins_not_allowed_are_forbidden() {
    let f = start(&["https://app.example"], None).await;
    let evil = [("origin", "https://evil.example")];
    assert_eq!(
        http_status(connect(f.running.addr, "/mqtt", &evil).await.unwrap_err()),
        403
    );
    let good = [("origin", "https://app.example")];
    let ws = connect(f.running.addr, "/mqtt", &good).await.unwrap();
    drop(ws);
    f.running.stop().await;
}

#[tokio::test]
async fn bytes_may_span_and_share_messages() {
    let f = start(&[], None).await;
    let mut ws = connect(f.running.addr, "/mqtt", &[]).await.unwrap();
    for part in [&b"he"[..], b"llo\nwor", b"ld\n"] {
        ws.send(Message::binary(part.to_vec())).await.unwrap();
    }
    let messages = read_until(&mut ws, b"hello\nworld\n").await;
    assert!(
        messages.iter().all(Message::is_binary),
        "MQTT output is binary: {messages:?}"
    );
    drop(ws);
    f.running.stop().await;
}

#[tokio::test]
async fn stomp_output_is_text_when_utf8_and_binary_otherwise() {
    let f = start(&[], None).await;
    let mut ws = connect(f.running.addr, "/stomp", &[]).await.unwrap();
    ws.send(Message::binary(b"text\n".to_vec())).await.unwrap();
    let text = read_until(&mut ws, b"text\n").await;
    assert!(text.iter().all(Message::is_text), "{text:?}");
    ws.send(Message::text("")).await.unwrap();
    ws.send(Message::binary(vec![0xff, 0xfe, b'\n']))
        .await
        .unwrap();
    let binary = read_until(&mut ws, &[0xff, 0xfe, b'\n']).await;
    assert!(binary.iter().all(Message::is_binary), "{binary:?}");
    drop(ws);
    f.running.stop().await;
}

#[tokio::test]
async fn a_client_close_ends_the_session() {
    let f = start(&[], None).await;
    let mut ws = connect(f.running.addr, "/mqtt", &[]).await.unwrap();
    ws.close(None).await.unwrap();
    let end = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} });
    end.await.unwrap();
    f.running.stop().await;
}

#[tokio::test]
async fn wss_carries_the_same_routes() {
    let certs = Certs::new();
    let tls = TlsContext::load(TlsSettings::new(
        certs.path("server.pem"),
        certs.path("server.key"),
    ))
    .unwrap();
    let f = start(&[], Some(tls)).await;
    let tcp = TcpStream::connect(f.running.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls_stream = certs.connector(None).connect(name, tcp).await.unwrap();
    let mut ws = open(tls_stream, "/ws", &[("sec-websocket-protocol", "mqttv3.1")])
        .await
        .unwrap();
    ws.send(Message::binary(b"secure\n".to_vec()))
        .await
        .unwrap();
    read_until(&mut ws, b"secure\n").await;
    assert_eq!(f.mqtt.logins.lock().unwrap().len(), 1);
    let plain = connect(f.running.addr, "/ws", &[("sec-websocket-protocol", "mqtt")]).await;
    assert!(plain.is_err(), "plain WebSocket on a WSS port is refused");
    drop(ws);
    f.running.stop().await;
}
