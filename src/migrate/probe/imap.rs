//! `migrate test` against the legacy IMAP server: the connection (greeting,
//! capabilities, STARTTLS, certificate), then per user the login, the folders
//! with their counts, sizes and local names, and a timed fetch of a few
//! bodies. Read-only: `EXAMINE`, never `SELECT`; `BODY.PEEK`, never `BODY`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::estimate::{Measured, Outcome, UserTotals};
use super::report::{bytes, caps, detail, said, tls_failed, Failed, Out, Server};
use crate::config::{Endpoint, TlsMode};
use crate::legacy::imap::{uid_set, Session};
use crate::legacy::{self, LegacyError, Login};
use crate::migrate::copy;
use crate::migrate::names;
use crate::server::Conn;

/// Most messages fetched to measure the rate, per user.
const SAMPLE_MESSAGES: usize = 20;
/// Bytes fetched to measure the rate, per user (about).
const SAMPLE_BYTES: u64 = 2_000_000;
/// Most bytes of one message fetched (a partial fetch; held in memory).
const PARTIAL: u64 = 1_000_000;

/// Connects and reads the greeting and capabilities; STARTTLS as configured.
/// Also the capabilities before STARTTLS, when it was used.
async fn open(ep: &Endpoint, timeout: Duration) -> Result<(Session, Option<String>), Failed> {
    let mut conn = Conn::connect(&ep.host, ep.port, timeout)
        .await
        .map_err(Failed::connect)?;
    if ep.tls == TlsMode::Implicit {
        legacy::start_tls(&mut conn, ep)
            .await
            .map_err(|e| tls_failed(&e))?;
    }
    let mut s = Session::greet(conn)
        .await
        .map_err(|e| Failed::Protocol(detail(&e)))?;
    let mut before = None;
    if ep.tls == TlsMode::StartTls {
        if !s.has("STARTTLS") {
            return Err(Failed::NoStartTls);
        }
        before = Some(s.capability_line.clone());
        s.starttls(ep).await.map_err(|e| tls_failed(&e))?;
    }
    Ok((s, before))
}

/// The server check: greeting, capabilities, TLS. True when it works.
pub async fn server(ep: &Endpoint, timeout: Duration, out: &mut Out<'_>) -> bool {
    let srv = Server { proto: "IMAP", ep };
    out.info(format!("{} ({})", srv.name(), srv.tls_words()));
    let (s, before) = match open(ep, timeout).await {
        Ok(x) => x,
        Err(f) => {
            srv.failed(out, &f);
            return false;
        }
    };
    out.info(format!("  greeting: {}", said(&s.greeting)));
    if let Some(before) = before {
        out.info(format!("  capabilities before STARTTLS: {}", caps(&before)));
    }
    out.info(format!("  capabilities: {}", caps(&s.capability_line)));
    if s.has("LOGINDISABLED") && !s.has("AUTH=PLAIN") {
        out.problem(
            format!("{}: neither LOGIN nor AUTHENTICATE PLAIN is allowed", srv.name()),
            format!("enable TLS in {} (tls = \"starttls\" or \"implicit\"): the legacy server refuses passwords without it", srv.table()),
        );
    }
    s.logout().await;
    if ep.tls != TlsMode::None && !ep.verify_certificate {
        let strict = Endpoint {
            verify_certificate: true,
            ..ep.clone()
        };
        match open(&strict, timeout).await {
            Ok((s, _)) => {
                out.note(format!("{}: the certificate would pass verification too: verify_certificate = true is possible", srv.name()));
                s.logout().await;
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

/// One user: login, folders, sizes, a timed sample fetch.
pub async fn user(
    ep: &Endpoint,
    timeout: Duration,
    login: &Login,
    who: &str,
    out: &mut Out<'_>,
) -> Outcome {
    let srv = Server { proto: "IMAP", ep };
    let mut s = match open(ep, timeout).await {
        Ok((s, _)) => s,
        Err(f) => {
            srv.failed(out, &f);
            return Outcome::Failed;
        }
    };
    match s.authenticate(login).await {
        Ok(()) => {}
        Err(LegacyError::Refused) => {
            s.logout().await;
            return Outcome::Refused;
        }
        Err(e) => {
            out.problem(
                format!("{}: login for {who} failed: {}", srv.name(), detail(&e)),
                "the legacy server could not check this login: see its answer, and its log",
            );
            return Outcome::Failed;
        }
    }
    out.info("  IMAP login: ok");
    out.info(format!(
        "  capabilities after login: {}",
        caps(&s.capability_line)
    ));
    let r = mailbox(&mut s, &srv, who, out).await;
    s.logout().await;
    match r {
        Ok(t) => Outcome::Done(t),
        Err(e) => {
            out.problem(
                format!(
                    "{}: reading {who}'s mailbox failed: {}",
                    srv.name(),
                    detail(&e)
                ),
                "the copy reads it the same way: check the legacy server's answer and log",
            );
            Outcome::Failed
        }
    }
}

/// One folder's line.
struct Row {
    raw: String,
    local: String,
    role: Option<&'static str>,
    messages: Option<u64>,
    bytes: u64,
    /// The last messages (UID, size), for the sample fetch.
    tail: Vec<(u32, u64)>,
}

/// The folders, their translations, counts and sizes, then the sample fetch.
async fn mailbox(
    s: &mut Session,
    srv: &Server<'_>,
    who: &str,
    out: &mut Out<'_>,
) -> legacy::Result<UserTotals> {
    let ns = copy::namespace(s).await?;
    out.info(format!(
        "  namespace: prefix \"{}\", separator {}",
        ns.prefix,
        ns.separator
            .map(|c| format!("\"{c}\""))
            .unwrap_or_else(|| "none".into())
    ));
    let folders = copy::folders(s, &ns).await?;
    let mut rows = Vec::with_capacity(folders.len());
    for f in &folders {
        let role = names::role_from_attributes(&f.entry.attributes)
            .or_else(|| names::role_by_name(&f.local));
        let mut row = Row {
            raw: f.entry.raw.clone(),
            local: f.local.clone(),
            role,
            messages: None,
            bytes: 0,
            tail: Vec::new(),
        };
        if !f.entry.has("\\Noselect") && !f.entry.has("\\NonExistent") {
            match s.examine(&f.entry.raw).await {
                Ok(st) if st.exists == 0 => row.messages = Some(0),
                Ok(_) => {
                    let (n, b, tail) = sizes(s).await?;
                    row.messages = Some(n);
                    row.bytes = b;
                    row.tail = tail;
                }
                Err(e @ LegacyError::Protocol(_)) => out.problem(
                    format!(
                        "{}: EXAMINE {} for {who} failed: {}",
                        srv.name(),
                        f.entry.raw,
                        detail(&e)
                    ),
                    "the copy would stop at this folder: repair or rename it on the legacy server",
                ),
                Err(e) => return Err(e),
            }
        }
        rows.push(row);
    }
    let totals = table(&rows, out);
    let measured = match rows.iter().filter(|r| r.bytes > 0).max_by_key(|r| r.bytes) {
        Some(r) => Some(measure(s, &r.raw, &r.tail).await?),
        None => None,
    };
    Ok(UserTotals {
        folders: rows.len(),
        messages: totals.0,
        bytes: totals.1,
        measured,
    })
}

/// `UID FETCH 1:* (UID RFC822.SIZE)` streamed on the examined folder: the
/// count, the bytes and the last messages.
async fn sizes(s: &mut Session) -> legacy::Result<(u64, u64, Vec<(u32, u64)>)> {
    let tag = s.start_fetch("1:*", "(UID RFC822.SIZE)").await?;
    let (mut n, mut total) = (0u64, 0u64);
    let mut tail = VecDeque::with_capacity(SAMPLE_MESSAGES + 1);
    while let Some(f) = s.next_fetch(&tag, None).await? {
        let size = f.size.unwrap_or(0);
        n += 1;
        total += size;
        tail.push_back((f.uid, size));
        if tail.len() > SAMPLE_MESSAGES {
            tail.pop_front();
        }
    }
    Ok((n, total, tail.into()))
}

/// Prints the folder table; returns (messages, bytes).
fn table(rows: &[Row], out: &mut Out<'_>) -> (u64, u64) {
    let width = |f: &dyn Fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let w_raw = width(&|r| r.raw.chars().count()).max("legacy folder".len());
    let w_local = width(&|r| r.local.chars().count() + r.role.map_or(0, |x| x.len() + 1))
        .max("local folder".len());
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    out.info(format!(
        "  {}    {}  {:>9}  {:>10}",
        pad("legacy folder", w_raw),
        pad("local folder", w_local),
        "messages",
        "size"
    ));
    let (mut messages, mut total) = (0, 0);
    for r in rows {
        let local = match r.role {
            Some(role) => format!("{} {role}", r.local),
            None => r.local.clone(),
        };
        let count = match r.messages {
            Some(n) => n.to_string(),
            None => "-".into(),
        };
        let size = if r.messages.is_some() {
            bytes(r.bytes)
        } else {
            "(folder only)".into()
        };
        out.info(format!(
            "  {} -> {}  {count:>9}  {size:>10}",
            pad(&r.raw, w_raw),
            pad(&local, w_local),
        ));
        messages += r.messages.unwrap_or(0);
        total += r.bytes;
    }
    out.info(format!(
        "  total: {} folders, {messages} messages, {}",
        rows.len(),
        bytes(total)
    ));
    (messages, total)
}

/// Times `UID FETCH (BODY.PEEK[]<0.PARTIAL>)` of the last messages of `raw`.
async fn measure(s: &mut Session, raw: &str, tail: &[(u32, u64)]) -> legacy::Result<Measured> {
    s.examine(raw).await?;
    let mut pick: Vec<(u32, u64)> = Vec::new();
    let mut planned = 0u64;
    for &(uid, size) in tail.iter().rev() {
        if planned >= SAMPLE_BYTES {
            break;
        }
        planned += size.min(PARTIAL);
        pick.push((uid, size));
    }
    let mut uids: Vec<u32> = pick.iter().map(|p| p.0).collect();
    uids.sort_unstable();
    let started = Instant::now();
    let tag = s
        .start_fetch(
            &uid_set(&uids),
            &format!("(UID RFC822.SIZE BODY.PEEK[]<0.{PARTIAL}>)"),
        )
        .await?;
    let (mut messages, mut fetched) = (0u64, 0u64);
    while let Some(f) = s.next_fetch(&tag, None).await? {
        if let Some(&(_, size)) = pick.iter().find(|p| p.0 == f.uid) {
            messages += 1;
            fetched += f.size.unwrap_or(size).min(PARTIAL);
        }
    }
    Ok(Measured {
        how: "BODY.PEEK[]",
        messages,
        bytes: fetched,
        elapsed: started.elapsed(),
    })
}
