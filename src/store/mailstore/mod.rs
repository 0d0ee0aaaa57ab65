//! One account's mail: mailboxes, messages, flags, modseq, the legacy UID map, and
//! the change feed every session of the account listens to.
//!
//! All writers (SMTP delivery, APPEND, the migration copy) go through
//! [`Mailstore::ingest`]: message files are durable before the index row that points
//! at them is committed, and the commit is durable before `ingest` returns.
//!
//! The parts: [`types`] (the plain data types), `schema` (the index schema),
//! [`names`] (mailbox names), `sql` (row readers and steps shared by several
//! operations), and one file per group of operations, each adding an `impl
//! Mailstore` block: `mailboxes`, `messages`, `flags`, `removal`, `legacy_map`.

mod flags;
pub mod headers;
mod legacy_map;
mod mailboxes;
mod messages;
pub mod names;
mod removal;
mod schema;
mod sql;
pub mod types;
mod usage;
mod views;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::blob::{self, BatchWrites};
use crate::store::db::Db;
use crate::store::error::Result;
use crate::store::util::create_private_dir;

pub use self::headers::HeaderCache;
pub use self::names::{check_name, normalize_name};
use self::schema::SCHEMA;
use self::sql::insert_mailbox;
pub use self::types::{
    Change, Changes, FlagOp, FlagsResult, IngestSource, LegacyRef, MailboxInfo, MessageMeta,
    NewMailbox, NewMessage, StoredMessage,
};
pub use self::views::View;

/// One account's mail store.
pub struct Mailstore {
    pub account_id: i64,
    dir: PathBuf,
    db: Db,
    feed: broadcast::Sender<Change>,
    writes: Arc<BatchWrites>,
    views: Arc<views::Views>,
}

impl std::fmt::Debug for Mailstore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailstore")
            .field("account_id", &self.account_id)
            .finish()
    }
}

impl Mailstore {
    /// Releases the data dir's disk reserve ([`crate::store::reserve`]) so that
    /// an operation that failed on a full disk can be tried once more.
    pub(super) fn release_reserve(&self) -> bool {
        crate::store::reserve::release_for(&self.dir)
    }

    /// Creates the directory layout and index of a new account, with `folders`.
    pub(crate) fn create(dir: &Path, folders: &[(&str, Option<&str>)]) -> Result<()> {
        create_private_dir(dir)?;
        create_private_dir(&dir.join("tmp"))?;
        for i in 0..=255u8 {
            create_private_dir(&dir.join("blobs").join(format!("{i:02x}")))?;
        }
        let db = Db::open(&dir.join("index.sqlite"), SCHEMA)?;
        db.call_blocking(|c| {
            let tx = c.transaction()?;
            for (name, special) in folders {
                insert_mailbox(
                    &tx,
                    name,
                    &NewMailbox {
                        special_use: special.map(str::to_string),
                        ..Default::default()
                    },
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)",
                    [name],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        blob::sync_dir(&dir.join("blobs"))?;
        blob::sync_dir(dir)?;
        if let Some(parent) = dir.parent() {
            blob::sync_dir(parent)?;
        }
        Ok(())
    }

    /// Opens an existing account's store, clearing what an earlier crash left behind:
    /// half-written files in `tmp/` and blobs that no committed message references.
    pub(crate) fn open(account_id: i64, dir: &Path) -> Result<Mailstore> {
        let db = Db::open(&dir.join("index.sqlite"), SCHEMA)?;
        if let Ok(entries) = std::fs::read_dir(dir.join("tmp")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let referenced: HashSet<String> = db.call_blocking(|c| {
            let mut st = c.prepare("SELECT DISTINCT blob FROM messages")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<HashSet<_>>>()?)
        })?;
        if let Ok(subdirs) = std::fs::read_dir(dir.join("blobs")) {
            for sub in subdirs.flatten() {
                let Ok(files) = std::fs::read_dir(sub.path()) else {
                    continue;
                };
                for f in files.flatten() {
                    let name = f.file_name().to_string_lossy().into_owned();
                    if !referenced.contains(&name) {
                        tracing::info!(account = account_id, blob = %name, "removing unreferenced message file left by an interrupted write");
                        let _ = std::fs::remove_file(f.path());
                    }
                }
            }
        }
        let (feed, _) = broadcast::channel(4096);
        Ok(Mailstore {
            account_id,
            dir: dir.to_path_buf(),
            db,
            feed,
            writes: Arc::default(),
            views: Arc::new(views::Views::new(dir.to_path_buf())),
        })
    }

    /// Opens a session's view of a mailbox ([`View`]): messages removed while
    /// it is open stay readable through [`Mailstore::kept_message`] until the
    /// view was told ([`View::told_expunged`]) or is closed. Take it before
    /// reading the mailbox's messages.
    pub fn open_view(&self, mailbox_id: i64) -> View {
        self.views.open(mailbox_id)
    }

    /// A message removed from `mailbox_id` that some open view was not told
    /// of yet, as it was (its file is still there unless a copy of it sharing
    /// the file was removed meanwhile).
    pub fn kept_message(&self, mailbox_id: i64, uid: u32) -> Option<MessageMeta> {
        self.views.kept(mailbox_id, uid)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Listens to every change made to this account from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    fn announce(&self, changes: Vec<Change>) {
        for c in changes {
            // No subscriber is not an error.
            let _ = self.feed.send(c);
        }
    }
}
