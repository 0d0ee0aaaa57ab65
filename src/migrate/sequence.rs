//! The one migration sequence (DESIGN §1), whatever the source: attempts with
//! backoff; per attempt the copy while the user is proxied, then the switch
//! (hold logins, end proxied sessions, delta pass, carry extras, verify, flip,
//! release), the catch-up pass and the post-migrate hook; with job and metric
//! records at each step. Also the single passes outside a switch (catch-up,
//! the admin's `--messages-only`, the final sweep) and the credential check.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::copy::{Mode, PassReport};
use super::discover::Discovery;
use super::engine::{Engine, MAX_ATTEMPTS, SMALL_MAILBOX};
use super::error::{MigrateError, Result};
use super::jobs::{self, JobState, JobUpdate};
use super::progress::Progress;
use super::source::SourceSession;
use super::sources;
use super::user::{Phase, UserMigration};
use crate::auth::Password;
use crate::config::{LegacyLogin, Migration};
use crate::legacy::Login;
use crate::store::{Account, AccountState, Mailstore, NewMailbox};

/// First pause between attempts; doubled each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often a paused migration looks at the configuration again.
const PAUSE_POLL: Duration = Duration::from_secs(1);

/// The user name sent to the legacy server.
pub fn legacy_user(address: &str, how: LegacyLogin) -> String {
    match how {
        LegacyLogin::Address => address.to_string(),
        LegacyLogin::LocalPart => address
            .rsplit_once('@')
            .map(|(l, _)| l.to_string())
            .unwrap_or_else(|| address.to_string()),
    }
}

/// The login a copy uses: the user's own password when one is held (it was
/// just checked), else the domain's admin credential (`[migration.admin]`);
/// `None` when neither is there.
pub fn copy_login(m: &Migration, address: &str, password: Option<&Password>) -> Option<Login> {
    let user = legacy_user(address, m.legacy_login);
    match (password, &m.admin) {
        (Some(p), _) => Some(Login::user(&user, p)),
        (None, Some(admin)) => Some(Login::admin(&user, admin)),
        (None, None) => None,
    }
}

/// Why a copy cannot log in to the legacy server.
fn no_credential() -> MigrateError {
    MigrateError::Setup(
        "no password for the legacy server: waits for the user's next login (or set [migration.admin])"
            .into(),
    )
}

/// The domain's migration settings, or why there are none.
fn migration_of(engine: &Engine, domain: &str) -> Result<Migration> {
    engine
        .config()
        .domain(domain)
        .map(|d| d.migration.clone())
        .ok_or_else(|| MigrateError::Setup(format!("domain {domain} is no longer hosted")))
}

/// Records a job change; a failure to record is logged, never dropped.
pub(super) async fn job(engine: &Engine, account_id: i64, address: &str, u: JobUpdate) {
    let state = u.state;
    if let Err(e) = jobs::update(engine.store.db(), account_id, u).await {
        tracing::error!(user = %address, state = %state, error = %e, "cannot record the migration job");
    }
}

/// The whole life of one migration: attempts with backoff until it is flipped,
/// marked failed, or the daemon stops.
pub(super) async fn run(engine: &Arc<Engine>, um: &Arc<UserMigration>) {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    while attempt < MAX_ATTEMPTS {
        if !wait_while_paused(engine, um).await {
            return;
        }
        attempt += 1;
        if let Err(e) = jobs::started(engine.store.db(), um.account_id, &um.address).await {
            tracing::error!(user = %um.address, error = %e, "cannot record the migration job");
        }
        let outcome = tokio::select! {
            r = attempt_once(engine, um) => r,
            _ = engine.shutdown.cancelled() => {
                um.set_phase(Phase::Copying);
                tracing::info!(user = %um.address, "copy interrupted by shutdown; it resumes on the user's next login");
                return;
            }
            _ = paused_while_copying(engine, um) => {
                // What was committed stays; the rest is fetched again on resume.
                um.set_phase(Phase::Copying);
                tracing::info!(user = %um.address, domain = %um.domain, "copy stopped: the domain's migration is paused");
                job(engine, um.account_id, &um.address, JobUpdate::state(JobState::Paused)).await;
                attempt -= 1;
                continue;
            }
        };
        let reason = match outcome {
            Ok(()) => return,
            Err(e) => e,
        };
        um.set_phase(Phase::Copying);
        if attempt == MAX_ATTEMPTS {
            let reason = format!("gave up after {attempt} attempts: {reason}");
            if let Err(e) = engine
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
            let u = JobUpdate::with_error(JobState::Failed, reason);
            job(engine, um.account_id, &um.address, u).await;
            um.set_phase(Phase::Failed);
            return;
        }
        tracing::warn!(user = %um.address, attempt, retry_in_secs = backoff.as_secs(), reason = %reason, "migration attempt failed; the user stays on the legacy server");
        let u = JobUpdate::with_error(JobState::Retrying, reason.to_string());
        job(engine, um.account_id, &um.address, u).await;
        if !engine.sleep(backoff).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits while the domain is paused; `false` when the daemon stops meanwhile.
async fn wait_while_paused(engine: &Engine, um: &UserMigration) -> bool {
    let mut logged = false;
    while engine.domain_paused(&um.domain) {
        if !logged {
            tracing::info!(user = %um.address, domain = %um.domain, "copy waits: the domain's migration is paused");
            job(
                engine,
                um.account_id,
                &um.address,
                JobUpdate::state(JobState::Paused),
            )
            .await;
            logged = true;
        }
        if !engine.sleep(PAUSE_POLL).await {
            return false;
        }
    }
    true
}

/// Resolves when the domain is paused while the copy (not the switch) runs.
async fn paused_while_copying(engine: &Engine, um: &UserMigration) {
    loop {
        tokio::time::sleep(PAUSE_POLL).await;
        if um.phase() == Phase::Copying && engine.domain_paused(&um.domain) {
            return;
        }
    }
}

/// One attempt, with the legacy host's adaptive backoff around it.
async fn attempt_once(engine: &Arc<Engine>, um: &Arc<UserMigration>) -> Result<()> {
    let m = migration_of(engine, &um.domain)?;
    let source = sources::open(&m)?;
    let key = source.host_key();
    while let Some(pause) = engine.hosts.pause(&key) {
        um.set_small(false);
        tokio::time::sleep(pause).await;
    }
    let r = attempt(engine, um, &m, &*source, &key).await;
    match &r {
        Ok(()) => engine.hosts.ok(&key),
        Err(e) => engine.hosts.failed(&key, e),
    }
    r
}

/// One attempt: copy, switch, verify, flip, catch up, hook.
async fn attempt(
    engine: &Arc<Engine>,
    um: &Arc<UserMigration>,
    m: &Migration,
    source: &dyn super::source::Source,
    key: &str,
) -> Result<()> {
    let cap = engine.hosts.cap(key, m.max_connections);
    let _permit = match cap.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            // Queued behind other copies: a first login must not wait for us.
            um.set_small(false);
            cap.acquire_owned()
                .await
                .map_err(|_| MigrateError::Shutdown)?
        }
    };
    let ms = engine.store.mailstore_or_create(um.account_id).await?;
    let login = copy_login(m, &um.address, um.password().as_ref()).ok_or_else(no_credential)?;
    let bandwidth = engine.hosts.bandwidth(key, m.max_bytes_per_sec);
    let mut sess = source.login(&login, bandwidth).await?;
    drop(login);
    if !um.small_known() {
        let small = sess.at_most(SMALL_MAILBOX).await.unwrap_or(false);
        um.set_small(small);
    }

    // The bulk copy, while the user is proxied.
    let first = timed_pass(engine, um, &mut *sess, &ms, Mode::Mirror, "copy").await?;
    let u = JobUpdate::folders(JobState::Switching, first.folders);
    job(engine, um.account_id, &um.address, u).await;

    // The switch: hold logins, end proxied sessions, delta, verify, flip.
    um.begin_switch();
    tracing::info!(user = %um.address, source = source.kind(), "switch: logins held, proxied sessions ended");
    let delta = timed_pass(engine, um, &mut *sess, &ms, Mode::Mirror, "delta").await?;
    if let Some(note) = sess.carry_extras(&ms, &um.address).await {
        let u = JobUpdate::with_error(JobState::Switching, note);
        job(engine, um.account_id, &um.address, u).await;
    }
    let data_dir = engine.config().data_dir.clone();
    let sieve_login = copy_login(m, &um.address, um.password().as_ref());
    let sieve = super::sieve_copy::carry(&data_dir, m, um.account_id, &um.address, sieve_login);
    if let Some(note) = sieve.await? {
        let u = JobUpdate::with_error(JobState::Switching, note);
        job(engine, um.account_id, &um.address, u).await;
    }
    sess.verify(&ms).await?;
    flip_to_migrated(engine, um, &ms, &delta).await?;

    // What still reached the legacy server, with fresh local UIDs.
    let started = Instant::now();
    let progress = Progress::off().with_discovery(discovery(engine, um.account_id, &um.address));
    let result = sess.pass(&ms, Mode::CatchUp, &progress).await;
    sess.close().await;
    after_flip(engine, um, m, &result, started).await;
    Ok(())
}

/// A pass of the switch, logged and added to the job's copy time; its
/// progress goes to the job batch by batch (the first pass measures the
/// legacy mailbox first).
async fn timed_pass(
    engine: &Engine,
    um: &UserMigration,
    sess: &mut dyn SourceSession,
    ms: &Arc<Mailstore>,
    mode: Mode,
    kind: &str,
) -> Result<PassReport> {
    let started = Instant::now();
    let progress = Progress::new(engine.store.db(), um.account_id, kind == "copy")
        .with_discovery(discovery(engine, um.account_id, &um.address));
    let result = sess.pass(ms, mode, &progress).await;
    log_copy(engine, &um.address, kind, &result, started);
    let elapsed = started.elapsed().as_millis() as u64;
    if let Err(e) = jobs::add_time(engine.store.db(), um.account_id, elapsed).await {
        tracing::error!(user = %um.address, error = %e, "cannot record the copy time");
    }
    result
}

/// The flip of the switch, once the delta pass and the verification passed:
/// default folders added, the account `migrated`, the job `done`.
async fn flip_to_migrated(
    engine: &Engine,
    um: &UserMigration,
    ms: &Mailstore,
    delta: &PassReport,
) -> Result<()> {
    add_default_folders(ms).await;
    if let Err(e) = ms.clear_recent().await {
        tracing::warn!(user = %um.address, error = %e, "cannot clear \\Recent of the copied mail");
    }
    let before = match engine.store.account_by_id(um.account_id).await {
        Ok(Some(a)) => a.state,
        _ => AccountState::Copying,
    };
    engine
        .store
        .set_state(um.account_id, AccountState::Migrated, None)
        .await?;
    log_state(&um.address, before, AccountState::Migrated, None);
    um.set_phase(Phase::Migrated);
    let u = JobUpdate::folders(JobState::Done, delta.folders);
    job(engine, um.account_id, &um.address, u).await;
    Ok(())
}

/// What follows the catch-up pass of a switch: the pass logged and recorded,
/// then the post-migrate hook run and its outcome recorded.
async fn after_flip(
    engine: &Engine,
    um: &UserMigration,
    m: &Migration,
    catch_up: &Result<PassReport>,
    started: Instant,
) {
    log_copy(engine, &um.address, "catch-up", catch_up, started);
    if let Ok(r) = catch_up {
        record_pass(engine, um.account_id, &um.address, r, started).await;
    }
    if let Some(hook) = &m.post_migrate_hook {
        {
            // Moved with the admin credential: the hook's standard input is empty.
            let password = um.password().unwrap_or_else(|| Password::new(""));
            let outcome = super::hook::run(hook, &um.address, &password, m.hook_timeout).await;
            tracing::info!(user = %um.address, hook = %hook.display(), result = %outcome.summary(), "post-migrate hook ran");
            if let Err(e) =
                jobs::set_hook(engine.store.db(), um.account_id, &outcome.summary()).await
            {
                tracing::error!(user = %um.address, error = %e, "cannot record the hook's outcome");
            }
        }
    }
}

/// One catch-up pass for a user served locally (`continuous`, the admin's
/// `--messages-only`, the final sweep of `finish`): only what the account
/// lacks, with fresh local UIDs.
pub async fn catch_up_once(
    engine: &Engine,
    account: &Account,
    password: Option<&Password>,
) -> Result<PassReport> {
    let m = migration_of(engine, &account.domain)?;
    let login = copy_login(&m, &account.address, password).ok_or_else(no_credential)?;
    let source = sources::open(&m)?;
    let key = source.host_key();
    let _permit = engine
        .hosts
        .cap(&key, m.max_connections)
        .acquire_owned()
        .await
        .map_err(|_| MigrateError::Shutdown)?;
    let ms = engine.store.mailstore(account.id).await?;
    let bandwidth = engine.hosts.bandwidth(&key, m.max_bytes_per_sec);
    let mut sess = source.login(&login, bandwidth).await?;
    let progress = Progress::off().with_discovery(discovery(engine, account.id, &account.address));
    let r = sess.pass(&ms, Mode::CatchUp, &progress).await;
    sess.close().await;
    r
}

/// The alias evidence a pass of this user gathers ([`super::discover`]):
/// addresses of the hosted domains other than the user's own.
fn discovery(engine: &Engine, account_id: i64, address: &str) -> Option<Arc<Discovery>> {
    let config = engine.config();
    let hosted = config.domains.keys();
    let db = engine.store.db();
    let delimiters = address
        .rsplit_once('@')
        .and_then(|(_, d)| config.domain(d))
        .map(|d| d.addresses.delimiters.clone())
        .unwrap_or_else(|| "+".into());
    Some(Arc::new(
        Discovery::new(db, account_id, address, hosted).with_delimiters(&delimiters),
    ))
}

/// Checks a user's credentials with the domain's legacy server (any source),
/// within the domain's timeout.
pub async fn check_credentials(
    m: &Migration,
    address: &str,
    password: &Password,
    client: Option<std::net::IpAddr>,
) -> Result<()> {
    let source = sources::open(m)?;
    let mut login = Login::user(&legacy_user(address, m.legacy_login), password);
    login.client = client;
    let sess = tokio::time::timeout(m.timeout, source.login(&login, None))
        .await
        .map_err(|_| MigrateError::Unavailable("timed out".into()))??;
    sess.close().await;
    Ok(())
}

/// Checks that the domain's admin credential opens `address`'s mailbox on the
/// legacy server, within the domain's timeout.
pub async fn check_admin(m: &Migration, address: &str) -> Result<()> {
    let source = sources::open(m)?;
    let login = copy_login(m, address, None).ok_or_else(no_credential)?;
    let sess = tokio::time::timeout(m.timeout, source.login(&login, None))
        .await
        .map_err(|_| MigrateError::Unavailable("timed out".into()))?
        .map_err(|e| match e {
            MigrateError::Refused => MigrateError::Setup(
                "the legacy server refused the admin credential for this user (no such mailbox, or a wrong [migration.admin])".into(),
            ),
            e => e,
        })?;
    sess.close().await;
    Ok(())
}

/// Logs and records a pass made outside a switch (`kind`: `continuous`,
/// `admin`, `final`).
pub async fn record_extra_pass(
    engine: &Engine,
    account: &Account,
    kind: &str,
    result: &Result<PassReport>,
    started: Instant,
) {
    log_copy(engine, &account.address, kind, result, started);
    if let Ok(r) = result {
        record_pass(engine, account.id, &account.address, r, started).await;
    }
}

/// Adds a pass to the account's durable statistics.
async fn record_pass(
    engine: &Engine,
    account_id: i64,
    address: &str,
    r: &PassReport,
    started: Instant,
) {
    let ms = started.elapsed().as_millis() as u64;
    if let Err(e) = jobs::record_pass(
        engine.store.db(),
        account_id,
        address,
        r.messages,
        r.bytes,
        ms,
    )
    .await
    {
        tracing::error!(user = %address, error = %e, "cannot record copy statistics");
    }
}

fn log_copy(
    engine: &Engine,
    address: &str,
    kind: &str,
    result: &Result<PassReport>,
    started: Instant,
) {
    let secs = started.elapsed().as_secs_f64();
    let metrics = &engine.metrics;
    match result {
        Ok(r) => {
            metrics
                .messages_copied
                .fetch_add(r.messages, Ordering::Relaxed);
            metrics.bytes_copied.fetch_add(r.bytes, Ordering::Relaxed);
            tracing::info!(
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
            )
        }
        Err(e) => {
            metrics.copy_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                user = %address,
                pass = kind,
                seconds = format!("{secs:.2}"),
                result = "error",
                error = %e,
                "copy pass"
            )
        }
    }
}

pub fn log_state(address: &str, from: AccountState, to: AccountState, reason: Option<&str>) {
    tracing::info!(
        user = %address,
        from = from.as_str(),
        to = to.as_str(),
        reason = reason.unwrap_or(""),
        "account state changed"
    );
}

/// The usual folders (Drafts, Sent, Trash, Junk, Archive) for roles the legacy
/// server did not provide.
async fn add_default_folders(ms: &Mailstore) {
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
