//! Delivery of an accepted message: into local INBOXes through the store's one
//! ingest path, and into the relay queue. Both are durable on return.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::hop::Hop;
use super::queue;
use crate::app::App;
use crate::store::{Flags, IngestSource, NewMessage, StoreError};

/// A message file being received, under `data_dir/spool/`; removed on drop.
pub struct Spool {
    pub path: PathBuf,
}

impl Spool {
    pub async fn create(data_dir: &Path) -> std::io::Result<(Spool, tokio::fs::File)> {
        crate::store::reserve::check_room(data_dir, data_dir)?;
        let dir = data_dir.join("spool");
        crate::store::create_private_dir(&dir)?;
        let path = dir.join(crate::store::blob::new_blob_id());
        let f = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await?;
        Ok((Spool { path }, f))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes spool files a crash left behind (never acknowledged).
pub fn clean_spool(data_dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(data_dir.join("spool")) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Delivers the durable file `path` into the INBOX of account `account_id`.
pub async fn deliver_local(app: &Arc<App>, account_id: i64, path: &Path) -> Result<(), StoreError> {
    let ms = app.store.mailstore_or_create(account_id).await?;
    let inbox = ms
        .mailbox("INBOX")
        .await?
        .ok_or_else(|| StoreError::NotFound("INBOX".into()))?;
    let blob = ms.stage_file(path).await?;
    ms.ingest(
        IngestSource::Smtp,
        vec![NewMessage {
            mailbox_id: inbox.id,
            uid: None,
            flags: Flags::new(),
            internaldate: crate::store::now(),
            tz_minutes: 0,
            blob,
            legacy: None,
            legacy_uidl: None,
        }],
    )
    .await?;
    app.metrics
        .messages_delivered
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Queues the durable file `path` for `rcpt` via `hop`.
pub async fn enqueue(
    app: &Arc<App>,
    path: &Path,
    from: &str,
    rcpt: &str,
    hop: &Hop,
    dsn_hop: Option<&Hop>,
) -> Result<String, StoreError> {
    let data_dir = app.config().data_dir.clone();
    let (path, from, rcpt, hop, dsn_hop) = (
        path.to_path_buf(),
        from.to_string(),
        rcpt.to_string(),
        hop.clone(),
        dsn_hop.cloned(),
    );
    tokio::task::spawn_blocking(move || {
        queue::enqueue(&data_dir, &path, &from, &rcpt, &hop, dsn_hop.as_ref())
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?
    .map_err(StoreError::Io)
}
