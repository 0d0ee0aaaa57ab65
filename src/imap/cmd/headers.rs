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
    let cache = ms.cached_headers(blobs).await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "imap: header cache unreadable");
        HashMap::new()
    });
    let mut fills = Vec::new();
    let mut out = Vec::with_capacity(metas.len());
    for m in metas {
        let path = || ms.blob_path(&m.blob);
        let head = match cache.get(&m.blob) {
            Some(Some(h)) => Some(h.clone()),
            // Too big for the cache.
            Some(None) => read_header(&path()).await.ok(),
            None if m.size <= MESSAGE_MAX => match tokio::fs::read(path()).await {
                Ok(raw) => {
                    fills.push((m.blob.clone(), HeaderCache::of(&raw)));
                    Some(header_block(&raw).to_vec())
                }
                Err(_) => None,
            },
            None => read_header(&path()).await.ok(),
        };
        out.push(head);
    }
    if let Err(e) = ms.fill_header_caches(fills).await {
        tracing::debug!(error = %e, "imap: header cache not filled");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{header_block, read_header, HEADER_READ_MAX};
    use crate::store::mailstore::headers::HeaderCache;

    /// Reading the header block from the file gives what the cache keeps
    /// (and what FETCH's header sections use) for every way a block can end.
    #[tokio::test]
    async fn file_and_cache_agree_on_the_header_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut huge = b"X-Long: ".to_vec();
        huge.resize(HEADER_READ_MAX + 70_000, b'a');
        huge.extend_from_slice(b"\r\n\r\nbody\r\n");
        let cases: Vec<Vec<u8>> = vec![
            b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore".to_vec(),
            b"A: 1\nB: 2\n\nbody\n".to_vec(),
            b"A: 1\n\r\nbody".to_vec(),
            b"\r\nonly a body\r\n".to_vec(),
            b"\nonly a body\n".to_vec(),
            b"A: 1\r\nno empty line".to_vec(),
            b"A: 1\r\n\r".to_vec(),
            Vec::new(),
            huge,
        ];
        for (i, raw) in cases.iter().enumerate() {
            let path = dir.path().join(i.to_string());
            std::fs::write(&path, raw).unwrap();
            let read = read_header(&path).await.unwrap();
            assert_eq!(read, header_block(raw), "case {i}");
            assert!(read.len() <= HEADER_READ_MAX);
            match HeaderCache::of(raw).header {
                Some(h) => assert_eq!(h, read, "case {i}"),
                None => assert!(raw.len() > 64 * 1024, "case {i}"),
            }
        }
    }
}
