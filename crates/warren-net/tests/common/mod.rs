//! Test support: certificates made at test time, an echo session that reports its peer's
//! certificate login, a listener on loopback port 0, and a factory of one prepared session for
//! tests that drive a connection themselves.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::BytesMut;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use warren_model::{PeerInfo, Session, SessionFactory, SessionStatus, Wake};
use warren_net::{bind_tcp, spawn_listener, ListenerSpec, Service, Shutdown, TlsContext};

/// A CA, a server certificate for localhost and client certificates, as PEM files in a
/// temporary directory removed on drop.
pub struct Certs {
    pub dir: PathBuf,
    ca: Issuer<'static, KeyPair>,
}

impl Certs {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("warren-net-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, pem) = ca("test CA");
        std::fs::write(dir.join("ca.pem"), pem).unwrap();
        let certs = Self { dir, ca };
        certs.issue("server", "localhost", &["localhost"]);
        certs
    }

    /// Writes `<name>.pem` and `<name>.key` for a certificate with `cn` and DNS SANs.
    pub fn issue(&self, name: &str, cn: &str, dns: &[&str]) {
        let (cert, key) = leaf(&self.ca, cn, dns);
        std::fs::write(self.path(&format!("{name}.pem")), cert).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key).unwrap();
    }

    /// A client certificate from another CA, which the server does not trust.
    pub fn issue_untrusted(&self, name: &str, cn: &str) {
        let (other, _) = ca("other CA");
        let (cert, key) = leaf(&other, cn, &[]);
        std::fs::write(self.path(&format!("{name}.pem")), cert).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key).unwrap();
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A client that trusts the CA, presenting `identity` (`<name>.pem/.key`) if given.
    pub fn connector(&self, identity: Option<&str>) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            Some(name) => {
                let chain = read_chain(&self.path(&format!("{name}.pem")));
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        TlsConnector::from(Arc::new(config))
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(cn: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.pem())
}

fn leaf(ca: &Issuer<'static, KeyPair>, cn: &str, dns: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = dns.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn read_chain(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Connects with TLS to localhost at `addr`.
pub async fn tls_connect(
    connector: &TlsConnector,
    addr: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// Sessions that echo their input, after a first line naming the peer's certificate login
/// (`login=<name>` or `login=-`).
#[derive(Default)]
pub struct EchoFactory {
    pub logins: Mutex<Vec<Option<String>>>,
}

struct Echo {
    greeting: Option<String>,
}

impl SessionFactory for EchoFactory {
    fn new_session(&self, peer: PeerInfo, _waker: Arc<dyn Wake>) -> Box<dyn Session> {
        self.logins
            .lock()
            .unwrap()
            .push(peer.certificate_login.clone());
        let login = peer.certificate_login.unwrap_or_else(|| "-".into());
        Box::new(Echo {
            greeting: Some(format!("login={login}\n")),
        })
    }
}

impl Session for Echo {
    fn on_input(&mut self, input: &mut BytesMut, out: &mut BytesMut, _: Instant) -> SessionStatus {
        if let Some(greeting) = self.greeting.take() {
            out.extend_from_slice(greeting.as_bytes());
        }
        out.extend_from_slice(&input.split());
        SessionStatus::Continue
    }
    fn on_wake(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn on_tick(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn on_drained(&mut self) {}
    fn wants_input(&self) -> bool {
        true
    }
    fn on_close(&mut self) {}
}

/// A listener on loopback port 0; stopped by `stop`.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn start(service: Service, tls: Option<Arc<TlsContext>>) -> Self {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = Shutdown::new();
        let spec = ListenerSpec {
            name: "test",
            service,
            tls,
        };
        let task = spawn_listener(listener, spec, signal);
        Self {
            addr,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap();
    }
}

/// A factory that hands out one prepared session, for tests that drive a single connection.
pub struct OneSession(pub Mutex<Option<Box<dyn Session>>>);

impl OneSession {
    pub fn new(session: impl Session + 'static) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Some(Box::new(session)))))
    }
}

impl SessionFactory for OneSession {
    fn new_session(&self, _: PeerInfo, _: Arc<dyn Wake>) -> Box<dyn Session> {
        self.0.lock().unwrap().take().unwrap()
    }
}

/// A peer for a connection that has no socket (a duplex stream).
pub fn peer_info() -> PeerInfo {
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    PeerInfo {
        remote: addr,
        local: addr,
        certificate_login: None,
    }
}
