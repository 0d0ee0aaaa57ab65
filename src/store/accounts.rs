//! Accounts and their migration state (DESIGN §1).

use std::path::Path;

use rusqlite::{params, OptionalExtension, Row};

use super::error::{Result, StoreError};
use super::mailstore::Mailstore;
use super::util::now;
use super::Store;

/// Where an account stands. `Local` accounts were made by the admin and never had a
/// legacy mailbox; the others follow the migration state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountState {
    /// Known (imported with `users import`), not moved yet: mail is relayed to
    /// the legacy server, a login checks the legacy password and starts the move.
    Pending,
    Local,
    Copying,
    Migrated,
    Finished,
    Failed,
}

impl AccountState {
    pub const ALL: [AccountState; 6] = [
        AccountState::Pending,
        AccountState::Local,
        AccountState::Copying,
        AccountState::Migrated,
        AccountState::Finished,
        AccountState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Pending => "pending",
            AccountState::Local => "local",
            AccountState::Copying => "copying",
            AccountState::Migrated => "migrated",
            AccountState::Finished => "finished",
            AccountState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<AccountState> {
        AccountState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True when the local store is authoritative: mail is delivered and served locally.
    pub fn serves_locally(self) -> bool {
        matches!(
            self,
            AccountState::Local | AccountState::Migrated | AccountState::Finished
        )
    }
}

impl std::fmt::Display for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    /// Lower-case `local@domain`.
    pub address: String,
    pub domain: String,
    /// PHC string (argon2id for every hash ferrymail writes).
    pub password_hash: String,
    pub state: AccountState,
    pub state_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("address", &self.address)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "id, address, domain, password_hash, state, state_reason, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    let state: String = r.get(4)?;
    Ok(Account {
        id: r.get(0)?,
        address: r.get(1)?,
        domain: r.get(2)?,
        password_hash: r.get(3)?,
        state: AccountState::parse(&state).unwrap_or(AccountState::Failed),
        state_reason: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// Splits and lower-cases `local@domain`; `None` when it is not of that form.
pub fn split_address(address: &str) -> Option<(String, String)> {
    let (local, domain) = address.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some((local.to_lowercase(), domain.to_ascii_lowercase()))
}

/// Up to `limit` addresses of `domain` in `state`, ordered by address, read
/// from `data_dir` without changing anything there (`migrate test`): the
/// account database is opened read-only, and not at all when it does not
/// exist yet (`None`). Without a `-wal` file (no daemon has it open) every
/// row is in the main file, which is then read as immutable: SQLite would
/// otherwise leave `-wal` and `-shm` files behind. Blocking.
pub fn peek_addresses(
    data_dir: &Path,
    domain: &str,
    state: AccountState,
    limit: usize,
) -> Result<Option<Vec<String>>> {
    let Some(c) = open_peek(data_dir)? else {
        return Ok(None);
    };
    let mut st = c.prepare(
        "SELECT address FROM accounts WHERE domain = ?1 AND state = ?2 ORDER BY address LIMIT ?3",
    )?;
    let rows = st.query_map(
        params![
            domain.to_ascii_lowercase(),
            state.as_str(),
            limit.min(i64::MAX as usize) as i64
        ],
        |r| r.get::<_, String>(0),
    )?;
    Ok(Some(rows.collect::<rusqlite::Result<Vec<_>>>()?))
}

/// Every account address of `domain`, whatever its state, read like
/// [`peek_addresses`] (`check-config`: aliases against accounts). Blocking.
pub fn peek_all_addresses(data_dir: &Path, domain: &str) -> Result<Option<Vec<String>>> {
    let Some(c) = open_peek(data_dir)? else {
        return Ok(None);
    };
    let mut st = c.prepare("SELECT address FROM accounts WHERE domain = ?1")?;
    let rows = st.query_map(params![domain.to_ascii_lowercase()], |r| {
        r.get::<_, String>(0)
    })?;
    Ok(Some(rows.collect::<rusqlite::Result<Vec<_>>>()?))
}

/// The account database of `data_dir`, read-only; `None` when there is none.
fn open_peek(data_dir: &Path) -> Result<Option<rusqlite::Connection>> {
    use rusqlite::{Connection, OpenFlags};
    let path = data_dir.join("ferrymail.sqlite");
    if !path.exists() {
        return Ok(None);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let wal = data_dir.join("ferrymail.sqlite-wal");
    let c = match path.to_str() {
        Some(p) if !wal.exists() => {
            let mut uri = String::from("file:");
            for ch in p.chars() {
                match ch {
                    '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", ch as u32)),
                    c => uri.push(c),
                }
            }
            uri.push_str("?immutable=1");
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)?
        }
        _ => Connection::open_with_flags(&path, flags)?,
    };
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(Some(c))
}

/// Folders every new local account gets, with their special-use roles (RFC 6154).
pub const DEFAULT_FOLDERS: &[(&str, Option<&str>)] = &[
    ("INBOX", None),
    ("Drafts", Some("\\Drafts")),
    ("Sent", Some("\\Sent")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
    ("Archive", Some("\\Archive")),
];

/// Creates the empty mail store in `dir` (an account's directory), clearing
/// what a crash half way through an earlier attempt left. Blocking.
pub(super) fn create_mail_store_in(dir: &Path, default_folders: bool) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    Mailstore::create(
        dir,
        if default_folders {
            DEFAULT_FOLDERS
        } else {
            &DEFAULT_FOLDERS[..1]
        },
    )
}

impl Store {
    /// Creates an account and its (empty) mail store. With `default_folders` the
    /// special-use folders are created too; otherwise only INBOX (the copy brings
    /// the legacy folders).
    pub async fn create_account(
        &self,
        address: &str,
        password_hash: &str,
        state: AccountState,
        default_folders: bool,
    ) -> Result<Account> {
        let account = self
            .create_account_row(address, password_hash, state)
            .await?;
        if let Err(e) = self.create_mail_store(account.id, default_folders).await {
            let id = account.id;
            let _ = self
                .db
                .call(move |c| Ok(c.execute("DELETE FROM accounts WHERE id = ?1", [id])?))
                .await;
            let _ = std::fs::remove_dir_all(self.account_dir(id));
            return Err(e);
        }
        Ok(account)
    }

    /// Creates a `copying` account without its mail store: the copy creates it
    /// when it starts ([`Self::mailstore_or_create`]). A first login that is
    /// proxied to the legacy server does not need the store, so it does not wait
    /// for its directories, index and fsyncs.
    pub async fn create_copying_account(
        &self,
        address: &str,
        password_hash: &str,
    ) -> Result<Account> {
        self.create_account_row(address, password_hash, AccountState::Copying)
            .await
    }

    /// Creates a `pending` account (known from `users import`, not moved):
    /// `password_hash` is an imported legacy hash, or empty (no local login
    /// until the user logs in once through the legacy server).
    pub async fn create_pending_account(
        &self,
        address: &str,
        password_hash: &str,
    ) -> Result<Account> {
        self.create_account_row(address, password_hash, AccountState::Pending)
            .await
    }

    /// Starts the move of a `pending` account: it becomes `copying`, with
    /// `password_hash` when the user's login gave one. Returns the account as
    /// it is then (already started by someone else: unchanged).
    pub async fn start_pending_account(
        &self,
        id: i64,
        password_hash: Option<&str>,
    ) -> Result<Account> {
        let hash = password_hash.map(str::to_string);
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE accounts SET state = 'copying', state_reason = NULL,
                         password_hash = COALESCE(?2, password_hash), updated_at = ?3
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, hash, now()],
                )?;
                c.query_row(
                    &format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"),
                    [id],
                    from_row,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("account {id}")))
            })
            .await
    }

    async fn create_account_row(
        &self,
        address: &str,
        password_hash: &str,
        state: AccountState,
    ) -> Result<Account> {
        let (local, domain) = split_address(address)
            .ok_or_else(|| StoreError::Invalid(format!("`{address}` is not local@domain")))?;
        let address = format!("{local}@{domain}");
        let hash = password_hash.to_string();
        let t = now();
        self.db
            .call(move |c| {
                let n = c.execute(
                    "INSERT INTO accounts (address, domain, password_hash, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(address) DO NOTHING",
                    params![address, domain, hash, state.as_str(), t],
                )?;
                if n == 0 {
                    return Err(StoreError::AlreadyExists(format!("account {address}")));
                }
                let id = c.last_insert_rowid();
                Ok(c.query_row(
                    &format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"),
                    [id],
                    from_row,
                )?)
            })
            .await
    }

    /// Creates the empty mail store of account `id` (clearing what a crash half
    /// way through an earlier attempt left), on the blocking pool: directories,
    /// an index and several fsyncs.
    pub(super) async fn create_mail_store(&self, id: i64, default_folders: bool) -> Result<()> {
        let dir = self.account_dir(id);
        tokio::task::spawn_blocking(move || create_mail_store_in(&dir, default_folders))
            .await
            .unwrap_or_else(|e| Err(StoreError::Internal(e.to_string())))
    }

    pub async fn account(&self, address: &str) -> Result<Option<Account>> {
        let address = address.to_lowercase();
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {COLUMNS} FROM accounts WHERE address = ?1"),
                    [address],
                    from_row,
                )
                .optional()?)
            })
            .await
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<Account>> {
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"),
                    [id],
                    from_row,
                )
                .optional()?)
            })
            .await
    }

    /// Every account, or those of one domain, ordered by address.
    pub async fn accounts(&self, domain: Option<&str>) -> Result<Vec<Account>> {
        let domain = domain.map(|d| d.to_ascii_lowercase());
        self.db
            .call(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM accounts WHERE ?1 IS NULL OR domain = ?1 ORDER BY address"
                ))?;
                let rows = st.query_map([domain], from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    pub async fn set_password_hash(&self, id: i64, hash: &str) -> Result<()> {
        let hash = hash.to_string();
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE accounts SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, hash, now()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("account {id}")));
                }
                Ok(())
            })
            .await
    }

    /// Moves an account to `state`, recording why (shown by `status`).
    pub async fn set_state(
        &self,
        id: i64,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<()> {
        let reason = reason.map(str::to_string);
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE accounts SET state = ?2, state_reason = ?3, updated_at = ?4 WHERE id = ?1",
                    params![id, state.as_str(), reason, now()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("account {id}")));
                }
                Ok(())
            })
            .await
    }

    /// Deletes an account and all its mail.
    pub async fn delete_account(&self, address: &str) -> Result<()> {
        let account = self
            .account(address)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account {address}")))?;
        let id = account.id;
        self.db
            .call(move |c| Ok(c.execute("DELETE FROM accounts WHERE id = ?1", [id])?))
            .await?;
        self.open.forget(id);
        let dir = self.account_dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        Ok(())
    }
}
