//! The migration engine's shared state (DESIGN §1): every running per-user
//! migration (at most one per account), the per-legacy-host limits, the
//! admin's password vault and pauses, and what the engine needs of the daemon
//! (store, configuration, metrics, shutdown). It names nothing above it: the
//! login gate, the admin API and the daemon call in.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::hosts::Hosts;
use super::jobs;
use super::sequence;
use super::user::{Phase, UserMigration};
use super::vault::Vault;
use crate::auth::Password;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::store::{Account, Store};

/// Copy attempts (each ending in a failed copy or verification) before the
/// account is marked `failed`.
pub const MAX_ATTEMPTS: u32 = 5;
/// A mailbox with at most this many messages is "small": a first login waits up
/// to `serve_locally_within` for its copy. Bigger ones are proxied at once.
pub const SMALL_MAILBOX: u64 = 1000;

/// Every running migration of the daemon, and what runs them.
pub struct Engine {
    pub store: Arc<Store>,
    config: Arc<Shared<Config>>,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    users: Mutex<HashMap<i64, Arc<UserMigration>>>,
    /// Connection caps, backoff and bandwidth per legacy host.
    pub hosts: Hosts,
    /// Accounts with a `continuous` catch-up pass running, and whether a login
    /// asked for another one meanwhile (it runs when the current one ends).
    catching_up: Mutex<HashMap<i64, bool>>,
    /// Passwords an admin handed over through the admin API (`migrate user`,
    /// `migrate bulk`), kept in memory only, for `finish` and later passes.
    pub vault: Vault,
    /// Domains paused through the admin API (`POST /api/domains/D/pause`), in
    /// memory: their copies wait, as with `enabled = false`.
    paused: Mutex<HashSet<String>>,
}

impl Engine {
    /// Prepares the job table (marking jobs a crash interrupted) and the alias
    /// evidence table.
    pub fn new(
        store: Arc<Store>,
        config: Arc<Shared<Config>>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<Arc<Engine>, String> {
        jobs::init(store.db()).map_err(|e| format!("migration job table: {e}"))?;
        super::discover::init(store.db()).map_err(|e| format!("discovered addresses: {e}"))?;
        Ok(Arc::new(Engine {
            store,
            config,
            metrics,
            shutdown,
            tasks,
            users: Mutex::new(HashMap::new()),
            hosts: Hosts::default(),
            catching_up: Mutex::new(HashMap::new()),
            vault: Vault::default(),
            paused: Mutex::new(HashSet::new()),
        }))
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// The running migration of an account, if any.
    pub fn get(&self, account_id: i64) -> Option<Arc<UserMigration>> {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&account_id)
            .cloned()
    }

    /// The running migration of `account`, started now when none runs (first
    /// login, the first login after a restart, an admin's queue). Exactly one
    /// per account, however logins race. Without `password` the copy logs in
    /// with the domain's admin credential.
    pub fn ensure(
        self: &Arc<Self>,
        account: &Account,
        password: Option<&Password>,
    ) -> Arc<UserMigration> {
        self.start(account, password, None)
    }

    /// [`Self::ensure`], when the login already knows whether the mailbox is
    /// small enough to wait for (it counted on its own legacy session).
    pub fn ensure_sized(
        self: &Arc<Self>,
        account: &Account,
        password: &Password,
        small: Option<bool>,
    ) -> Arc<UserMigration> {
        self.start(account, Some(password), small)
    }

    fn start(
        self: &Arc<Self>,
        account: &Account,
        password: Option<&Password>,
        small: Option<bool>,
    ) -> Arc<UserMigration> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(um) = users.get(&account.id) {
            if matches!(um.phase(), Phase::Copying | Phase::Switching) {
                if let Some(p) = password {
                    um.set_password(Some(p.clone()));
                }
                um.learn_small(small);
                return um.clone();
            }
        }
        let um = Arc::new(UserMigration::new(account, password, small));
        users.insert(account.id, um.clone());
        drop(users);
        let (engine, um2) = (self.clone(), um.clone());
        self.tasks.spawn_on(
            async move {
                sequence::run(&engine, &um2).await;
                um2.set_password(None);
                let mut users = engine.users.lock().unwrap_or_else(|p| p.into_inner());
                if users
                    .get(&um2.account_id)
                    .is_some_and(|u| Arc::ptr_eq(u, &um2))
                {
                    users.remove(&um2.account_id);
                }
            },
            &super::runtime::copies(),
        );
        um
    }

    /// `continuous = true`: a migrated user logged in; import in the background
    /// what reached the legacy server since (with fresh local UIDs). At most one
    /// such pass per account at a time; a login during a pass gets one more
    /// pass after it (what arrived meanwhile may have been listed too early).
    /// Failures are logged only.
    pub fn catch_up(self: &Arc<Self>, account: &Account, password: &Password) {
        {
            let mut running = self.catching_up.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(again) = running.get_mut(&account.id) {
                *again = true;
                return;
            }
            running.insert(account.id, false);
        }
        let (engine, account, password) = (self.clone(), account.clone(), password.clone());
        self.tasks.spawn_on(
            async move {
                loop {
                    let started = Instant::now();
                    let result = tokio::select! {
                        r = sequence::catch_up_once(&engine, &account, Some(&password)) => r,
                        _ = engine.shutdown.cancelled() => Err(super::error::MigrateError::Shutdown),
                    };
                    sequence::record_extra_pass(&engine, &account, "continuous", &result, started)
                        .await;
                    let mut running = engine
                        .catching_up
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    let again = running.get(&account.id).copied().unwrap_or(false);
                    if !again || result.is_err() || engine.shutdown.is_cancelled() {
                        running.remove(&account.id);
                        return;
                    }
                    running.insert(account.id, false);
                }
            },
            &super::runtime::copies(),
        );
    }

    /// Pauses (`true`) or resumes the copies of a domain; returns whether it
    /// changed anything.
    pub fn set_paused(&self, domain: &str, paused: bool) -> bool {
        let mut p = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        if paused {
            p.insert(domain.to_ascii_lowercase())
        } else {
            p.remove(&domain.to_ascii_lowercase())
        }
    }

    /// Whether the admin API paused the domain.
    pub fn api_paused(&self, domain: &str) -> bool {
        self.paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&domain.to_ascii_lowercase())
    }

    /// Whether the domain's migration is paused (`[migration] enabled = false`,
    /// reloaded on SIGHUP, or the admin API) or the domain is gone.
    pub fn domain_paused(&self, domain: &str) -> bool {
        !self.config().domain(domain).is_some_and(|d| d.migrating()) || self.api_paused(domain)
    }

    /// The password in memory for later passes: the running migration's, else
    /// the one an admin handed over.
    pub fn any_password(&self, account_id: i64) -> Option<Password> {
        self.get(account_id)
            .and_then(|um| um.password())
            .or_else(|| self.vault.get(account_id))
    }

    /// Waits up to `bound` while the daemon runs; `false` when it stops first.
    pub(super) async fn sleep(&self, bound: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(bound) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }
}
