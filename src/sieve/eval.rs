//! Evaluating tests (RFC 5228 §5 and the extensions' tests) against the
//! message and the run's state. Recursion follows the checked tree, whose
//! depth the parser bounds.

use super::datepart;
use super::error::Error;
use super::ir::{AddrPart, BodyTransform, Comparator, Index, Match, MatchKind, Test, Zone};
use super::match_::{matches, order, rel};
use super::msg::{split_address, Addr};
use super::state::{flag_list, Run, Scope};

/// The `:index` selection of RFC 5260 §6 (1-based, `:last` from the end).
fn pick<T>(mut v: Vec<T>, index: Option<Index>) -> Vec<T> {
    let Some(ix) = index else {
        return v;
    };
    let n = usize::try_from(ix.n).unwrap_or(usize::MAX);
    if n == 0 || n > v.len() {
        return Vec::new();
    }
    let at = if ix.last { v.len() - n } else { n - 1 };
    vec![v.swap_remove(at)]
}

fn address_part(a: &Addr, part: AddrPart, sep: &str) -> Option<String> {
    let split = || {
        if sep.is_empty() {
            None
        } else {
            a.local.split_once(sep)
        }
    };
    Some(match part {
        AddrPart::All if a.domain.is_empty() => a.local.clone(),
        AddrPart::All => format!("{}@{}", a.local, a.domain),
        AddrPart::Local => a.local.clone(),
        AddrPart::Domain => a.domain.clone(),
        AddrPart::User => split().map_or(a.local.as_str(), |(u, _)| u).to_string(),
        AddrPart::Detail => split()?.1.to_string(),
    })
}

/// Matches `values` against `keys`; sets the match variables on success.
fn check<S: AsRef<str>>(
    run: &mut Run,
    scope: &mut Scope,
    m: &Match,
    values: &[S],
    keys: &[String],
) -> Result<bool, Error> {
    let keys = run.expand_all(scope, keys);
    // Reading, decoding and expanding cost by size too.
    let bytes: usize = values.iter().map(|v| v.as_ref().len()).sum::<usize>()
        + keys.iter().map(String::len).sum::<usize>();
    run.step(values.len() as u64 + bytes as u64 / 1024)?;
    if let MatchKind::Count(r) = m.kind {
        let n = values.len().to_string();
        run.step(keys.len() as u64)?;
        return Ok(keys.iter().any(|k| rel(r, order(m.cmp, &n, k))));
    }
    for v in values {
        let v = v.as_ref();
        for k in &keys {
            // Comparisons cost by size: a :matches by text x pattern.
            let cost = match m.kind {
                MatchKind::Matches => (v.len() as u64).saturating_mul(k.len() as u64) / 1024,
                MatchKind::Regex if !run.rx.cached(k, m.cmp == Comparator::AsciiCasemap) => {
                    // Compiling costs far more than matching.
                    1000 + k.len() as u64 / 4 + v.len() as u64 / 1024
                }
                _ => v.len() as u64 / 1024,
            };
            run.step(1 + cost)?;
            if let Some(caps) = matches(m, v, k, &mut run.rx)? {
                if matches!(m.kind, MatchKind::Matches | MatchKind::Regex) {
                    scope.matched = caps;
                }
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn zone_of(run: &Run, zone: &Zone, original: i32) -> i32 {
    match zone {
        Zone::Local => run.ctx.zone_minutes,
        Zone::Given(z) => *z,
        Zone::Original => original,
    }
}

/// Evaluates one test.
pub fn eval(run: &mut Run, scope: &mut Scope, t: &Test) -> Result<bool, Error> {
    run.step(1)?;
    match t {
        Test::True => Ok(true),
        Test::False => Ok(false),
        Test::Not(t) => Ok(!eval(run, scope, t)?),
        Test::AllOf(ts) => {
            for t in ts {
                if !eval(run, scope, t)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Test::AnyOf(ts) => {
            for t in ts {
                if eval(run, scope, t)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Test::Address {
            m,
            part,
            index,
            headers,
            keys,
        } => {
            let mut values = Vec::new();
            for h in run.expand_all(scope, headers) {
                let fields = run.msg.address_lists(&h);
                run.step(fields.len() as u64)?;
                for f in pick(fields, *index) {
                    for a in f.iter() {
                        values.extend(address_part(a, *part, &run.ctx.separator));
                    }
                }
            }
            check(run, scope, m, &values, keys)
        }
        Test::Envelope {
            m,
            part,
            fields,
            keys,
        } => {
            let mut values = Vec::new();
            for f in run.expand_all(scope, fields) {
                let v = match f.to_ascii_lowercase().as_str() {
                    "from" => run.ctx.envelope.from.clone(),
                    "to" => run.ctx.envelope.to.clone(),
                    _ => continue,
                };
                let v = v
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                if v.is_empty() {
                    // The null reverse-path is "" whatever the part (RFC 5228 §5.4).
                    values.push(String::new());
                } else {
                    values.extend(address_part(&split_address(&v), *part, &run.ctx.separator));
                }
            }
            check(run, scope, m, &values, keys)
        }
        Test::Header {
            m,
            index,
            headers,
            keys,
        } => {
            let mut values = Vec::new();
            for h in run.expand_all(scope, headers) {
                values.extend(pick(run.msg.values(&h), *index));
            }
            run.step(values.len() as u64)?;
            check(run, scope, m, &values, keys)
        }
        Test::Exists(names) => {
            let names = run.expand_all(scope, names);
            Ok(names.iter().all(|n| run.msg.exists(n)))
        }
        Test::Size { over, limit } => Ok(if *over {
            run.msg.size() > *limit
        } else {
            run.msg.size() < *limit
        }),
        Test::HasFlag { m, vars, keys } => {
            let values = if vars.is_empty() {
                run.flags.clone()
            } else {
                let vals: Vec<String> = vars.iter().map(|v| run.get_var(scope, v)).collect();
                flag_list(&vals)
            };
            let keys = match m.kind {
                MatchKind::Count(_) => keys.clone(),
                _ => flag_list(&run.expand_all(scope, keys)),
            };
            check(run, scope, m, &values, &keys)
        }
        Test::MailboxExists(names) => {
            let names = run.expand_all(scope, names);
            run.step(names.len() as u64)?;
            Ok(names.iter().all(|n| run.ctx.host.mailbox_exists(n)))
        }
        Test::String { m, sources, keys } => {
            let mut values = run.expand_all(scope, sources);
            if matches!(m.kind, MatchKind::Count(_)) {
                values.retain(|v| !v.is_empty());
            }
            check(run, scope, m, &values, keys)
        }
        Test::Body { m, transform, keys } => {
            let values = match transform {
                BodyTransform::Raw => vec![run.msg.raw_body().to_string()],
                BodyTransform::Text => run.msg.body_parts(&["text".to_string()]),
                BodyTransform::Content(types) => {
                    let types = run.expand_all(scope, types);
                    run.msg.body_parts(&types)
                }
            };
            check(run, scope, m, &values, keys)
        }
        Test::Date {
            m,
            zone,
            index,
            header,
            part,
            keys,
        } => {
            let header = run.expand(scope, header);
            let raw: Vec<Vec<u8>> = run
                .msg
                .raw_values(&header)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect();
            run.step(raw.iter().map(|v| v.len() as u64 / 1024).sum())?;
            let mut values = Vec::new();
            for v in pick(raw, *index) {
                // Received: the date follows the last ';' (RFC 5260 §4).
                let v = match v.iter().rposition(|&b| b == b';') {
                    Some(p) if header.eq_ignore_ascii_case("received") => v[p + 1..].to_vec(),
                    _ => v,
                };
                if let Some((secs, off)) = crate::message::parse_date(&v) {
                    values.extend(datepart::part(secs, zone_of(run, zone, off), part));
                }
            }
            check(run, scope, m, &values, keys)
        }
        Test::CurrentDate {
            m,
            zone,
            part,
            keys,
        } => {
            let z = zone_of(run, zone, run.ctx.zone_minutes);
            let values: Vec<String> = datepart::part(run.ctx.now, z, part).into_iter().collect();
            check(run, scope, m, &values, keys)
        }
    }
}
