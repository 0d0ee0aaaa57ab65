//! ManageSieve client for the legacy server (RFC 5804): logs in with SASL
//! PLAIN (the user's own password, or the admin credential with an authzid or
//! a master-user name) and reads the user's scripts, for the migration to
//! carry them over (issue 19 item 4). Read-only: LISTSCRIPTS, GETSCRIPT.

use std::time::Duration;

use super::{connect, start_tls, LegacyError, Login, Result};
use crate::config::{Endpoint, TlsMode};
use crate::server::conn::trim_eol;
use crate::server::Conn;

const MAX_LINE: usize = 16 * 1024;
/// Largest script read (ferrymail's own limit: `sieve::Limits`).
pub const MAX_SCRIPT: usize = 1 << 20;
/// Most scripts read of one user.
pub const MAX_SCRIPTS: usize = 256;

/// A logged-in ManageSieve session.
pub struct Session {
    conn: Conn,
}

/// The end of a response: `OK`, `NO` or `BYE`, with its text.
#[derive(Debug)]
enum Done {
    Ok,
    No(String),
    Bye(String),
}

fn done(line: &str) -> Option<Done> {
    let up = line.to_ascii_uppercase();
    if up == "OK" || up.starts_with("OK ") || up.starts_with("OK(") {
        Some(Done::Ok)
    } else if up == "NO" || up.starts_with("NO ") || up.starts_with("NO(") {
        Some(Done::No(line.to_string()))
    } else if up == "BYE" || up.starts_with("BYE ") || up.starts_with("BYE(") {
        Some(Done::Bye(line.to_string()))
    } else {
        None
    }
}

/// The first string of `s` (quoted, with `\"` and `\\`; or an atom), and
/// the rest after it.
fn string(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?.1),
                '"' => return Some((out, &rest[i + 1..])),
                c => out.push(c),
            }
        }
        None
    } else {
        let end = s.find(' ').unwrap_or(s.len());
        (end > 0).then(|| (s[..end].to_string(), &s[end..]))
    }
}

/// `{n}` or `{n+}` at the end of a line: n.
fn literal_len(line: &str) -> Option<usize> {
    let inner = line.strip_suffix('}')?;
    let start = inner.rfind('{')?;
    inner[start + 1..].trim_end_matches('+').parse().ok()
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

async fn line(conn: &mut Conn) -> Result<String> {
    let l = conn.read_line(MAX_LINE).await?;
    Ok(String::from_utf8_lossy(trim_eol(&l)).into_owned())
}

/// Reads capability lines up to the `OK`; whether STARTTLS is offered.
async fn capabilities(conn: &mut Conn) -> Result<bool> {
    let mut starttls = false;
    for _ in 0..100 {
        let l = line(conn).await?;
        match done(&l) {
            Some(Done::Ok) => return Ok(starttls),
            Some(Done::No(t)) | Some(Done::Bye(t)) => {
                return Err(LegacyError::Unavailable(format!("legacy ManageSieve: {t}")))
            }
            None => {
                if string(&l).is_some_and(|(k, _)| k.eq_ignore_ascii_case("STARTTLS")) {
                    starttls = true;
                }
            }
        }
    }
    Err(LegacyError::Protocol(
        "legacy ManageSieve: endless capabilities".into(),
    ))
}

impl Session {
    /// Connects, upgrades to TLS as the endpoint says and logs in.
    pub async fn login(ep: &Endpoint, timeout: Duration, login: &Login) -> Result<Session> {
        let mut conn = connect(ep, timeout).await?;
        let starttls = capabilities(&mut conn).await?;
        if ep.tls == TlsMode::StartTls {
            if !starttls {
                return Err(LegacyError::Unavailable(
                    "legacy ManageSieve offers no STARTTLS".into(),
                ));
            }
            conn.send(b"STARTTLS\r\n").await?;
            let l = line(&mut conn).await?;
            if !matches!(done(&l), Some(Done::Ok)) {
                return Err(LegacyError::Unavailable(format!(
                    "legacy ManageSieve STARTTLS: {l}"
                )));
            }
            start_tls(&mut conn, ep).await?;
            // RFC 5804 §2.2: the capabilities again, over TLS.
            capabilities(&mut conn).await?;
        }
        let b64 = login.plain_b64();
        let mut cmd = format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", b64.expose()).into_bytes();
        let sent = conn.send(&cmd).await;
        cmd.iter_mut().for_each(|b| *b = 0);
        sent?;
        let l = line(&mut conn).await?;
        match done(&l) {
            Some(Done::Ok) => Ok(Session { conn }),
            Some(Done::No(t)) if t.to_ascii_uppercase().contains("TRYLATER") => {
                Err(LegacyError::Unavailable(t))
            }
            Some(Done::No(_)) => Err(LegacyError::Refused),
            Some(Done::Bye(t)) => Err(LegacyError::Unavailable(t)),
            None => Err(LegacyError::Protocol(format!(
                "legacy ManageSieve AUTHENTICATE: {l}"
            ))),
        }
    }

    /// Every script's name and whether it is the active one.
    pub async fn list(&mut self) -> Result<Vec<(String, bool)>> {
        self.conn.send(b"LISTSCRIPTS\r\n").await?;
        let mut out = Vec::new();
        loop {
            let l = line(&mut self.conn).await?;
            if let Some(d) = done(&l) {
                return match d {
                    Done::Ok => Ok(out),
                    Done::No(t) | Done::Bye(t) => Err(LegacyError::Unavailable(format!(
                        "legacy ManageSieve LISTSCRIPTS: {t}"
                    ))),
                };
            }
            let (name, rest) = if let Some(n) = literal_len(&l) {
                if n > MAX_LINE {
                    return Err(LegacyError::Protocol("script name too long".into()));
                }
                let bytes = self.conn.read_exact_direct(n).await?;
                let rest = line(&mut self.conn).await?;
                (String::from_utf8_lossy(&bytes).into_owned(), rest)
            } else {
                let (n, rest) = string(&l).ok_or_else(|| {
                    LegacyError::Protocol(format!("legacy ManageSieve LISTSCRIPTS: {l}"))
                })?;
                (n, rest.to_string())
            };
            out.push((name, rest.trim().eq_ignore_ascii_case("ACTIVE")));
            if out.len() > MAX_SCRIPTS {
                return Err(LegacyError::Protocol("too many scripts".into()));
            }
        }
    }

    /// The source of script `name`.
    pub async fn get(&mut self, name: &str) -> Result<Vec<u8>> {
        self.conn
            .send(format!("GETSCRIPT {}\r\n", quote(name)).as_bytes())
            .await?;
        let l = line(&mut self.conn).await?;
        if let Some(d) = done(&l) {
            return Err(match d {
                Done::Ok => LegacyError::Protocol("GETSCRIPT: no script".into()),
                Done::No(t) | Done::Bye(t) => {
                    LegacyError::Unavailable(format!("legacy ManageSieve GETSCRIPT: {t}"))
                }
            });
        }
        let src = match literal_len(&l) {
            Some(n) if n <= MAX_SCRIPT => self.conn.read_exact_direct(n).await?,
            Some(n) => {
                return Err(LegacyError::Protocol(format!(
                    "script {name} has {n} bytes, more than {MAX_SCRIPT}"
                )))
            }
            None => string(&l)
                .map(|(s, _)| s.into_bytes())
                .ok_or_else(|| LegacyError::Protocol(format!("GETSCRIPT: {l}")))?,
        };
        // The CRLF after the literal, then OK.
        loop {
            let l = line(&mut self.conn).await?;
            match done(&l) {
                Some(Done::Ok) => return Ok(src),
                Some(Done::No(t)) | Some(Done::Bye(t)) => {
                    return Err(LegacyError::Unavailable(format!(
                        "legacy ManageSieve GETSCRIPT: {t}"
                    )))
                }
                None if l.is_empty() => continue,
                None => return Err(LegacyError::Protocol(format!("GETSCRIPT: {l}"))),
            }
        }
    }

    pub async fn logout(mut self) {
        let _ = self.conn.send(b"LOGOUT\r\n").await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_literals_and_endings() {
        assert_eq!(
            string(r#""Ur\"laub" ACTIVE"#).unwrap(),
            ("Ur\"laub".to_string(), " ACTIVE")
        );
        assert_eq!(string("\"Фильтры\"").unwrap().0, "Фильтры");
        assert!(string("\"open").is_none());
        assert_eq!(literal_len("{12}"), Some(12));
        assert_eq!(literal_len("{7+}"), Some(7));
        assert_eq!(literal_len("\"x\""), None);
        assert!(matches!(done("OK \"Logged in.\""), Some(Done::Ok)));
        assert!(matches!(done("NO (TRYLATER) \"x\""), Some(Done::No(_))));
        assert!(done("\"OKAY\"").is_none());
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
    }
}
