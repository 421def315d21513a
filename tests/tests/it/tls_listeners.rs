//! TLS listeners beyond certificate login: a TLS 1.2 client served by the default versions,
//! password logins over MQTTS and STOMPS without a client certificate, STOMPS refusing a
//! missing or untrusted certificate when one is required, and a protocol served over TLS only
//! (its plain listener turned off with `"none"`).

use std::sync::Arc;

use rumqttc::{AsyncClient, MqttOptions, TlsConfiguration, Transport};
use rustls::ProtocolVersion;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use warren_it::{unique, DEADLINE};
use warren_server::{PlainListener, VerifySection};
use warren_testkit::{Config, TestBroker, TestCerts};

use crate::tls_clients::{
    amqps, broker, certs, connack, lapin_tls, mqtt_round_trip, round_trip, rustls_client,
    rustls_client_for,
};

const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// A STOMP connection over TLS, reading whole frames.
struct StompOverTls {
    stream: TlsStream<TcpStream>,
    buffered: Vec<u8>,
}

impl StompOverTls {
    /// Connects with `config`; None when the TLS handshake fails.
    async fn open(broker: &TestBroker, config: rustls::ClientConfig) -> Option<Self> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(broker.stomps_addr()).await.ok()?;
        let name = ServerName::try_from("localhost").expect("name");
        let stream = connector.connect(name, tcp).await.ok()?;
        Some(Self {
            stream,
            buffered: Vec::new(),
        })
    }

    fn version(&self) -> Option<ProtocolVersion> {
        self.stream.get_ref().1.protocol_version()
    }

    async fn send(&mut self, frame: &str) {
        self.stream
            .write_all(frame.as_bytes())
            .await
            .expect("write frame");
    }

    /// The next frame without its NUL, or None when the connection ends first.
    async fn frame(&mut self) -> Option<String> {
        let mut chunk = [0u8; 4096];
        loop {
            // Heart-beat EOLs between frames are skipped.
            while matches!(self.buffered.first(), Some(b'\n' | b'\r')) {
                self.buffered.remove(0);
            }
            if let Some(end) = self.buffered.iter().position(|&b| b == 0) {
                let frame: Vec<u8> = self.buffered.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&frame[..end]).into_owned());
            }
            let read = tokio::time::timeout(DEADLINE, self.stream.read(&mut chunk))
                .await
                .expect("frame in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffered.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Logs in as guest with a password, subscribes, sends and receives one message.
async fn stomp_round_trip(stomp: &mut StompOverTls) {
    stomp
        .send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
        .await;
    let connected = stomp.frame().await.expect("CONNECTED");
    assert!(connected.starts_with("CONNECTED\n"), "{connected}");
    let queue = unique("stomps");
    stomp
        .send(&format!(
            "SUBSCRIBE\nid:0\ndestination:/queue/{queue}\nreceipt:sub\n\n\0"
        ))
        .await;
    let receipt = stomp.frame().await.expect("RECEIPT");
    assert!(receipt.starts_with("RECEIPT\n"), "{receipt}");
    stomp
        .send(&format!("SEND\ndestination:/queue/{queue}\n\nover tls\0"))
        .await;
    let message = stomp.frame().await.expect("MESSAGE");
    assert!(message.starts_with("MESSAGE\n"), "{message}");
    assert!(message.ends_with("\n\nover tls"), "{message}");
}

#[tokio::test]
async fn a_tls_1_2_stomp_client_is_served_by_the_default_versions() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::None);
    let config = rustls_client_for(&certs, None, TLS12_ONLY);
    let mut stomp = StompOverTls::open(&broker, config)
        .await
        .expect("TLS 1.2 handshake");
    assert_eq!(stomp.version(), Some(ProtocolVersion::TLSv1_2));
    stomp_round_trip(&mut stomp).await;
}

#[tokio::test]
async fn stomps_with_a_password_and_no_client_certificate() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Optional);
    let mut stomp = StompOverTls::open(&broker, rustls_client(&certs, None))
        .await
        .expect("handshake without a certificate");
    assert_eq!(stomp.version(), Some(ProtocolVersion::TLSv1_3));
    stomp_round_trip(&mut stomp).await;
}

/// True when the broker refused the client: the handshake failed or the connection ended
/// before a CONNECTED frame (TLS 1.3 reports a refused client certificate after the
/// client's handshake has finished).
async fn stomps_refused(broker: &TestBroker, config: rustls::ClientConfig) -> bool {
    let Some(mut stomp) = StompOverTls::open(broker, config).await else {
        return true;
    };
    let connect = "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0";
    if stomp.stream.write_all(connect.as_bytes()).await.is_err() {
        return true;
    }
    !matches!(stomp.frame().await, Some(frame) if frame.starts_with("CONNECTED\n"))
}

#[tokio::test]
async fn stomps_required_refuses_missing_and_untrusted_certificates() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Required);
    assert!(stomps_refused(&broker, rustls_client(&certs, None)).await);
    assert!(stomps_refused(&broker, rustls_client(&certs, Some("stranger"))).await);
    assert!(
        !stomps_refused(&broker, rustls_client(&certs, Some("guest"))).await,
        "a trusted certificate with a password still logs in"
    );
}

fn mqtts_with_password(broker: &TestBroker, config: rustls::ClientConfig) -> MqttOptions {
    let mut opts = MqttOptions::new(unique("mqtts"), "localhost", broker.mqtts_addr().port());
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(config),
    )));
    opts.set_credentials("guest", "guest");
    opts
}

#[tokio::test]
async fn mqtts_with_a_password_and_no_client_certificate() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::None);
    let opts = mqtts_with_password(&broker, rustls_client(&certs, None));
    let (client, mut events) = AsyncClient::new(opts, 10);
    let ack = connack(&mut events).await.expect("password login");
    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
    mqtt_round_trip(&client, &mut events).await;
}

#[tokio::test]
async fn a_tls_1_2_mqtt_client_is_served_by_the_default_versions() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::None);
    let opts = mqtts_with_password(&broker, rustls_client_for(&certs, None, TLS12_ONLY));
    let (client, mut events) = AsyncClient::new(opts, 10);
    connack(&mut events).await.expect("TLS 1.2 login");
    mqtt_round_trip(&client, &mut events).await;
}

#[tokio::test]
async fn a_protocol_can_listen_on_tls_only() {
    let certs = TestCerts::new();
    let mut config = Config {
        tls: warren_server::TlsSection {
            cert: certs.path("server.pem"),
            key: certs.path("server.key"),
            ..warren_server::TlsSection::default()
        },
        ..Config::default()
    };
    config.listeners.amqp = PlainListener::Off;
    config.listeners.amqps.enabled = true;
    let broker = TestBroker::start_with(config);
    let protocols = broker.protocols();
    assert!(!protocols.contains(&"amqp"), "{protocols:?}");
    assert!(protocols.contains(&"amqps") && protocols.contains(&"mqtt"));
    let url = format!(
        "amqps://guest:guest@localhost:{}/%2f",
        broker.amqps_addr().port()
    );
    let conn = amqps(&url, lapin_tls(&certs, None))
        .await
        .expect("AMQPS with PLAIN");
    round_trip(&conn).await;
    conn.close(200, "bye".into()).await.expect("close");
}
