//! Reads one complete command from the connection: the command line and every
//! literal it announces (RFC 3501 §4.3 synchronizing literals answered with `+`,
//! RFC 7888 LITERAL+ non-synchronizing literals taken at once), with bounds on the
//! line length and on literal sizes decided before any literal byte is read.

use super::convert::tag_and_verb;
use crate::server::{Conn, ConnError};
use crate::store::{BlobWriter, Mailstore, StoreError};

/// APPEND literals above this size are streamed into a message file instead of
/// being held in memory.
pub const STREAM_ABOVE: u64 = 64 * 1024;

/// Bounds for one command.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sum of the command's line bytes (literals excluded).
    pub max_line: usize,
    /// Sum of literal bytes for APPEND (APPENDLIMIT).
    pub append_limit: u64,
    /// Sum of literal bytes for any other command, and of every literal held
    /// in memory (all but the one APPEND message streamed to a file).
    pub other_literals: u64,
}

/// What [`read_command`] got.
pub enum Input {
    /// A complete command, CRLF-terminated, literals inlined, except large
    /// APPEND message literals: those are written to `blobs` (in order) and
    /// appear in the command as empty literals (`{0}`).
    Command {
        bytes: Vec<u8>,
        blobs: Vec<BlobWriter>,
    },
    /// Writing a streamed literal failed (disk full...); the command was consumed.
    StoreFailed {
        tag: Option<String>,
        error: StoreError,
    },
    /// The command line was too long (already discarded).
    TooLong {
        tag: Option<String>,
    },
    /// A synchronizing literal over the limit: refused before the client sent it.
    TooBig {
        tag: Option<String>,
        limit: u64,
    },
    /// A non-synchronizing literal over the limit: the client sends it anyway; the
    /// session answers BAD and closes.
    TooBigNonSync {
        tag: Option<String>,
    },
    Conn(ConnError),
}

/// The literal announced at the end of a line: `{n}` or `{n+}`, with its size and
/// whether it is non-synchronizing. Sizes too big for u64 come back as u64::MAX.
pub fn literal_at_end(line: &[u8]) -> Option<(u64, bool)> {
    let l = crate::server::conn::trim_eol(line);
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    let mut digits = &l[open + 1..];
    let nonsync = digits.last() == Some(&b'+');
    if nonsync {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    Some((n, nonsync))
}

/// Reads one command. `sink` (the user's store, once logged in) receives large
/// APPEND literals.
pub async fn read_command(conn: &mut Conn, limits: Limits, sink: Option<&Mailstore>) -> Input {
    let mut buf: Vec<u8> = Vec::new();
    let mut line_bytes = 0usize;
    let mut literal_bytes = 0u64;
    // Literal bytes held in memory: bounded by `other_literals` whatever the
    // command.
    let mut memory_bytes = 0u64;
    let mut blobs: Vec<BlobWriter> = Vec::new();
    let mut failed: Option<StoreError> = None;
    loop {
        let room = limits.max_line.saturating_sub(line_bytes).max(1);
        let line = match conn.read_line(room).await {
            Ok(l) => l,
            Err(ConnError::TooLong) => {
                if buf.is_empty() {
                    return Input::TooLong { tag: None };
                }
                return Input::TooLong {
                    tag: tag_and_verb(&buf).0,
                };
            }
            Err(e) => return Input::Conn(e),
        };
        line_bytes += line.len();
        // A bare LF ends a line too (netcat, scripts); the parser wants CRLF.
        if line.ends_with(b"\n") && !line.ends_with(b"\r\n") {
            buf.extend_from_slice(&line[..line.len() - 1]);
            buf.extend_from_slice(b"\r\n");
        } else {
            buf.extend_from_slice(&line);
        }
        let Some((n, nonsync)) = literal_at_end(&line) else {
            if let Some(error) = failed {
                return Input::StoreFailed {
                    tag: tag_and_verb(&buf).0,
                    error,
                };
            }
            return Input::Command { bytes: buf, blobs };
        };
        let (tag, verb) = tag_and_verb(&buf);
        let is_append = verb.as_deref() == Some("APPEND");
        let limit = if is_append {
            limits.append_limit
        } else {
            limits.other_literals
        };
        // Every large message of an APPEND (MULTIAPPEND: several) is streamed.
        let streams = sink.is_some() && is_append && n > STREAM_ABOVE && failed.is_none();
        let (over, limit) = if literal_bytes.saturating_add(n) > limit {
            (true, limit)
        } else if !streams && memory_bytes.saturating_add(n) > limits.other_literals {
            (true, limits.other_literals)
        } else {
            (false, limit)
        };
        if over {
            return if nonsync {
                Input::TooBigNonSync { tag }
            } else {
                Input::TooBig { tag, limit }
            };
        }
        literal_bytes += n;
        if !streams {
            memory_bytes += n;
        }
        if !nonsync {
            conn.write(b"+ Ready for literal data\r\n");
            if let Err(e) = conn.flush().await {
                return Input::Conn(e);
            }
        }
        let mut left = n as usize;
        let stream = match sink {
            Some(ms) if streams => {
                // Replace `{n}` by `{0}`: the parser sees an empty message.
                if let Some(open) = buf.iter().rposition(|&b| b == b'{') {
                    buf.truncate(open);
                    buf.extend_from_slice(b"{0}\r\n");
                }
                match ms.blob_writer().await {
                    Ok(w) => blobs.push(w),
                    Err(e) => failed = Some(e),
                }
                true
            }
            _ => {
                buf.reserve(left.min(1 << 20));
                false
            }
        };
        while left > 0 {
            match conn.read_some(left.min(64 * 1024)).await {
                Ok(chunk) => {
                    left -= chunk.len();
                    if !stream {
                        buf.extend_from_slice(&chunk);
                    } else if failed.is_none() {
                        if let Some(w) = blobs.last_mut() {
                            if let Err(e) = w.write(&chunk).await {
                                blobs.clear();
                                failed = Some(e);
                            }
                        }
                    }
                }
                Err(e) => return Input::Conn(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_at_end(b"a LOGIN {5}\r\n"), Some((5, false)));
        assert_eq!(literal_at_end(b"a APPEND x {12+}\r\n"), Some((12, true)));
        assert_eq!(literal_at_end(b"a LOGIN \"{5}\"\r\n"), None);
        assert_eq!(literal_at_end(b"a X {}\r\n"), None);
        assert_eq!(literal_at_end(b"a X {+}\r\n"), None);
        assert_eq!(
            literal_at_end(b"a X {99999999999999999999999}\r\n"),
            Some((u64::MAX, false))
        );
    }
}
