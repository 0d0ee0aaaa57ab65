//! The daemon's shared state ([`App`]): the one place where the store, the
//! configuration, the login throttle, the metrics and the migration engine are
//! put together. Protocol front ends, the login gate, the delivery router and
//! the admin API receive an `Arc<App>`; nothing below them (store, legacy
//! clients, migration engine, connection plumbing) names it.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{CredentialCache, Throttle};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::migrate::engine::Engine;
use crate::server::tls;
use crate::shared::Shared;
use crate::store::Store;

/// State shared by every session of the daemon.
pub struct App {
    config: Arc<Shared<Config>>,
    pub store: Arc<Store>,
    pub tls: TlsAcceptor,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Failed-login delays and the legacy-check budget.
    pub throttle: Throttle,
    /// Passwords verified lately (keyed hashes): returning users' logins.
    pub credentials: CredentialCache,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// Running per-user migrations and the legacy host connection caps.
    pub migrations: Arc<Engine>,
}

impl App {
    /// Opens the store and loads TLS for `config`.
    pub fn new(config: Config) -> Result<Arc<App>, String> {
        let store = Store::open(&config.data_dir).map_err(|e| {
            format!(
                "cannot open the store in {}: {e}",
                config.data_dir.display()
            )
        })?;
        let server_tls = match &config.tls {
            Some(t) => tls::load_files(&t.cert, &t.key)?,
            None => tls::self_signed(&config.data_dir, &config.hostname)?,
        };
        let throttle = Throttle::new(
            Duration::from_millis(config.auth.failure_delay_ms),
            Duration::from_millis(config.auth.max_failure_delay_ms),
        );
        let config = Arc::new(Shared::new(config));
        let metrics = Arc::new(Metrics::default());
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let migrations = Engine::new(
            store.clone(),
            config.clone(),
            metrics.clone(),
            shutdown.clone(),
            tasks.clone(),
        )?;
        Ok(Arc::new(App {
            throttle,
            credentials: CredentialCache::new(),
            migrations,
            metrics,
            config,
            store,
            tls: TlsAcceptor::from(server_tls),
            shutdown,
            tasks,
        }))
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// Replaces the configuration (SIGHUP). Listeners stay as they were bound.
    pub fn set_config(&self, config: Config) {
        self.config.set(config);
    }
}
