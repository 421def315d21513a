//! Command-line quick starts for TLS and WebSocket: `--tls-cert` and `--tls-key` turn the TLS
//! listeners on with the shared `[tls]` settings; the `--*-listen` flags move (and turn on)
//! one listener.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::config_tls::VerifySection;

/// TLS and WebSocket overrides.
#[derive(Debug, Default, Args)]
pub struct TlsArgs {
    /// Server certificate chain (PEM); with --tls-key turns on AMQPS, MQTTS and STOMPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) that signs client certificates.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificates: none, optional or required.
    #[arg(long, value_name = "MODE")]
    pub tls_verify: Option<VerifyArg>,
    /// AMQPS listen address (default 0.0.0.0:5671); turns AMQPS on.
    #[arg(long, value_name = "ADDR")]
    pub amqps_listen: Option<SocketAddr>,
    /// MQTTS listen address (default 0.0.0.0:8883); turns MQTTS on.
    #[arg(long, value_name = "ADDR")]
    pub mqtts_listen: Option<SocketAddr>,
    /// STOMPS listen address (default 0.0.0.0:61614); turns STOMPS on.
    #[arg(long, value_name = "ADDR")]
    pub stomps_listen: Option<SocketAddr>,
    /// WebSocket listen address (default 0.0.0.0:15675); turns the WebSocket listener on.
    #[arg(long, value_name = "ADDR")]
    pub ws_listen: Option<SocketAddr>,
    /// Serve the WebSocket listener as WSS with the TLS certificate; turns it on.
    #[arg(long)]
    pub wss: bool,
}

/// `--tls-verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerifyArg {
    /// No client certificates.
    None,
    /// Client certificates are checked when shown.
    Optional,
    /// Client certificates are required.
    Required,
}

impl TlsArgs {
    /// Applies the overrides to `config`.
    pub fn apply(&self, config: &mut Config) {
        let tls = &mut config.tls;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            tls.cert.clone_from(cert);
            tls.key.clone_from(key);
            let l = &mut config.listeners;
            (l.amqps.enabled, l.mqtts.enabled, l.stomps.enabled) = (true, true, true);
        }
        if let Some(ca) = &self.tls_ca {
            config.tls.ca.clone_from(ca);
        }
        if let Some(verify) = self.tls_verify {
            config.tls.verify = match verify {
                VerifyArg::None => VerifySection::None,
                VerifyArg::Optional => VerifySection::Optional,
                VerifyArg::Required => VerifySection::Required,
            };
        }
        self.apply_addresses(config);
    }

    fn apply_addresses(&self, config: &mut Config) {
        let l = &mut config.listeners;
        if let Some(addr) = self.amqps_listen {
            (l.amqps.enabled, l.amqps.address) = (true, addr);
        }
        if let Some(addr) = self.mqtts_listen {
            (l.mqtts.enabled, l.mqtts.address) = (true, addr);
        }
        if let Some(addr) = self.stomps_listen {
            (l.stomps.enabled, l.stomps.address) = (true, addr);
        }
        if let Some(addr) = self.ws_listen {
            (l.ws.enabled, l.ws.address) = (true, addr);
        }
        if self.wss {
            (l.ws.enabled, l.ws.wss) = (true, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config_tls::VerifySection;
    use crate::Cli;

    #[test]
    fn tls_flags_turn_the_tls_listeners_on() {
        let cli = Cli::parse_from([
            "warren",
            "--tls-cert",
            "s.pem",
            "--tls-key",
            "s.key",
            "--tls-ca",
            "ca.pem",
            "--tls-verify",
            "required",
            "--mqtts-listen",
            "127.0.0.1:0",
        ]);
        let config = cli.config().unwrap();
        assert!(config.listeners.amqps.enabled && config.listeners.stomps.enabled);
        assert!(config.listeners.mqtts.enabled);
        assert_eq!(
            config.listeners.mqtts.address,
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(config.tls.cert.to_str(), Some("s.pem"));
        assert_eq!(config.tls.verify, VerifySection::Required);
        assert!(!config.listeners.ws.enabled);
    }

    #[test]
    fn ws_listen_turns_only_the_websocket_listener_on() {
        let cli = Cli::parse_from(["warren", "--ws-listen", "127.0.0.1:15999"]);
        let config = cli.config().unwrap();
        assert!(config.listeners.ws.enabled && !config.listeners.ws.wss);
        assert!(!config.listeners.amqps.enabled);
    }

    #[test]
    fn wss_turns_the_websocket_listener_on_over_tls() {
        let cli = Cli::parse_from(["warren", "--tls-cert", "s.pem", "--tls-key", "s.key"]);
        assert!(!cli.config().unwrap().listeners.ws.enabled);
        let cli = Cli::parse_from(["warren", "--tls-cert", "s.pem", "--tls-key", "k", "--wss"]);
        let config = cli.config().unwrap();
        assert!(config.listeners.ws.enabled && config.listeners.ws.wss);
    }

    #[test]
    fn a_certificate_without_a_key_is_refused() {
        assert!(Cli::try_parse_from(["warren", "--tls-cert", "s.pem"]).is_err());
        assert!(Cli::try_parse_from(["warren", "--tls-verify", "sometimes"]).is_err());
    }
}
