//! Migration operations an admin drives through the admin API (DESIGN §6):
//! `ferrymail migrate user`, `ferrymail migrate bulk` and `ferrymail finish`.
//!
//! Passwords arrive in request bodies over the admin listener and stay in memory
//! only: the [`Vault`] keeps those an admin handed over, so that `finish` can run
//! a final sweep for them; it is emptied for a user when the user is finished
//! and entirely when the daemon stops. Nothing here writes a password anywhere.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::sequence::{self, log_state};
use super::user::Phase;
use crate::auth::password::hash_password_async;
use crate::auth::Password;
use crate::config::Domain;
use crate::store::{Account, AccountState, StoreError};

/// What `migrate user` / `migrate bulk` do with one user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrateMode {
    /// Verify with the legacy server, create the account, copy. Refused for an
    /// existing account.
    #[default]
    Full,
    /// Copy into an existing account only.
    MessagesOnly,
    /// Create the account from verified legacy credentials; no copy now (the
    /// account is `copying` and its mail moves on the user's first login).
    PasswordsOnly,
}

/// `POST /api/migrate`.
#[derive(Deserialize)]
pub struct MigrateRequest {
    pub address: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub mode: MigrateMode,
}

impl std::fmt::Debug for MigrateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateRequest")
            .field("address", &self.address)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("mode", &self.mode)
            .finish()
    }
}

/// The outcome for one user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserResult {
    pub address: String,
    pub ok: bool,
    /// `queued`, `created`, `copied`, `finished`, `skipped`, `error`.
    pub result: String,
    pub detail: String,
}

impl UserResult {
    fn ok(address: &str, result: &str, detail: impl Into<String>) -> UserResult {
        UserResult {
            address: address.to_string(),
            ok: true,
            result: result.into(),
            detail: detail.into(),
        }
    }

    fn err(address: &str, detail: impl Into<String>) -> UserResult {
        UserResult {
            address: address.to_string(),
            ok: false,
            result: "error".into(),
            detail: detail.into(),
        }
    }
}

/// `POST /api/finish`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FinishReport {
    pub domain: String,
    pub users: Vec<UserResult>,
}

fn normalise(app: &Engine, address: &str) -> Result<(String, Domain), String> {
    if address.len() > 320 || address.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("not a valid address".into());
    }
    let (local, domain) = crate::store::accounts::split_address(address)
        .ok_or_else(|| "not an address (local@domain)".to_string())?;
    let config = app.config();
    let d = config
        .domain(&domain)
        .ok_or_else(|| format!("domain {domain} is not hosted here"))?
        .clone();
    Ok((format!("{local}@{domain}"), d))
}

/// Checks the credentials with the domain's legacy server (IMAP or POP3).
async fn verify_legacy(address: &str, domain: &Domain, password: &Password) -> Result<(), String> {
    sequence::check_credentials(&domain.migration, address, password)
        .await
        .map_err(|e| e.to_string())
}

/// One user of `migrate user` or `migrate bulk`.
pub async fn migrate_user(app: &Arc<Engine>, req: MigrateRequest) -> UserResult {
    let MigrateRequest {
        address,
        password,
        mode,
    } = req;
    let password = password.map(Password::new);
    let r = migrate_user_inner(app, &address, password, mode).await;
    if r.ok {
        tracing::info!(user = %r.address, mode = ?mode, result = %r.result, detail = %r.detail, "admin migration request");
    } else {
        tracing::warn!(user = %r.address, mode = ?mode, result = %r.result, detail = %r.detail, "admin migration request");
    }
    r
}

async fn migrate_user_inner(
    app: &Arc<Engine>,
    address: &str,
    password: Option<Password>,
    mode: MigrateMode,
) -> UserResult {
    let (address, domain) = match normalise(app, address) {
        Ok(x) => x,
        Err(e) => return UserResult::err(address, e),
    };
    let address = address.as_str();
    if app.api_paused(&domain.name) {
        return UserResult::err(
            address,
            format!("the migration of domain {} is paused", domain.name),
        );
    }
    if !domain.migrating() {
        return UserResult::err(
            address,
            format!(
                "domain {} is not migrating (or paused: [migration] enabled = false)",
                domain.name
            ),
        );
    }
    if password.as_ref().is_some_and(|p| p.is_empty()) {
        return UserResult::err(address, "empty password");
    }
    let existing = match app.store.account(address).await {
        Ok(a) => a,
        Err(e) => return UserResult::err(address, format!("store: {e}")),
    };
    match mode {
        MigrateMode::Full | MigrateMode::PasswordsOnly => {
            if existing.is_some() {
                return UserResult::err(address, "already exists; nothing touched");
            }
            let Some(password) = password else {
                return UserResult::err(
                    address,
                    "a password is needed to create the account (--password-stdin)",
                );
            };
            if let Err(e) = verify_legacy(address, &domain, &password).await {
                return UserResult::err(address, e);
            }
            let hash = hash_password_async(&password).await;
            let account = match app.store.create_copying_account(address, &hash).await {
                Ok(a) => a,
                Err(StoreError::AlreadyExists(_)) => {
                    return UserResult::err(address, "already exists; nothing touched")
                }
                Err(e) => return UserResult::err(address, format!("cannot create: {e}")),
            };
            tracing::info!(user = %address, from = "none", to = "copying", reason = "admin", "account state changed");
            app.vault.put(account.id, password.clone());
            if mode == MigrateMode::PasswordsOnly {
                return UserResult::ok(
                    address,
                    "created",
                    "account created from verified legacy credentials; mail is copied on the first login",
                );
            }
            enqueue(app, &domain, account, password);
            UserResult::ok(address, "queued", "account created; copy queued")
        }
        MigrateMode::MessagesOnly => {
            let Some(account) = existing else {
                return UserResult::err(
                    address,
                    "no such account (--messages-only copies into existing accounts only)",
                );
            };
            let password =
                match password {
                    Some(p) => {
                        if let Err(e) = verify_legacy(address, &domain, &p).await {
                            return UserResult::err(address, e);
                        }
                        app.vault.put(account.id, p.clone());
                        p
                    }
                    None => match app.any_password(account.id) {
                        Some(p) => p,
                        None => return UserResult::err(
                            address,
                            "no password for this user in memory; give one with --password-stdin",
                        ),
                    },
                };
            copy_into(app, &account, &password).await
        }
    }
}

/// Admin-queued copies run one at a time per legacy host (first logins do not
/// wait for this queue; they share only the host's `max_connections` cap with it).
fn admin_queue(app: &Engine, host: &str) -> Arc<tokio::sync::Semaphore> {
    app.hosts.cap(&format!("admin-queue {host}"), 1)
}

/// Queues the copy of `account`: it starts when the host's admin queue is free
/// (or at once when the user logs in meanwhile) and holds the queue until it ends.
fn enqueue(app: &Arc<Engine>, domain: &Domain, account: Account, password: Password) {
    let host = super::sources::open(&domain.migration)
        .map(|s| s.host_key())
        .unwrap_or_default();
    let queue = admin_queue(app, &host);
    let app2 = app.clone();
    app.vault.set_queued(account.id, true);
    app.tasks.spawn_on(
        async move {
            let permit = tokio::select! {
                p = queue.acquire_owned() => p,
                _ = app2.shutdown.cancelled() => return,
            };
            app2.vault.set_queued(account.id, false);
            let Ok(_permit) = permit else { return };
            let um = app2.ensure(&account, &password);
            drop(password);
            loop {
                let p = tokio::select! {
                    p = um.wait(std::time::Duration::from_secs(5), false) => p,
                    _ = app2.shutdown.cancelled() => return,
                };
                let current = app2.get(account.id).is_some_and(|x| Arc::ptr_eq(&x, &um));
                if matches!(p, Phase::Migrated | Phase::Failed) || !current {
                    return;
                }
            }
        },
        &super::runtime::copies(),
    );
}

/// `--messages-only`: a `copying`/`failed` account gets its full migration
/// (copy, switch); any other account a catch-up pass that imports what the legacy
/// server holds and the account lacks.
async fn copy_into(app: &Arc<Engine>, account: &Account, password: &Password) -> UserResult {
    let address = account.address.as_str();
    match account.state {
        AccountState::Copying | AccountState::Failed => {
            if account.state == AccountState::Failed {
                if let Err(e) = app
                    .store
                    .set_state(account.id, AccountState::Copying, None)
                    .await
                {
                    return UserResult::err(address, format!("store: {e}"));
                }
                log_state(
                    address,
                    AccountState::Failed,
                    AccountState::Copying,
                    Some("admin retry"),
                );
            }
            let mut a = account.clone();
            a.state = AccountState::Copying;
            let Some(domain) = app.config().domain(&a.domain).cloned() else {
                return UserResult::err(address, "domain no longer hosted");
            };
            enqueue(app, &domain, a, password.clone());
            UserResult::ok(address, "queued", "copy queued")
        }
        AccountState::Local | AccountState::Migrated | AccountState::Finished => {
            let started = Instant::now();
            let r = sequence::catch_up_once(app, account, password).await;
            sequence::record_extra_pass(app, account, "admin", &r, started).await;
            match r {
                Ok(r) => UserResult::ok(
                    address,
                    "copied",
                    format!(
                        "{} new messages ({} bytes) from {} folders",
                        r.messages, r.bytes, r.folders
                    ),
                ),
                Err(e) => UserResult::err(address, format!("copy failed: {e}")),
            }
        }
    }
}

/// `ferrymail finish`: a final delta sweep of every migrated user of the domain
/// whose password is in memory, then `finished`. Users without a password in
/// memory stay `migrated` unless `force` (then finished without a sweep).
pub async fn finish(app: &Arc<Engine>, domain: &str, force: bool) -> Result<FinishReport, String> {
    let d = app
        .config()
        .domain(domain)
        .ok_or_else(|| format!("domain {domain} is not hosted here"))?
        .clone();
    let accounts = app
        .store
        .accounts(Some(&d.name))
        .await
        .map_err(|e| format!("store: {e}"))?;
    let mut users = Vec::new();
    for a in accounts {
        let address = a.address.as_str();
        match a.state {
            AccountState::Local | AccountState::Finished => continue,
            AccountState::Copying | AccountState::Failed => {
                users.push(UserResult {
                    address: address.to_string(),
                    ok: true,
                    result: "skipped".into(),
                    detail: format!("still {}; not finished", a.state.as_str()),
                });
                continue;
            }
            AccountState::Migrated => {}
        }
        let password = app.any_password(a.id);
        let detail = match password {
            Some(pw) => {
                let started = Instant::now();
                let r = sequence::catch_up_once(app, &a, &pw).await;
                sequence::record_extra_pass(app, &a, "final", &r, started).await;
                match r {
                    Ok(r) => format!(
                        "final sweep: {} new messages ({} bytes)",
                        r.messages, r.bytes
                    ),
                    Err(e) => {
                        users.push(UserResult::err(
                            address,
                            format!("final sweep failed, left migrated: {e}"),
                        ));
                        continue;
                    }
                }
            }
            None if force => "finished without a final sweep (no password in memory)".into(),
            None => {
                users.push(UserResult {
                    address: address.to_string(),
                    ok: true,
                    result: "skipped".into(),
                    detail: "no password in memory: left migrated (its next login catches up with continuous = true; --force finishes it without a sweep)".into(),
                });
                continue;
            }
        };
        if let Err(e) = app
            .store
            .set_state(a.id, AccountState::Finished, None)
            .await
        {
            users.push(UserResult::err(address, format!("store: {e}")));
            continue;
        }
        log_state(
            address,
            AccountState::Migrated,
            AccountState::Finished,
            None,
        );
        app.vault.remove(a.id);
        users.push(UserResult::ok(address, "finished", detail));
    }
    tracing::info!(domain = %d.name, users = users.len(), "finish ran");
    Ok(FinishReport {
        domain: d.name.clone(),
        users,
    })
}
