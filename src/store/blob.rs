//! Message files ("blobs"): written to a temporary name, made durable, renamed
//! into place. Nothing points at a blob until it is durable; a crash leaves at most
//! an unreferenced file, which [`super::Mailstore::open`] removes.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand::RngCore;
use tokio::io::AsyncWriteExt;

use super::error::{Result, StoreError};

/// How a finished blob is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file, rename, fsync the directory: durable on return.
    Now,
    /// Rename only, and for a message held in memory the write itself runs in
    /// the background; the caller makes a whole batch durable at once with
    /// [`BatchWrites::settle`] and [`sync_filesystem`] before committing it.
    Batch,
}

/// Bytes of batch writes that may be in flight in the background at once.
const IN_FLIGHT_KIB: u32 = 32 * 1024;
/// Background batch writes running at once.
const WRITERS: usize = 4;

/// The background writes of [`Durability::Batch`] blobs of one store: the copy
/// goes on reading the legacy socket while earlier messages reach the disk, and
/// the batch barrier ([`BatchWrites::settle`]) waits for all of them.
pub struct BatchWrites {
    /// The first failure of a background write since the last settle.
    failed: Arc<Mutex<Option<StoreError>>>,
    /// KiB of writes that may be in flight; each write holds its share until it
    /// is done, so holding all of them means no write is in flight.
    budget: Arc<tokio::sync::Semaphore>,
    /// Background writes running at once (more only contend on the directories).
    writers: Arc<tokio::sync::Semaphore>,
}

impl Default for BatchWrites {
    fn default() -> Self {
        BatchWrites {
            failed: Arc::default(),
            budget: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_KIB as usize)),
            writers: Arc::new(tokio::sync::Semaphore::new(WRITERS)),
        }
    }
}

impl BatchWrites {
    /// Writes and renames `data` in the blocking pool without waiting; memory is
    /// bounded by [`IN_FLIGHT_KIB`] (a caller waits here when it is used up).
    async fn start(&self, dest: PathBuf, data: Vec<u8>) -> Result<()> {
        let kib = u32::try_from(data.len() / 1024 + 1)
            .unwrap_or(IN_FLIGHT_KIB)
            .min(IN_FLIGHT_KIB);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let writer = self
            .writers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let failed = self.failed.clone();
        tokio::task::spawn_blocking(move || {
            let _writer = writer;
            if let Err(e) = write_in_place(&dest, &data) {
                failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
            drop(permit);
        });
        Ok(())
    }

    /// Waits until no background write is in flight; returns the first failure
    /// since the last call (that blob is missing: the caller drops its batch).
    pub async fn settle(&self) -> Result<()> {
        let all = self
            .budget
            .acquire_many(IN_FLIGHT_KIB)
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        drop(all);
        match self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A message file in place and ready to be committed to the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedBlob {
    pub id: String,
    pub size: u64,
    /// The message's header block as it streamed through the [`BlobWriter`]
    /// (up to and with the empty line, at most [`HEAD_MAX`] bytes), so a
    /// caller can look at a header without reading the file back (the copy's
    /// alias discovery takes it). `None` for an imported file.
    pub head: Option<Vec<u8>>,
}

/// The most bytes of a message's header block a [`BlobWriter`] keeps.
pub const HEAD_MAX: usize = 64 * 1024;

/// The offset just after the empty line that ends a header block in `buf`,
/// searching from `from` (a line start or a little before the data added
/// last); `None` while the block has not ended. A message that starts with
/// an empty line has an empty header block.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    for start in [b"\r\n".as_slice(), b"\n"] {
        if from == 0 && buf.starts_with(start) {
            return Some(start.len());
        }
    }
    let mut i = from.min(buf.len());
    while let Some(p) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let rest = buf.get(nl + 1..).unwrap_or_default();
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        i = nl + 1;
    }
    None
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

/// Messages up to this size are kept in memory until [`BlobWriter::finish`], which
/// then writes, syncs and renames the file in one trip to the blocking pool; larger
/// ones spill into the temporary file as they stream in.
const SPILL_AT: usize = 1024 * 1024;
/// The largest message a writer keeps in memory (see [`BlobWriter::write_vec`]).
pub const IN_MEMORY_MAX: usize = SPILL_AT;

enum Sink {
    Memory(Vec<u8>),
    File(tokio::io::BufWriter<tokio::fs::File>),
}

/// Streams one message into a temporary file (small messages: into memory first,
/// see [`SPILL_AT`]).
pub struct BlobWriter {
    sink: Option<Sink>,
    writes: Arc<BatchWrites>,
    account_dir: PathBuf,
    id: String,
    size: u64,
    /// The header block so far ([`StagedBlob::head`]), and whether it is
    /// complete (ended, or [`HEAD_MAX`] reached).
    head: Vec<u8>,
    head_done: bool,
}

fn open_tmp_options() -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true).mode(0o600);
    opts
}

/// Writes `data` as the file `tmp`, syncs it, renames it to `dest` and syncs the
/// directory: all the blocking work of a small [`Durability::Now`] blob at once.
fn write_small_durable(tmp: &Path, dest: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let written = (|| {
        let mut f = open_tmp_options().open(tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(tmp, dest)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(tmp);
        return Err(e.into());
    }
    if let Some(dir) = dest.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Writes a [`Durability::Batch`] blob straight under its final name: nothing
/// references it before its batch is synced and committed, and a file left
/// half-written by a crash is unreferenced, so removed when the store is opened.
/// (No temporary name: one file creation per message, no rename, and no lock on
/// a shared `tmp/` directory for parallel writers.)
fn write_in_place(dest: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let written = open_tmp_options()
        .open(dest)
        .and_then(|mut f| f.write_all(data));
    if let Err(e) = written {
        let _ = std::fs::remove_file(dest);
        return Err(e.into());
    }
    Ok(())
}

fn tmp_path(account_dir: &Path, id: &str) -> PathBuf {
    account_dir.join("tmp").join(id)
}

impl BlobWriter {
    pub async fn create(account_dir: &Path, writes: Arc<BatchWrites>) -> Result<BlobWriter> {
        crate::store::reserve::check_room_for(account_dir)?;
        let id = new_blob_id();
        Ok(BlobWriter {
            sink: Some(Sink::Memory(Vec::new())),
            writes,
            account_dir: account_dir.to_path_buf(),
            id,
            size: 0,
            head: Vec::new(),
            head_done: false,
        })
    }

    /// The temporary name of a message spilled to a file (from its id, so the
    /// writer stays small: it sits in every IMAP command input).
    fn tmp(&self) -> PathBuf {
        tmp_path(&self.account_dir, &self.id)
    }

    /// Keeps the part of `data` (the bytes after those written so far) that
    /// belongs to the header block.
    fn keep_head(&mut self, data: &[u8]) {
        if self.head_done {
            return;
        }
        // Back up over a possible "\n\r" split between two writes.
        let from = self.head.len().saturating_sub(2);
        let take = (HEAD_MAX - self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..take]);
        if let Some(end) = head_end(&self.head, from) {
            self.head.truncate(end);
            self.head_done = true;
        } else if self.head.len() >= HEAD_MAX {
            self.head_done = true;
        }
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.keep_head(data);
        let sink = self
            .sink
            .as_mut()
            .ok_or_else(|| StoreError::Internal("blob already finished".into()))?;
        match sink {
            Sink::Memory(buf) if buf.len() + data.len() <= SPILL_AT => {
                buf.extend_from_slice(data);
            }
            Sink::Memory(buf) => {
                let file = tokio::fs::OpenOptions::from(open_tmp_options())
                    .open(tmp_path(&self.account_dir, &self.id))
                    .await?;
                let mut f = tokio::io::BufWriter::with_capacity(64 * 1024, file);
                f.write_all(buf).await?;
                f.write_all(data).await?;
                *sink = Sink::File(f);
            }
            Sink::File(f) => f.write_all(data).await?,
        }
        self.size += data.len() as u64;
        Ok(())
    }

    /// Like [`Self::write`], taking the buffer over instead of copying it when
    /// nothing was written before and it fits in memory.
    pub async fn write_vec(&mut self, data: Vec<u8>) -> Result<()> {
        let fits = data.len() <= SPILL_AT;
        if matches!(&self.sink, Some(Sink::Memory(buf)) if buf.is_empty() && fits) {
            self.keep_head(&data);
            self.size = data.len() as u64;
            self.sink = Some(Sink::Memory(data));
            return Ok(());
        }
        self.write(&data).await
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Closes the file and moves it into `blobs/`.
    pub async fn finish(mut self, durability: Durability) -> Result<StagedBlob> {
        let sink = self
            .sink
            .take()
            .ok_or_else(|| StoreError::Internal("blob already finished".into()))?;
        let dest = blob_path(&self.account_dir, &self.id);
        match sink {
            Sink::Memory(buf) if durability == Durability::Batch => {
                self.writes.start(dest, buf).await?;
            }
            Sink::Memory(buf) => {
                let (tmp, dest) = (self.tmp(), dest);
                tokio::task::spawn_blocking(move || write_small_durable(&tmp, &dest, &buf))
                    .await
                    .map_err(|e| StoreError::Internal(e.to_string()))??;
            }
            Sink::File(mut f) => {
                let renamed = async {
                    f.flush().await?;
                    let file = f.into_inner();
                    if durability == Durability::Now {
                        file.sync_all().await?;
                    }
                    drop(file);
                    tokio::fs::rename(self.tmp(), &dest).await
                }
                .await;
                if let Err(e) = renamed {
                    let _ = std::fs::remove_file(self.tmp());
                    return Err(e.into());
                }
                if durability == Durability::Now {
                    let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
                    tokio::task::spawn_blocking(move || sync_dir(&dir))
                        .await
                        .map_err(|e| StoreError::Internal(e.to_string()))??;
                }
            }
        }
        Ok(StagedBlob {
            id: std::mem::take(&mut self.id),
            size: self.size,
            head: Some(std::mem::take(&mut self.head)),
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if matches!(self.sink, Some(Sink::File(_))) {
            let _ = std::fs::remove_file(self.tmp());
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
    crate::store::reserve::check_room_for(account_dir)?;
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
    Ok(StagedBlob {
        id,
        size,
        head: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_end() {
        assert_eq!(head_end(b"A: b\r\n\r\nbody", 0), Some(8));
        assert_eq!(head_end(b"A: b\n\nbody", 0), Some(6));
        assert_eq!(head_end(b"\r\nbody", 0), Some(2));
        assert_eq!(head_end(b"A: b\r\n c\r\n", 0), None);
        assert_eq!(head_end(b"", 0), None);
        assert_eq!(head_end(b"A: b\r\n\r\n", 40), None);
    }

    #[tokio::test]
    async fn the_head_is_kept_across_writes() {
        let dir = std::env::temp_dir().join(format!("ferrymail-blob-{}", new_blob_id()));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        for i in 0..256 {
            std::fs::create_dir_all(dir.join("blobs").join(format!("{i:02x}"))).unwrap();
        }
        let msg = b"X-Original-To: a@b.c\r\nSubject: s\r\n\r\nbody\r\n\r\nmore";
        for split in 0..msg.len() {
            let mut w = BlobWriter::create(&dir, Arc::default()).await.unwrap();
            w.write(&msg[..split]).await.unwrap();
            w.write(&msg[split..]).await.unwrap();
            let b = w.finish(Durability::Now).await.unwrap();
            assert_eq!(b.head.as_deref(), Some(&msg[..36]), "split at {split}");
        }
        let mut w = BlobWriter::create(&dir, Arc::default()).await.unwrap();
        w.write_vec(vec![b'x'; HEAD_MAX + 10]).await.unwrap();
        let b = w.finish(Durability::Now).await.unwrap();
        assert_eq!(b.head.map(|h| h.len()), Some(HEAD_MAX));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
