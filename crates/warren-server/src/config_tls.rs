//! The TLS and WebSocket parts of the configuration: the shared `[tls]` section, the TLS
//! listeners (`[listeners.amqps]`, `[listeners.mqtts]`, `[listeners.stomps]`) and the WebSocket
//! listener (`[listeners.ws]`). Every one is off by default; a listener may carry its own
//! `tls` table instead of the shared one.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use warren_net::{CertLogin, ClientVerify, SanType, TlsSettings, TlsVersion};

use crate::config::ConfigError;

/// Certificates, keys and client verification.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// Server certificate chain, PEM, leaf first; empty means unset.
    pub cert: PathBuf,
    /// Server private key, PEM; empty means unset.
    pub key: PathBuf,
    /// CA bundle (PEM) that signs client certificates; empty means none.
    pub ca: PathBuf,
    /// Client certificates: none, optional or required.
    pub verify: VerifySection,
    /// Accepted TLS versions: "1.2", "1.3".
    pub versions: Vec<VersionSection>,
    /// Log in from a verified client certificate: none, common_name, subject_alternative_name.
    pub cert_login: CertLoginSection,
    /// With `subject_alternative_name`: which SAN type (the first of that type is used).
    pub cert_login_san_type: SanTypeSection,
}

/// `tls.verify`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifySection {
    /// No client certificates are asked for.
    #[default]
    None,
    /// Asked for; a client without one is still accepted.
    Optional,
    /// A valid client certificate is required.
    Required,
}

/// An entry of `tls.versions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum VersionSection {
    /// TLS 1.2.
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    V1_3,
}

/// `tls.cert_login`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertLoginSection {
    /// Certificates never log in.
    #[default]
    None,
    /// The subject's CN is the user name.
    CommonName,
    /// A subject alternative name is the user name.
    SubjectAlternativeName,
}

/// `tls.cert_login_san_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SanTypeSection {
    /// A DNS name.
    #[default]
    Dns,
    /// An e-mail address (rfc822Name).
    Email,
    /// A URI.
    Uri,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            cert: PathBuf::new(),
            key: PathBuf::new(),
            ca: PathBuf::new(),
            verify: VerifySection::None,
            versions: vec![VersionSection::V1_2, VersionSection::V1_3],
            cert_login: CertLoginSection::None,
            cert_login_san_type: SanTypeSection::Dns,
        }
    }
}

impl TlsSection {
    /// The network layer's settings; `listener` names the user of them in errors.
    pub fn to_settings(&self, listener: &str) -> Result<TlsSettings, ConfigError> {
        if self.cert.as_os_str().is_empty() || self.key.as_os_str().is_empty() {
            return Err(ConfigError::Invalid(format!(
                "{listener} is enabled but has no TLS certificate and key (tls.cert, tls.key \
                 or --tls-cert, --tls-key)"
            )));
        }
        let mut settings = TlsSettings::new(&self.cert, &self.key);
        settings.ca = (!self.ca.as_os_str().is_empty()).then(|| self.ca.clone());
        settings.verify = match self.verify {
            VerifySection::None => ClientVerify::None,
            VerifySection::Optional => ClientVerify::Optional,
            VerifySection::Required => ClientVerify::Required,
        };
        if settings.verify != ClientVerify::None && settings.ca.is_none() {
            return Err(ConfigError::Invalid(format!(
                "{listener}: tls.verify = optional/required needs tls.ca"
            )));
        }
        settings.versions = self
            .versions
            .iter()
            .map(|v| match v {
                VersionSection::V1_2 => TlsVersion::V1_2,
                VersionSection::V1_3 => TlsVersion::V1_3,
            })
            .collect();
        settings.cert_login = self.cert_login();
        Ok(settings)
    }

    fn cert_login(&self) -> CertLogin {
        let san = match self.cert_login_san_type {
            SanTypeSection::Dns => SanType::Dns,
            SanTypeSection::Email => SanType::Email,
            SanTypeSection::Uri => SanType::Uri,
        };
        match self.cert_login {
            CertLoginSection::None => CertLogin::Off,
            CertLoginSection::CommonName => CertLogin::CommonName,
            CertLoginSection::SubjectAlternativeName => CertLogin::SubjectAltName(san),
        }
    }
}

/// A TLS listener for one protocol, by default off on `P::PORT`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, bound = "")]
pub struct TlsListener<P: DefaultPort> {
    /// Whether it runs.
    pub enabled: bool,
    /// Where it listens.
    pub address: SocketAddr,
    /// Its own TLS settings instead of `[tls]`.
    pub tls: Option<TlsSection>,
    #[serde(skip)]
    port: PhantomData<P>,
}

/// The port a kind of TLS listener has by default.
pub trait DefaultPort: Clone + std::fmt::Debug + PartialEq {
    /// The port.
    const PORT: u16;
}

macro_rules! default_port {
    ($name:ident, $port:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name;
        impl DefaultPort for $name {
            const PORT: u16 = $port;
        }
    };
}

default_port!(AmqpsPort, 5671, "AMQPS: RabbitMQ's port.");
default_port!(MqttsPort, 8883, "MQTTS: the IANA port.");
default_port!(StompsPort, 61614, "STOMPS: RabbitMQ's port.");

/// AMQP 0-9-1 over TLS.
pub type AmqpsListener = TlsListener<AmqpsPort>;
/// MQTT over TLS.
pub type MqttsListener = TlsListener<MqttsPort>;
/// STOMP over TLS.
pub type StompsListener = TlsListener<StompsPort>;

impl<P: DefaultPort> Default for TlsListener<P> {
    fn default() -> Self {
        Self {
            enabled: false,
            address: SocketAddr::from(([0, 0, 0, 0], P::PORT)),
            tls: None,
            port: PhantomData,
        }
    }
}

impl<P: DefaultPort> TlsListener<P> {
    /// Its TLS settings: its own, or the shared ones.
    pub fn tls_or<'a>(&'a self, shared: &'a TlsSection) -> &'a TlsSection {
        self.tls.as_ref().unwrap_or(shared)
    }
}

/// The WebSocket listener: MQTT and STOMP for browsers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsListener {
    /// Whether it runs.
    pub enabled: bool,
    /// Where it listens.
    pub address: SocketAddr,
    /// WSS: TLS with `[tls]` (or this listener's own `tls` table).
    pub wss: bool,
    /// Its own TLS settings instead of `[tls]`.
    pub tls: Option<TlsSection>,
    /// The path where the subprotocol picks the protocol.
    pub path: String,
    /// The path that is always MQTT.
    pub mqtt_path: String,
    /// The path that is always STOMP.
    pub stomp_path: String,
    /// Origins allowed (e.g. "https://app.example.com"); empty allows all.
    pub allowed_origins: Vec<String>,
    /// Largest WebSocket message or frame accepted, bytes.
    pub max_message_size: usize,
}

impl WsListener {
    /// Its TLS settings when it is WSS: its own, or the shared ones.
    pub fn tls_or<'a>(&'a self, shared: &'a TlsSection) -> Option<&'a TlsSection> {
        self.wss.then(|| self.tls.as_ref().unwrap_or(shared))
    }
}

impl Default for WsListener {
    fn default() -> Self {
        Self {
            enabled: false,
            address: SocketAddr::from(([0, 0, 0, 0], 15675)),
            wss: false,
            tls: None,
            path: "/ws".into(),
            mqtt_path: "/mqtt".into(),
            stomp_path: "/stomp".into(),
            allowed_origins: Vec::new(),
            max_message_size: 16 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_listener_may_carry_its_own_tls_table() {
        let text = "[listeners.mqtts]\nenabled = true\n[listeners.mqtts.tls]\ncert = \"m.pem\"\n\
                    key = \"m.key\"\n[tls]\ncert = \"s.pem\"\nkey = \"s.key\"\n";
        let config = Config::from_toml(text).unwrap();
        let mqtts = &config.listeners.mqtts;
        assert!(mqtts.enabled);
        assert_eq!(mqtts.address, "0.0.0.0:8883".parse().unwrap());
        assert_eq!(mqtts.tls_or(&config.tls).cert, PathBuf::from("m.pem"));
        let amqps = &config.listeners.amqps;
        assert_eq!(amqps.tls_or(&config.tls).cert, PathBuf::from("s.pem"));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let bad = Config::from_toml("[tls]\nverify = \"sometimes\"\n").unwrap_err();
        assert!(bad.to_string().contains("sometimes"), "{bad}");
        let unknown = Config::from_toml("[listeners.ws]\nport = 1\n").unwrap_err();
        assert!(unknown.to_string().contains("port"), "{unknown}");
        assert!(Config::from_toml("[tls]\nversions = [\"1.1\"]\n").is_err());
    }

    #[test]
    fn settings_need_a_certificate_and_a_ca_for_verification() {
        let empty = TlsSection::default()
            .to_settings("listeners.amqps")
            .unwrap_err();
        assert!(empty.to_string().contains("listeners.amqps"), "{empty}");
        let mut section = TlsSection {
            cert: "s.pem".into(),
            key: "s.key".into(),
            verify: VerifySection::Required,
            ..TlsSection::default()
        };
        assert!(section.to_settings("x").is_err());
        section.ca = "ca.pem".into();
        section.cert_login = CertLoginSection::SubjectAlternativeName;
        section.cert_login_san_type = SanTypeSection::Email;
        let settings = section.to_settings("x").unwrap();
        assert_eq!(settings.verify, ClientVerify::Required);
        assert_eq!(
            settings.cert_login,
            CertLogin::SubjectAltName(SanType::Email)
        );
        assert_eq!(settings.versions, vec![TlsVersion::V1_2, TlsVersion::V1_3]);
    }
}
