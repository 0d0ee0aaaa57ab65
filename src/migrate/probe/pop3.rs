//! `migrate test` against the legacy POP3 server: the connection (greeting,
//! CAPA, STLS, certificate), then per user the login, the maildrop's count and
//! size, and (when POP3 is the copy source) a timed `TOP` of a few whole
//! messages: `RETR` would make servers like Dovecot mark them `\Seen`, even
//! without `QUIT`. Sessions end without `QUIT` all the same, so the server
//! never enters its UPDATE state.

use std::time::{Duration, Instant};

use super::estimate::{Measured, Outcome, UserTotals};
use super::report::{bytes, caps, detail, said, tls_failed, Failed, Out, Server};
use crate::config::{Endpoint, TlsMode};
use crate::legacy::pop3::{self, RetrInto};
use crate::legacy::{self, LegacyError, Login};
use crate::server::Conn;

/// Body lines asked of `TOP`: whole messages, in practice.
const TOP_LINES: u32 = 1_000_000;
/// Most messages retrieved to measure the rate, per user.
const SAMPLE_MESSAGES: usize = 10;
/// Bytes retrieved to measure the rate, per user (about).
const SAMPLE_BYTES: u64 = 2_000_000;
/// Messages larger than this are not retrieved for the sample.
const SAMPLE_MAX_MESSAGE: u64 = 4_000_000;

/// The opened connection: the greeting, CAPA before and after STLS.
struct Opened {
    conn: Conn,
    greeting: String,
    before: Option<Option<Vec<String>>>,
    capa: Option<Vec<String>>,
}

fn capa_words(capa: &Option<Vec<String>>) -> String {
    match capa {
        Some(lines) => caps(&lines.join(" | ")),
        None => "(no CAPA)".into(),
    }
}

async fn open(ep: &Endpoint, timeout: Duration) -> Result<Opened, Failed> {
    let mut conn = Conn::connect(&ep.host, ep.port, timeout)
        .await
        .map_err(Failed::connect)?;
    if ep.tls == TlsMode::Implicit {
        legacy::start_tls(&mut conn, ep)
            .await
            .map_err(|e| tls_failed(&e))?;
    }
    let protocol = |e: LegacyError| Failed::Protocol(detail(&e));
    let (ok, greeting) = pop3::reply(&mut conn).await.map_err(protocol)?;
    if !ok {
        return Err(Failed::Protocol(format!("greeting: {}", said(&greeting))));
    }
    let mut capa = pop3::capa(&mut conn).await.map_err(protocol)?;
    let mut before = None;
    if ep.tls == TlsMode::StartTls {
        let offered = capa
            .as_ref()
            .is_none_or(|l| l.iter().any(|c| c.eq_ignore_ascii_case("STLS")));
        if !offered {
            return Err(Failed::NoStartTls);
        }
        pop3::stls(&mut conn, ep)
            .await
            .map_err(|e| match detail(&e) {
                d if d.contains("refused STLS") => Failed::StartTlsRefused(d),
                _ => tls_failed(&e),
            })?;
        before = Some(capa);
        capa = pop3::capa(&mut conn).await.map_err(protocol)?;
    }
    Ok(Opened {
        conn,
        greeting,
        before,
        capa,
    })
}

/// The server check: greeting, CAPA, TLS. True when it works.
pub async fn server(ep: &Endpoint, timeout: Duration, out: &mut Out<'_>) -> bool {
    let srv = Server { proto: "POP3", ep };
    out.info(format!("{} ({})", srv.name(), srv.tls_words()));
    let mut o = match open(ep, timeout).await {
        Ok(o) => o,
        Err(f) => {
            srv.failed(out, &f);
            return false;
        }
    };
    out.info(format!("  greeting: {}", said(&o.greeting)));
    if let Some(before) = &o.before {
        out.info(format!(
            "  capabilities before STLS: {}",
            capa_words(before)
        ));
    }
    out.info(format!("  capabilities: {}", capa_words(&o.capa)));
    o.conn.close().await;
    if ep.tls != TlsMode::None && !ep.verify_certificate {
        let strict = Endpoint {
            verify_certificate: true,
            ..ep.clone()
        };
        match open(&strict, timeout).await {
            Ok(mut o) => {
                out.note(format!("{}: the certificate would pass verification too: verify_certificate = true is possible", srv.name()));
                o.conn.close().await;
            }
            Err(Failed::Tls(d)) => out.note(format!(
                "{}: certificate not verified (verify_certificate = false); it would fail verification: {d}",
                srv.name()
            )),
            Err(_) => {}
        }
    }
    true
}

/// One user: login, the maildrop, and with `measure` a timed sample of RETRs.
pub async fn user(
    ep: &Endpoint,
    timeout: Duration,
    login: &Login,
    who: &str,
    measure: bool,
    out: &mut Out<'_>,
) -> Outcome {
    let srv = Server { proto: "POP3", ep };
    let mut conn = match pop3::login(ep, timeout, login).await {
        Ok(c) => c,
        Err(LegacyError::Refused) => return Outcome::Refused,
        Err(e) => {
            out.problem(
                format!("{}: login for {who} failed: {}", srv.name(), detail(&e)),
                format!("the legacy POP3 server could not check this login: see its answer and log, and {}", srv.table()),
            );
            return Outcome::Failed;
        }
    };
    let r = maildrop(&mut conn, measure, out).await;
    // No QUIT: nothing is committed on the server.
    conn.close().await;
    match r {
        Ok(t) => Outcome::Done(t),
        Err(e) => {
            out.problem(
                format!(
                    "{}: reading {who}'s maildrop failed: {}",
                    srv.name(),
                    detail(&e)
                ),
                "the copy reads it the same way: check the legacy server's answer and log",
            );
            Outcome::Failed
        }
    }
}

async fn maildrop(conn: &mut Conn, measure: bool, out: &mut Out<'_>) -> legacy::Result<UserTotals> {
    let list = pop3::list(conn).await?;
    let total: u64 = list.iter().map(|m| m.1).sum();
    let messages = list.len() as u64;
    if !measure {
        out.info(format!(
            "  POP3 login: ok; {messages} messages, {} in the maildrop (their UIDLs are carried over)",
            bytes(total)
        ));
        return Ok(UserTotals::default());
    }
    out.info("  POP3 login: ok");
    out.info(format!(
        "  INBOX -> INBOX  {messages} messages  {}",
        bytes(total)
    ));
    let mut pick = Vec::new();
    let mut planned = 0u64;
    for &(n, size) in list.iter().rev() {
        if pick.len() >= SAMPLE_MESSAGES || planned >= SAMPLE_BYTES {
            break;
        }
        if size <= SAMPLE_MAX_MESSAGE {
            planned += size;
            pick.push(n);
        }
    }
    let measured = if pick.is_empty() {
        None
    } else {
        let started = Instant::now();
        let mut fetched = 0u64;
        let mut failed = None;
        for n in &pick {
            let mut h = <sha2::Sha256 as sha2::Digest>::new();
            let mut size = 0u64;
            match pop3::top(conn, *n, TOP_LINES, RetrInto::Hash(&mut h, &mut size)).await {
                Ok(_) => fetched += size,
                Err(LegacyError::Protocol(e)) => {
                    failed = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        match failed {
            Some(e) => {
                out.note(format!(
                    "  fetch rate not measured: {} (RETR is not used here: it would mark messages seen)",
                    said(&e)
                ));
                None
            }
            None => Some(Measured {
                how: "TOP",
                messages: pick.len() as u64,
                bytes: fetched,
                elapsed: started.elapsed(),
            }),
        }
    };
    Ok(UserTotals {
        folders: 1,
        messages,
        bytes: total,
        measured,
    })
}
