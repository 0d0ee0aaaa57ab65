//! Header blocks for SEARCH, SORT and THREAD: from the header cache (the
//! store's `headers.rs`) when it has them, else from the message files, which
//! then fill the cache.

use std::collections::HashMap;

use crate::message::header_block_end;
use crate::store::mailstore::headers::{HeaderCache, MESSAGE_MAX};
use crate::store::{Mailstore, MessageMeta};

/// The most of a header block SEARCH, SORT and THREAD look at.
const HEADER_READ_MAX: usize = 1 << 20;

/// Messages looked up in the cache at once.
pub(super) const CHUNK: usize = 512;

/// The header block of a message (up to and with the empty line, all of it
/// when there is none), at most [`HEADER_READ_MAX`] bytes.
fn header_block(raw: &[u8]) -> &[u8] {
    let end = header_block_end(raw).unwrap_or(raw.len());
    &raw[..end.min(HEADER_READ_MAX)]
}

/// The header block of a message file ([`header_block`]), read without the
/// body.
pub(super) async fn read_header(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > HEADER_READ_MAX || header_block_end(&buf).is_some() {
            break;
        }
    }
    let end = header_block(&buf).len();
    buf.truncate(end);
    Ok(buf)
}

/// The header blocks of `metas`, in order (`None` where the file cannot be
/// read: removed meanwhile). A message the cache has no row for is read
/// whole and its row written.
pub(super) async fn header_blocks(ms: &Mailstore, metas: &[&MessageMeta]) -> Vec<Option<Vec<u8>>> {
    let blobs = metas.iter().map(|m| m.blob.clone()).collect();
    let cache = ms.header_caches(blobs).await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "imap: header cache unreadable");
        HashMap::new()
    });
    let mut fills = Vec::new();
    let mut out = Vec::with_capacity(metas.len());
    for m in metas {
        let path = ms.blob_path(&m.blob);
        let head = match cache.get(&m.blob) {
            Some(c) => match &c.header {
                Some(h) => Some(h.clone()),
                // Too big for the cache.
                None => read_header(&path).await.ok(),
            },
            None if m.size <= MESSAGE_MAX => match tokio::fs::read(&path).await {
                Ok(raw) => {
                    fills.push((m.blob.clone(), HeaderCache::of(&raw)));
                    Some(header_block(&raw).to_vec())
                }
                Err(_) => None,
            },
            None => read_header(&path).await.ok(),
        };
        out.push(head);
    }
    if let Err(e) = ms.fill_header_caches(fills).await {
        tracing::debug!(error = %e, "imap: header cache not filled");
    }
    out
}
