//! Builds the broker from a [`Config`] and runs it until shut down.

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::task::JoinHandle;
use warren_amqp::{AmqpConfig, AmqpSessionFactory};
use warren_core::{Core, CoreConfig, UserConfig};
use warren_model::{Broker, CoreError, SessionFactory, UserName, VHostName};
use warren_net::{bind_tcp, spawn_tcp_listener, ListenerError, Shutdown};

use crate::config::Config;

/// Errors starting the server.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error(transparent)]
    Listen(#[from] ListenerError),
    /// A configured name is invalid.
    #[error("invalid name in config: {0}")]
    Name(#[from] CoreError),
    /// The data directory could not be created.
    #[error("cannot create data directory: {0}")]
    DataDir(std::io::Error),
}

/// A started broker. Dropping it without [`RunningServer::shutdown`] leaves its tasks running
/// until the runtime stops.
#[derive(Debug)]
pub struct RunningServer {
    amqp_addr: SocketAddr,
    shutdown: Shutdown,
    listeners: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Builds the core and binds every listener; returns once they accept connections.
    pub async fn start(config: &Config) -> Result<Self, ServerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(ServerError::DataDir)?;
        let core: Arc<dyn Broker> = Core::new(core_config(config)?);
        let (shutdown, signal) = Shutdown::new();
        let amqp = bind_tcp(config.listeners.amqp).await?;
        let amqp_addr = amqp.local_addr().map_err(|source| ListenerError::Bind {
            addr: config.listeners.amqp,
            source,
        })?;
        let factory: Arc<dyn SessionFactory> =
            Arc::new(AmqpSessionFactory::new(core, amqp_config(config)));
        let listeners = vec![spawn_tcp_listener(amqp, "amqp", factory, signal)];
        Ok(Self {
            amqp_addr,
            shutdown,
            listeners,
        })
    }

    /// The bound AMQP address (the real port when configured with port 0).
    pub fn amqp_addr(&self) -> SocketAddr {
        self.amqp_addr
    }

    /// The bound address of every running listener, by protocol name.
    pub fn listening(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![("amqp", self.amqp_addr)]
    }

    /// Stops accepting, says goodbye to every connection and waits for them to close.
    pub async fn shutdown(self) {
        self.shutdown.trigger();
        for listener in self.listeners {
            let _ = listener.await;
        }
    }
}

fn core_config(config: &Config) -> Result<CoreConfig, CoreError> {
    let users = config
        .users
        .iter()
        .map(|user| {
            Ok(UserConfig {
                name: UserName::try_from(user.name.as_str())?,
                password: user.password.clone(),
                loopback_only: user.loopback_only,
            })
        })
        .collect::<Result<_, CoreError>>()?;
    let vhosts = config
        .vhosts
        .iter()
        .map(|name| VHostName::try_from(name.as_str()))
        .collect::<Result<_, _>>()?;
    Ok(CoreConfig { users, vhosts })
}

fn amqp_config(config: &Config) -> AmqpConfig {
    AmqpConfig {
        frame_max: config.amqp.frame_max,
        channel_max: config.amqp.channel_max,
        heartbeat_secs: config.amqp.heartbeat,
        max_outbox_bytes: config.amqp.max_outbox_bytes,
    }
}
