//! Where a recipient's mail goes, decided at RCPT (DESIGN §4), and the cached
//! RCPT probe that verifies recipients on the legacy SMTP server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::address::Address;
pub use super::hop::Hop;
use crate::app::App;
use crate::config::Config;
use crate::server::Conn;
use crate::store::Account;

/// The decision for one recipient.
#[derive(Debug, Clone)]
pub enum Route {
    /// Deliver into this account's INBOX.
    Local(Account),
    /// Queue for this hop (the legacy server, or the outbound relay).
    Relay(Hop),
    /// An alias's target outside the hosted domains: queue for this hop with
    /// the sender rewritten by SRS into `domain` (the alias's domain).
    Forward { hop: Hop, domain: String },
}

/// A refusal at RCPT, as the reply line.
pub type Refusal = &'static str;

/// What the probe learned about a recipient on the legacy server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Exists,
    Unknown,
    /// The legacy server could not be asked (down, timeout, temporary answer).
    Unreachable,
}

const POSITIVE_TTL: Duration = Duration::from_secs(600);
const NEGATIVE_TTL: Duration = Duration::from_secs(60);
const MAX_CACHE: usize = 10_000;

/// Recently probed recipients.
#[derive(Default)]
pub struct ProbeCache {
    map: Mutex<HashMap<String, (Probe, Instant)>>,
}

impl ProbeCache {
    fn get(&self, key: &str) -> Option<Probe> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (p, at) = m.get(key)?;
        let ttl = if *p == Probe::Exists {
            POSITIVE_TTL
        } else {
            NEGATIVE_TTL
        };
        (at.elapsed() < ttl).then_some(*p)
    }

    fn put(&self, key: String, p: Probe) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_CACHE {
            m.retain(|_, (_, at)| at.elapsed() < POSITIVE_TTL);
            if m.len() >= MAX_CACHE {
                m.clear();
            }
        }
        m.insert(key, (p, Instant::now()));
    }
}

/// Routes a recipient. `outbound` is the hop for other domains (authenticated
/// submission), `None` on port 25.
pub async fn route(
    app: &Arc<App>,
    cache: &ProbeCache,
    config: &Config,
    rcpt: &Address,
    outbound: Option<&Hop>,
) -> Result<Route, Refusal> {
    let Some(domain) = config.domain(&rcpt.domain) else {
        return match outbound {
            Some(hop) => Ok(Route::Relay(hop.clone())),
            None => Err("554 5.7.1 Relay access denied"),
        };
    };
    let account = match app.store.account(&rcpt.key()).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(rcpt = %rcpt, error = %e, "account lookup failed");
            return Err("451 4.3.0 Temporary lookup failure, try again later");
        }
    };
    // An imported (`pending`) user's mail is on the legacy server: relayed
    // there even while the domain's migration is paused.
    let pending = account
        .as_ref()
        .is_some_and(|a| a.state == crate::store::AccountState::Pending);
    match account {
        Some(a) if a.state.serves_locally() || (!domain.migrating() && !pending) => {
            Ok(Route::Local(a))
        }
        _ if domain.migrating() || pending => {
            let Some(endpoint) = &domain.migration.smtp else {
                return Err("451 4.3.5 No legacy SMTP server configured for this domain");
            };
            let hop = Hop::from_endpoint(endpoint);
            match probe(cache, config, &hop, &rcpt.to_wire()).await {
                Probe::Exists => Ok(Route::Relay(hop)),
                Probe::Unknown => Err("550 5.1.1 Recipient address rejected: user unknown"),
                Probe::Unreachable => {
                    // Accept and queue: the legacy server decides when it is back.
                    tracing::warn!(rcpt = %rcpt, hop = %hop, "legacy SMTP server unreachable; recipient accepted unverified");
                    Ok(Route::Relay(hop))
                }
            }
        }
        _ => Err("550 5.1.1 Recipient address rejected: user unknown"),
    }
}

/// Asks `hop` whether it takes mail for `rcpt` (`MAIL FROM:<>`, `RCPT TO`, `QUIT`),
/// through the cache.
pub async fn probe(cache: &ProbeCache, config: &Config, hop: &Hop, rcpt: &str) -> Probe {
    let key = format!("{hop}/{}", rcpt.to_lowercase());
    if let Some(p) = cache.get(&key) {
        return p;
    }
    let p = match tokio::time::timeout(Duration::from_secs(30), probe_once(config, hop, rcpt)).await
    {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::warn!(hop = %hop, error = %e, "RCPT probe failed");
            Probe::Unreachable
        }
        Err(_) => {
            tracing::warn!(hop = %hop, "RCPT probe timed out");
            Probe::Unreachable
        }
    };
    if p != Probe::Unreachable {
        cache.put(key, p);
    }
    p
}

/// Reads one (possibly multi-line) reply; returns its code.
async fn reply(conn: &mut Conn) -> Result<u16, String> {
    for _ in 0..100 {
        let line = conn.read_line(1024).await.map_err(|e| e.to_string())?;
        if line.len() < 4 {
            return Err("short reply".into());
        }
        let code: u16 = std::str::from_utf8(&line[..3])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("malformed reply")?;
        if line[3] != b'-' {
            return Ok(code);
        }
    }
    Err("reply too long".into())
}

async fn command(conn: &mut Conn, cmd: &str) -> Result<u16, String> {
    conn.write(cmd.as_bytes());
    conn.write(b"\r\n");
    conn.flush().await.map_err(|e| e.to_string())?;
    reply(conn).await
}

async fn probe_once(config: &Config, hop: &Hop, rcpt: &str) -> Result<Probe, String> {
    let mut conn = Conn::connect(&hop.host, hop.port, Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    let tls = || crate::server::tls::client_config(hop.verify_certificate, hop.ca_file.as_deref());
    if hop.tls == "implicit" {
        conn.starttls_client(tls()?, &hop.host)
            .await
            .map_err(|e| e.to_string())?;
    }
    if reply(&mut conn).await? != 220 {
        return Ok(Probe::Unreachable);
    }
    let ehlo = format!("EHLO {}", config.hostname);
    if command(&mut conn, &ehlo).await? != 250 {
        return Ok(Probe::Unreachable);
    }
    if hop.tls == "starttls" {
        if command(&mut conn, "STARTTLS").await? != 220 {
            return Err("STARTTLS refused".into());
        }
        conn.starttls_client(tls()?, &hop.host)
            .await
            .map_err(|e| e.to_string())?;
        if command(&mut conn, &ehlo).await? != 250 {
            return Ok(Probe::Unreachable);
        }
    }
    if command(&mut conn, "MAIL FROM:<>").await? != 250 {
        return Ok(Probe::Unreachable);
    }
    let code = command(&mut conn, &format!("RCPT TO:<{rcpt}>")).await?;
    let _ = command(&mut conn, "QUIT").await;
    conn.close().await;
    Ok(match code {
        250..=252 => Probe::Exists,
        550 | 551 | 553 => Probe::Unknown,
        _ => Probe::Unreachable,
    })
}
