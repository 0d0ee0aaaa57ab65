//! Addresses that are not mailboxes, at RCPT time: aliases (expanded
//! recursively, with loop detection and depth and size limits), the recipient
//! delimiter, the catch-all, forwards to outside addresses (SRS, `srs.rs`) and
//! bounces to our SRS addresses. Each resulting target is routed by its own
//! state (`route.rs`), exactly as a direct recipient.
//!
//! Order for an address of a hosted domain: an alias of that name (an alias
//! wins over an account of the same name; an alias that lists its own name
//! delivers to that mailbox too, Postfix style); else the account / legacy
//! routing; else, when unknown, the part before the delimiter, resolved the same
//! way; else the domain's catch-all (once per chain).

use std::collections::HashSet;
use std::sync::Arc;

use super::address::{parse_address, Address};
use super::hop::Hop;
use super::route::{self, ProbeCache, Refusal, Route};
use super::srs::{self, Srs, SrsError};
use crate::app::App;
use crate::config::Config;

/// Deepest alias nesting followed.
pub const MAX_DEPTH: usize = 10;
/// Most addresses one recipient may expand to (targets and the aliases between).
pub const MAX_EXPANSION: usize = 1000;

const LOOP: Refusal = "554 5.4.6 Alias loop detected";
const TOO_DEEP: Refusal = "554 5.4.6 Alias nesting too deep";
const TOO_MANY: Refusal = "552 5.5.3 Alias expands to too many recipients";
const UNKNOWN: Refusal = "550 5.1.1 Recipient address rejected: user unknown";
const NO_HOP: Refusal = "451 4.3.5 No relay host configured for forwarding";

/// One address to resolve.
struct Item {
    addr: Address,
    depth: usize,
    /// The aliases expanded on the way here (lower-cased keys).
    path: Vec<String>,
    /// Look the name up as an alias (false for an alias's own name).
    aliases: bool,
    /// The catch-all was used on the way here.
    caught: bool,
    /// The domain of the alias that listed it (for SRS and the forward hop).
    via: String,
}

/// Where mail forwarded from `domain` leaves: `[submission] relay_host`, else
/// the domain's legacy SMTP server.
pub fn forward_hop(config: &Config, domain: &str) -> Option<Hop> {
    if let Some((h, p)) = &config.relay_host {
        return Some(Hop::relay_host(h, *p));
    }
    config
        .domain(domain)?
        .migration
        .smtp
        .as_ref()
        .map(Hop::from_endpoint)
}

/// The deliveries of the recipient `rcpt`, or the refusal for it.
pub async fn resolve(
    app: &Arc<App>,
    cache: &ProbeCache,
    config: &Config,
    rcpt: &Address,
    outbound: Option<&Hop>,
) -> Result<Vec<(Address, Route)>, Refusal> {
    let Some(domain) = config.domain(&rcpt.domain) else {
        let r = route::route(app, cache, config, rcpt, outbound).await?;
        return Ok(vec![(rcpt.clone(), r)]);
    };
    let mut start = rcpt.clone();
    if srs::is_srs(&rcpt.local) && domain.addresses.alias(&rcpt.local).is_none() {
        start = srs_original(config, rcpt)?;
        if config.domain(&start.domain).is_none() {
            // A bounce to an outside sender: relayed to it, never rewritten again.
            let hop = outbound
                .cloned()
                .or_else(|| forward_hop(config, &rcpt.domain))
                .ok_or(NO_HOP)?;
            tracing::info!(rcpt = %rcpt, to = %start, "SRS address reversed");
            return Ok(vec![(start, Route::Relay(hop))]);
        }
    }
    expand(app, cache, config, start, outbound).await
}

/// The original sender of our SRS address `rcpt`, or the refusal.
fn srs_original(config: &Config, rcpt: &Address) -> Result<Address, Refusal> {
    let srs = Srs::open(&config.data_dir).map_err(|e| {
        tracing::error!(error = %e, "cannot read the SRS key");
        "451 4.3.0 Temporary local problem, try again later"
    })?;
    match srs.reverse(&rcpt.local) {
        Ok((l, d)) => {
            parse_address(&format!("{l}@{d}")).map_err(|_| "550 5.1.1 Invalid SRS address")
        }
        Err(e) => {
            tracing::info!(rcpt = %rcpt, error = %e, "SRS address refused");
            Err(match e {
                SrsError::Expired => "550 5.1.1 Expired SRS address",
                SrsError::BadHash => "550 5.1.1 Invalid SRS address (hash)",
                SrsError::Malformed => "550 5.1.1 Invalid SRS address",
            })
        }
    }
}

async fn expand(
    app: &Arc<App>,
    cache: &ProbeCache,
    config: &Config,
    start: Address,
    outbound: Option<&Hop>,
) -> Result<Vec<(Address, Route)>, Refusal> {
    let mut out: Vec<(Address, Route)> = Vec::new();
    let mut refusals: Vec<(String, Refusal)> = Vec::new();
    let mut done: HashSet<(String, bool)> = HashSet::new();
    let via = start.domain.clone();
    let mut work = vec![Item {
        addr: start,
        depth: 0,
        path: Vec::new(),
        aliases: true,
        caught: false,
        via,
    }];
    let mut count = 0usize;
    while let Some(it) = work.pop() {
        count += 1;
        if count > MAX_EXPANSION {
            return Err(TOO_MANY);
        }
        if it.depth > MAX_DEPTH {
            return Err(TOO_DEEP);
        }
        let key = it.addr.key();
        if !done.insert((key.clone(), it.aliases)) {
            continue;
        }
        let Some(domain) = config.domain(&it.addr.domain) else {
            // An alias's target outside: forwarded.
            let hop = forward_hop(config, &it.via).ok_or(NO_HOP)?;
            push(
                &mut out,
                it.addr,
                Route::Forward {
                    hop,
                    domain: it.via,
                },
            );
            continue;
        };
        if it.aliases {
            if let Some(targets) = domain.addresses.alias(&it.addr.local) {
                let mut path = it.path.clone();
                path.push(key.clone());
                for t in targets.iter().rev() {
                    let Ok(t) = parse_address(t) else {
                        tracing::warn!(alias = %key, target = %t, "alias target is not a usable address; skipped");
                        continue;
                    };
                    let tkey = t.key();
                    let own = tkey == key;
                    if !own && path.contains(&tkey) {
                        tracing::warn!(alias = %key, path = %path.join(" -> "), "alias loop");
                        return Err(LOOP);
                    }
                    work.push(Item {
                        addr: t,
                        depth: it.depth + 1,
                        path: path.clone(),
                        aliases: !own,
                        caught: it.caught,
                        via: domain.name.clone(),
                    });
                }
                continue;
            }
        }
        match route::route(app, cache, config, &it.addr, outbound).await {
            Ok(r) => push(&mut out, it.addr, r),
            Err(refusal) if refusal.starts_with("550") => {
                let addrs = &domain.addresses;
                if let Some(base) = addrs.base_local(&it.addr.local) {
                    work.push(Item {
                        addr: Address {
                            local: base.to_string(),
                            domain: it.addr.domain.clone(),
                        },
                        ..it
                    });
                } else if let (Some(c), false) = (&addrs.catch_all, it.caught) {
                    match parse_address(c) {
                        Ok(c) => work.push(Item {
                            addr: c,
                            depth: it.depth + 1,
                            path: it.path,
                            aliases: true,
                            caught: true,
                            via: domain.name.clone(),
                        }),
                        Err(_) => refusals.push((key, refusal)),
                    }
                } else {
                    refusals.push((key, refusal));
                }
            }
            Err(refusal) => return Err(refusal),
        }
    }
    if out.is_empty() {
        return Err(refusals.first().map(|(_, r)| *r).unwrap_or(UNKNOWN));
    }
    for (addr, r) in refusals {
        tracing::warn!(target = %addr, reply = r, "alias target refused; the other targets get the message");
    }
    Ok(out)
}

/// Adds a delivery unless the same account or address is already there.
fn push(out: &mut Vec<(Address, Route)>, addr: Address, r: Route) {
    let dup = out.iter().any(|(a, x)| match (x, &r) {
        (Route::Local(a1), Route::Local(a2)) => a1.id == a2.id,
        _ => a.key() == addr.key(),
    });
    if !dup {
        out.push((addr, r));
    }
}

/// True when the authenticated `user` (an account's address) is a target of
/// the alias `sender`, directly or through other aliases.
pub fn may_send_as(config: &Config, sender: &Address, user: &str) -> bool {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack = vec![(sender.key(), 0usize)];
    while let Some((a, depth)) = stack.pop() {
        if depth > MAX_DEPTH || !seen.insert(a.clone()) {
            continue;
        }
        let Some((l, d)) = a.rsplit_once('@') else {
            continue;
        };
        let Some(targets) = config.domain(d).and_then(|x| x.addresses.alias(l)) else {
            continue;
        };
        for t in targets {
            let Ok(t) = parse_address(t) else { continue };
            let k = t.key();
            if k == user {
                return true;
            }
            stack.push((k, depth + 1));
        }
    }
    false
}

/// The envelope sender of a copy forwarded from `domain`: SRS-rewritten,
/// except the null sender and senders of our own domains (our SPF covers them).
pub fn forward_sender(
    config: &Config,
    from: Option<&Address>,
    domain: &str,
) -> std::io::Result<String> {
    let Some(f) = from else {
        return Ok(String::new());
    };
    if config.domain(&f.domain).is_some() {
        return Ok(f.to_wire());
    }
    Ok(Srs::open(&config.data_dir)?.forward(&f.local, &f.domain, domain))
}

/// Where a DSN for the sender `from` goes: our own SRS address is reversed to
/// the original sender (when it still verifies).
pub fn dsn_recipient(config: &Config, from: &str) -> String {
    let Ok(a) = parse_address(from) else {
        return from.to_string();
    };
    if !srs::is_srs(&a.local) || config.domain(&a.domain).is_none() {
        return from.to_string();
    }
    match Srs::open(&config.data_dir).map(|s| s.reverse(&a.local)) {
        Ok(Ok((l, d))) => format!("{l}@{d}"),
        _ => from.to_string(),
    }
}
