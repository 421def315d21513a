//! TLS for listeners: certificates and keys from PEM files, mutual TLS (none, optional,
//! required) against a CA bundle, TLS 1.2 and 1.3, and a reload that later connections see.
//!
//! One crypto provider, ring, is named here and nowhere else (ADR 0003). A reload builds a
//! complete new `ServerConfig` before it swaps it in, so a bad file leaves the old one serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{danger::ClientCertVerifier, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

use crate::identity::CertLogin;

/// Whether clients must show a certificate signed by the CA bundle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientVerify {
    /// Clients are not asked for a certificate.
    #[default]
    None,
    /// Clients are asked; one that shows a certificate must show a valid one.
    Optional,
    /// Clients without a valid certificate are refused during the handshake.
    Required,
}

/// A TLS protocol version a listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

/// What a TLS listener is configured with.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM), leaf first.
    pub cert_chain: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CAs that sign client certificates (PEM bundle); needed unless `verify` is `None`.
    pub ca: Option<PathBuf>,
    /// Mutual TLS.
    pub verify: ClientVerify,
    /// Accepted versions; empty is refused.
    pub versions: Vec<TlsVersion>,
    /// Which name of a client certificate becomes the login name, if any.
    pub cert_login: CertLogin,
}

impl TlsSettings {
    /// TLS 1.2 and 1.3, no client certificates, no certificate login.
    pub fn new(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert_chain: cert_chain.into(),
            key: key.into(),
            ca: None,
            verify: ClientVerify::None,
            versions: vec![TlsVersion::V1_2, TlsVersion::V1_3],
            cert_login: CertLogin::Off,
        }
    }
}

/// Why TLS settings could not be loaded.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A certificate file held no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    /// Client verification was asked for without a CA bundle.
    #[error("tls verify = optional/required needs a CA bundle (ca)")]
    MissingCa,
    /// No TLS version is enabled.
    #[error("no TLS version enabled")]
    NoVersions,
    /// rustls refused the combination (e.g. a key that does not match the certificate).
    #[error("TLS configuration refused: {0}")]
    Rustls(String),
}

/// A listener's TLS configuration, swappable at run time.
#[derive(Debug)]
pub struct TlsContext {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
}

impl TlsContext {
    /// Loads the files named in `settings`.
    pub fn load(settings: TlsSettings) -> Result<Arc<Self>, TlsError> {
        let config = build(&settings)?;
        Ok(Arc::new(Self {
            settings,
            current: RwLock::new(config),
        }))
    }

    /// Reads the files again; connections accepted afterwards use them. On error the old
    /// configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = build(&self.settings)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// The settings this context was loaded from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let config = self.current.read().unwrap_or_else(PoisonError::into_inner);
        TlsAcceptor::from(Arc::clone(&config))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certs(&settings.cert_chain)?;
    let key =
        PrivateKeyDer::from_pem_file(&settings.key).map_err(|e| file_error(&settings.key, e))?;
    let versions = versions(&settings.versions)?;
    let verifier = client_verifier(settings)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Arc::new(config))
}

fn versions(wanted: &[TlsVersion]) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let mut versions = Vec::new();
    for version in wanted {
        let v = match version {
            TlsVersion::V1_2 => &rustls::version::TLS12,
            TlsVersion::V1_3 => &rustls::version::TLS13,
        };
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        return Err(TlsError::NoVersions);
    }
    Ok(versions)
}

fn client_verifier(
    settings: &TlsSettings,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    if settings.verify == ClientVerify::None {
        return Ok(None);
    }
    let ca = settings.ca.as_deref().ok_or(TlsError::MissingCa)?;
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = match settings.verify {
        ClientVerify::Optional => builder.allow_unauthenticated(),
        _ => builder,
    };
    let verifier = builder
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Some(verifier))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn file_error(path: &Path, error: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}
