//! The command line: a config file plus the overrides most often needed.

use std::path::PathBuf;

use clap::Parser;

use crate::cli_tls::TlsArgs;
use crate::config::{Config, ConfigError};
use crate::config_listen::PlainListener;

/// Warren: one broker for AMQP 0-9-1, MQTT and STOMP.
#[derive(Debug, Parser)]
#[command(name = "warren", version)]
pub struct Cli {
    /// TOML configuration file (every key is optional; see config/warren.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// AMQP listen address (default 0.0.0.0:5672; `none`: no plain AMQP listener).
    #[arg(long, value_name = "ADDR")]
    pub amqp_listen: Option<PlainListener>,
    /// MQTT listen address (default 0.0.0.0:1883; `none`: no plain MQTT listener).
    #[arg(long, value_name = "ADDR")]
    pub mqtt_listen: Option<PlainListener>,
    /// STOMP listen address (default 0.0.0.0:61613; `none`: no plain STOMP listener).
    #[arg(long, value_name = "ADDR")]
    pub stomp_listen: Option<PlainListener>,
    /// Directory for durable state.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TLS and WebSocket overrides.
    #[command(flatten)]
    pub tls: TlsArgs,
}

impl Cli {
    /// The configuration: the file (or the embedded defaults) with the overrides applied.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(addr) = self.amqp_listen {
            config.listeners.amqp = addr;
        }
        if let Some(addr) = self.mqtt_listen {
            config.listeners.mqtt = addr;
        }
        if let Some(addr) = self.stomp_listen {
            config.listeners.stomp = addr;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir.clone_from(dir);
        }
        self.tls.apply(&mut config);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_defaults() {
        let cli = Cli::parse_from(["warren", "--amqp-listen", "127.0.0.1:0", "--data-dir", "d"]);
        let config = cli.config().unwrap();
        assert_eq!(config.listeners.amqp, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("d"));
        assert_eq!(config.listeners.stomp, Config::default().listeners.stomp);
    }

    #[test]
    fn none_turns_a_plain_listener_off() {
        let cli = Cli::parse_from(["warren", "--stomp-listen", "none"]);
        let config = cli.config().unwrap();
        assert_eq!(config.listeners.stomp, PlainListener::Off);
        assert_eq!(config.listeners.amqp, Config::default().listeners.amqp);
    }

    #[test]
    fn bad_address_is_refused() {
        assert!(Cli::try_parse_from(["warren", "--amqp-listen", "nowhere"]).is_err());
    }
}
