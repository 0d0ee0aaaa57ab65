//! Per-user migration state in the daemon (DESIGN §1): at most one copy per
//! user, the switch (hold logins, end proxied sessions, delta pass, verify, flip,
//! release), retries with backoff, and the per-legacy-host connection cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::copy::{self, Mode};
use super::jobs;
use crate::auth::Password;
use crate::config::{LegacyLogin, Source};
use crate::legacy::imap::Session;
use crate::legacy::{self, LegacyError};
use crate::server::App;
use crate::store::{Account, AccountState, NewMailbox};

/// Copy attempts (each ending in a failed copy or verification) before the
/// account is marked `failed`.
pub const MAX_ATTEMPTS: u32 = 5;
/// A mailbox with at most this many messages is "small": a first login waits up
/// to `serve_locally_within` for its copy. Bigger ones are proxied at once.
pub const SMALL_MAILBOX: u64 = 1000;
/// First pause between attempts; doubled each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Where one user's running migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The copy runs; logins are proxied / held / refused per `while_copying`.
    Copying,
    /// The switch runs: new logins are held until it ends.
    Switching,
    /// Flipped: serve locally.
    Migrated,
    /// Gave up after repeated failures (logins are still proxied).
    Failed,
}

/// One user's migration while it runs.
pub struct UserMigration {
    pub account_id: i64,
    pub address: String,
    pub domain: String,
    /// The password the user last logged in with: held only while the copy runs.
    password: Mutex<Option<Password>>,
    phase: watch::Sender<Phase>,
    /// Parent of the `end` tokens of this user's proxied sessions.
    end: Mutex<CancellationToken>,
    /// `Some(true)` once the copy knows the mailbox is small, `Some(false)` when
    /// it is big or the copy has to queue for a legacy connection.
    small: watch::Sender<Option<bool>>,
}

impl UserMigration {
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Waits up to `bound` for the phase to leave `Copying`/`Switching` (with
    /// `only_switching`, just `Switching`); returns the phase then.
    pub async fn wait(&self, bound: Duration, only_switching: bool) -> Phase {
        let mut rx = self.phase.subscribe();
        let done = |p: &Phase| match p {
            Phase::Switching => false,
            Phase::Copying => only_switching,
            Phase::Migrated | Phase::Failed => true,
        };
        let _ = tokio::time::timeout(bound, rx.wait_for(done)).await;
        let p = *rx.borrow();
        p
    }

    /// Waits up to `bound` for the copy to finish, giving up early once the copy
    /// knows the mailbox is not small (DESIGN §2: small mailboxes are served
    /// locally at once; big ones never delay the first login).
    pub async fn wait_if_small(&self, bound: Duration) -> Phase {
        let mut phase = self.phase.subscribe();
        let mut small = self.small.subscribe();
        let _ = tokio::time::timeout(bound, async {
            tokio::select! {
                _ = phase.wait_for(|p| matches!(p, Phase::Migrated | Phase::Failed)) => {}
                _ = small.wait_for(|s| *s == Some(false)) => {}
            }
        })
        .await;
        self.phase()
    }

    /// A token for a new proxied session, or `None` when the switch has begun (the
    /// caller then waits for it instead of proxying).
    pub fn session_token(&self) -> Option<CancellationToken> {
        let end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        match self.phase() {
            Phase::Copying | Phase::Failed => Some(end.child_token()),
            Phase::Switching | Phase::Migrated => None,
        }
    }

    pub(super) fn set_phase(&self, p: Phase) {
        let _guard = self.end.lock().unwrap_or_else(|p| p.into_inner());
        self.phase.send_replace(p);
    }

    /// Holds new logins and ends the proxied sessions.
    pub(super) fn begin_switch(&self) {
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        self.phase.send_replace(Phase::Switching);
        end.cancel();
        *end = CancellationToken::new();
    }

    pub(super) fn password(&self) -> Option<Password> {
        self.password
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the copy learned about the mailbox size (see `small`).
    pub(super) fn set_small(&self, small: bool) {
        self.small.send_replace(Some(small));
    }

    fn set_password(&self, p: Option<Password>) {
        *self.password.lock().unwrap_or_else(|p| p.into_inner()) = p;
    }
}

/// Every running migration of the daemon, plus the legacy host connection caps.
pub struct Registry {
    users: Mutex<HashMap<i64, Arc<UserMigration>>>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Legacy hosts that recently throttled, timed out or dropped copies: no new
    /// copy starts against them before the instant, and the pause doubles with
    /// each such failure (reset by a successful copy).
    cooldown: Mutex<HashMap<String, (Instant, Duration)>>,
    /// Bandwidth caps by legacy host.
    bandwidth: Mutex<HashMap<String, Arc<crate::legacy::bandwidth::Bandwidth>>>,
    /// Accounts with a `continuous` catch-up pass running.
    catching_up: Mutex<std::collections::HashSet<i64>>,
    /// Passwords an admin handed over through the admin API (`migrate user`,
    /// `migrate bulk`), kept in memory only, for `finish` and later passes.
    pub vault: super::ops::Vault,
    /// Domains paused through the admin API (`POST /api/domains/D/pause`), in
    /// memory: their copies wait, as with `enabled = false`.
    paused: Mutex<std::collections::HashSet<String>>,
}

impl Registry {
    /// Prepares the job table (marking jobs a crash interrupted).
    pub fn new(store: &crate::store::Store) -> Result<Registry, String> {
        jobs::init(store.db()).map_err(|e| format!("migration job table: {e}"))?;
        Ok(Registry {
            users: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            bandwidth: Mutex::new(HashMap::new()),
            cooldown: Mutex::new(HashMap::new()),
            catching_up: Mutex::new(Default::default()),
            vault: Default::default(),
            paused: Mutex::new(Default::default()),
        })
    }

    /// The running migration of an account, if any.
    pub fn get(&self, account_id: i64) -> Option<Arc<UserMigration>> {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&account_id)
            .cloned()
    }

    /// The running migration of `account`, started now with `password` when none
    /// runs (first login, or the first login after a restart). Exactly one per
    /// account, however logins race.
    pub fn ensure(app: &Arc<App>, account: &Account, password: &Password) -> Arc<UserMigration> {
        Self::ensure_sized(app, account, password, None)
    }

    /// [`Self::ensure`], when the login already knows whether the mailbox is
    /// small enough to wait for (it counted on its own legacy session).
    pub fn ensure_sized(
        app: &Arc<App>,
        account: &Account,
        password: &Password,
        small: Option<bool>,
    ) -> Arc<UserMigration> {
        let mut users = app
            .migrations
            .users
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(um) = users.get(&account.id) {
            if matches!(um.phase(), Phase::Copying | Phase::Switching) {
                um.set_password(Some(password.clone()));
                if small.is_some() {
                    um.small.send_if_modified(|s| {
                        s.is_none() && {
                            *s = small;
                            true
                        }
                    });
                }
                return um.clone();
            }
        }
        let (phase, _) = watch::channel(Phase::Copying);
        let um = Arc::new(UserMigration {
            account_id: account.id,
            address: account.address.clone(),
            domain: account.domain.clone(),
            password: Mutex::new(Some(password.clone())),
            phase,
            end: Mutex::new(CancellationToken::new()),
            small: watch::channel(small).0,
        });
        users.insert(account.id, um.clone());
        drop(users);
        let (app2, um2) = (app.clone(), um.clone());
        app.tasks.spawn_on(
            async move {
                run(&app2, &um2).await;
                um2.set_password(None);
                let mut users = app2
                    .migrations
                    .users
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
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
    /// such pass per account at a time; failures are logged only.
    pub fn catch_up(app: &Arc<App>, account: &Account, password: &Password) {
        if !app
            .migrations
            .catching_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.id)
        {
            return;
        }
        let (app2, account, password) = (app.clone(), account.clone(), password.clone());
        app.tasks.spawn_on(async move {
            let started = Instant::now();
            let result = tokio::select! {
                r = catch_up_once(&app2, &account, &password) => r,
                _ = app2.shutdown.cancelled() => Err(LegacyError::Unavailable("shutting down".into())),
            };
            drop(password);
            log_copy(&app2, &account.address, "continuous", &result, started);
            if let Ok(r) = &result {
                let _ = jobs::record_pass(
                    app2.store.db(),
                    account.id,
                    &account.address,
                    r.messages,
                    r.bytes,
                    started.elapsed().as_millis() as u64,
                )
                .await;
            }
            app2.migrations
                .catching_up
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&account.id);
        }, &super::runtime::copies());
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

    /// The password a running migration holds in memory, if any.
    pub fn password_of(&self, account_id: i64) -> Option<Password> {
        self.get(account_id).and_then(|um| um.password())
    }

    /// A copy from `key` failed: when the reason says the server was unavailable
    /// (a temporary NO, BYE or a closed connection, a timeout), every copy from
    /// that host backs off, 5 s doubling up to 5 minutes.
    pub fn host_failed(&self, key: &str, reason: &str) {
        if !looks_throttled(reason) {
            return;
        }
        let mut map = self.cooldown.lock().unwrap_or_else(|p| p.into_inner());
        let delay = map
            .get(key)
            .map(|(_, d)| (*d * 2).min(MAX_BACKOFF))
            .unwrap_or(HOST_BACKOFF);
        map.insert(key.to_string(), (Instant::now() + delay, delay));
        tracing::warn!(legacy = %key, pause_secs = delay.as_secs(), "legacy host unavailable or throttling; copies from it back off");
    }

    /// A copy from `key` went through: the host's backoff ends.
    pub fn host_ok(&self, key: &str) {
        self.cooldown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// How long a new copy from `key` must still wait.
    pub fn host_pause(&self, key: &str) -> Option<Duration> {
        let map = self.cooldown.lock().unwrap_or_else(|p| p.into_inner());
        let (until, _) = map.get(key)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The bandwidth cap of one legacy host (`max_bytes_per_sec`; a changed
    /// value replaces the budget after a reload).
    pub fn host_bandwidth(
        &self,
        key: &str,
        rate: Option<u64>,
    ) -> Option<Arc<crate::legacy::bandwidth::Bandwidth>> {
        let mut map = self.bandwidth.lock().unwrap_or_else(|p| p.into_inner());
        let Some(rate) = rate else {
            map.remove(key);
            return None;
        };
        let b = map
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(crate::legacy::bandwidth::Bandwidth::new(rate)));
        if b.rate() != rate {
            *b = Arc::new(crate::legacy::bandwidth::Bandwidth::new(rate));
        }
        Some(b.clone())
    }

    /// The connection cap of one legacy host (`max_connections` of the first
    /// domain that used it).
    pub fn host_cap(&self, key: &str, max: usize) -> Arc<Semaphore> {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(max.max(1))))
            .clone()
    }
}

/// The user name sent to the legacy server.
/// The flip of the switch (DESIGN §1), once the delta pass and the verification
/// passed: default folders added, the account `migrated`, the job `done`.
pub(super) async fn flip_to_migrated(
    app: &Arc<App>,
    um: &Arc<UserMigration>,
    ms: &crate::store::Mailstore,
    folders: usize,
    messages: u64,
    bytes: u64,
) -> Result<(), String> {
    add_default_folders(ms).await;
    let before = match app.store.account_by_id(um.account_id).await {
        Ok(Some(a)) => a.state,
        _ => AccountState::Copying,
    };
    app.store
        .set_state(um.account_id, AccountState::Migrated, None)
        .await
        .map_err(|e| format!("cannot record the migrated state: {e}"))?;
    log_state(&um.address, before, AccountState::Migrated, None);
    um.set_phase(Phase::Migrated);
    let _ = jobs::update(
        app.store.db(),
        um.account_id,
        "done",
        folders,
        messages,
        bytes,
        None,
    )
    .await;
    Ok(())
}

pub fn legacy_user(address: &str, how: LegacyLogin) -> String {
    match how {
        LegacyLogin::Address => address.to_string(),
        LegacyLogin::LocalPart => address
            .rsplit_once('@')
            .map(|(l, _)| l.to_string())
            .unwrap_or_else(|| address.to_string()),
    }
}

pub(crate) fn log_state(address: &str, from: AccountState, to: AccountState, reason: Option<&str>) {
    tracing::info!(
        user = %address,
        from = from.as_str(),
        to = to.as_str(),
        reason = reason.unwrap_or(""),
        "account state changed"
    );
}

/// The whole life of one migration: attempts with backoff until it is flipped,
/// marked failed, or the daemon stops.
async fn run(app: &Arc<App>, um: &Arc<UserMigration>) {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    while attempt < MAX_ATTEMPTS {
        if !wait_while_paused(app, um).await {
            return;
        }
        attempt += 1;
        if let Err(e) = jobs::started(app.store.db(), um.account_id, &um.address).await {
            tracing::error!(user = %um.address, error = %e, "cannot record the migration job");
        }
        let outcome = tokio::select! {
            r = attempt_once(app, um) => r,
            _ = app.shutdown.cancelled() => {
                um.set_phase(Phase::Copying);
                tracing::info!(user = %um.address, "copy interrupted by shutdown; it resumes on the user's next login");
                return;
            }
            _ = paused_while_copying(app, um) => {
                // What was committed stays; the rest is fetched again on resume.
                um.set_phase(Phase::Copying);
                tracing::info!(user = %um.address, domain = %um.domain, "copy stopped: the domain's migration is paused");
                let _ = jobs::update(app.store.db(), um.account_id, "paused", 0, 0, 0, None).await;
                attempt -= 1;
                continue;
            }
        };
        let reason = match outcome {
            Ok(()) => return,
            Err(reason) => reason,
        };
        um.set_phase(Phase::Copying);
        if attempt == MAX_ATTEMPTS {
            let reason = format!("gave up after {attempt} attempts: {reason}");
            if let Err(e) = app
                .store
                .set_state(um.account_id, AccountState::Failed, Some(&reason))
                .await
            {
                tracing::error!(user = %um.address, error = %e, "cannot record the failed state");
            }
            log_state(
                &um.address,
                AccountState::Copying,
                AccountState::Failed,
                Some(&reason),
            );
            let _ = jobs::update(
                app.store.db(),
                um.account_id,
                "failed",
                0,
                0,
                0,
                Some(&reason),
            )
            .await;
            um.set_phase(Phase::Failed);
            return;
        }
        tracing::warn!(user = %um.address, attempt, retry_in_secs = backoff.as_secs(), reason = %reason, "migration attempt failed; the user stays on the legacy server");
        let _ = jobs::update(
            app.store.db(),
            um.account_id,
            "retrying",
            0,
            0,
            0,
            Some(&reason),
        )
        .await;
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = app.shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Whether the domain's migration is paused (`[migration] enabled = false`,
/// reloaded on SIGHUP, or the admin API) or the domain is gone.
pub(crate) fn domain_paused(app: &App, domain: &str) -> bool {
    !app.config().domain(domain).is_some_and(|d| d.migrating()) || app.migrations.api_paused(domain)
}

/// First host-wide pause after a throttling answer or a timeout.
const HOST_BACKOFF: Duration = Duration::from_secs(5);

/// Whether a failed attempt's reason says the legacy server was unavailable
/// (temporary NO, BYE, closed connection, timeout) rather than wrong data.
fn looks_throttled(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "legacy server unavailable",
        "throttl",
        "too many",
        "timed out",
    ]
    .iter()
    .any(|k| r.contains(k))
}

/// How often a paused migration looks at the configuration again.
const PAUSE_POLL: Duration = Duration::from_secs(1);

/// Waits while the domain is paused; `false` when the daemon stops meanwhile.
async fn wait_while_paused(app: &App, um: &UserMigration) -> bool {
    let mut logged = false;
    while domain_paused(app, &um.domain) {
        if !logged {
            tracing::info!(user = %um.address, domain = %um.domain, "copy waits: the domain's migration is paused");
            let _ = jobs::update(app.store.db(), um.account_id, "paused", 0, 0, 0, None).await;
            logged = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(PAUSE_POLL) => {}
            _ = app.shutdown.cancelled() => return false,
        }
    }
    true
}

/// Resolves when the domain is paused while the copy (not the switch) runs.
async fn paused_while_copying(app: &App, um: &UserMigration) {
    loop {
        tokio::time::sleep(PAUSE_POLL).await;
        if um.phase() == Phase::Copying && domain_paused(app, &um.domain) {
            return;
        }
    }
}

/// One attempt, with the legacy host's adaptive backoff around it.
async fn attempt_once(app: &Arc<App>, um: &Arc<UserMigration>) -> Result<(), String> {
    let key = app
        .config()
        .domain(&um.domain)
        .and_then(|d| d.migration.imap.as_ref().map(legacy::host_key));
    if let Some(key) = &key {
        while let Some(pause) = app.migrations.host_pause(key) {
            um.small.send_replace(Some(false));
            tokio::time::sleep(pause).await;
        }
    }
    let r = attempt_inner(app, um).await;
    if let Some(key) = &key {
        match &r {
            Ok(()) => app.migrations.host_ok(key),
            Err(reason) => app.migrations.host_failed(key, reason),
        }
    }
    r
}

/// One attempt: copy, switch, verify, flip, catch up, hook. `Err` carries why.
async fn attempt_inner(app: &Arc<App>, um: &Arc<UserMigration>) -> Result<(), String> {
    let config = app.config();
    let domain = config
        .domain(&um.domain)
        .ok_or_else(|| format!("domain {} is no longer hosted", um.domain))?
        .clone();
    let m = &domain.migration;
    if m.source == Source::Pop3 {
        return super::pop3copy::attempt(app, um).await;
    }
    let ep = m
        .imap
        .clone()
        .ok_or_else(|| "no [migration.imap] legacy host".to_string())?;
    let password = um
        .password()
        .ok_or_else(|| "no password to log in to the legacy server".to_string())?;
    let cap = app
        .migrations
        .host_cap(&legacy::host_key(&ep), m.max_connections);
    let _permit = match cap.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            // Queued behind other copies: a first login must not wait for us.
            um.small.send_replace(Some(false));
            cap.acquire_owned()
                .await
                .map_err(|_| "connection cap closed".to_string())?
        }
    };
    let ms = app
        .store
        .mailstore_or_create(um.account_id)
        .await
        .map_err(|e| format!("local store: {e}"))?;
    let user = legacy_user(&um.address, m.legacy_login);
    let mut sess = Session::login(&ep, m.timeout, &user, &password)
        .await
        .map_err(|e| match e {
            LegacyError::Refused => "the legacy server refused the password".to_string(),
            e => e.to_string(),
        })?;
    sess.set_bandwidth(
        app.migrations
            .host_bandwidth(&legacy::host_key(&ep), m.max_bytes_per_sec),
    );
    drop(password);
    if um.small.borrow().is_none() {
        let small = copy::at_most(&mut sess, SMALL_MAILBOX)
            .await
            .unwrap_or(false);
        um.small.send_replace(Some(small));
    }

    // The bulk copy, while the user is proxied.
    let started = Instant::now();
    let result = copy::pass(&mut sess, &ms, Mode::Mirror).await;
    log_copy(app, &um.address, "copy", &result, started);
    add_pass_time(app, um.account_id, started).await;
    let first = result.map_err(|e| e.to_string())?;
    let _ = jobs::update(
        app.store.db(),
        um.account_id,
        "switching",
        first.folders,
        first.messages,
        first.bytes,
        None,
    )
    .await;

    // The switch: hold logins, end proxied sessions, delta, verify, flip.
    um.begin_switch();
    tracing::info!(user = %um.address, "switch: logins held, proxied sessions ended");
    let started = Instant::now();
    let result = copy::pass(&mut sess, &ms, Mode::Mirror).await;
    log_copy(app, &um.address, "delta", &result, started);
    add_pass_time(app, um.account_id, started).await;
    let delta = result.map_err(|e| e.to_string())?;
    if let Some(pop3) = &m.pop3 {
        if let Some(password) = um.password() {
            super::pop3copy::carry_uidls(
                app,
                um.account_id,
                pop3,
                m.timeout,
                &user,
                &password,
                &ms,
                &um.address,
            )
            .await;
        }
    }
    match copy::verify(&mut sess, &ms).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return Err(format!("verification failed: {why}")),
        Err(e) => return Err(format!("verification failed: {e}")),
    }
    flip_to_migrated(app, um, &ms, delta.folders, delta.messages, delta.bytes).await?;

    // What still reached the legacy server, with fresh local UIDs.
    let started = Instant::now();
    let result = copy::pass(&mut sess, &ms, Mode::CatchUp).await;
    sess.logout().await;
    after_flip(app, um, m, &result, started).await;
    Ok(())
}

/// Adds a pass's time to the job's copy time (shown by `status`).
pub(super) async fn add_pass_time(app: &Arc<App>, account_id: i64, started: Instant) {
    let ms = started.elapsed().as_millis() as u64;
    let _ = jobs::add_time(app.store.db(), account_id, ms).await;
}

/// What follows the catch-up pass of a switch, whatever the source: the pass
/// logged and recorded, then the post-migrate hook run and its outcome recorded.
pub(super) async fn after_flip(
    app: &Arc<App>,
    um: &Arc<UserMigration>,
    m: &crate::config::Migration,
    catch_up: &Result<copy::PassReport, LegacyError>,
    started: Instant,
) {
    log_copy(app, &um.address, "catch-up", catch_up, started);
    if let Ok(r) = catch_up {
        let _ = jobs::record_pass(
            app.store.db(),
            um.account_id,
            &um.address,
            r.messages,
            r.bytes,
            started.elapsed().as_millis() as u64,
        )
        .await;
    }
    if let Some(hook) = &m.post_migrate_hook {
        if let Some(password) = um.password() {
            let outcome = super::hook::run(hook, &um.address, &password, m.hook_timeout).await;
            tracing::info!(user = %um.address, hook = %hook.display(), result = %outcome.summary(), "post-migrate hook ran");
            let _ = jobs::set_hook(app.store.db(), um.account_id, &outcome.summary()).await;
        }
    }
}

pub(crate) async fn catch_up_once(
    app: &Arc<App>,
    account: &Account,
    password: &Password,
) -> Result<copy::PassReport, LegacyError> {
    let config = app.config();
    let m = config
        .domain(&account.domain)
        .map(|d| d.migration.clone())
        .ok_or_else(|| LegacyError::Unavailable("domain no longer hosted".into()))?;
    if m.source == Source::Pop3 {
        return super::pop3copy::catch_up_once(app, account, password).await;
    }
    let ep = m
        .imap
        .clone()
        .ok_or_else(|| LegacyError::Unavailable("no [migration.imap] host".into()))?;
    let cap = app
        .migrations
        .host_cap(&legacy::host_key(&ep), m.max_connections);
    let _permit = cap
        .acquire_owned()
        .await
        .map_err(|_| LegacyError::Unavailable("connection cap closed".into()))?;
    let ms = app.store.mailstore(account.id).await?;
    let user = legacy_user(&account.address, m.legacy_login);
    let mut sess = Session::login(&ep, m.timeout, &user, password).await?;
    sess.set_bandwidth(
        app.migrations
            .host_bandwidth(&legacy::host_key(&ep), m.max_bytes_per_sec),
    );
    let r = copy::pass(&mut sess, &ms, Mode::CatchUp).await;
    sess.logout().await;
    r
}

pub(crate) fn log_copy(
    app: &App,
    address: &str,
    kind: &str,
    result: &Result<copy::PassReport, LegacyError>,
    started: Instant,
) {
    let secs = started.elapsed().as_secs_f64();
    use std::sync::atomic::Ordering;
    match result {
        Ok(r) => {
            app.metrics
                .messages_copied
                .fetch_add(r.messages, Ordering::Relaxed);
            app.metrics
                .bytes_copied
                .fetch_add(r.bytes, Ordering::Relaxed);
        }
        Err(_) => {
            app.metrics.copy_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    match result {
        Ok(r) => tracing::info!(
            user = %address,
            pass = kind,
            folders = r.folders,
            messages = r.messages,
            bytes = r.bytes,
            flag_updates = r.flag_updates,
            expunged = r.expunged,
            seconds = format!("{secs:.2}"),
            result = "ok",
            "copy pass"
        ),
        Err(e) => tracing::warn!(
            user = %address,
            pass = kind,
            seconds = format!("{secs:.2}"),
            result = "error",
            error = %e,
            "copy pass"
        ),
    }
}

/// The usual folders (Drafts, Sent, Trash, Junk, Archive) for roles the legacy
/// server did not provide.
pub(super) async fn add_default_folders(ms: &crate::store::Mailstore) {
    let Ok(existing) = ms.mailboxes().await else {
        return;
    };
    for (name, role) in &crate::store::accounts::DEFAULT_FOLDERS[1..] {
        let taken = existing
            .iter()
            .any(|m| m.special_use.as_deref() == *role || m.name.eq_ignore_ascii_case(name));
        if taken {
            continue;
        }
        let opts = NewMailbox {
            special_use: role.map(str::to_string),
            ..Default::default()
        };
        if ms.create_mailbox(name, opts).await.is_ok() {
            let _ = ms.set_subscribed(name, true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_backoff_doubles_on_throttling_and_resets() {
        assert!(looks_throttled(
            "legacy server unavailable: connection closed"
        ));
        assert!(looks_throttled("legacy login: [UNAVAILABLE] Throttled"));
        assert!(!looks_throttled("the legacy server refused the password"));
        assert!(!looks_throttled("verification failed: folder `x` missing"));
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let r = Registry::new(&store).unwrap();
        let key = "legacy.test:143";
        r.host_failed(key, "verification failed");
        assert!(r.host_pause(key).is_none());
        r.host_failed(key, "legacy server unavailable: timed out");
        let first = r.host_pause(key).unwrap();
        assert!(first <= HOST_BACKOFF && !first.is_zero());
        r.host_failed(key, "legacy server unavailable: timed out");
        assert!(r.host_pause(key).unwrap() > HOST_BACKOFF);
        for _ in 0..20 {
            r.host_failed(key, "legacy server unavailable: timed out");
        }
        assert!(r.host_pause(key).unwrap() <= MAX_BACKOFF);
        r.host_ok(key);
        assert!(r.host_pause(key).is_none());
    }
}
