//! The broker: users, vhosts, connection ids; the [`Broker`] adapters log in through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use warren_model::{
    Blobs, Broker, ConnectionId, CoreError, PublishGate, Scheduler, UserName, VHost, VHostName,
};

use warren_store::{Recovered, Store, StoreConfig, StoreError};

use crate::config::{CoreConfig, UserConfig};
use crate::durable::{delayed, recover, Durable};
use crate::exchange::ExchangeRegistry;
use crate::queue::backlog::Backlog;
use crate::timer::Timers;
use crate::vhost::VHostCore;

/// The broker core. Every user may open every vhost (permissions are a later issue).
pub struct Core {
    users: HashMap<UserName, UserConfig>,
    vhosts: HashMap<VHostName, Arc<VHostCore>>,
    next_connection: AtomicU64,
    durable: Option<Arc<Durable>>,
    gate: Arc<PublishGate>,
}

impl Core {
    /// A broker with the standard exchange types.
    pub fn new(config: CoreConfig) -> Arc<Self> {
        Self::with_exchange_types(config, ExchangeRegistry::standard())
    }

    /// A broker whose deadlines (TTLs, queue expiry, delayed messages) fire through
    /// `scheduler`. Without one, as from [`Core::new`], they are met lazily.
    pub fn with_scheduler(config: CoreConfig, scheduler: Arc<dyn Scheduler>) -> Arc<Self> {
        Self::build(config, ExchangeRegistry::standard(), Some(scheduler))
    }

    /// A broker whose vhosts know the exchange types in `registry`.
    pub fn with_exchange_types(config: CoreConfig, registry: ExchangeRegistry) -> Arc<Self> {
        Self::build(config, registry, None)
    }

    /// A broker with the exchange types in `registry` and, when given, a scheduler.
    pub fn build(
        config: CoreConfig,
        registry: ExchangeRegistry,
        scheduler: Option<Arc<dyn Scheduler>>,
    ) -> Arc<Self> {
        Self::assemble(config, registry, scheduler, None)
    }

    /// A broker that keeps durable definitions and persistent messages in `store`, starting
    /// from what the store recovered.
    pub fn build_durable(
        config: CoreConfig,
        registry: ExchangeRegistry,
        scheduler: Option<Arc<dyn Scheduler>>,
        store: Store,
        recovered: &Recovered,
        queue_memory_bytes: u64,
    ) -> Arc<Self> {
        let durable = Durable::new(store, recovered, queue_memory_bytes);
        let core = Self::assemble(config, registry, scheduler, Some(Arc::clone(&durable)));
        recover::restore(&durable, recovered, &core.vhosts);
        let epoch = delayed::epoch();
        for (name, vhost) in &core.vhosts {
            let log = delayed::StoredDelays::new(Arc::clone(&durable), name.clone(), epoch);
            vhost.attach_delayed_log(Arc::new(log));
        }
        let restored = delayed::restore(&durable, recovered, |name| core.vhosts.get(name).cloned());
        if restored > 0 {
            tracing::info!(restored, "delayed messages recovered");
        }
        core
    }

    /// Opens (recovering) the store in `dir` and builds a durable broker with the standard
    /// exchange types on it. Each durable queue keeps up to `queue_memory_bytes` of ready
    /// bodies in memory; persistent messages beyond that stay on disk until delivered.
    pub fn open_durable(
        config: CoreConfig,
        scheduler: Option<Arc<dyn Scheduler>>,
        dir: &std::path::Path,
        store_config: StoreConfig,
        queue_memory_bytes: u64,
    ) -> Result<Arc<Self>, StoreError> {
        let (store, recovered) = Store::open(dir, store_config)?;
        let registry = ExchangeRegistry::standard();
        let memory = queue_memory_bytes;
        Ok(Self::build_durable(
            config, registry, scheduler, store, &recovered, memory,
        ))
    }

    fn assemble(
        config: CoreConfig,
        registry: ExchangeRegistry,
        scheduler: Option<Arc<dyn Scheduler>>,
        durable: Option<Arc<Durable>>,
    ) -> Arc<Self> {
        let timers = Timers::new(scheduler);
        let registry = Arc::new(registry);
        let consumer_ids = Arc::new(AtomicU64::new(1));
        let backlog = Arc::new(Backlog::default());
        let vhosts = config
            .vhosts
            .into_iter()
            .map(|name| {
                let vhost = VHostCore::new(
                    name.clone(),
                    registry.clone(),
                    consumer_ids.clone(),
                    Arc::clone(&timers),
                    Arc::clone(&backlog),
                    durable.clone(),
                );
                (name, vhost)
            })
            .collect();
        let users = config
            .users
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect();
        Arc::new(Self {
            users,
            vhosts,
            next_connection: AtomicU64::new(1),
            durable,
            gate: Arc::default(),
        })
    }

    /// The gate publishers wait at while a resource alarm is on (the server's disk monitor
    /// closes it when free space falls below the limit).
    pub fn gate(&self) -> &Arc<PublishGate> {
        &self.gate
    }

    /// The store, when the broker has one.
    pub fn durable(&self) -> Option<&Arc<Durable>> {
        self.durable.as_ref()
    }

    /// Closes the store cleanly (at shutdown, after the connections are gone): what the
    /// queues still hold stays on disk and nothing more is written.
    pub fn close_store(&self) {
        if let Some(durable) = &self.durable {
            durable.close();
        }
    }

    /// The vhost `name`, bypassing login (for tests and in-process tools).
    pub fn vhost_by_name(&self, name: &VHostName) -> Result<Arc<dyn VHost>, CoreError> {
        let vhost = self.vhosts.get(name).cloned();
        let vhost =
            vhost.ok_or_else(|| CoreError::not_allowed(format!("vhost {name} not found")))?;
        Ok(vhost)
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("vhosts", &self.vhosts.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && diff == 0
}

impl Broker for Core {
    fn authenticate(
        &self,
        user: &str,
        password: &str,
        from_loopback: bool,
    ) -> Result<UserName, CoreError> {
        let refused = || {
            CoreError::access_refused(
                "Login was refused using authentication mechanism PLAIN. For details see the \
                 broker logfile.",
            )
        };
        let found = UserName::try_from(user)
            .ok()
            .and_then(|n| self.users.get(&n));
        let user = found.ok_or_else(refused)?;
        if !same_secret(&user.password, password) {
            return Err(refused());
        }
        if user.loopback_only && !from_loopback {
            let msg = format!("user '{}' can only connect via localhost", user.name);
            return Err(CoreError::access_refused(msg));
        }
        Ok(user.name.clone())
    }

    fn authenticate_external(
        &self,
        user: &str,
        from_loopback: bool,
    ) -> Result<UserName, CoreError> {
        let found = UserName::try_from(user)
            .ok()
            .and_then(|n| self.users.get(&n));
        let user = found.ok_or_else(|| {
            CoreError::access_refused(format!(
                "Login was refused using authentication mechanism EXTERNAL: no user '{user}'"
            ))
        })?;
        if user.loopback_only && !from_loopback {
            let msg = format!("user '{}' can only connect via localhost", user.name);
            return Err(CoreError::access_refused(msg));
        }
        Ok(user.name.clone())
    }

    fn vhost(&self, _user: &UserName, vhost: &VHostName) -> Result<Arc<dyn VHost>, CoreError> {
        self.vhost_by_name(vhost)
    }

    fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed))
    }

    fn publish_gate(&self) -> Option<Arc<PublishGate>> {
        Some(Arc::clone(&self.gate))
    }

    fn blobs(&self) -> Option<Arc<dyn Blobs>> {
        let durable: Arc<dyn Blobs> = self.durable.clone()?;
        Some(durable)
    }
}
