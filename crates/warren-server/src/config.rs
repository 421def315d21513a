//! The broker's configuration: TOML with serde, every key defaulted, unknown keys rejected by
//! name. `config/warren.toml` lists every key with its default; a test keeps the two equal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::config_listen::PlainListener;
use crate::config_memory::MemorySection;
use crate::config_mqtt::MqttSection;
use crate::config_stomp::StompSection;
use crate::config_storage::StorageSection;
use crate::config_tls::{AmqpsListener, MqttsListener, StompsListener, TlsSection, WsListener};

/// Errors reading the configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key (named in the message) or a bad value.
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value parsed but makes no sense (e.g. an invalid name).
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where each protocol listens.
    pub listeners: Listeners,
    /// Where durable state lives.
    pub data_dir: PathBuf,
    /// How the message store is sized.
    pub storage: StorageSection,
    /// The memory high watermark.
    pub memory: MemorySection,
    /// Logging.
    pub log: LogConfig,
    /// AMQP 0-9-1 protocol limits.
    pub amqp: AmqpSection,
    /// MQTT settings.
    pub mqtt: MqttSection,
    /// STOMP settings.
    pub stomp: StompSection,
    /// TLS settings shared by the TLS listeners.
    pub tls: TlsSection,
    /// Users; the default is RabbitMQ's guest/guest, loopback only.
    pub users: Vec<UserSection>,
    /// Virtual hosts; the default is `/`.
    pub vhosts: Vec<String>,
}

/// Listener addresses.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listeners {
    /// AMQP 0-9-1 over plain TCP (`"none"`: off).
    pub amqp: PlainListener,
    /// MQTT 3.1, 3.1.1 and 5.0 over plain TCP (`"none"`: off).
    pub mqtt: PlainListener,
    /// STOMP 1.0, 1.1 and 1.2 over plain TCP (`"none"`: off).
    pub stomp: PlainListener,
    /// AMQP over TLS (off by default).
    pub amqps: AmqpsListener,
    /// MQTT over TLS (off by default).
    pub mqtts: MqttsListener,
    /// STOMP over TLS (off by default).
    pub stomps: StompsListener,
    /// MQTT and STOMP over WebSocket (off by default).
    pub ws: WsListener,
}

/// Logging settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `warren_amqp=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

/// AMQP limits offered in `connection.tune`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSection {
    /// Largest frame, bytes.
    pub frame_max: u32,
    /// Most channels per connection.
    pub channel_max: u16,
    /// Heartbeat interval offered, seconds; the client's `tune-ok` value is the one used.
    pub heartbeat: u16,
    /// Pending output bytes above which a connection's socket stops being read; deliveries
    /// pause once 64 KiB (or this, when smaller) waits in its outbox.
    pub max_outbox_bytes: usize,
}

/// A user.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// Login name.
    pub name: String,
    /// Password.
    pub password: String,
    /// Refuse this user on non-loopback connections.
    #[serde(default)]
    pub loopback_only: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listeners: Listeners::default(),
            data_dir: PathBuf::from("data"),
            storage: StorageSection::default(),
            memory: MemorySection::default(),
            log: LogConfig::default(),
            amqp: AmqpSection::default(),
            mqtt: MqttSection::default(),
            stomp: StompSection::default(),
            tls: TlsSection::default(),
            users: vec![UserSection {
                name: "guest".into(),
                password: "guest".into(),
                loopback_only: true,
            }],
            vhosts: vec!["/".into()],
        }
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Self {
            amqp: SocketAddr::from(([0, 0, 0, 0], 5672)).into(),
            mqtt: SocketAddr::from(([0, 0, 0, 0], 1883)).into(),
            stomp: SocketAddr::from(([0, 0, 0, 0], 61613)).into(),
            amqps: AmqpsListener::default(),
            mqtts: MqttsListener::default(),
            stomps: StompsListener::default(),
            ws: WsListener::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

impl Default for AmqpSection {
    fn default() -> Self {
        Self {
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            max_outbox_bytes: 4 << 20,
        }
    }
}

impl Config {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.amqp.frame_max < 4096 {
            return Err(ConfigError::Invalid(
                "amqp.frame_max must be at least 4096".into(),
            ));
        }
        self.memory.validate().map_err(ConfigError::Invalid)?;
        self.mqtt.to_adapter()?;
        self.stomp.to_adapter()?;
        if self.vhosts.is_empty() {
            return Err(ConfigError::Invalid(
                "vhosts must name at least one vhost".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_file_equals_embedded_defaults() {
        let text = include_str!("../../../config/warren.toml");
        assert_eq!(Config::from_toml(text).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let error = Config::from_toml("[amqp]\nframe_maximum = 5\n").unwrap_err();
        assert!(error.to_string().contains("frame_maximum"), "{error}");
        let error = Config::from_toml("colour = \"blue\"\n").unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
    }

    #[test]
    fn values_override_defaults() {
        let config = Config::from_toml("[listeners]\namqp = \"127.0.0.1:5999\"\n").unwrap();
        assert_eq!(config.listeners.amqp, "127.0.0.1:5999".parse().unwrap());
        assert_eq!(config.listeners.mqtt, Listeners::default().mqtt);
    }

    #[test]
    fn a_plain_listener_can_be_turned_off() {
        let config = Config::from_toml("[listeners]\nmqtt = \"none\"\n").unwrap();
        assert_eq!(config.listeners.mqtt, PlainListener::Off);
        assert_eq!(config.listeners.amqp, Listeners::default().amqp);
        let error = Config::from_toml("[listeners]\nmqtt = \"nowhere\"\n").unwrap_err();
        assert!(error.to_string().contains("nowhere"), "{error}");
    }

    #[test]
    fn every_example_in_the_configuration_guide_parses() {
        let guide = include_str!("../../../docs/configuration.md");
        let examples: Vec<&str> = guide
            .split("```toml\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap_or_default())
            .collect();
        assert!(examples.len() >= 2, "the guide has TOML examples");
        for example in examples {
            if let Err(error) = Config::from_toml(example) {
                panic!("{error}\nin the example:\n{example}");
            }
        }
    }

    #[test]
    fn too_small_frame_max_is_refused() {
        assert!(Config::from_toml("[amqp]\nframe_max = 100\n").is_err());
    }
}
