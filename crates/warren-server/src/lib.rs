//! The Warren server: configuration, wiring of the core to the protocol adapters and the
//! listeners, and the `warren` binary's command line.
//!
//! This is the only crate that names every protocol. It holds no protocol or routing logic:
//! it builds the pieces from [`Config`] and starts them.

mod cli;
mod cli_tls;
mod config;
mod config_listen;
mod config_memory;
mod config_mqtt;
mod config_stomp;
mod config_storage;
mod config_tls;
mod disk;
mod memory;
mod server;
mod tls;

pub use cli::Cli;
pub use cli_tls::{TlsArgs, VerifyArg};
pub use config::{AmqpSection, Config, ConfigError, Listeners, LogConfig, UserSection};
pub use config_listen::PlainListener;
pub use config_memory::MemorySection;
pub use config_mqtt::{MqttSection, TopicMappingSection};
pub use config_stomp::StompSection;
pub use config_storage::StorageSection;
pub use config_tls::{
    AmqpsListener, AmqpsPort, CertLoginSection, DefaultPort, MqttsListener, MqttsPort,
    SanTypeSection, StompsListener, StompsPort, TlsListener, TlsSection, VerifySection,
    VersionSection, WsListener,
};
pub use server::{RunningServer, ServerError};
