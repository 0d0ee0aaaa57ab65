//! Local accounts and the known population as the admin changes them
//! (`account add|passwd|delete|list`, `users import`): one implementation,
//! run by the daemon behind its admin API while it holds the data dir, and by
//! the command itself when no daemon runs (see `accounts_cli.rs`).
//!
//! The API (Bearer token, JSON bodies; a password never travels, only its
//! hash, in the body):
//!
//! - `GET /api/accounts?domain=D` (every account, or those of D), or
//!   `?address=A` (that one, or none): `[{"address", "state", "reason"}]`
//! - `POST /api/accounts` `{"address", "hash"}`: a `local` account
//! - `POST /api/accounts/passwd` `{"address", "hash"}`
//! - `POST /api/accounts/delete` `{"address"}`: the account and all its mail
//! - `POST /api/users/import` `{"domain", "text", "first_line"}`: `pending`
//!   accounts, answered with the import report
//!
//! Names are resolved as logins resolve them: a bare name gets `default_domain`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::http::{Request, Response};
use super::import::{self, ImportReport};
use crate::app::App;
use crate::config::Config;
use crate::login::{normalize_username, NameError};
use crate::store::{AccountState, Store, StoreError};

/// One account as `account list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLine {
    pub address: String,
    pub state: String,
    pub reason: Option<String>,
}

/// Why an account change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    Invalid(String),
    NotFound(String),
    Exists(String),
    Internal(String),
}

impl OpError {
    /// The HTTP status that answers it.
    pub fn status(&self) -> u16 {
        match self {
            OpError::Invalid(_) => 400,
            OpError::NotFound(_) => 404,
            OpError::Exists(_) => 409,
            OpError::Internal(_) => 500,
        }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Invalid(m) | OpError::NotFound(m) | OpError::Exists(m) => f.write_str(m),
            OpError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

fn internal(e: StoreError) -> OpError {
    OpError::Internal(e.to_string())
}

/// A name as a login takes it: `local@domain`, or a bare name with
/// `default_domain`; lower-cased; the domain must be hosted.
pub fn resolve(cfg: &Config, name: &str) -> Result<String, OpError> {
    normalize_username(name, cfg).map_err(|e| {
        OpError::Invalid(match e {
            NameError::Empty => "empty address".into(),
            NameError::TooLong | NameError::Forbidden => {
                format!("`{}` is not a valid address", name.escape_debug())
            }
            NameError::NoDomain => format!(
                "`{name}` has no domain and the config sets no default_domain: give the full address ({name}@DOMAIN)"
            ),
            NameError::NotHosted => {
                let domain = name
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_string())
                    .or_else(|| cfg.default_domain.clone())
                    .unwrap_or_default();
                not_hosted(cfg, &domain)
            }
        })
    })
}

fn not_hosted(cfg: &Config, domain: &str) -> String {
    format!(
        "domain {} is not hosted here (no file for it in {})",
        domain.escape_debug(),
        cfg.domains_dir.display()
    )
}

/// The hosted domain called `domain` (its canonical name).
pub fn hosted_domain(cfg: &Config, domain: &str) -> Result<String, OpError> {
    cfg.domain(domain)
        .map(|d| d.name.clone())
        .ok_or_else(|| OpError::NotFound(not_hosted(cfg, domain)))
}

fn line(a: crate::store::Account) -> AccountLine {
    AccountLine {
        address: a.address,
        state: a.state.as_str().to_string(),
        reason: a.state_reason,
    }
}

/// The account `name` resolves to, if any.
pub async fn get(store: &Store, cfg: &Config, name: &str) -> Result<Option<AccountLine>, OpError> {
    let address = resolve(cfg, name)?;
    Ok(store.account(&address).await.map_err(internal)?.map(line))
}

/// Every account, or those of one hosted domain.
pub async fn list(
    store: &Store,
    cfg: &Config,
    domain: Option<&str>,
) -> Result<Vec<AccountLine>, OpError> {
    let domain = domain.map(|d| hosted_domain(cfg, d)).transpose()?;
    let all = store.accounts(domain.as_deref()).await.map_err(internal)?;
    Ok(all.into_iter().map(line).collect())
}

fn check_hash(hash: &str) -> Result<(), OpError> {
    if crate::auth::password::is_supported_hash(hash) {
        Ok(())
    } else {
        Err(OpError::Invalid("unsupported password hash: expected {SHA512-CRYPT}$6$..., {SHA256-CRYPT}$5$..., {BLF-CRYPT}$2y$... or $argon2id$...".into()))
    }
}

/// Creates a `local` account with its default folders; returns its address.
pub async fn add(store: &Store, cfg: &Config, name: &str, hash: &str) -> Result<String, OpError> {
    let address = resolve(cfg, name)?;
    check_hash(hash)?;
    if store.account(&address).await.map_err(internal)?.is_some() {
        return Err(OpError::Exists(format!("account {address} already exists")));
    }
    match store
        .create_account(&address, hash, AccountState::Local, true)
        .await
    {
        Ok(_) => Ok(address),
        Err(StoreError::AlreadyExists(_)) => {
            Err(OpError::Exists(format!("account {address} already exists")))
        }
        Err(e) => Err(internal(e)),
    }
}

/// Replaces an account's password hash; returns its address.
pub async fn passwd(
    store: &Store,
    cfg: &Config,
    name: &str,
    hash: &str,
) -> Result<String, OpError> {
    let address = resolve(cfg, name)?;
    check_hash(hash)?;
    let a = store
        .account(&address)
        .await
        .map_err(internal)?
        .ok_or_else(|| no_account(&address))?;
    store
        .set_password_hash(a.id, hash)
        .await
        .map_err(internal)?;
    Ok(a.address)
}

fn no_account(address: &str) -> OpError {
    OpError::NotFound(format!("account {address} does not exist"))
}

/// Deletes an account and all its mail; returns its address.
pub async fn delete(store: &Store, cfg: &Config, name: &str) -> Result<String, OpError> {
    let address = resolve(cfg, name)?;
    match store.delete_account(&address).await {
        Ok(()) => Ok(address),
        Err(StoreError::NotFound(_)) => Err(no_account(&address)),
        Err(e) => Err(internal(e)),
    }
}

/// `users import`: one chunk of the file, starting at line `first_line`.
pub async fn import_users(
    store: &Store,
    cfg: &Config,
    domain: &str,
    text: &str,
    first_line: usize,
) -> Result<ImportReport, OpError> {
    let domain = hosted_domain(cfg, domain)?;
    Ok(import::import(store, &domain, text, first_line).await)
}

/// A body carrying a hash: no `Debug`, so it cannot reach a log.
#[derive(Deserialize)]
struct WithHash {
    address: String,
    hash: String,
}

#[derive(Deserialize)]
struct Address {
    address: String,
}

#[derive(Deserialize)]
struct Import {
    domain: String,
    text: String,
    #[serde(default)]
    first_line: usize,
}

fn answer<T: Serialize>(r: Result<T, OpError>) -> Response {
    match r {
        Ok(v) => Response::json(200, &v),
        Err(OpError::Internal(e)) => {
            tracing::error!(error = %e, "admin API: account change failed");
            Response::error(500, "internal error")
        }
        Err(e) => Response::error(e.status(), &e.to_string()),
    }
}

fn body<'a, T: Deserialize<'a>>(req: &'a Request, expected: &str) -> Result<T, Response> {
    serde_json::from_slice(&req.body).map_err(|_| Response::error(400, expected))
}

/// The account endpoints; `None` for any other path.
pub async fn route(app: &Arc<App>, req: &Request) -> Option<Response> {
    let cfg = app.config();
    let store = &app.store;
    let resp = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/accounts") => match req.query.get("address") {
            Some(a) => answer(
                get(store, &cfg, a)
                    .await
                    .map(|a| a.into_iter().collect::<Vec<_>>()),
            ),
            None => answer(list(store, &cfg, req.query.get("domain").map(String::as_str)).await),
        },
        ("POST", "/api/accounts") => {
            match body::<WithHash>(req, "expected {\"address\", \"hash\"}") {
                Ok(b) => {
                    let r = add(store, &cfg, &b.address, &b.hash).await;
                    if let Ok(a) = &r {
                        tracing::info!(user = %a, "account created through the admin API");
                    }
                    answer(r.map(|address| serde_json::json!({ "address": address })))
                }
                Err(resp) => resp,
            }
        }
        ("POST", "/api/accounts/passwd") => {
            match body::<WithHash>(req, "expected {\"address\", \"hash\"}") {
                Ok(b) => {
                    let r = passwd(store, &cfg, &b.address, &b.hash).await;
                    if let Ok(a) = &r {
                        app.credentials.forget(a);
                        tracing::info!(user = %a, "password changed through the admin API");
                    }
                    answer(r.map(|address| serde_json::json!({ "address": address })))
                }
                Err(resp) => resp,
            }
        }
        ("POST", "/api/accounts/delete") => match body::<Address>(req, "expected {\"address\"}") {
            Ok(b) => {
                let r = delete(store, &cfg, &b.address).await;
                if let Ok(a) = &r {
                    app.credentials.forget(a);
                    tracing::info!(user = %a, "account deleted through the admin API");
                }
                answer(r.map(|address| serde_json::json!({ "address": address })))
            }
            Err(resp) => resp,
        },
        ("POST", "/api/users/import") => {
            match body::<Import>(req, "expected {\"domain\", \"text\", \"first_line\"}") {
                Ok(b) => {
                    let r = import_users(store, &cfg, &b.domain, &b.text, b.first_line).await;
                    if let Ok(r) = &r {
                        tracing::info!(domain = %b.domain, imported = r.imported, existing = r.existing, rejected = r.errors.len(), "users imported through the admin API");
                    }
                    answer(r)
                }
                Err(resp) => resp,
            }
        }
        (
            _,
            "/api/accounts" | "/api/accounts/passwd" | "/api/accounts/delete" | "/api/users/import",
        ) => Response::error(405, "method not allowed"),
        _ => return None,
    };
    Some(resp)
}
