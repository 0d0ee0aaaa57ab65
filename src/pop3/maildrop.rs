//! The maildrop of one POP3 session: a snapshot of INBOX taken at login, with
//! deletion marks applied only in the UPDATE state (RFC 1939 §6).

use std::sync::Arc;

use tokio::io::AsyncReadExt;

use crate::server::{Conn, ConnError};
use crate::store::{Mailstore, MessageMeta, Result as StoreResult, StoreError};

/// One message as POP3 numbers it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub uid: u32,
    pub size: u64,
    pub blob: String,
    pub uidl: String,
    pub deleted: bool,
}

/// The UIDL of a message: the legacy server's value, kept verbatim by the
/// migration, or our own stable one for mail that arrived after the move.
/// Ours cannot collide with any legacy value: it always starts with `fm`, and a
/// legacy UIDL starting with `fm` is stored, and served, as it came.
pub fn uidl_for(meta: &MessageMeta, uidvalidity: u32) -> String {
    match &meta.legacy_uidl {
        Some(u) => u.clone(),
        None => format!("fm{uidvalidity}.{}", meta.uid),
    }
}

pub struct Maildrop {
    pub mailstore: Arc<Mailstore>,
    pub inbox_id: i64,
    pub entries: Vec<Entry>,
}

impl Maildrop {
    pub async fn open(mailstore: Arc<Mailstore>) -> StoreResult<Maildrop> {
        let inbox = mailstore
            .mailbox("INBOX")
            .await?
            .ok_or_else(|| StoreError::NotFound("INBOX".into()))?;
        let entries = mailstore
            .messages(inbox.id)
            .await?
            .iter()
            .map(|m| Entry {
                uid: m.uid,
                size: m.size,
                blob: m.blob.clone(),
                uidl: uidl_for(m, inbox.uidvalidity),
                deleted: false,
            })
            .collect();
        Ok(Maildrop {
            mailstore,
            inbox_id: inbox.id,
            entries,
        })
    }

    /// Messages not marked deleted, and their total size.
    pub fn stat(&self) -> (usize, u64) {
        self.entries
            .iter()
            .filter(|e| !e.deleted)
            .fold((0, 0), |(n, s), e| (n + 1, s + e.size))
    }

    /// Message `n` (1-based) unless it does not exist or is marked deleted.
    pub fn get(&self, n: usize) -> Option<&Entry> {
        n.checked_sub(1)
            .and_then(|i| self.entries.get(i))
            .filter(|e| !e.deleted)
    }

    pub fn mark_deleted(&mut self, n: usize) -> bool {
        match n.checked_sub(1).and_then(|i| self.entries.get_mut(i)) {
            Some(e) if !e.deleted => {
                e.deleted = true;
                true
            }
            _ => false,
        }
    }

    pub fn reset(&mut self) {
        for e in &mut self.entries {
            e.deleted = false;
        }
    }

    /// The UPDATE state: removes the marked messages from INBOX.
    pub async fn commit(&self) -> StoreResult<usize> {
        let uids: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.uid)
            .collect();
        if uids.is_empty() {
            return Ok(0);
        }
        Ok(self.mailstore.remove(self.inbox_id, uids).await?.len())
    }

    /// Sends `+OK`, then the message (RETR), or its header and the first
    /// `body_lines` lines of its body (TOP), byte-stuffed, with CRLF line ends,
    /// ending with the `.` line. Memory stays bounded whatever the message size.
    pub async fn send(
        &self,
        conn: &mut Conn,
        entry: &Entry,
        body_lines: Option<usize>,
    ) -> Result<(), SendError> {
        let path = self.mailstore.blob_path(&entry.blob);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(SendError::Open)?;
        conn.write(format!("+OK {} octets\r\n", entry.size).as_bytes());
        let mut stuffer = Stuffer::new(body_lines);
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::with_capacity(70 * 1024);
        loop {
            let n = file.read(&mut buf).await.map_err(SendError::Read)?;
            if n == 0 {
                break;
            }
            let done = stuffer.feed(&buf[..n], &mut out);
            conn.write(&out);
            out.clear();
            conn.flush().await.map_err(SendError::Conn)?;
            if done {
                break;
            }
        }
        stuffer.finish(&mut out);
        conn.write(&out);
        conn.flush().await.map_err(SendError::Conn)?;
        Ok(())
    }
}

#[derive(Debug)]
pub enum SendError {
    /// Nothing was sent.
    Open(std::io::Error),
    /// The `+OK` line and part of the message were sent.
    Read(std::io::Error),
    Conn(ConnError),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Open(e) | SendError::Read(e) => write!(f, "{e}"),
            SendError::Conn(e) => write!(f, "{e}"),
        }
    }
}

/// Byte-stuffing and line-end normalisation across chunk boundaries.
struct Stuffer {
    at_line_start: bool,
    prev_cr: bool,
    in_body: bool,
    line_empty: bool,
    /// Body lines still to send (TOP); `None` for the whole message.
    remaining: Option<usize>,
}

impl Stuffer {
    fn new(body_lines: Option<usize>) -> Stuffer {
        Stuffer {
            at_line_start: true,
            prev_cr: false,
            in_body: false,
            line_empty: true,
            remaining: body_lines,
        }
    }

    /// Appends the transformed `chunk` to `out`; true once TOP's line budget is spent.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> bool {
        if self.in_body && self.remaining == Some(0) {
            return true;
        }
        for &b in chunk {
            if self.at_line_start && b == b'.' {
                out.push(b'.');
            }
            if b == b'\n' {
                if !self.prev_cr {
                    out.push(b'\r');
                }
                out.push(b'\n');
                self.at_line_start = true;
                self.prev_cr = false;
                if self.in_body {
                    if let Some(r) = self.remaining.as_mut() {
                        *r = r.saturating_sub(1);
                        if *r == 0 {
                            return true;
                        }
                    }
                } else if self.line_empty {
                    // The blank line ending the header block.
                    self.in_body = true;
                    if self.remaining == Some(0) {
                        return true;
                    }
                }
                self.line_empty = true;
                continue;
            }
            out.push(b);
            self.at_line_start = false;
            self.prev_cr = b == b'\r';
            if b != b'\r' {
                self.line_empty = false;
            }
        }
        false
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            if self.prev_cr {
                out.push(b'\n');
            } else {
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[&[u8]], top: Option<usize>) -> Vec<u8> {
        let mut s = Stuffer::new(top);
        let mut out = Vec::new();
        for chunk in input {
            if s.feed(chunk, &mut out) {
                break;
            }
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn stuffing_and_line_ends_across_chunks() {
        let out = run(
            &[
                b"Subject: x\r\n\r\n.hidden\r\nbare\nlf\r",
                b"\n..two\r\nend",
            ],
            None,
        );
        assert_eq!(
            out,
            b"Subject: x\r\n\r\n..hidden\r\nbare\r\nlf\r\n...two\r\nend\r\n.\r\n".to_vec()
        );
        // A dot at the start of a chunk that starts a line.
        let out = run(&[b"a\r\n", b".b\r\n"], None);
        assert_eq!(out, b"a\r\n..b\r\n.\r\n".to_vec());
    }

    #[test]
    fn top_counts_body_lines() {
        let msg: &[u8] = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(run(&[msg], Some(0)), b"A: 1\r\nB: 2\r\n\r\n.\r\n".to_vec());
        assert_eq!(
            run(&[msg], Some(2)),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n".to_vec()
        );
        assert_eq!(run(&[msg], Some(10)), [msg, b".\r\n"].concat());
        // No body at all.
        assert_eq!(run(&[b"A: 1\r\n"], Some(3)), b"A: 1\r\n.\r\n".to_vec());
    }
}
