//! `migrate test` against the legacy SMTP server, where mail for users not yet
//! moved is relayed: greeting, EHLO capabilities, STARTTLS as configured, and
//! `MAIL FROM:<>` / `RCPT TO` for the tested users, as the RCPT probe of the
//! SMTP front end does. No message is sent: `RSET` and `QUIT` follow.

use std::time::Duration;

use super::report::{caps, said, tls_failed, Failed, Out, Server};
use crate::config::{Endpoint, TlsMode};
use crate::server::Conn;

/// Longest reply line read.
const MAX_LINE: usize = 2048;
/// Most lines of one reply.
const MAX_LINES: usize = 100;

/// One reply: its code and the text of each line.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        format!("{} {}", self.code, said(&self.lines.join(" ")))
    }
}

async fn reply(conn: &mut Conn) -> Result<Reply, String> {
    let mut lines = Vec::new();
    for _ in 0..MAX_LINES {
        let line = conn.read_line(MAX_LINE).await.map_err(|e| e.to_string())?;
        let line = crate::server::conn::trim_eol(&line);
        let code = line
            .get(..3)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
            .ok_or_else(|| {
                format!(
                    "not an SMTP reply: {}",
                    said(&String::from_utf8_lossy(line))
                )
            })?;
        lines.push(String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned());
        if line.get(3) != Some(&b'-') {
            return Ok(Reply { code, lines });
        }
    }
    Err("reply too long".into())
}

async fn command(conn: &mut Conn, cmd: &str) -> Result<Reply, String> {
    conn.send(format!("{cmd}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    reply(conn).await
}

/// The opened session: greeting and EHLO capabilities (before STARTTLS too).
struct Opened {
    conn: Conn,
    greeting: String,
    before: Option<Vec<String>>,
    caps: Vec<String>,
}

async fn ehlo(conn: &mut Conn, hostname: &str) -> Result<Vec<String>, Failed> {
    let r = command(conn, &format!("EHLO {hostname}"))
        .await
        .map_err(Failed::Protocol)?;
    if r.code != 250 {
        return Err(Failed::Protocol(format!("EHLO refused: {}", r.text())));
    }
    Ok(r.lines.into_iter().skip(1).collect())
}

async fn open(ep: &Endpoint, hostname: &str, timeout: Duration) -> Result<Opened, Failed> {
    let mut conn = Conn::connect(&ep.host, ep.port, timeout)
        .await
        .map_err(Failed::connect)?;
    if ep.tls == TlsMode::Implicit {
        crate::legacy::start_tls(&mut conn, ep)
            .await
            .map_err(|e| tls_failed(&e))?;
    }
    let g = reply(&mut conn).await.map_err(Failed::Protocol)?;
    if g.code != 220 {
        return Err(Failed::Protocol(format!("greeting: {}", g.text())));
    }
    let mut caps = ehlo(&mut conn, hostname).await?;
    let mut before = None;
    if ep.tls == TlsMode::StartTls {
        if !caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")) {
            return Err(Failed::NoStartTls);
        }
        let r = command(&mut conn, "STARTTLS")
            .await
            .map_err(Failed::Protocol)?;
        if r.code != 220 {
            return Err(Failed::StartTlsRefused(r.text()));
        }
        crate::legacy::start_tls(&mut conn, ep)
            .await
            .map_err(|e| tls_failed(&e))?;
        before = Some(caps);
        caps = ehlo(&mut conn, hostname).await?;
    }
    Ok(Opened {
        conn,
        greeting: g.lines.join(" "),
        before,
        caps,
    })
}

/// The server check, then whether it takes mail for each of `rcpts` (no
/// message is sent). True when everything works.
pub async fn server(
    ep: &Endpoint,
    hostname: &str,
    timeout: Duration,
    rcpts: &[String],
    out: &mut Out<'_>,
) -> bool {
    let srv = Server { proto: "SMTP", ep };
    out.info(format!("{} ({})", srv.name(), srv.tls_words()));
    let mut o = match open(ep, hostname, timeout).await {
        Ok(o) => o,
        Err(f) => {
            srv.failed(out, &f);
            return false;
        }
    };
    out.info(format!("  greeting: {}", said(&o.greeting)));
    if let Some(before) = &o.before {
        out.info(format!(
            "  EHLO capabilities before STARTTLS: {}",
            caps(&before.join(" | "))
        ));
    }
    out.info(format!(
        "  EHLO capabilities: {}",
        caps(&o.caps.join(" | "))
    ));
    let ok = recipients(&mut o.conn, &srv, rcpts, out).await;
    let _ = command(&mut o.conn, "QUIT").await;
    o.conn.close().await;
    ok
}

/// `MAIL FROM:<>`, `RCPT TO` per address, `RSET`.
async fn recipients(
    conn: &mut Conn,
    srv: &Server<'_>,
    rcpts: &[String],
    out: &mut Out<'_>,
) -> bool {
    if rcpts.is_empty() {
        return true;
    }
    let name = srv.name();
    let table = srv.table();
    let fail = |out: &mut Out<'_>, e: String| {
        out.problem(
            format!("{name}: {e}"),
            "the legacy server must take mail relayed from this machine for users not yet moved: check its relay rules",
        );
        false
    };
    match command(conn, "MAIL FROM:<>").await {
        Ok(r) if r.code == 250 => {}
        Ok(r) => return fail(out, format!("MAIL FROM:<> refused: {}", r.text())),
        Err(e) => return fail(out, e),
    }
    let mut ok = true;
    for a in rcpts {
        // An address is never sent with line breaks or brackets in it.
        if a.chars().any(|c| c.is_control() || c == '<' || c == '>') {
            continue;
        }
        match command(conn, &format!("RCPT TO:<{a}>")).await {
            Ok(r) if (250..=252).contains(&r.code) => {
                out.info(format!("  takes mail for {a}: {}", r.text()));
            }
            Ok(r) if (500..600).contains(&r.code) => {
                ok = false;
                out.problem(
                    format!("{name}: refuses mail for {a}: {}", r.text()),
                    format!("mail for {a} would be refused until they are moved: point {table} at the server that takes mail for this domain"),
                );
            }
            Ok(r) => out.note(format!(
                "{name}: answered {} for {a} (temporary: try again later)",
                r.text()
            )),
            Err(e) => return fail(out, e),
        }
    }
    let _ = command(conn, "RSET").await;
    ok
}
