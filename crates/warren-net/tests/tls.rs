//! TLS listeners: handshakes, mutual TLS modes, certificate login, versions, the wrong
//! transport on a port, and certificate reload.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{tls_connect, Certs, EchoFactory, Running};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_net::{
    CertLogin, ClientVerify, SanType, Service, TlsContext, TlsError, TlsSettings, TlsVersion,
};

const WAIT: Duration = Duration::from_secs(5);

fn settings(certs: &Certs, verify: ClientVerify, login: CertLogin) -> TlsSettings {
    let mut s = TlsSettings::new(certs.path("server.pem"), certs.path("server.key"));
    s.ca = Some(certs.path("ca.pem"));
    s.verify = verify;
    s.cert_login = login;
    s
}

async fn start(settings: TlsSettings) -> (Running, Arc<EchoFactory>) {
    let factory = Arc::new(EchoFactory::default());
    let tls = TlsContext::load(settings).unwrap();
    let running = Running::start(Service::Session(factory.clone()), Some(tls)).await;
    (running, factory)
}

/// Sends a line and returns everything read until the echo of it arrives (or the stream ends).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> std::io::Result<String> {
    stream.write_all(b"ping\n").await?;
    let mut seen = Vec::new();
    let mut chunk = [0u8; 256];
    while !seen.ends_with(b"ping\n") {
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk)).await??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        seen.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8(seen).unwrap())
}

/// Whether the server ends the connection (a refused handshake, an alert, or a close).
async fn refused(connector: &tokio_rustls::TlsConnector, addr: std::net::SocketAddr) -> bool {
    match tls_connect(connector, addr).await {
        Err(_) => true,
        Ok(mut stream) => exchange(&mut stream).await.is_err(),
    }
}

#[tokio::test]
async fn tls_without_client_certificates_has_no_login() {
    let certs = Certs::new();
    let (running, factory) =
        start(settings(&certs, ClientVerify::None, CertLogin::CommonName)).await;
    let mut stream = tls_connect(&certs.connector(None), running.addr)
        .await
        .unwrap();
    assert_eq!(exchange(&mut stream).await.unwrap(), "login=-\nping\n");
    drop(stream);
    assert_eq!(*factory.logins.lock().unwrap(), vec![None]);
    running.stop().await;
}

#[tokio::test]
async fn required_client_certificate_logs_in_by_common_name() {
    let certs = Certs::new();
    certs.issue("client", "sensor-1", &["sensor-1.example"]);
    let (running, _) = start(settings(
        &certs,
        ClientVerify::Required,
        CertLogin::CommonName,
    ))
    .await;
    let mut stream = tls_connect(&certs.connector(Some("client")), running.addr)
        .await
        .unwrap();
    assert_eq!(
        exchange(&mut stream).await.unwrap(),
        "login=sensor-1\nping\n"
    );
    drop(stream);
    running.stop().await;
}

#[tokio::test]
async fn required_refuses_missing_and_untrusted_certificates() {
    let certs = Certs::new();
    certs.issue_untrusted("stranger", "guest");
    let (running, factory) = start(settings(
        &certs,
        ClientVerify::Required,
        CertLogin::CommonName,
    ))
    .await;
    assert!(refused(&certs.connector(None), running.addr).await);
    assert!(refused(&certs.connector(Some("stranger")), running.addr).await);
    assert!(
        factory.logins.lock().unwrap().is_empty(),
        "no session may start"
    );
    running.stop().await;
}

#[tokio::test]
async fn optional_accepts_no_certificate_and_logs_in_by_san() {
    let certs = Certs::new();
    certs.issue("client", "sensor-2", &["sensor-2.example"]);
    certs.issue_untrusted("stranger", "guest");
    let login = CertLogin::SubjectAltName(SanType::Dns);
    let (running, _) = start(settings(&certs, ClientVerify::Optional, login)).await;
    let mut anonymous = tls_connect(&certs.connector(None), running.addr)
        .await
        .unwrap();
    assert_eq!(exchange(&mut anonymous).await.unwrap(), "login=-\nping\n");
    let mut known = tls_connect(&certs.connector(Some("client")), running.addr)
        .await
        .unwrap();
    assert_eq!(
        exchange(&mut known).await.unwrap(),
        "login=sensor-2.example\nping\n"
    );
    assert!(refused(&certs.connector(Some("stranger")), running.addr).await);
    drop((anonymous, known));
    running.stop().await;
}

#[tokio::test]
async fn versions_are_enforced() {
    let certs = Certs::new();
    let mut only13 = settings(&certs, ClientVerify::None, CertLogin::Off);
    only13.versions = vec![TlsVersion::V1_3];
    let (running, _) = start(only13).await;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(certs.path("ca.pem")).unwrap();
    use rustls_pki_types::pem::PemObject;
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls12));
    assert!(refused(&connector, running.addr).await);
    let mut modern = tls_connect(&certs.connector(None), running.addr)
        .await
        .unwrap();
    let version = modern.get_ref().1.protocol_version();
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert!(exchange(&mut modern).await.is_ok());
    drop(modern);
    running.stop().await;
}

#[tokio::test]
async fn plaintext_on_a_tls_port_is_closed_without_a_session() {
    let certs = Certs::new();
    let (running, factory) = start(settings(&certs, ClientVerify::None, CertLogin::Off)).await;
    let mut plain = TcpStream::connect(running.addr).await.unwrap();
    assert!(exchange(&mut plain).await.is_err());
    assert!(factory.logins.lock().unwrap().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn tls_on_a_plaintext_port_is_closed_without_a_session() {
    let certs = Certs::new();
    let factory = Arc::new(EchoFactory::default());
    let running = Running::start(Service::Session(factory.clone()), None).await;
    assert!(refused(&certs.connector(None), running.addr).await);
    assert!(factory.logins.lock().unwrap().is_empty());
    let mut plain = TcpStream::connect(running.addr).await.unwrap();
    assert_eq!(exchange(&mut plain).await.unwrap(), "login=-\nping\n");
    drop(plain);
    running.stop().await;
}

fn served_certificate(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    let chain = stream.get_ref().1.peer_certificates().unwrap();
    chain[0].as_ref().to_vec()
}

fn file_certificate(certs: &Certs) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(certs.path("server.pem")).unwrap();
    rustls_pki_types::CertificateDer::from_pem_slice(&pem)
        .unwrap()
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn reload_serves_new_certificates_and_keeps_old_ones_on_error() {
    let certs = Certs::new();
    let tls = TlsContext::load(settings(&certs, ClientVerify::None, CertLogin::Off)).unwrap();
    let factory = Arc::new(EchoFactory::default());
    let running = Running::start(Service::Session(factory), Some(tls.clone())).await;
    let connector = certs.connector(None);
    let old = tls_connect(&connector, running.addr).await.unwrap();
    assert_eq!(served_certificate(&old), file_certificate(&certs));

    certs.issue("server", "localhost", &["localhost"]);
    tls.reload().unwrap();
    let mut new = tls_connect(&connector, running.addr).await.unwrap();
    assert_eq!(served_certificate(&new), file_certificate(&certs));
    assert_ne!(served_certificate(&new), served_certificate(&old));
    assert!(exchange(&mut new).await.is_ok());

    let current = file_certificate(&certs);
    std::fs::write(certs.path("server.key"), "not a key").unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::File { .. })));
    let still = tls_connect(&connector, running.addr).await.unwrap();
    assert_eq!(served_certificate(&still), current);
    drop((old, new, still));
    running.stop().await;
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let certs = Certs::new();
    let mut no_ca = settings(&certs, ClientVerify::Required, CertLogin::Off);
    no_ca.ca = None;
    assert!(matches!(TlsContext::load(no_ca), Err(TlsError::MissingCa)));
    let mut no_versions = settings(&certs, ClientVerify::None, CertLogin::Off);
    no_versions.versions.clear();
    assert!(matches!(
        TlsContext::load(no_versions),
        Err(TlsError::NoVersions)
    ));
    let mut wrong_key = settings(&certs, ClientVerify::None, CertLogin::Off);
    certs.issue("other", "other", &[]);
    wrong_key.key = certs.path("other.key");
    assert!(matches!(
        TlsContext::load(wrong_key),
        Err(TlsError::Rustls(_))
    ));
    let missing = TlsSettings::new(certs.path("nope.pem"), certs.path("server.key"));
    assert!(matches!(
        TlsContext::load(missing),
        Err(TlsError::File { .. })
    ));
}
