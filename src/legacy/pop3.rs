//! POP3 client for the legacy server (RFC 1939, RFC 2595 STLS): opens a session
//! logged in as the user, for relaying a POP3 client while the copy runs.

use std::time::Duration;

use super::{connect, start_tls, LegacyError, Login, Result};
use crate::config::{Endpoint, TlsMode};
use crate::server::conn::trim_eol;
use crate::server::Conn;

const MAX_LINE: usize = 4096;

/// One reply line: whether it is `+OK`, and its text.
pub async fn reply(conn: &mut Conn) -> Result<(bool, String)> {
    let line = conn.read_line(MAX_LINE).await?;
    let text = String::from_utf8_lossy(trim_eol(&line)).into_owned();
    Ok((text.starts_with("+OK"), text))
}

/// A `-ERR` to USER/PASS that is not "wrong password" (RFC 3206).
fn temporary(text: &str) -> bool {
    let up = text.to_ascii_uppercase();
    up.contains("[SYS/TEMP]") || up.contains("[IN-USE]") || up.contains("[SYS/PERM]")
}

/// Logs in to the legacy POP3 server; the connection is ready for TRANSACTION
/// commands (the `+OK` to PASS has been read).
pub async fn login(ep: &Endpoint, timeout: Duration, login: &Login) -> Result<Conn> {
    let (user, password) = (login.authcid.as_str(), &login.password);
    let mut conn = connect(ep, timeout).await?;
    let (ok, text) = reply(&mut conn).await?;
    if !ok {
        return Err(LegacyError::Unavailable(format!(
            "legacy POP3 greeting: {text}"
        )));
    }
    if ep.tls == TlsMode::StartTls {
        stls(&mut conn, ep).await?;
    }
    if user.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(LegacyError::Refused);
    }
    if password
        .expose()
        .bytes()
        .any(|b| b == b'\r' || b == b'\n' || b == 0)
    {
        return Err(LegacyError::Refused);
    }
    // USER/PASS unless the server offers only SASL PLAIN (RFC 5034).
    let (user_ok, sasl_plain) = capabilities(&mut conn).await?;
    if (!user_ok && sasl_plain) || login.authzid.is_some() {
        return auth_plain(conn, login).await;
    }
    conn.send(format!("USER {user}\r\n").as_bytes()).await?;
    let (ok, text) = reply(&mut conn).await?;
    if !ok {
        return Err(if temporary(&text) {
            LegacyError::Unavailable(text)
        } else {
            LegacyError::Refused
        });
    }
    let mut line = format!("PASS {}\r\n", password.expose()).into_bytes();
    let sent = conn.send(&line).await;
    line.iter_mut().for_each(|b| *b = 0);
    sent?;
    let (ok, text) = reply(&mut conn).await?;
    if !ok {
        return Err(if temporary(&text) {
            LegacyError::Unavailable(text)
        } else {
            LegacyError::Refused
        });
    }
    Ok(conn)
}

/// `STLS` (RFC 2595) and the TLS handshake with the endpoint's certificate checks.
pub async fn stls(conn: &mut Conn, ep: &Endpoint) -> Result<()> {
    conn.send(b"STLS\r\n").await?;
    let (ok, text) = reply(conn).await?;
    if !ok {
        return Err(LegacyError::Unavailable(format!(
            "the legacy POP3 server refused STLS: {text}"
        )));
    }
    start_tls(conn, ep).await
}

/// `CAPA` (RFC 2449): the capability lines as the server sent them; `None`
/// when the server does not know CAPA.
pub async fn capa(conn: &mut Conn) -> Result<Option<Vec<String>>> {
    conn.send(b"CAPA\r\n").await?;
    let (ok, _) = reply(conn).await?;
    if !ok {
        return Ok(None);
    }
    let mut lines = Vec::new();
    for _ in 0..1000 {
        let line = conn.read_line(MAX_LINE).await?;
        let line = String::from_utf8_lossy(trim_eol(&line)).into_owned();
        if line == "." {
            return Ok(Some(lines));
        }
        lines.push(line);
    }
    Err(LegacyError::Protocol("CAPA answer too long".into()))
}

/// `CAPA`: whether `USER` and `SASL PLAIN` are offered. A server without CAPA
/// is taken to offer USER only.
async fn capabilities(conn: &mut Conn) -> Result<(bool, bool)> {
    let Some(lines) = capa(conn).await? else {
        return Ok((true, false));
    };
    let (mut user, mut plain) = (false, false);
    for line in lines {
        let line = line.to_ascii_uppercase();
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("USER") => user = true,
            Some("SASL") => plain |= words.any(|w| w == "PLAIN"),
            _ => {}
        }
    }
    Ok((user, plain))
}

/// `AUTH PLAIN` with an initial response (RFC 5034).
async fn auth_plain(mut conn: Conn, login: &Login) -> Result<Conn> {
    let mut line = format!("AUTH PLAIN {}\r\n", login.plain_b64().expose()).into_bytes();
    let sent = conn.send(&line).await;
    line.iter_mut().for_each(|b| *b = 0);
    sent?;
    let (ok, text) = reply(&mut conn).await?;
    if !ok {
        return Err(if temporary(&text) {
            LegacyError::Unavailable(text)
        } else {
            LegacyError::Refused
        });
    }
    Ok(conn)
}

/// `STAT` (RFC 1939 §5): the number of messages in the maildrop.
pub async fn stat(conn: &mut Conn) -> Result<u64> {
    conn.send(b"STAT\r\n").await?;
    let (ok, text) = reply(conn).await?;
    text.split_ascii_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .filter(|_| ok)
        .ok_or_else(|| LegacyError::Protocol(format!("STAT: {text}")))
}

/// Most UIDL lines accepted from the legacy server.
const MAX_UIDLS: usize = 5_000_000;

/// Sends `command` (`UIDL` or `LIST`) and reads its multi-line listing, one entry
/// per line parsed by `parse` (`None`: a malformed line, which ends the listing
/// with an error), at most [`MAX_UIDLS`] entries.
async fn listing<T>(
    conn: &mut Conn,
    command: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>> {
    conn.send(format!("{command}\r\n").as_bytes()).await?;
    let (ok, text) = reply(conn).await?;
    if !ok {
        return Err(LegacyError::Protocol(format!("{command}: {text}")));
    }
    let mut out = Vec::new();
    loop {
        let line = conn.read_line(MAX_LINE).await?;
        let line = trim_eol(&line);
        if line == b"." {
            return Ok(out);
        }
        if out.len() >= MAX_UIDLS {
            return Err(LegacyError::Protocol(format!("too many {command} lines")));
        }
        let text = String::from_utf8_lossy(line);
        match parse(&text) {
            Some(entry) => out.push(entry),
            None => {
                return Err(LegacyError::Protocol(format!(
                    "bad {command} line `{}`",
                    text.chars().take(80).collect::<String>()
                )))
            }
        }
    }
}

/// `UIDL` (RFC 1939 §7): `(message number, unique id)` in message-number order.
/// The ids are kept verbatim (1 to 70 printable characters).
pub async fn uidl_list(conn: &mut Conn) -> Result<Vec<(u32, String)>> {
    listing(conn, "UIDL", |text| {
        let mut it = text.splitn(2, ' ');
        let n = it.next()?.parse::<u32>().ok()?;
        let id = it.next().map(str::trim).filter(|id| {
            !id.is_empty() && id.len() <= 70 && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
        })?;
        Some((n, id.to_string()))
    })
    .await
}

/// `QUIT`, ignoring errors (no message is deleted: none was marked).
pub async fn quit(mut conn: Conn) {
    let _ = conn.send(b"QUIT\r\n").await;
    let _ = reply(&mut conn).await;
    conn.close().await;
}

/// `LIST` (RFC 1939 §5): `(message number, size in octets)` in message-number order.
pub async fn list(conn: &mut Conn) -> Result<Vec<(u32, u64)>> {
    listing(conn, "LIST", |text| {
        let mut it = text.split_whitespace();
        let n = it.next()?.parse::<u32>().ok()?;
        let size = it.next()?.parse::<u64>().ok()?;
        Some((n, size))
    })
    .await
}

/// Most bytes of a message kept in memory for its header (the rest is streamed).
pub const HEAD_MAX: usize = 64 * 1024;

/// `RETR n` (RFC 1939 §7): the message, dot-unstuffed, streamed into `out`
/// whatever its size. Returns the first [`HEAD_MAX`] bytes (for the header).
/// Never marks anything deleted.
pub async fn retr(conn: &mut Conn, n: u32, out: RetrInto<'_>) -> Result<Vec<u8>> {
    message(conn, &format!("RETR {n}"), out).await
}

/// `TOP n lines` (RFC 1939 §7): the header and the first `lines` lines of the
/// body, like [`retr`]. Unlike RETR it does not make servers such as Dovecot
/// mark the message `\Seen` (`migrate test` reads with it).
pub async fn top(conn: &mut Conn, n: u32, lines: u32, out: RetrInto<'_>) -> Result<Vec<u8>> {
    message(conn, &format!("TOP {n} {lines}"), out).await
}

/// Sends `command` and streams the multi-line message answer into `out`.
async fn message(conn: &mut Conn, command: &str, mut out: RetrInto<'_>) -> Result<Vec<u8>> {
    conn.send(format!("{command}\r\n").as_bytes()).await?;
    let (ok, text) = reply(conn).await?;
    if !ok {
        return Err(LegacyError::Protocol(format!("{command}: {text}")));
    }
    let mut un = Unstuffer::default();
    let mut head = Vec::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let chunk = conn.read_some(64 * 1024).await?;
        if chunk.is_empty() {
            return Err(LegacyError::Unavailable(format!(
                "connection closed in {command}"
            )));
        }
        let done = un.feed(&chunk, &mut buf);
        if head.len() < HEAD_MAX {
            let take = (HEAD_MAX - head.len()).min(buf.len());
            head.extend_from_slice(&buf[..take]);
        }
        match &mut out {
            RetrInto::Blob(w) => w.write(&buf).await?,
            RetrInto::Hash(h, n) => {
                sha2::Digest::update(*h, &buf);
                **n += buf.len() as u64;
            }
        }
        buf.clear();
        if let Some(rest) = done {
            if rest > 0 {
                return Err(LegacyError::Protocol(format!(
                    "{rest} unexpected bytes after {command}"
                )));
            }
            return Ok(head);
        }
    }
}

/// Where [`retr`] puts the message: a message file, or only a hash of it.
pub enum RetrInto<'a> {
    Blob(&'a mut crate::store::BlobWriter),
    /// A SHA-256 of the bytes, and their count.
    Hash(&'a mut sha2::Sha256, &'a mut u64),
}

/// Removes POP3 byte-stuffing and finds the terminating `.` line, across chunk
/// boundaries.
#[derive(Default)]
struct Unstuffer {
    /// Bytes seen at the start of the current line, not yet decided on (`.`, `.\r`).
    pending: Vec<u8>,
    /// True unless inside a line.
    mid_line: bool,
}

impl Unstuffer {
    /// Appends the message bytes of `data` to `out`; `Some(extra)` once the end
    /// line was seen, with the number of bytes that followed it in `data`.
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            if !self.mid_line {
                // At a line start: decide on a leading dot.
                if self.pending.is_empty() && b != b'.' {
                    self.mid_line = true;
                    continue;
                }
                self.pending.push(b);
                i += 1;
                match self.pending.as_slice() {
                    [b'.'] | [b'.', b'\r'] => continue,
                    [b'.', b'\r', b'\n'] | [b'.', b'\n'] => {
                        self.pending.clear();
                        return Some(data.len() - i);
                    }
                    [b'.', rest @ ..] => {
                        // A stuffed line: drop the first dot.
                        out.extend_from_slice(rest);
                        let ended = rest.last() == Some(&b'\n');
                        self.pending.clear();
                        self.mid_line = !ended;
                    }
                    _ => {
                        out.extend_from_slice(&self.pending);
                        self.pending.clear();
                        self.mid_line = true;
                    }
                }
                continue;
            }
            match data[i..].iter().position(|&c| c == b'\n') {
                Some(p) => {
                    out.extend_from_slice(&data[i..i + p + 1]);
                    i += p + 1;
                    self.mid_line = false;
                }
                None => {
                    out.extend_from_slice(&data[i..]);
                    i = data.len();
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Unstuffer;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
        let mut u = Unstuffer::default();
        let mut out = Vec::new();
        for c in chunks {
            if let Some(rest) = u.feed(c, &mut out) {
                return (out, Some(rest));
            }
        }
        (out, None)
    }

    #[test]
    fn unstuffing_across_chunks() {
        let all: &[u8] = b"A: b\r\n\r\n..dot\r\n.\r\nx\r\n.\r\n";
        // Every split point gives the same result.
        for cut in 0..all.len() {
            let (out, rest) = run(&[&all[..cut], &all[cut..]]);
            assert_eq!(out, b"A: b\r\n\r\n.dot\r\n", "cut {cut}");
            assert!(rest.is_some(), "cut {cut}");
        }
        let (out, rest) = run(&[b"x\r\n..\r\n.\r\n"]);
        assert_eq!(out, b"x\r\n.\r\n");
        assert_eq!(rest, Some(0));
        let (out, rest) = run(&[b".\r\n"]);
        assert_eq!(out, b"");
        assert_eq!(rest, Some(0));
        let (_, rest) = run(&[b"no end\r\n"]);
        assert_eq!(rest, None);
    }
}
