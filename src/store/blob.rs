//! Message files ("blobs"): written to a temporary name, made durable, renamed
//! into place. Nothing points at a blob until it is durable; a crash leaves at most
//! an unreferenced file, which [`super::Mailstore::open`] removes.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use tokio::io::AsyncWriteExt;

use super::{Result, StoreError};

/// How a finished blob is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file, rename, fsync the directory: durable on return.
    Now,
    /// Rename only; the caller makes a whole batch durable at once with
    /// [`sync_filesystem`] before committing it.
    Batch,
}

/// A message file in place and ready to be committed to the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedBlob {
    pub id: String,
    pub size: u64,
}

/// `blobs/ab/abcdef…` below an account directory.
pub fn blob_path(account_dir: &Path, id: &str) -> PathBuf {
    let prefix = id.get(..2).unwrap_or("00");
    account_dir.join("blobs").join(prefix).join(id)
}

/// A new random blob name: 32 hex digits.
pub fn new_blob_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Streams one message into a temporary file.
pub struct BlobWriter {
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    tmp: PathBuf,
    account_dir: PathBuf,
    id: String,
    size: u64,
}

impl BlobWriter {
    pub async fn create(account_dir: &Path) -> Result<BlobWriter> {
        let id = new_blob_id();
        let tmp = account_dir.join("tmp").join(&id);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true).mode(0o600);
        let file = tokio::fs::OpenOptions::from(opts).open(&tmp).await?;
        Ok(BlobWriter {
            file: Some(tokio::io::BufWriter::with_capacity(64 * 1024, file)),
            tmp,
            account_dir: account_dir.to_path_buf(),
            id,
            size: 0,
        })
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| StoreError::Internal("blob already finished".into()))?;
        f.write_all(data).await?;
        self.size += data.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Closes the file and moves it into `blobs/`.
    pub async fn finish(mut self, durability: Durability) -> Result<StagedBlob> {
        let mut f = self
            .file
            .take()
            .ok_or_else(|| StoreError::Internal("blob already finished".into()))?;
        f.flush().await?;
        let file = f.into_inner();
        if durability == Durability::Now {
            file.sync_all().await?;
        }
        drop(file);
        let dest = blob_path(&self.account_dir, &self.id);
        tokio::fs::rename(&self.tmp, &dest).await?;
        if durability == Durability::Now {
            let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
            tokio::task::spawn_blocking(move || sync_dir(&dir))
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))??;
        }
        Ok(StagedBlob {
            id: std::mem::take(&mut self.id),
            size: self.size,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// fsync a directory, so that entries created or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Makes everything written on the filesystem holding `path` durable (syncfs(2)):
/// one flush for a whole batch of blobs.
pub fn sync_filesystem(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: syncfs only reads the descriptor, which is valid while `f` lives.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Brings an existing file (an SMTP spool file, say) into `account_dir` as a blob:
/// hard-linked when on the same filesystem, copied otherwise; durable on return.
pub fn import_file(account_dir: &Path, src: &Path) -> Result<StagedBlob> {
    let id = new_blob_id();
    let dest = blob_path(account_dir, &id);
    let size = std::fs::metadata(src)?.len();
    if std::fs::hard_link(src, &dest).is_err() {
        let tmp = account_dir.join("tmp").join(&id);
        std::fs::copy(src, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &dest)?;
    }
    if let Some(dir) = dest.parent() {
        sync_dir(dir)?;
    }
    Ok(StagedBlob { id, size })
}
