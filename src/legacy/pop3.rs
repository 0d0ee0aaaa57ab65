//! POP3 client for the legacy server (RFC 1939, RFC 2595 STLS): opens a session
//! logged in as the user, for relaying a POP3 client while the copy runs.

use std::time::Duration;

use super::{connect, start_tls, LegacyError, Result};
use crate::auth::Password;
use crate::config::{Endpoint, TlsMode};
use crate::server::conn::trim_eol;
use crate::server::Conn;

const MAX_LINE: usize = 4096;

async fn reply(conn: &mut Conn) -> Result<(bool, String)> {
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
pub async fn login(
    ep: &Endpoint,
    timeout: Duration,
    user: &str,
    password: &Password,
) -> Result<Conn> {
    let mut conn = connect(ep, timeout).await?;
    let (ok, text) = reply(&mut conn).await?;
    if !ok {
        return Err(LegacyError::Unavailable(format!(
            "legacy POP3 greeting: {text}"
        )));
    }
    if ep.tls == TlsMode::StartTls {
        conn.send(b"STLS\r\n").await?;
        let (ok, text) = reply(&mut conn).await?;
        if !ok {
            return Err(LegacyError::Unavailable(format!(
                "the legacy POP3 server refused STLS: {text}"
            )));
        }
        start_tls(&mut conn, ep).await?;
    }
    if user.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(LegacyError::Refused);
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
    if password.expose().bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(LegacyError::Refused);
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

/// Most UIDL lines accepted from the legacy server.
const MAX_UIDLS: usize = 5_000_000;

/// `UIDL` (RFC 1939 §7): `(message number, unique id)` in message-number order.
/// The ids are kept verbatim (1 to 70 printable characters).
pub async fn uidl_list(conn: &mut Conn) -> Result<Vec<(u32, String)>> {
    conn.send(b"UIDL\r\n").await?;
    let (ok, text) = reply(conn).await?;
    if !ok {
        return Err(LegacyError::Protocol(format!("UIDL: {text}")));
    }
    let mut out = Vec::new();
    loop {
        let line = conn.read_line(MAX_LINE).await?;
        let line = trim_eol(&line);
        if line == b"." {
            return Ok(out);
        }
        if out.len() >= MAX_UIDLS {
            return Err(LegacyError::Protocol("too many UIDL lines".into()));
        }
        let text = String::from_utf8_lossy(line);
        let mut it = text.splitn(2, ' ');
        let n = it.next().and_then(|n| n.parse::<u32>().ok());
        let id = it.next().map(str::trim).filter(|id| {
            !id.is_empty() && id.len() <= 70 && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
        });
        match (n, id) {
            (Some(n), Some(id)) => out.push((n, id.to_string())),
            _ => {
                return Err(LegacyError::Protocol(format!(
                    "bad UIDL line `{}`",
                    text.chars().take(80).collect::<String>()
                )))
            }
        }
    }
}

/// `QUIT`, ignoring errors (no message is deleted: none was marked).
pub async fn quit(mut conn: Conn) {
    let _ = conn.send(b"QUIT\r\n").await;
    let _ = reply(&mut conn).await;
    conn.close().await;
}
