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
use super::queue;
use super::sequence::{self, log_state};
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
    sequence::check_credentials(&domain.migration, address, password, None)
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
    let admin = domain.migration.admin.is_some();
    match mode {
        MigrateMode::Full
            if existing
                .as_ref()
                .is_some_and(|a| a.state == AccountState::Pending) =>
        {
            let Some(account) = existing else {
                return UserResult::err(address, "no such account");
            };
            queue_pending(app, &domain, account, password).await
        }
        MigrateMode::Full if password.is_none() && admin => {
            if existing.is_some() {
                return UserResult::err(address, "already exists; nothing touched");
            }
            if let Err(e) = sequence::check_admin(&domain.migration, address).await {
                return UserResult::err(address, e.to_string());
            }
            let account = match app.store.create_pending_account(address, "").await {
                Ok(a) => a,
                Err(StoreError::AlreadyExists(_)) => {
                    return UserResult::err(address, "already exists; nothing touched")
                }
                Err(e) => return UserResult::err(address, format!("cannot create: {e}")),
            };
            tracing::info!(user = %address, from = "none", to = "pending", reason = "admin", "account state changed");
            queue::enqueue(app, &domain, account, None);
            UserResult::ok(
                address,
                "queued",
                "account created (no local password until the user logs in once); copy queued with the admin credential",
            )
        }
        MigrateMode::Full | MigrateMode::PasswordsOnly => {
            if existing.is_some() {
                return UserResult::err(address, "already exists; nothing touched");
            }
            let Some(password) = password else {
                return UserResult::err(
                    address,
                    "a password is needed to create the account (--password-stdin), or a [migration.admin] credential",
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
            queue::enqueue(app, &domain, account, Some(password));
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
                        None if admin => return copy_into(app, &account, None).await,
                        None => return UserResult::err(
                            address,
                            "no password for this user in memory; give one with --password-stdin (or set [migration.admin])",
                        ),
                    },
                };
            copy_into(app, &account, Some(password)).await
        }
    }
}

/// `--messages-only`: a `copying`/`failed` account gets its full migration
/// (copy, switch); any other account a catch-up pass that imports what the legacy
/// server holds and the account lacks.
async fn copy_into(app: &Arc<Engine>, account: &Account, password: Option<Password>) -> UserResult {
    let address = account.address.as_str();
    match account.state {
        AccountState::Pending | AccountState::Copying | AccountState::Failed => {
            let Some(domain) = app.config().domain(&account.domain).cloned() else {
                return UserResult::err(address, "domain no longer hosted");
            };
            // The queue moves `pending` and `failed` to `copying` when it starts.
            queue::enqueue(app, &domain, account.clone(), password);
            UserResult::ok(address, "queued", "copy queued")
        }
        AccountState::Local | AccountState::Migrated | AccountState::Finished => {
            let started = Instant::now();
            let r = sequence::catch_up_once(app, account, password.as_ref()).await;
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

/// `migrate user` of an imported (`pending`) account: with a password, it is
/// checked with the legacy server and becomes the local one; without, the
/// domain's admin credential copies.
async fn queue_pending(
    app: &Arc<Engine>,
    domain: &Domain,
    account: Account,
    password: Option<Password>,
) -> UserResult {
    let address = account.address.clone();
    match &password {
        Some(p) => {
            if let Err(e) = verify_legacy(&address, domain, p).await {
                return UserResult::err(&address, e);
            }
            let hash = hash_password_async(p).await;
            if let Err(e) = app.store.set_password_hash(account.id, &hash).await {
                return UserResult::err(&address, format!("store: {e}"));
            }
            app.vault.put(account.id, p.clone());
        }
        None if domain.migration.admin.is_none() => {
            return UserResult::err(
                &address,
                "a password is needed (--password-stdin): the domain has no [migration.admin] credential",
            )
        }
        None => {}
    }
    queue::enqueue(app, domain, account, password);
    UserResult::ok(&address, "queued", "copy queued")
}

/// `ferrymail migrate domain D`: queues the copy of every `pending` and
/// `failed` user of the domain (and every `copying` one whose copy does not
/// run), with the domain's admin credential.
pub async fn migrate_domain(app: &Arc<Engine>, domain: &str) -> Result<FinishReport, String> {
    let d = app
        .config()
        .domain(domain)
        .ok_or_else(|| format!("domain {domain} is not hosted here"))?
        .clone();
    if !d.migrating() || app.api_paused(&d.name) {
        return Err(format!(
            "domain {} is not migrating (or paused): nothing queued",
            d.name
        ));
    }
    if d.migration.admin.is_none() {
        return Err(format!(
            "domain {} has no [migration.admin] credential: a whole domain moves only with one (see docs/migration.md); users can still be moved with their passwords (migrate bulk) or on their first login",
            d.name
        ));
    }
    let accounts = app
        .store
        .accounts(Some(&d.name))
        .await
        .map_err(|e| format!("store: {e}"))?;
    let mut users = Vec::new();
    for a in accounts {
        let idle = app.get(a.id).is_none() && !app.vault.is_queued(a.id);
        let queue = match a.state {
            AccountState::Pending | AccountState::Failed => idle,
            AccountState::Copying => idle,
            _ => false,
        };
        if queue {
            let detail = format!("was {}; copy queued", a.state);
            let address = a.address.clone();
            queue::enqueue(app, &d, a, None);
            users.push(UserResult::ok(&address, "queued", detail));
        }
    }
    tracing::info!(domain = %d.name, queued = users.len(), "migrate domain ran");
    Ok(FinishReport {
        domain: d.name,
        users,
    })
}

/// `ferrymail finish`: a final delta sweep of every migrated user of the
/// domain (with the password in memory, else the domain's admin credential),
/// then `finished`. Reported as not done (`ok: false`), unless `force`:
/// users not moved yet; users nothing can sweep (no password in memory, no
/// admin credential); users without a local password (they could not log in
/// once the legacy server is gone). With `force` the last two are finished
/// anyway.
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
    let admin = d.migration.admin.is_some();
    let mut users = Vec::new();
    for a in accounts {
        let address = a.address.as_str();
        match a.state {
            AccountState::Local | AccountState::Finished => continue,
            AccountState::Pending | AccountState::Copying | AccountState::Failed => {
                users.push(UserResult {
                    address: address.to_string(),
                    ok: force,
                    result: "not-moved".into(),
                    detail: format!(
                        "still {}: not moved, not finished (its mail is on the legacy server)",
                        a.state.as_str()
                    ),
                });
                continue;
            }
            AccountState::Migrated => {}
        }
        let password = app.any_password(a.id);
        let mut detail = if password.is_some() || admin {
            let started = Instant::now();
            let r = sequence::catch_up_once(app, &a, password.as_ref()).await;
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
        } else if force {
            "finished without a final sweep (no password in memory, no [migration.admin])".into()
        } else {
            users.push(UserResult {
                address: address.to_string(),
                ok: false,
                result: "not-swept".into(),
                detail: "no password in memory and no [migration.admin] credential: left migrated (mail that reached the legacy server after the switch is not brought over; --force finishes it without a sweep)".into(),
            });
            continue;
        };
        if a.password_hash.is_empty() {
            if !force {
                users.push(UserResult {
                    address: address.to_string(),
                    ok: false,
                    result: "no-password".into(),
                    detail: format!("{detail}; left migrated: no local password (never logged in, no imported hash), so the user cannot log in once the legacy server is gone: set one with `ferrymail account passwd`, or --force"),
                });
                continue;
            }
            detail.push_str("; warning: no local password, the user cannot log in");
        }
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
