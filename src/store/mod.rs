//! Storage: the account database and, per account, a mail store.
//!
//! Layout under `data_dir` (DESIGN §5):
//!
//! ```text
//! ferrymail.sqlite              accounts, states, jobs, statistics, relay queue index
//! accounts/<id>/index.sqlite    mailboxes, messages, flags, modseq, legacy UID map, UIDLs
//! accounts/<id>/blobs/xx/<blob> one file per message
//! accounts/<id>/tmp/            files being written
//! ```

pub mod accounts;
pub mod blob;
pub mod cache;
pub mod db;
mod error;
pub mod flags;
pub mod lock;
pub mod mailstore;
pub mod reserve;
mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use accounts::{Account, AccountState};
pub use blob::{BlobWriter, StagedBlob};
use cache::MailstoreCache;
pub use db::Db;
pub use error::{Result, StoreError};
pub use flags::Flags;
pub use mailstore::{
    Change, FlagOp, IngestSource, MailboxInfo, Mailstore, MessageMeta, NewMailbox, NewMessage,
    StoredMessage,
};
pub(crate) use util::create_private_dir;
pub use util::now;

/// Schema of `ferrymail.sqlite`. Append steps; never edit a released one.
const ACCOUNT_SCHEMA: &[db::Migration] = &[r#"
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    address       TEXT NOT NULL UNIQUE,
    domain        TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_reason  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain, state);
"#];

/// The whole store: the account database plus every account's mail store.
pub struct Store {
    data_dir: PathBuf,
    db: Db,
    /// The open mail stores.
    open: MailstoreCache,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl Store {
    /// Opens the store in `data_dir`, creating it (mode 0700) if needed.
    pub fn open(data_dir: &Path) -> Result<Arc<Store>> {
        create_private_dir(data_dir)?;
        create_private_dir(&data_dir.join("accounts"))?;
        let file = data_dir.join("ferrymail.sqlite");
        // On a full disk SQLite cannot even open (it makes its -wal and -shm
        // files): the disk reserve makes room.
        let db = match Db::open(&file, ACCOUNT_SCHEMA) {
            Err(_) if reserve::release(data_dir) => Db::open(&file, ACCOUNT_SCHEMA)?,
            r => r?,
        };
        reserve::ensure(data_dir);
        Ok(Arc::new(Store {
            data_dir: data_dir.to_path_buf(),
            db,
            open: MailstoreCache::default(),
        }))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The account database, for modules that keep their own tables in it.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn account_dir(&self, id: i64) -> PathBuf {
        self.data_dir.join("accounts").join(id.to_string())
    }

    /// [`Self::mailstore`], creating the store (INBOX only) of an account that is
    /// not served locally yet (`copying`, `failed`) if it does not exist: see
    /// [`Self::create_copying_account`]. The store of an account served locally
    /// is never created here: a missing one stays an error. Concurrent callers
    /// for one account create it once.
    pub async fn mailstore_or_create(&self, id: i64) -> Result<Arc<Mailstore>> {
        match self.mailstore(id).await {
            Err(StoreError::NotFound(_)) => {}
            r => return r,
        }
        match self.account_by_id(id).await? {
            Some(a) if !a.state.serves_locally() => {}
            _ => return self.mailstore(id).await,
        }
        let dir = self.account_dir(id);
        self.open
            .get(id, move || {
                if !dir.join("index.sqlite").exists() {
                    accounts::create_mail_store_in(&dir, false)?;
                }
                Mailstore::open(id, &dir)
            })
            .await
    }

    /// The mail store of account `id`, shared by every session of that account so
    /// that they all see one change feed. It is opened on the blocking pool and
    /// stays open a while after its last user dropped it: see [`cache`].
    pub async fn mailstore(&self, id: i64) -> Result<Arc<Mailstore>> {
        let dir = self.account_dir(id);
        self.open
            .get(id, move || {
                if !dir.join("index.sqlite").exists() {
                    return Err(StoreError::NotFound(format!("mail store of account {id}")));
                }
                // On a full disk: the reserve makes room to open (and so to
                // read and delete).
                Mailstore::open(id, &dir).or_else(|e| {
                    if reserve::release_for(&dir) {
                        Mailstore::open(id, &dir)
                    } else {
                        Err(e)
                    }
                })
            })
            .await
    }
}
