//! Certificates made at test time: a CA, a server certificate for localhost and client
//! certificates, as PEM files in a directory removed on drop.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A test CA and the files it signed.
pub struct TestCerts {
    dir: PathBuf,
    ca: Issuer<'static, KeyPair>,
    ca_pem: String,
}

impl TestCerts {
    /// A new CA (`ca.pem`) and a server certificate for localhost and 127.0.0.1
    /// (`server.pem`, `server.key`).
    ///
    /// # Panics
    /// If the files cannot be written.
    pub fn new() -> Self {
        let dir = crate::unique_temp_dir("warren-certs");
        std::fs::create_dir_all(&dir).expect("certificate directory");
        let (ca, ca_pem) = ca("Warren test CA");
        let certs = Self { dir, ca, ca_pem };
        certs.write("ca.pem", &certs.ca_pem);
        certs.issue("server", "localhost", &["localhost", "127.0.0.1"]);
        certs
    }

    /// Writes `<name>.pem` and `<name>.key`: a certificate with subject CN `cn` and DNS (or
    /// IP) subject alternative names `sans`, signed by the CA.
    pub fn issue(&self, name: &str, cn: &str, sans: &[&str]) {
        let (cert, key) = leaf(&self.ca, cn, sans);
        self.write(&format!("{name}.pem"), &cert);
        self.write(&format!("{name}.key"), &key);
    }

    /// Like [`TestCerts::issue`], signed by a CA nobody trusts.
    pub fn issue_untrusted(&self, name: &str, cn: &str) {
        let (other, _) = ca("Untrusted CA");
        let (cert, key) = leaf(&other, cn, &[]);
        self.write(&format!("{name}.pem"), &cert);
        self.write(&format!("{name}.key"), &key);
    }

    /// The path of a file in the directory, e.g. `ca.pem`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The text of a file in the directory.
    ///
    /// # Panics
    /// If it does not exist.
    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).expect("certificate file")
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path(file), text).expect("write certificate file");
    }
}

impl Default for TestCerts {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(cn: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).expect("CA certificate");
    (Issuer::new(params, key), cert.pem())
}

fn leaf(ca: &Issuer<'static, KeyPair>, cn: &str, sans: &[&str]) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.signed_by(&key, ca).expect("certificate");
    (cert.pem(), key.serialize_pem())
}
