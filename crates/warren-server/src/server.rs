//! Builds the broker from a [`Config`] and runs it until shut down.

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::task::JoinHandle;
use warren_amqp::{AmqpConfig, AmqpSessionFactory};
use warren_core::{Core, CoreConfig, StoreError, UserConfig};
use warren_model::{
    Broker, CoreError, PublishGate, Scheduler, SessionFactory, UserName, VHostName,
};
use warren_mqtt::MqttSessionFactory;
use warren_net::{
    bind_tcp, spawn_listener, ListenerError, ListenerSpec, Service, Shutdown, ShutdownSignal,
    TlsContext, TlsError, TokioScheduler,
};
use warren_stomp::StompSessionFactory;

use crate::config::{Config, ConfigError};
use crate::tls;

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
    /// The message store could not be opened.
    #[error("cannot open the message store: {0}")]
    Store(#[from] StoreError),
    /// A configuration value is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TLS listener's certificate, key or CA could not be loaded.
    #[error("listener {listener}: {source}")]
    Tls {
        /// The listener.
        listener: String,
        /// Why.
        source: TlsError,
    },
}

/// A started broker. Dropping it without [`RunningServer::shutdown`] leaves its tasks running
/// until the runtime stops.
#[derive(Debug)]
pub struct RunningServer {
    core: Arc<Core>,
    disk_monitor: Option<JoinHandle<()>>,
    memory_monitor: Option<JoinHandle<()>>,
    listening: Vec<(&'static str, SocketAddr)>,
    shutdown: Shutdown,
    listeners: Vec<JoinHandle<()>>,
    tls: Vec<(&'static str, Arc<TlsContext>)>,
}

impl RunningServer {
    /// Builds the core and binds every listener; returns once they accept connections. Must
    /// run inside a tokio runtime (timers and connection tasks are spawned on it).
    pub async fn start(config: &Config) -> Result<Self, ServerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(ServerError::DataDir)?;
        let scheduler: Arc<dyn Scheduler> = Arc::new(TokioScheduler::current());
        let durable = Core::open_durable(
            core_config(config)?,
            Some(scheduler),
            &config.data_dir,
            config.storage.store_config(),
            config.storage.queue_memory_bytes,
        )?;
        let core: Arc<dyn Broker> = durable.clone();
        let disk_monitor = crate::disk::monitor(
            config.data_dir.clone(),
            config.storage.disk_free_limit,
            Arc::clone(durable.gate()),
        );
        let memory_monitor = crate::memory::monitor(
            config.memory.watermark(crate::memory::total_ram()),
            Arc::clone(durable.gate()),
        );
        let (shutdown, signal) = Shutdown::new();
        let mut server = Self {
            core: durable,
            disk_monitor,
            memory_monitor,
            listening: Vec::new(),
            shutdown,
            listeners: Vec::new(),
            tls: Vec::new(),
        };
        let amqp = Arc::new(AmqpSessionFactory::new(
            Arc::clone(&core),
            amqp_config(config),
        ));
        if let Some(addr) = config.listeners.amqp.address() {
            server.listen("amqp", addr, amqp.clone(), &signal).await?;
        }
        let mqtt = Arc::new(MqttSessionFactory::new(
            Arc::clone(&core),
            config.mqtt.to_adapter()?,
            Arc::new(TokioScheduler::current()),
        ));
        if let Some(addr) = config.listeners.mqtt.address() {
            server.listen("mqtt", addr, mqtt.clone(), &signal).await?;
        }
        let stomp = Arc::new(StompSessionFactory::new(
            Arc::clone(&core),
            config.stomp.to_adapter()?,
        ));
        if let Some(addr) = config.listeners.stomp.address() {
            server.listen("stomp", addr, stomp.clone(), &signal).await?;
        }
        let factories = tls::Factories { amqp, mqtt, stomp };
        for planned in tls::plan(config, &factories)? {
            server
                .listen_with(planned.addr, planned.spec, &signal)
                .await?;
        }
        Ok(server)
    }

    async fn listen(
        &mut self,
        protocol: &'static str,
        addr: SocketAddr,
        factory: Arc<dyn SessionFactory>,
        signal: &ShutdownSignal,
    ) -> Result<(), ServerError> {
        let service = Service::Session(factory);
        let spec = ListenerSpec {
            name: protocol,
            service,
            tls: None,
        };
        self.listen_with(addr, spec, signal).await
    }

    async fn listen_with(
        &mut self,
        addr: SocketAddr,
        spec: ListenerSpec,
        signal: &ShutdownSignal,
    ) -> Result<(), ServerError> {
        let listener = bind_tcp(addr).await?;
        let bound = listener
            .local_addr()
            .map_err(|source| ListenerError::Bind { addr, source })?;
        self.listening.push((spec.name, bound));
        if let Some(tls) = &spec.tls {
            self.tls.push((spec.name, Arc::clone(tls)));
        }
        self.listeners
            .push(spawn_listener(listener, spec, signal.clone()));
        Ok(())
    }

    /// Reads every TLS listener's certificate, key and CA files again; connections accepted
    /// afterwards use them. A listener whose files are bad keeps its old ones (the error is
    /// returned and logged).
    pub fn reload_tls(&self) -> Result<(), ServerError> {
        tls::reload(&self.tls)
    }

    /// The bound address of `protocol`'s listener (the real port when configured with port 0).
    pub fn addr(&self, protocol: &str) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find(|(name, _)| *name == protocol)
            .map(|(_, addr)| *addr)
    }

    /// The bound AMQP address.
    pub fn amqp_addr(&self) -> SocketAddr {
        self.addr("amqp")
            .unwrap_or_else(|| unreachable!("the AMQP listener is always started"))
    }

    /// The bound address of every running listener, by protocol name.
    pub fn listening(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listening.clone()
    }

    /// The gate that holds publishers back while the disk or memory alarm is on (tests drive it).
    pub fn publish_gate(&self) -> Arc<PublishGate> {
        Arc::clone(self.core.gate())
    }

    /// Stops accepting, says goodbye to every connection and waits for them to close.
    pub async fn shutdown(self) {
        for monitor in [&self.disk_monitor, &self.memory_monitor]
            .into_iter()
            .flatten()
        {
            monitor.abort();
        }
        self.shutdown.trigger();
        for listener in self.listeners {
            let _ = listener.await;
        }
        // Every connection is gone, so nothing more is settled: what the queues hold stays.
        self.core.close_store();
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
