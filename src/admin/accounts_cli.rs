//! `ferrymail account add|list|passwd|delete` and `users import`. While a
//! daemon holds the data dir (`data_dir/lock`) they go through its admin API,
//! so the daemon sees each change at once; with no daemon they take the lock
//! themselves and write the data dir directly. Passwords are read from
//! standard input and hashed here: only the hash leaves this process, in a
//! request body.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::accounts::{self, AccountLine, OpError};
use super::client::AdminClient;
use super::import::{self, ImportReport};
use super::ops_cli::read_password;
use crate::auth::hash_password;
use crate::config::Config;
use crate::store::lock::{self, DataDirLock, LockError, Role};
use crate::store::Store;

/// How long a command waits for another command's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Largest piece of a `users import` file sent in one request: even escaped
/// six times over in JSON it stays below the API's body limit.
const IMPORT_CHUNK: usize = 512 * 1024;

/// Where the changes go.
enum Target {
    /// No daemon: the store, with the data dir locked for this command.
    Direct {
        // Dropped in this order: the store, its runtime, then the lock.
        store: Arc<Store>,
        rt: tokio::runtime::Runtime,
        _lock: DataDirLock,
    },
    /// The running daemon's admin API.
    Api(AdminClient),
}

fn target(cfg: &Config) -> Result<Target, String> {
    match lock::lock_waiting_for_commands(&cfg.data_dir, Role::Command, LOCK_WAIT) {
        Ok(l) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            let store = Store::open(&cfg.data_dir).map_err(|e| e.to_string())?;
            Ok(Target::Direct {
                rt,
                store,
                _lock: l,
            })
        }
        Err(LockError::Held {
            pid,
            role: Some(Role::Serve),
        }) => AdminClient::from_config(cfg).map(Target::Api).map_err(|e| {
            let pid = pid.map(|p| format!(" (PID {p})")).unwrap_or_default();
            format!("the daemon{pid} holds the data dir, so this change must go through its admin API: {e}")
        }),
        Err(e @ LockError::Held { .. }) => Err(format!("{e}; try again when it is done")),
        Err(LockError::Io(e)) => Err(format!(
            "cannot lock {}: {e}",
            lock::lock_path(&cfg.data_dir).display()
        )),
    }
}

/// One API request; a refusal becomes the API's own text.
fn call<T: serde::de::DeserializeOwned>(
    client: &AdminClient,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, String> {
    let data = body.map(|b| b.to_string().into_bytes());
    let (status, resp) = client.request(method, path, data.as_deref())?;
    if status != 200 {
        let v: serde_json::Value = serde_json::from_slice(&resp).unwrap_or_default();
        return Err(match v["error"].as_str() {
            Some(text) if status < 500 => text.to_string(),
            Some(text) => format!("the daemon answered {status}: {text}"),
            None => format!("the daemon answered {status}"),
        });
    }
    serde_json::from_slice(&resp).map_err(|e| format!("admin API: bad JSON: {e}"))
}

#[derive(serde::Deserialize)]
struct Done {
    address: String,
}

impl Target {
    fn direct<T>(
        rt: &tokio::runtime::Runtime,
        f: impl std::future::Future<Output = Result<T, OpError>>,
    ) -> Result<T, String> {
        rt.block_on(f).map_err(|e| e.to_string())
    }

    fn get(&self, cfg: &Config, address: &str) -> Result<Option<AccountLine>, String> {
        match self {
            Target::Direct { rt, store, .. } => {
                Self::direct(rt, accounts::get(store, cfg, address))
            }
            Target::Api(c) => {
                let v: Vec<AccountLine> = call(
                    c,
                    "GET",
                    &format!(
                        "/api/accounts?address={}",
                        super::client::query_value(address)
                    ),
                    None,
                )?;
                Ok(v.into_iter().next())
            }
        }
    }

    fn list(&self, cfg: &Config, domain: Option<&str>) -> Result<Vec<AccountLine>, String> {
        match self {
            Target::Direct { rt, store, .. } => {
                Self::direct(rt, accounts::list(store, cfg, domain))
            }
            Target::Api(c) => {
                let path = match domain {
                    Some(d) => format!("/api/accounts?domain={}", super::client::query_value(d)),
                    None => "/api/accounts".into(),
                };
                call(c, "GET", &path, None)
            }
        }
    }

    fn add(&self, cfg: &Config, address: &str, hash: &str) -> Result<String, String> {
        match self {
            Target::Direct { rt, store, .. } => {
                Self::direct(rt, accounts::add(store, cfg, address, hash))
            }
            Target::Api(c) => {
                let body = serde_json::json!({ "address": address, "hash": hash });
                call::<Done>(c, "POST", "/api/accounts", Some(body)).map(|d| d.address)
            }
        }
    }

    fn passwd(&self, cfg: &Config, address: &str, hash: &str) -> Result<String, String> {
        match self {
            Target::Direct { rt, store, .. } => {
                Self::direct(rt, accounts::passwd(store, cfg, address, hash))
            }
            Target::Api(c) => {
                let body = serde_json::json!({ "address": address, "hash": hash });
                call::<Done>(c, "POST", "/api/accounts/passwd", Some(body)).map(|d| d.address)
            }
        }
    }

    fn delete(&self, cfg: &Config, address: &str) -> Result<String, String> {
        match self {
            Target::Direct { rt, store, .. } => {
                Self::direct(rt, accounts::delete(store, cfg, address))
            }
            Target::Api(c) => {
                let body = serde_json::json!({ "address": address });
                call::<Done>(c, "POST", "/api/accounts/delete", Some(body)).map(|d| d.address)
            }
        }
    }

    fn import(
        &self,
        cfg: &Config,
        domain: &str,
        text: &str,
        first_line: usize,
    ) -> Result<ImportReport, String> {
        match self {
            Target::Direct { rt, store, .. } => Self::direct(
                rt,
                accounts::import_users(store, cfg, domain, text, first_line),
            ),
            Target::Api(c) => {
                let body =
                    serde_json::json!({ "domain": domain, "text": text, "first_line": first_line });
                call(c, "POST", "/api/users/import", Some(body))
            }
        }
    }
}

/// `name` as a login takes it (a bare name gets the server's `default_domain`),
/// for every command that names a user.
pub fn resolve(cfg: &Config, name: &str) -> Result<String, String> {
    accounts::resolve(cfg, name).map_err(|e| e.to_string())
}

/// `account add NAME [--hash-stdin]`.
pub fn add(cfg: &Config, name: &str, hash_stdin: bool) -> Result<(), String> {
    let address = resolve(cfg, name)?;
    if target(cfg)?.get(cfg, &address)?.is_some() {
        return Err(format!("account {address} already exists"));
    }
    let hash = if hash_stdin {
        read_hash()?
    } else {
        hash_password(&read_password(true)?)
    };
    let address = target(cfg)?.add(cfg, &address, &hash)?;
    println!("created {address}");
    Ok(())
}

/// `account list [--domain D]`.
pub fn list(cfg: &Config, domain: Option<&str>) -> Result<(), String> {
    for a in target(cfg)?.list(cfg, domain)? {
        match &a.reason {
            Some(r) => println!("{}\t{}\t{}", a.address, a.state, r),
            None => println!("{}\t{}", a.address, a.state),
        }
    }
    Ok(())
}

/// `account passwd NAME`.
pub fn passwd(cfg: &Config, name: &str) -> Result<(), String> {
    let address = resolve(cfg, name)?;
    if target(cfg)?.get(cfg, &address)?.is_none() {
        return Err(format!("account {address} does not exist"));
    }
    let hash = hash_password(&read_password(true)?);
    let address = target(cfg)?.passwd(cfg, &address, &hash)?;
    println!("password changed for {address}");
    Ok(())
}

/// `account delete NAME [--yes]`: asks first on a terminal; elsewhere only
/// `--yes` deletes.
pub fn delete(cfg: &Config, name: &str, yes: bool) -> Result<(), String> {
    let address = resolve(cfg, name)?;
    let terminal = std::io::stdin().is_terminal();
    if !yes && !terminal {
        return Err(format!(
            "not deleting {address}: standard input is not a terminal to ask on; add --yes to delete the account and all its mail"
        ));
    }
    // The lock (or the API) is not held while the admin answers.
    if target(cfg)?.get(cfg, &address)?.is_none() {
        return Err(format!("account {address} does not exist"));
    }
    if !yes
        && !confirm(&format!(
            "Delete {address} and all its mail? This cannot be undone. [y/N] "
        ))?
    {
        return Err(format!("{address} not deleted"));
    }
    let address = target(cfg)?.delete(cfg, &address)?;
    println!("deleted {address}");
    Ok(())
}

fn confirm(question: &str) -> Result<bool, String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `users import --domain D FILE`.
pub fn import_users(cfg: &Config, domain: &str, file: &Path) -> Result<(), String> {
    let d = accounts::hosted_domain(cfg, domain).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let target = target(cfg)?;
    let mut r = ImportReport::default();
    for (first_line, piece) in import::chunks(&text, IMPORT_CHUNK) {
        r.add(target.import(cfg, &d, piece, first_line)?);
    }
    for e in &r.errors {
        eprintln!("{e}");
    }
    println!(
        "{d}: {} users imported as pending ({} with a password hash), {} already known, {} lines rejected",
        r.imported,
        r.with_hash,
        r.existing,
        r.errors.len()
    );
    if r.errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} lines rejected", r.errors.len()))
    }
}

/// Reads one password hash from standard input and checks that ferrymail can
/// verify it.
fn read_hash() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the hash from standard input: {e}"))?;
    let hash = line.trim();
    if !crate::auth::password::is_supported_hash(hash) {
        return Err("unsupported password hash: expected {SHA512-CRYPT}$6$..., {SHA256-CRYPT}$5$..., {BLF-CRYPT}$2y$... or $argon2id$...".into());
    }
    Ok(hash.to_string())
}
