//! TLS and mutual TLS with real clients: lapin (AMQPS, PLAIN and SASL EXTERNAL), rumqttc
//! (MQTTS, login from the certificate) and a STOMP client over tokio-rustls; missing, untrusted
//! and unknown-user certificates are refused. Certificates are made at test time.

use std::sync::Arc;
use std::time::Duration;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::{Connection, ConnectionProperties};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren_it::{confirm_channel, declare_queue, get, publish, unique, DEADLINE};
use warren_server::{CertLoginSection, TlsSection, VerifySection};
use warren_testkit::{Config, TestBroker, TestCerts};

pub(crate) fn broker(certs: &TestCerts, verify: VerifySection) -> TestBroker {
    let tls = TlsSection {
        cert: certs.path("server.pem"),
        key: certs.path("server.key"),
        ca: certs.path("ca.pem"),
        verify,
        cert_login: CertLoginSection::CommonName,
        ..TlsSection::default()
    };
    let mut config = Config {
        tls,
        ..Config::default()
    };
    config.listeners.amqps.enabled = true;
    config.listeners.mqtts.enabled = true;
    config.listeners.stomps.enabled = true;
    TestBroker::start_with(config)
}

/// Certificates with clients `guest` (a user), `nobody` (no such user) and an untrusted one.
pub(crate) fn certs() -> TestCerts {
    let certs = TestCerts::new();
    certs.issue("guest", "guest", &[]);
    certs.issue("nobody", "nobody", &[]);
    certs.issue_untrusted("stranger", "guest");
    certs
}

pub(crate) fn lapin_tls(certs: &TestCerts, identity: Option<&str>) -> OwnedTLSConfig {
    OwnedTLSConfig {
        identity: identity.map(|name| OwnedIdentity::PKCS8 {
            pem: certs.read(&format!("{name}.pem")).into_bytes(),
            key: certs.read(&format!("{name}.key")).into_bytes(),
        }),
        cert_chain: Some(certs.read("ca.pem")),
    }
}

pub(crate) async fn amqps(url: &str, tls: OwnedTLSConfig) -> lapin::Result<Connection> {
    let runtime = lapin::runtime::default_runtime().expect("lapin runtime");
    let connect =
        Connection::connect_with_config(url, ConnectionProperties::default(), tls, runtime);
    tokio::time::timeout(DEADLINE, connect)
        .await
        .expect("connect finishes")
}

pub(crate) async fn round_trip(conn: &Connection) {
    let ch = confirm_channel(conn).await;
    let queue = unique("tls");
    declare_queue(&ch, &queue).await;
    publish(&ch, "", &queue, b"over tls").await;
    let got = get(&ch, &queue).await.expect("message back");
    assert_eq!(got.delivery.data, b"over tls");
    ch.close(200, "done".into()).await.expect("channel.close");
}

#[tokio::test]
async fn amqps_with_a_password_and_no_client_certificate() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Optional);
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

#[tokio::test]
async fn amqps_sasl_external_logs_in_as_the_certificate_cn() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Required);
    let url = format!(
        "amqps://localhost:{}/%2f?auth_mechanism=external",
        broker.amqps_addr().port()
    );
    let conn = amqps(&url, lapin_tls(&certs, Some("guest")))
        .await
        .expect("EXTERNAL login");
    round_trip(&conn).await;
    conn.close(200, "bye".into()).await.expect("close");
    let unknown = amqps(&url, lapin_tls(&certs, Some("nobody"))).await;
    assert!(unknown.is_err(), "a certificate naming no user is refused");
}

#[tokio::test]
async fn amqps_external_needs_a_certificate() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Optional);
    let url = format!(
        "amqps://localhost:{}/%2f?auth_mechanism=external",
        broker.amqps_addr().port()
    );
    assert!(amqps(&url, lapin_tls(&certs, None)).await.is_err());
}

#[tokio::test]
async fn amqps_required_refuses_missing_and_untrusted_certificates() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Required);
    let url = format!(
        "amqps://guest:guest@localhost:{}/%2f",
        broker.amqps_addr().port()
    );
    assert!(amqps(&url, lapin_tls(&certs, None)).await.is_err());
    assert!(amqps(&url, lapin_tls(&certs, Some("stranger")))
        .await
        .is_err());
    let plain = format!("amqp://guest:guest@{}/%2f", broker.amqps_addr());
    let plaintext = Connection::connect(&plain, ConnectionProperties::default());
    let refused = tokio::time::timeout(DEADLINE, plaintext)
        .await
        .expect("finishes");
    assert!(refused.is_err(), "plaintext AMQP on the TLS port is closed");
}

pub(crate) fn rustls_client(certs: &TestCerts, identity: Option<&str>) -> rustls::ClientConfig {
    rustls_client_for(certs, identity, rustls::DEFAULT_VERSIONS)
}

/// A client trusting the test CA that offers only `versions`.
pub(crate) fn rustls_client_for(
    certs: &TestCerts,
    identity: Option<&str>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(certs.path("ca.pem")).expect("ca") {
        roots.add(cert.expect("ca cert")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    match identity {
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(certs.path(&format!("{name}.pem")))
                .expect("chain")
                .map(|c| c.expect("cert"))
                .collect();
            let key =
                PrivateKeyDer::from_pem_file(certs.path(&format!("{name}.key"))).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
        None => builder.with_no_client_auth(),
    }
}

fn mqtts_options(broker: &TestBroker, certs: &TestCerts, identity: Option<&str>) -> MqttOptions {
    let mut opts = MqttOptions::new(unique("mqtts"), "localhost", broker.mqtts_addr().port());
    let config = Arc::new(rustls_client(certs, identity));
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    opts.set_keep_alive(Duration::from_secs(30));
    opts
}

/// Polls until a CONNACK (Ok) or a connection error (Err).
pub(crate) async fn connack(events: &mut rumqttc::EventLoop) -> Result<rumqttc::ConnAck, String> {
    loop {
        match tokio::time::timeout(DEADLINE, events.poll())
            .await
            .expect("event in time")
        {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack),
            Ok(_) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
}

#[tokio::test]
async fn mqtts_logs_in_from_the_certificate_and_round_trips() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Required);
    let (client, mut events) = AsyncClient::new(mqtts_options(&broker, &certs, Some("guest")), 10);
    let ack = connack(&mut events).await.expect("certificate login");
    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
    mqtt_round_trip(&client, &mut events).await;
    client.disconnect().await.expect("disconnect");
}

/// Subscribes, publishes one QoS 1 message and requires it back.
pub(crate) async fn mqtt_round_trip(client: &AsyncClient, events: &mut rumqttc::EventLoop) {
    let topic = format!("tls/{}", unique("t"));
    client
        .subscribe(&topic, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    client
        .publish(&topic, QoS::AtLeastOnce, false, "secure")
        .await
        .expect("publish");
    let got = loop {
        match tokio::time::timeout(DEADLINE, events.poll())
            .await
            .expect("in time")
        {
            Ok(Event::Incoming(Packet::Publish(p))) => break p,
            Ok(_) => {}
            Err(e) => panic!("connection failed: {e}"),
        }
    };
    assert_eq!(&got.payload[..], b"secure");
}

#[tokio::test]
async fn mqtts_refuses_missing_untrusted_and_unknown_user_certificates() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Required);
    for identity in [None, Some("stranger"), Some("nobody")] {
        let (_client, mut events) = AsyncClient::new(mqtts_options(&broker, &certs, identity), 10);
        let refused = match connack(&mut events).await {
            Err(_) => true,
            Ok(ack) => ack.code != rumqttc::ConnectReturnCode::Success,
        };
        assert!(refused, "identity {identity:?} must be refused");
    }
}

/// A STOMP CONNECT without login over TLS; the first frame's command, or None on failure.
async fn stomps_connect(
    broker: &TestBroker,
    certs: &TestCerts,
    identity: Option<&str>,
) -> Option<String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(rustls_client(certs, identity)));
    let tcp = tokio::net::TcpStream::connect(broker.stomps_addr())
        .await
        .ok()?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut stream = connector.connect(name, tcp).await.ok()?;
    let connect = b"CONNECT\naccept-version:1.2\nhost:/\n\n\0";
    stream.write_all(connect).await.ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 1024];
    while !reply.contains(&0) {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn stomps_logs_in_from_the_certificate() {
    let certs = certs();
    let broker = broker(&certs, VerifySection::Optional);
    assert_eq!(
        stomps_connect(&broker, &certs, Some("guest"))
            .await
            .as_deref(),
        Some("CONNECTED")
    );
    assert_eq!(
        stomps_connect(&broker, &certs, Some("nobody"))
            .await
            .as_deref(),
        Some("ERROR")
    );
    assert_eq!(
        stomps_connect(&broker, &certs, Some("stranger")).await,
        None
    );
}
