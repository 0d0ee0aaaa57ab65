//! The durable relay queue: one entry per (message, recipient) in
//! `data_dir/queue/`, a message file `<id>.eml` and an envelope `<id>.json`.
//!
//! An entry exists once its envelope file is renamed into place after the
//! message and envelope were fsynced and the folder fsynced; it is removed only
//! after the next hop answered 250 (or after a DSN for it was durably queued or
//! delivered), envelope first, so an envelope never outlives its message
//! file. A crash between the next hop's 250 and the removal sends the message
//! again: exactly once as far as SMTP allows.
//!
//! This file is the storage of the queue and the runner's waker; who may
//! attempt and change an entry is `claim.rs`; the runner itself is `relay.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::hop::Hop;
use crate::store::blob::{new_blob_id, sync_dir};
use crate::store::now;

/// The envelope of one queue entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    /// Reverse-path; empty for `<>` (DSNs, which never get a DSN themselves).
    pub from: String,
    pub rcpt: String,
    pub hop: Hop,
    /// Where a DSN for a sender outside our domains goes.
    pub dsn_hop: Option<Hop>,
    pub created: i64,
    pub attempts: u32,
    pub next_attempt: i64,
    pub last_error: Option<String>,
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("queue")
}

/// Wakers of the runners, one per queue folder (several daemons may share a
/// process in tests).
fn wakers() -> &'static Mutex<HashMap<PathBuf, Arc<Notify>>> {
    static W: OnceLock<Mutex<HashMap<PathBuf, Arc<Notify>>>> = OnceLock::new();
    W.get_or_init(Default::default)
}

/// The waker of the runner of the queue under `data_dir`.
pub(super) fn waker(data_dir: &Path) -> Arc<Notify> {
    wakers()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(dir(data_dir))
        .or_default()
        .clone()
}

/// Tells the runner that new entries are waiting.
pub fn wake(data_dir: &Path) {
    waker(data_dir).notify_one();
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes an envelope atomically: temporary file, fsync, rename, folder fsync.
pub(super) fn write_entry(qdir: &Path, e: &Entry) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(e).map_err(std::io::Error::other)?;
    let tmp = qdir.join(format!("{}.json.tmp", e.id));
    write_synced(&tmp, &json)?;
    std::fs::rename(&tmp, qdir.join(format!("{}.json", e.id)))?;
    sync_dir(qdir)
}

/// Queues `message` (a durable spool file, linked, not moved) for `rcpt` via `hop`.
/// Durable on return. Blocking: call from `spawn_blocking`.
pub fn enqueue(
    data_dir: &Path,
    message: &Path,
    from: &str,
    rcpt: &str,
    hop: &Hop,
    dsn_hop: Option<&Hop>,
) -> std::io::Result<String> {
    let qdir = dir(data_dir);
    crate::store::create_private_dir(&qdir)?;
    let id = format!("{:x}-{}", now(), &new_blob_id()[..16]);
    let eml = qdir.join(format!("{id}.eml"));
    if std::fs::hard_link(message, &eml).is_err() {
        let tmp = qdir.join(format!("{id}.eml.tmp"));
        std::fs::copy(message, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &eml)?;
    }
    let t = now();
    let entry = Entry {
        id: id.clone(),
        from: from.to_string(),
        rcpt: rcpt.to_string(),
        hop: hop.clone(),
        dsn_hop: dsn_hop.cloned(),
        created: t,
        attempts: 0,
        next_attempt: t,
        last_error: None,
    };
    write_entry(&qdir, &entry)?;
    Ok(id)
}

/// Every entry on disk: a snapshot, a hint for the runner only. An attempt
/// claims its entry and reads it again (`claim.rs`); an entry removed since
/// the folder was read is skipped here.
pub fn list(data_dir: &Path) -> Vec<Entry> {
    let qdir = dir(data_dir);
    let Ok(rd) = std::fs::read_dir(&qdir) else {
        return vec![];
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        let entry = match std::fs::read(e.path()) {
            Ok(b) => serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => Err(err.to_string()),
        }
        .and_then(|entry| {
            if entry.id == id {
                Ok(entry)
            } else {
                Err(format!("the envelope names another entry, {}", entry.id))
            }
        });
        match entry {
            Ok(entry) => out.push(entry),
            Err(err) => {
                tracing::error!(file = %e.path().display(), error = %err, "unreadable queue entry left in place")
            }
        }
    }
    out.sort_by_key(|e| (e.next_attempt, e.created));
    out
}

/// Clears what a crash left half-written: temporary files and message files
/// without an envelope (never acknowledged to anyone).
pub(super) fn clean_orphans(qdir: &Path) {
    let Ok(rd) = std::fs::read_dir(qdir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        } else if let Some(id) = name.strip_suffix(".eml") {
            if !qdir.join(format!("{id}.json")).exists() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
