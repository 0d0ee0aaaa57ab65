//! Reading responses from the legacy connection: literals that are message
//! bodies (`BODY[]`, `RFC822`) are streamed straight into message files of the
//! mail store, so memory stays bounded whatever the message size.

use super::response::{
    check_line, finish_response, literal_size, Response, MAX_LINE, MAX_MEM_LITERAL, MAX_RESPONSE,
};
use crate::legacy::{LegacyError, Result};
use crate::server::conn::trim_eol;
use crate::server::Conn;
use crate::store::blob::{self, Durability};
use crate::store::{Mailstore, StagedBlob};

/// Chunk size when streaming a message body to disk.
const STREAM_CHUNK: usize = 64 * 1024;

/// Reads responses from a connection (shared by the login phase and the session).
pub(super) struct Reader<'a> {
    pub(super) conn: &'a mut Conn,
}

impl Reader<'_> {
    /// Reads one response; message bodies (`BODY[]` literals) go to a file in `ms`
    /// when given.
    pub(super) async fn read(
        &mut self,
        ms: Option<&Mailstore>,
    ) -> Result<(Response, Vec<StagedBlob>)> {
        let mut text: Vec<u8> = Vec::new();
        let mut mem: Vec<Option<Vec<u8>>> = Vec::new();
        let mut blobs: Vec<StagedBlob> = Vec::new();
        let mut total = 0usize;
        loop {
            let line = self.conn.read_line(MAX_LINE).await?;
            let line = trim_eol(&line);
            check_line(line)?;
            total += line.len();
            if total > MAX_RESPONSE {
                return Err(LegacyError::Protocol("response too large".into()));
            }
            let Some(n) = literal_size(line) else {
                text.extend_from_slice(line);
                break;
            };
            let open = line.iter().rposition(|&b| b == b'{').unwrap_or(line.len());
            text.extend_from_slice(&line[..open]);
            let before = String::from_utf8_lossy(&text).to_ascii_uppercase();
            let before = before.trim_end();
            let is_body = before.ends_with("BODY[]") || before.ends_with("RFC822");
            match (is_body, ms) {
                (true, Some(ms)) => {
                    let mut w = ms.blob_writer().await?;
                    if n <= blob::IN_MEMORY_MAX {
                        // Small enough to sit in memory whole: read it in one go.
                        w.write_vec(self.conn.read_exact_direct(n).await?).await?;
                    } else {
                        let mut left = n;
                        while left > 0 {
                            let chunk = self.conn.read_some(left.min(STREAM_CHUNK)).await?;
                            w.write(&chunk).await?;
                            left -= chunk.len();
                        }
                    }
                    blobs.push(w.finish(Durability::Batch).await?);
                    text.extend_from_slice(format!("\0b{}\0", blobs.len() - 1).as_bytes());
                }
                _ => {
                    if n > MAX_MEM_LITERAL {
                        return Err(LegacyError::Protocol(format!(
                            "literal of {n} bytes where none was expected"
                        )));
                    }
                    total += n;
                    let bytes = self.conn.read_exact(n).await?;
                    mem.push(Some(bytes));
                    text.extend_from_slice(format!("\0{}\0", mem.len() - 1).as_bytes());
                }
            }
        }
        Ok((finish_response(text, &mut mem)?, blobs))
    }
}
