//! The login name in a verified client certificate, as RabbitMQ's `ssl_cert_login_from`:
//! the subject's common name, or the first subject alternative name of a given type.
//!
//! Only certificates the TLS handshake verified reach this module, so the name is proved.

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Which name of a client certificate logs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertLogin {
    /// Certificates are not used to log in.
    #[default]
    Off,
    /// The subject's common name (CN).
    CommonName,
    /// The first subject alternative name of this type.
    SubjectAltName(SanType),
}

/// A kind of subject alternative name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanType {
    /// `dNSName`.
    Dns,
    /// `rfc822Name` (an e-mail address).
    Email,
    /// `uniformResourceIdentifier`.
    Uri,
}

/// The login name `from` picks in the leaf certificate of `chain`, if there is one.
pub fn login_name(chain: Option<&[CertificateDer<'_>]>, from: CertLogin) -> Option<String> {
    if from == CertLogin::Off {
        return None;
    }
    let leaf = chain?.first()?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    match from {
        CertLogin::Off => None,
        CertLogin::CommonName => common_name(&cert),
        CertLogin::SubjectAltName(kind) => alt_name(&cert, kind),
    }
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

fn alt_name(cert: &X509Certificate<'_>, kind: SanType) -> Option<String> {
    let san = cert.subject_alternative_name().ok()??;
    san.value
        .general_names
        .iter()
        .find_map(|name| match (kind, name) {
            (SanType::Dns, GeneralName::DNSName(n)) => Some(n.to_string()),
            (SanType::Email, GeneralName::RFC822Name(n)) => Some(n.to_string()),
            (SanType::Uri, GeneralName::URI(n)) => Some(n.to_string()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType as RcSan};

    fn cert() -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["device-7.example".to_owned()]).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "sensor-7");
        params.distinguished_name = dn;
        params
            .subject_alt_names
            .push(RcSan::Rfc822Name("ops@example.com".try_into().unwrap()));
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn picks_the_configured_name() {
        let chain = [cert()];
        let name = |from| login_name(Some(&chain), from);
        assert_eq!(name(CertLogin::CommonName).as_deref(), Some("sensor-7"));
        let dns = CertLogin::SubjectAltName(SanType::Dns);
        assert_eq!(name(dns).as_deref(), Some("device-7.example"));
        let email = CertLogin::SubjectAltName(SanType::Email);
        assert_eq!(name(email).as_deref(), Some("ops@example.com"));
        assert_eq!(name(CertLogin::SubjectAltName(SanType::Uri)), None);
        assert_eq!(name(CertLogin::Off), None);
    }

    #[test]
    fn no_certificate_or_garbage_is_no_name() {
        assert_eq!(login_name(None, CertLogin::CommonName), None);
        let garbage = [CertificateDer::from(vec![0x30, 0x03, 0x01])];
        assert_eq!(login_name(Some(&garbage), CertLogin::CommonName), None);
    }
}
